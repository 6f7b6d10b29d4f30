"""One live run per output folder: ``<output>/run.lock``, held with an exclusive ``flock``.

The kernel releases the flock when the holding process dies, however it dies, so a lock file
without a holder is a leftover of a run that is gone and is taken over. The file's content (pid,
host, start time) is only for the messages.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from pathlib import Path

from ..clock import now
from ..errors import UserError


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
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = self._read(fd)
                os.close(fd)
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
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
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
