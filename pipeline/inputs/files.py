"""Opening a user's input file: one way to read it and one way to report a file that is not right.

Every problem becomes ``InputFileError(path, found, expected)``: one line, no traceback.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from functools import lru_cache
from typing import BinaryIO

import numpy as np

from ..errors import InputFileError

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


@contextlib.contextmanager
def opened(path, expected: str) -> Iterator[BinaryIO]:
    """``open(path, "rb")`` whose failures name the file, what was found and ``expected``."""
    p = str(path)
    try:
        f = open(p, "rb")
    except FileNotFoundError:
        raise InputFileError(p, "no such file", expected) from None
    except IsADirectoryError:
        raise InputFileError(p, "a directory", expected) from None
    except OSError as e:
        raise InputFileError(p, f"an unreadable file ({e.strerror or e})", expected) from None
    with f:
        yield f


def read_head(path, expected: str, size: int = 8) -> bytes:
    """The first bytes of a file (to tell HDF5 from TIFF from text)."""
    with opened(path, expected) as f:
        return f.read(size)


def read_all(path, expected: str) -> bytes:
    with opened(path, expected) as f:
        return f.read()


def is_hdf5(path, head: bytes) -> bool:
    if head.startswith(HDF5_SIGNATURE):
        return True
    try:  # user block: the signature may sit at 512, 1024, ...
        import h5py

        return bool(h5py.is_hdf5(str(path)))
    except Exception:
        return False


def file_digest(path) -> str:
    """sha256 (hex) of the file's bytes, streamed; computed once per file version in a process.

    A sweep's jobs usually share their input files: planning hashes each file once, not once
    per job.
    """
    return _scan(*_version(path))[0]


def file_lines(path) -> int:
    """Newlines in the file (counted in the same pass as :func:`file_digest`)."""
    return _scan(*_version(path))[1]


def _version(path) -> tuple[str, int | None, int | None]:
    p = str(path)
    try:
        st = os.stat(p)
    except OSError:
        return p, None, None
    return p, st.st_mtime_ns, st.st_size


@lru_cache(maxsize=256)
def _scan(p: str, mtime_ns: int | None, size: int | None) -> tuple[str, int]:
    h, lines = hashlib.sha256(), 0
    with opened(p, "a readable input file") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
            lines += block.count(b"\n")
    return h.hexdigest(), lines


def roi_tuple(roi) -> tuple[int, int]:
    """(height, width) from an int or a pair."""
    if isinstance(roi, (int, np.integer)):
        return int(roi), int(roi)
    t = tuple(int(v) for v in roi)
    if len(t) == 1:
        return t[0], t[0]
    if len(t) != 2:
        raise ValueError(f"expected an int or (height, width); got {roi!r}")
    return t


def output_folder(out_dir, source, verb: str):
    """The folder a ``show`` tool writes its PNGs to: ``out_dir``, else the input file's folder (created)."""
    from pathlib import Path

    from ..errors import UserError

    out = Path(out_dir) if out_dir is not None else Path(source).parent
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"{verb}: cannot create output folder {out}: {e.strerror or e}") from None
    return out
