"""Write files so that a reader never sees a half-written one: temp file, fsync, rename."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .direct_io import write_file


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: Path) -> None:
    fsync_file(folder)


def temporary_name(path: Path) -> Path:
    """``.<name>.<pid>.tmp`` beside ``path``: never mistaken for the finished file."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def publish(tmp: Path, final: Path, durable: bool = True, sync_folder: bool = True) -> None:
    """Rename a complete ``tmp`` to ``final``; durable: its bytes, then (``sync_folder``) its new name,
    reach the disk.

    ``sync_folder=False`` where a lost name after a crash is noticed anyway (the file then counts as
    missing and is made again): each fsync costs milliseconds, per small job they added up.
    """
    if durable:
        fsync_file(tmp)
    os.replace(tmp, final)
    if durable and sync_folder:
        fsync_dir(Path(final).parent)


class Staged:
    """``with Staged(final) as tmp:`` write ``tmp`` (by any library); on success it is renamed to ``final``.

    On an exception the temporary file is removed; after a hard kill it stays behind under its
    temporary name, so a complete-looking ``final`` always holds complete content.
    """

    def __init__(self, final: Path, durable: bool = True, sync_folder: bool = True):
        self.final = Path(final)
        self.tmp = temporary_name(self.final)
        self.durable, self.sync_folder = durable, sync_folder

    def __enter__(self) -> Path:
        self.tmp.unlink(missing_ok=True)
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.tmp.unlink(missing_ok=True)
            return
        publish(self.tmp, self.final, self.durable, self.sync_folder)


def write_bytes(path: Path, data: bytes, durable: bool = True, sync_folder: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (a crash leaves the old file or none, never a part)."""
    with Staged(path, durable, sync_folder) as tmp:
        write_file(tmp, data)


def write_json(path: Path, obj: Any, durable: bool = True, sync_folder: bool = True) -> None:
    write_bytes(path, (json.dumps(obj, indent=1, default=str) + "\n").encode(), durable, sync_folder)


def read_json(path: Path) -> Any | None:
    """The parsed file, or None when it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
