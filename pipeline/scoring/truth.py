"""The ground truth a localizer is scored against: the ``localizations`` table of ``emitters.h5``.

One row per emitter per frame in which it emits (frame 0-based, x_nm, y_nm, z_nm, photons = the
expected photons of that frame); the root attributes give the ROI, the pixel size, the varied
values and the sample id. Columns ``crlb_x_nm``, ``crlb_y_nm``, ``crlb_z_nm``, ``crlb_photons``
(√CRLB of each localization, when the table has them) feed the pull metrics.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import InputFileError, UserError

H5 = "emitters.h5"
MARKER = "export.json"
#: optional columns of the truth table: √CRLB per localization (nm, photons)
CRLB_COLUMNS = {"x": "crlb_x_nm", "y": "crlb_y_nm", "z": "crlb_z_nm", "photons": "crlb_photons"}


@dataclass
class Truth:
    """Ground-truth localizations of one job (nm, 0-based frames) and what the scorer needs of the job."""

    frame: np.ndarray
    x_nm: np.ndarray
    y_nm: np.ndarray
    z_nm: np.ndarray
    photons: np.ndarray
    roi_shape: tuple[int, int]
    pixel_size_nm: float
    name: str = ""
    varied: dict = field(default_factory=dict)
    sample_id: int | None = None
    crlb: dict[str, np.ndarray] = field(default_factory=dict)
    draw: dict | None = None  # the job's draw of a random design (index, n, method, keys)

    def __len__(self) -> int:
        return int(self.frame.size)

    @property
    def fov_nm(self) -> tuple[float, float]:
        """(width, height) of the ROI in nm: x spans [0, W·p], y spans [0, H·p]."""
        return self.roi_shape[1] * self.pixel_size_nm, self.roi_shape[0] * self.pixel_size_nm

    def select(self, mask: np.ndarray) -> Truth:
        return replace(self, frame=self.frame[mask], x_nm=self.x_nm[mask], y_nm=self.y_nm[mask],
                       z_nm=self.z_nm[mask], photons=self.photons[mask],
                       crlb={k: v[mask] for k, v in self.crlb.items()})


def _attr_json(attrs, key, default):
    value = attrs.get(key)
    if value is None:
        return default
    if isinstance(value, bytes):
        value = value.decode()
    try:
        return json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return default


def read_truth(path: Path) -> Truth:
    """The ground truth of one job from its ``emitters.h5``."""
    import h5py

    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise InputFileError(path, f"an unreadable HDF5 file ({exc})", "a job's emitters.h5 (run or export the sweep)") from exc
    with f:
        if "localizations" not in f:
            raise InputFileError(path, "no 'localizations' table", "a job's emitters.h5 with tables emitters and localizations")
        table = f["localizations"][...]
        attrs = f.attrs
        roi = tuple(int(v) for v in np.asarray(attrs["roi_shape"]).ravel()[:2])
        pixel = float(attrs["pixel_size_nm"])
        sample = int(attrs.get("sample_id", -1))
        varied = _attr_json(attrs, "varied", {})
        draw = _attr_json(attrs, "draw", None)
        name = attrs.get("job", path.parent.name)
        name = name.decode() if isinstance(name, bytes) else str(name)
    names = table.dtype.names
    crlb = {role: np.asarray(table[col], dtype=np.float64) for role, col in CRLB_COLUMNS.items() if col in names}
    return Truth(frame=np.asarray(table["frame"], dtype=np.int64), x_nm=np.asarray(table["x_nm"], dtype=np.float64),
                 y_nm=np.asarray(table["y_nm"], dtype=np.float64), z_nm=np.asarray(table["z_nm"], dtype=np.float64),
                 photons=np.asarray(table["photons"], dtype=np.float64), roi_shape=roi, pixel_size_nm=pixel,
                 name=name, varied=dict(varied), sample_id=None if sample < 0 else sample, crlb=crlb,
                 draw=draw)


@dataclass(frozen=True)
class JobFiles:
    name: str
    folder: Path

    @property
    def truth(self) -> Path:
        return self.folder / H5


def list_jobs(output: Path, pattern: str | None = None) -> list[JobFiles]:
    """Jobs of a sweep output with a complete export (``jobs/<job>/export.json``), by name."""
    output = Path(output)
    root = output / "jobs"
    if not root.is_dir():
        raise UserError(f"{output}: no jobs/ folder (not a sweep output, or nothing exported yet: run or export it)")
    jobs = [JobFiles(p.name, p) for p in sorted(root.iterdir())
            if p.is_dir() and (p / MARKER).is_file() and (p / H5).is_file()]
    if not jobs:
        raise UserError(f"{root}: no job with a complete export (emitters.h5 and export.json); run or export the sweep")
    if pattern:
        jobs = [j for j in jobs if fnmatch.fnmatchcase(j.name, pattern)]
        if not jobs:
            raise UserError(f"{output}: no exported job matches --jobs {pattern!r}")
    return jobs


def localization_path(pattern: str, output: Path, job: JobFiles) -> Path:
    """The file ``pattern`` names for a job: ``{job}`` = job name, ``{job_dir}`` = its folder,
    ``{output}`` = the sweep output; a relative result is relative to the current directory."""
    text = str(pattern).replace("{job}", job.name).replace("{job_dir}", str(job.folder)).replace("{output}", str(output))
    return Path(text)
