"""One live run per output folder: ``<output>/run.lock``, held with an exclusive ``flock``.

The kernel releases the flock when the holding process dies, however it dies, so a lock file
without a holder is a leftover of a run that is gone and is taken over. The file's content (pid,
host, start time) is only for the messages. A holder writes it just after taking the flock, so a
second run that arrives in between finds the file locked but still empty: it reads again for a
short while (:data:`NAME_WAIT`) before it names the holder.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from ..clock import now
from ..errors import UserError

#: seconds a refused run waits for the holder's pid to appear in the lock file
NAME_WAIT = 2.0


class RunLock:
    """Context manager; refuses when a live run holds the output, takes over a dead one's lock."""

    def __init__(self, output: Path):
        self.path = Path(output) / "run.lock"
        self.message: str | None = None
        self._fd: int | None = None

    def _read(self, fd: int) -> dict:
        try:
            return json.loads(os.pread(fd, 4096, 0) or b"{}")
        except ValueError:
            return {}

    def acquire(self) -> None:
        deadline = time.monotonic() + NAME_WAIT
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = self._read(fd)
                os.close(fd)
                if not holder.get("pid") and time.monotonic() < deadline:
                    time.sleep(0.01)  # locked, not yet named: the holder is between its flock and its write
                    continue  # (or it has just died: then the next try takes the lock over)
                raise UserError(f"{self.path.parent} is in use by a live run (pid {holder.get('pid', '?')} on "
                                f"{holder.get('host', '?')}); wait for it or stop it first") from None
            # the file may have been removed by its previous holder between our open and flock
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        previous = self._read(fd)
        if previous.get("pid"):
            self.message = f"taking over the lock of a run that is gone (pid {previous['pid']} on {previous.get('host')})"
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": now()}
        data = json.dumps(me).encode()
        os.pwrite(fd, data, 0)  # then cut what a longer earlier content left: never empty in between
        os.ftruncate(fd, len(data))
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            self.path.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
