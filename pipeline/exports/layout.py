"""Where a job's exported files live and when an export is complete and current.

    <output>/jobs/<job>/
        simulation.ome.tiff   T×Y×X, uint16 (float32 without noise), OME-XML with physical sizes
        emitters.h5           tables `emitters` and `localizations`, units in attributes
        localizations.csv     ThunderSTORM: "id","frame","x [nm]","y [nm]","z [nm]","intensity [photon]"
        job.json              parameters, varied values, seeds, fingerprint, timings, software
        export.json           marker, written last: fingerprint + file names of a complete export

Every file is written under a temporary name (``.<name>.<pid>.tmp``) in the same folder and renamed
when complete, so an interrupted export never leaves a complete-looking file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import atomic
from ..plan import Job

TIFF = "simulation.ome.tiff"
H5 = "emitters.h5"
CSV = "localizations.csv"
JOB_JSON = "job.json"
MARKER = "export.json"
FILES = (TIFF, H5, CSV, JOB_JSON)
COMPRESSIONS = ("none", "zlib")


def job_dir(output: Path, job_name: str) -> Path:
    return Path(output) / "jobs" / job_name


def remove_temporaries(folder: Path, keep: str | None = None) -> None:
    """Remove what interrupted exports left under temporary names (but ``keep``)."""
    names = (*FILES, MARKER)
    for path in folder.glob(".*.tmp"):
        if any(path.name.startswith(f".{name}.") for name in names) and str(path) != keep:
            path.unlink(missing_ok=True)


def read_marker(output: Path, job_name: str) -> Any:
    return atomic.read_json(job_dir(output, job_name) / MARKER)


def forget_export(output: Path, job_name: str) -> None:
    """Mark a job's export as not current (its files stay until the next export replaces them)."""
    (job_dir(output, job_name) / MARKER).unlink(missing_ok=True)


def marker_matches(marker: Any, job: Job, folder: Path, compression: str, bigtiff: bool | None) -> bool:
    if not isinstance(marker, dict) or marker.get("fingerprint") != job.fingerprint:
        return False
    if marker.get("compression") != compression:
        return False
    if bigtiff is not None and marker.get("bigtiff") != bool(bigtiff):
        return False
    files = marker.get("files")
    return isinstance(files, list) and set(FILES) <= set(files) and all((folder / name).is_file() for name in files)


def export_is_current(output: Path, job: Job, compression: str = "none") -> bool:
    """True when the job's export is complete and matches its fingerprint (a rerun skips it)."""
    return marker_matches(read_marker(output, job.name), job, job_dir(output, job.name), compression, None)
