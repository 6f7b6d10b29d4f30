"""One live run per output folder: ``<output>/run.lock``, held with an exclusive ``flock``.

The kernel releases the flock when the holding process dies, however it dies, so a lock file
without a holder is a leftover of a run that is gone and is taken over. The file's content (pid,
host, start time) is only for the messages. A holder writes it just after taking the flock, so a
second run that arrives in between finds the file locked but still empty: it reads again for a
short while (:data:`NAME_WAIT`) before it names the holder. :func:`live_holder` tells readers
(``verify``) whether a run is live without taking the lock, which would make that run's own start fail.
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


def _flock_held(path: Path) -> bool | None:
    """Whether some process holds a lock on ``path``, from the kernel's lock table (Linux ``/proc/locks``);
    None when the table cannot tell (not readable, or the inode is listed under another device number,
    as on file systems whose ``stat`` device differs from the kernel's, e.g. btrfs subvolumes)."""
    try:
        table = Path("/proc/locks").read_text()
        st = os.stat(path)
    except OSError:
        return None
    device = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    # "1: FLOCK  ADVISORY  WRITE 4711 fe:00:2278508 0 EOF"; a blocked waiter has "->" before its type
    held = [fields[5] for fields in (line.split() for line in table.splitlines())
            if len(fields) > 5 and fields[1] != "->"]
    if device in held:
        return True
    if any(node.rsplit(":", 1)[-1] == str(st.st_ino) for node in held):
        return None
    return False


def live_holder(output: Path) -> dict | None:
    """{pid, host, since} of the live run holding the output, or None — without taking the lock.

    Where the kernel's lock table cannot be read, a shared lock is tried and released at once (a run
    starting in that instant would be refused as if another run held the output).
    """
    path = Path(output) / "run.lock"
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None  # no lock file: nobody holds the output
    try:
        held = _flock_held(path)
        if held is None:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                fcntl.flock(fd, fcntl.LOCK_UN)
                held = False
            except BlockingIOError:
                held = True
        if not held:
            return None
        try:
            holder = json.loads(os.pread(fd, 4096, 0) or b"{}")
        except ValueError:
            holder = {}
        return holder if isinstance(holder, dict) else {}
    finally:
        os.close(fd)
