"""One live run per output folder: ``<output>/run.lock`` holds the pid and host of the holder."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from .errors import UserError


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """Context manager; refuses when a live process holds the output, takes over a dead one's lock."""

    def __init__(self, output: Path):
        self.path = Path(output) / "run.lock"
        self.message: str | None = None

    def acquire(self) -> None:
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    holder = json.loads(self.path.read_text())
                except (OSError, ValueError):
                    holder = {}
                pid, host = holder.get("pid"), holder.get("host")
                if host == me["host"] and isinstance(pid, int) and _alive(pid):
                    raise UserError(f"{self.path.parent} is in use by a live run (pid {pid} on {host}); "
                                    "wait for it or stop it first") from None
                if host not in (None, me["host"]):
                    raise UserError(f"{self.path.parent} is held by a run on host {host} (pid {pid}); if that run "
                                    f"is gone, delete {self.path}") from None
                self.message = f"taking over the lock of a run that is gone (pid {pid} on {host})"
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            return
        raise UserError(f"could not take {self.path}")

    def release(self) -> None:
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
