"""A framework-neutral training dataset over a finished sweep: frame windows and their ground truth.

``FrameDataset(output)`` has ``len()`` and ``[i]`` returning numpy arrays, so a PyTorch
``DataLoader`` (or any loader) can wrap it without this package importing a framework. Frames are
read lazily from the Zarr store, ground truth from each job's ``emitters.h5`` (memory O(item),
plus one frame-offset index per job); every array is opened on first use in each process, so the
dataset pickles to loader workers.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import UserError
from .exports.layout import H5, job_dir
from .store import FRAMES, job_groups, store_path

TARGETS = ("rows", "map")
#: ground-truth rows as items return them: positions in pixels of the item's crop
ROW_DTYPE = np.dtype([("id", "<i8"), ("x_px", "<f4"), ("y_px", "<f4"), ("z_nm", "<f4"), ("photons", "<f4")])


@dataclass(frozen=True)
class _Job:
    name: str
    frames: int
    height: int
    width: int
    pixel_nm: float


class FrameDataset:
    """Frame windows of every (matching) job of a finished sweep, with the centre frame's ground truth.

    Parameters
    ----------
    output
        The sweep's output folder.
    jobs
        Shell pattern of job names (default: all).
    window
        Consecutive frames per item (odd: the target is the centre frame; DECODE uses 3).
    crop
        ``None`` (whole frames), an int or ``(height, width)``: each item is a crop at a position
        drawn from ``seed`` and the item index (the same crop every time, whatever the order).
    targets
        ``"rows"``: a structured array (:data:`ROW_DTYPE`) of the centre frame's emitters inside the
        crop, ``x_px``/``y_px`` in pixels of the crop (origin at its top-left pixel corner, a pixel
        centre at j + 0.5, as in the ground truth). ``"map"``: a (height, width) float32 map of
        photons, each emitter's photons in the pixel that holds its position.
    seed
        Seed of the crop positions.

    Items are ``(frames, target)``: ``frames`` float32 (window, height, width) in ADU.
    Item ``i`` runs through the jobs in name order, then through window starts ``0 .. frames - window``.
    """

    def __init__(self, output: str | Path, jobs: str | None = None, window: int = 1, crop=None,
                 targets: str = "rows", seed: int = 0):
        self.output = Path(output)
        if not isinstance(window, int) or window < 1 or window % 2 == 0:
            raise UserError(f"FrameDataset: window = {window!r}; expected an odd number of frames >= 1")
        if targets not in TARGETS:
            raise UserError(f"FrameDataset: targets = {targets!r}; expected one of {', '.join(TARGETS)}")
        self.window, self.targets, self.seed = window, targets, int(seed)
        self.jobs = self._jobs(jobs)
        self.crop = self._crop(crop)
        self._starts = np.cumsum([0] + [j.frames - window + 1 for j in self.jobs])
        self._open: dict[str, tuple] = {}

    def _jobs(self, pattern: str | None) -> list[_Job]:
        found = []
        for name, group in job_groups(self.output).items():
            if pattern and not fnmatch.fnmatchcase(name, pattern):
                continue
            if not (job_dir(self.output, name) / H5).is_file():
                raise UserError(f"FrameDataset: {job_dir(self.output, name) / H5} is missing (job not exported: run the sweep)")
            t, height, width = group[FRAMES].shape
            if t >= self.window:
                pixel_nm = float(group.attrs["parameters"]["optics"]["pixel_size_nm"])
                found.append(_Job(name, t, height, width, pixel_nm))
        if not found:
            raise UserError(f"FrameDataset: no finished job in {self.output}"
                            + (f" matching {pattern!r}" if pattern else "") + f" with at least {self.window} frames")
        return found

    def _crop(self, crop) -> tuple[int, int] | None:
        if crop is None:
            return None
        size = (crop, crop) if isinstance(crop, int) else tuple(crop)
        smallest = (min(j.height for j in self.jobs), min(j.width for j in self.jobs))
        if len(size) != 2 or min(size) < 1 or size[0] > smallest[0] or size[1] > smallest[1]:
            raise UserError(f"FrameDataset: crop = {crop!r}; expected 1..{smallest} pixels (the smallest frame)")
        return int(size[0]), int(size[1])

    def __len__(self) -> int:
        return int(self._starts[-1])

    def locate(self, index: int) -> tuple[str, int, int, int]:
        """(job name, first frame, crop row, crop column) of item ``index``."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"item {index} of a FrameDataset of {len(self)}")
        index %= len(self)
        k = int(np.searchsorted(self._starts, index, side="right")) - 1
        job, t0 = self.jobs[k], index - int(self._starts[k])
        if self.crop is None:
            return job.name, t0, 0, 0
        rng = np.random.default_rng([self.seed, index])
        return job.name, t0, int(rng.integers(0, job.height - self.crop[0] + 1)), \
            int(rng.integers(0, job.width - self.crop[1] + 1))

    def _arrays(self, name: str):
        """(frames array, localizations dataset, frame offsets) of a job, opened once per process."""
        if name not in self._open:
            import h5py
            import zarr

            frames = zarr.open_array(store_path(self.output) / name / FRAMES, mode="r")
            table = h5py.File(job_dir(self.output, name) / H5, "r")["localizations"]
            offsets = np.zeros(frames.shape[0] + 1, dtype=np.int64)
            for start in range(0, table.shape[0], 1 << 20):  # rows are sorted by frame
                block = table.fields("frame")[start:start + (1 << 20)]
                offsets[1:] += np.bincount(block, minlength=frames.shape[0])
            np.cumsum(offsets, out=offsets)
            self._open[name] = (frames, table, offsets)
        return self._open[name]

    def __getitem__(self, index: int):
        name, t0, row, col = self.locate(index)
        frames, table, offsets = self._arrays(name)
        height, width = self.crop or frames.shape[1:]
        movie = np.asarray(frames[t0:t0 + self.window, row:row + height, col:col + width], dtype=np.float32)
        centre = t0 + self.window // 2
        rows = table[offsets[centre]:offsets[centre + 1]]
        pixel_nm = next(j.pixel_nm for j in self.jobs if j.name == name)
        x, y = rows["x_nm"] / pixel_nm - col, rows["y_nm"] / pixel_nm - row
        inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
        if self.targets == "map":
            target = np.zeros((height, width), dtype=np.float32)
            np.add.at(target, (y[inside].astype(np.int64), x[inside].astype(np.int64)), rows["photons"][inside])
            return movie, target
        target = np.empty(int(inside.sum()), dtype=ROW_DTYPE)
        target["id"], target["x_px"], target["y_px"] = rows["id"][inside], x[inside], y[inside]
        target["z_nm"], target["photons"] = rows["z_nm"][inside], rows["photons"][inside]
        return movie, target

    def __getstate__(self):
        return {**self.__dict__, "_open": {}}  # open files do not pickle: each process opens its own
