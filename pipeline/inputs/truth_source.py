"""A ground-truth file to re-render (``emitters.source``): its localizations, read frame range by frame range.

Two formats: this project's ``emitters.h5`` (table ``localizations``: frame 0-based, id, x_nm, y_nm,
z_nm, photons, on_fraction) and ThunderSTORM CSV (header with ``frame`` (1-based), ``x [nm]``,
``y [nm]``, ``intensity [photon]`` and optionally ``z [nm]`` and ``id``; our ``localizations.csv`` is
one). Rows must be sorted by frame. The file is indexed once — one streamed pass records where each
frame's rows start — and a chunk then reads only its rows: memory O(chunk) however long the file.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from kernels.render import TRUTH_DTYPE

from ..errors import InputFileError
from .files import is_hdf5, opened, read_head

_EXPECTED = ("a ground truth sorted by frame: this project's emitters.h5 (table 'localizations') or a ThunderSTORM "
             "CSV with columns frame, x [nm], y [nm], intensity [photon] (optional z [nm], id)")
#: ThunderSTORM column -> our field; frames there are 1-based
_CSV_COLUMNS = {"frame": "frame", "x [nm]": "x_nm", "y [nm]": "y_nm", "z [nm]": "z_nm",
                "intensity [photon]": "photons", "id": "id"}
_REQUIRED = ("frame", "x_nm", "y_nm", "photons")
#: rows per block while indexing (bounded memory whatever the file's length)
_BLOCK = 1 << 20


@dataclass(frozen=True, eq=False)
class TruthSource:
    """Callable ``(t0, t1) -> rows`` of :data:`kernels.render.TRUTH_DTYPE` (a :class:`kernels.render.RowSource`).

    ``offsets[f]`` is where frame ``f``'s rows start: a row index (HDF5) or a byte offset (CSV);
    ``offsets[-1]`` the end. Small and picklable: every worker opens the file itself.
    """

    path: str
    kind: str  # "hdf5" | "csv"
    offsets: np.ndarray
    counts: np.ndarray  # rows of each frame
    columns: tuple[int | None, ...] = ()  # CSV: column of each of frame, id, x, y, z, photons (None: absent)

    @property
    def frames(self) -> int:
        """Frames the file covers: its last frame + 1."""
        return len(self.offsets) - 1

    @property
    def rows(self) -> int:
        return int(self.counts.sum())

    def max_rows(self, chunk_frames: int) -> int:
        """The most rows in any chunk of ``chunk_frames`` frames (for the memory estimate)."""
        if not len(self.counts):
            return 0
        return int(np.add.reduceat(self.counts, np.arange(0, len(self.counts), chunk_frames)).max())

    def __call__(self, t0: int, t1: int) -> np.ndarray:
        t0, t1 = max(int(t0), 0), min(int(t1), self.frames)
        if t1 <= t0:
            return np.empty(0, dtype=TRUTH_DTYPE)
        lo, hi = int(self.offsets[t0]), int(self.offsets[t1])
        rows = self._read_hdf5(lo, hi) if self.kind == "hdf5" else self._read_csv(lo, hi, int(self.counts[:t0].sum()))
        # the convention of every ground truth here: sorted by frame, then id
        return rows[np.lexsort((rows["id"], rows["frame"]))]

    def _read_hdf5(self, lo: int, hi: int) -> np.ndarray:
        import h5py

        with h5py.File(self.path, "r") as f:
            table = f["localizations"][lo:hi]
        out = np.empty(len(table), dtype=TRUTH_DTYPE)
        for name in TRUTH_DTYPE.names:
            out[name] = table[name] if name in table.dtype.names else _default(name, len(table))
        return out

    def _read_csv(self, lo: int, hi: int, first_row: int) -> np.ndarray:
        with opened(self.path, _EXPECTED) as f:
            f.seek(lo)
            text = f.read(hi - lo)
        values = np.loadtxt(io.BytesIO(text), delimiter=",", ndmin=2) if text.strip() else np.empty((0, len(self.columns)))
        out = np.empty(len(values), dtype=TRUTH_DTYPE)
        for name, column in zip(("frame", "id", "x_nm", "y_nm", "z_nm", "photons"), self.columns):
            out[name] = values[:, column] if column is not None else _default(name, len(values))
        if self.columns[1] is None:  # no id column: each row is an emitter of its own, numbered in file order
            out["id"] = first_row + np.arange(len(values))
        out["frame"] -= 1  # ThunderSTORM counts frames from 1
        out["on_fraction"] = np.nan  # a CSV does not say
        return out


def _default(name: str, n: int) -> np.ndarray:
    """A column the file lacks: z in the focal plane, on for the whole frame (ids: see the callers)."""
    return np.full(n, 1.0 if name == "on_fraction" else 0.0)


def open_source(path) -> TruthSource:
    """Index a ground-truth file once per file version (refusing it unless sorted by frame)."""
    p = str(path)
    st = os.stat(p) if os.path.isfile(p) else None
    return _indexed(p, st.st_mtime_ns if st else None, st.st_size if st else None)


@lru_cache(maxsize=16)
def _indexed(p: str, mtime_ns, size) -> TruthSource:
    head = read_head(p, _EXPECTED)
    return _index_hdf5(p) if is_hdf5(p, head) else _index_csv(p)


def _check_order(path: str, frames: np.ndarray, previous: int, row0: int) -> None:
    if len(frames) and (frames.min() < 0 or not np.all(np.diff(frames) >= 0) or frames[0] < previous):
        bad = np.flatnonzero(np.diff(np.concatenate([[previous], frames])) < 0)
        where = f"row {row0 + int(bad[0]) + 1}" if bad.size else "a negative frame"
        raise InputFileError(path, f"localizations not sorted by frame ({where})", _EXPECTED)


def _index_hdf5(p: str) -> TruthSource:
    import h5py

    try:
        with h5py.File(p, "r") as f:
            table = f.get("localizations")
            names = table.dtype.names if isinstance(table, h5py.Dataset) else None
            if not names or any(name not in names for name in ("id", *_REQUIRED)):
                raise InputFileError(p, "no table 'localizations' with fields frame, id, x_nm, y_nm, photons", _EXPECTED)
            counts, previous = np.zeros(0, dtype=np.int64), 0
            for lo in range(0, table.shape[0], _BLOCK):
                frames = table.fields("frame")[lo:lo + _BLOCK].astype(np.int64)
                _check_order(p, frames, previous, lo)
                if len(frames):
                    previous = int(frames[-1])
                    block = np.bincount(frames)
                    if len(block) > len(counts):
                        counts = np.pad(counts, (0, len(block) - len(counts)))
                    counts[:len(block)] += block
    except OSError as e:
        raise InputFileError(p, f"an unreadable HDF5 file ({e})", _EXPECTED) from None
    return TruthSource(p, "hdf5", np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), counts)


def _index_csv(p: str) -> TruthSource:
    with opened(p, _EXPECTED) as f:
        header = f.readline()
        names = [name.strip().strip('"').strip() for name in header.decode("utf-8-sig", "replace").split(",")]
        fields = {_CSV_COLUMNS[name]: i for i, name in enumerate(names) if name in _CSV_COLUMNS}
        missing = [name for name in _REQUIRED if name not in fields]
        if missing:
            raise InputFileError(p, f"a header without {', '.join(missing)} ({header[:80]!r})", _EXPECTED)
        column = fields["frame"]
        offsets, counts, position, row = [], [], f.tell(), 0
        for line in f:
            row += 1
            if not line.strip():
                position += len(line)
                continue
            try:
                frame = int(float(line.split(b",")[column])) - 1  # ThunderSTORM counts frames from 1
            except (ValueError, IndexError):
                raise InputFileError(p, f"an unreadable line {row + 1}: {line[:80]!r}", _EXPECTED) from None
            if frame < 0 or frame < len(offsets) - 1:
                raise InputFileError(p, f"localizations not sorted by frame (line {row + 1})", _EXPECTED)
            while len(offsets) <= frame:  # frames without rows start where the next one does
                offsets.append(position)
                counts.append(0)
            counts[frame] += 1
            position += len(line)
    offsets.append(position)
    columns = tuple(fields.get(n) for n in ("frame", "id", "x_nm", "y_nm", "z_nm", "photons"))
    return TruthSource(p, "csv", np.asarray(offsets, dtype=np.int64), np.asarray(counts, dtype=np.int64), columns)
