"""Where a job's exported files live and when an export is complete and current.

    <output>/jobs/<job>/
        simulation.ome.tiff   T×Y×X, uint16 (float32 without noise), OME-XML with physical sizes
        emitters.h5           tables `emitters` and `localizations`, units in attributes
        localizations.csv     ThunderSTORM: "id","frame","x [nm]","y [nm]","z [nm]","intensity [photon]"
        calibration.h5        (jobs with them) background map, defect maps, illumination profile
        job.json              parameters, varied values, seeds, fingerprint, timings, software
        export.json           marker, written last: fingerprint, file names and sizes, what the export was
                              made from (digest of its chunks' entries) and the ground-truth files' sha256

Every file is written under a temporary name (``.<name>.<pid>.tmp``) in the same folder and renamed
when complete, so an interrupted export never leaves a complete-looking file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from .. import atomic
from ..plan import Job

TIFF = "simulation.ome.tiff"
H5 = "emitters.h5"
CSV = "localizations.csv"
JOB_JSON = "job.json"
MARKER = "export.json"
CALIBRATION = "calibration.h5"
FILES = (TIFF, H5, CSV, JOB_JSON)


def job_files(job: Job) -> tuple[str, ...]:
    """The files of a job's export: FILES, and calibration.h5 for a job with defect, background or
    illumination maps."""
    from .calibration import has_calibration

    return (*FILES, CALIBRATION) if has_calibration(job) else FILES
COMPRESSIONS = ("none", "zlib")


def job_dir(output: Path, job_name: str) -> Path:
    return Path(output) / "jobs" / job_name


def remove_temporaries(folder: Path, keep: str | None = None) -> None:
    """Remove what interrupted exports left under temporary names (but ``keep``)."""
    names = (*FILES, CALIBRATION, MARKER)
    for path in folder.glob(".*.tmp"):
        if any(path.name.startswith(f".{name}.") for name in names) and str(path) != keep:
            path.unlink(missing_ok=True)


def read_marker(output: Path, job_name: str) -> Any:
    return atomic.read_json(job_dir(output, job_name) / MARKER)


def forget_export(output: Path, job_name: str) -> None:
    """Mark a job's export as not current (its files stay until the next export replaces them)."""
    (job_dir(output, job_name) / MARKER).unlink(missing_ok=True)


def inputs_digest(entries: list[dict]) -> str:
    """What an export is made from: the frame and ground-truth checksums of its chunks, in frame order.

    Recorded in export.json; an export whose digest differs from the cache's current entries is
    stale (its chunks were recomputed into other bytes, or it was made before they were repaired).
    """
    digest = hashlib.sha256()
    for entry in entries:
        t0, t1 = entry["frames"]
        digest.update(f"{t0}:{t1}:{entry['checksum']}:{entry['truth_checksum']}\n".encode())
    return "sha256:" + digest.hexdigest()


def marker_problem(marker: Any, job: Job, folder: Path, inputs: str, compression: str | None = None,
                   bigtiff: bool | None = None, draw: bool = True) -> str | None:
    """Why the export in ``folder`` is not a complete, current export of the job made from ``inputs``
    (:func:`inputs_digest`) with these options (None: any), or None when it is. ``draw``: a job of a
    random design must also record the design's current size (it grows without changing the job).

    Cheap: the marker and one ``stat`` per file (a truncated or missing file has another size than
    recorded); the files' contents are checked by ``verify`` (:mod:`.check`).
    """
    if not isinstance(marker, dict):
        return f"{MARKER} missing or unreadable"
    if marker.get("fingerprint") != job.fingerprint:
        return f"{MARKER} is of another job (fingerprint {marker.get('fingerprint')})"
    if marker.get("inputs") is None or not isinstance(marker.get("bytes"), dict):
        return f"{MARKER} does not record what the export was made from (an older export)"
    if marker["inputs"] != inputs:
        return "made from other chunks than the cache's current entries"
    if compression is not None and marker.get("compression") != compression:
        return f"compressed with {marker.get('compression')}, not {compression}"
    if bigtiff is not None and marker.get("bigtiff") != bool(bigtiff):
        return "BigTIFF" if marker.get("bigtiff") else "not BigTIFF"
    for name in job_files(job):
        try:
            size = (folder / name).stat().st_size
        except OSError:
            return f"{name} missing"
        if size != marker["bytes"].get(name):
            return f"{name} has {size} bytes, {marker['bytes'].get(name)} were written"
    if draw and job.draw is not None and marker.get("draw") != job.draw.as_json():
        return f"{JOB_JSON} and {H5} record another design ({marker.get('draw')}, now {job.draw.as_json()})"
    return None


def marker_matches(marker: Any, job: Job, folder: Path, compression: str, bigtiff: bool | None, inputs: str) -> bool:
    return marker_problem(marker, job, folder, inputs, compression, bigtiff) is None


def export_is_current(output: Path, job: Job, entries: list[dict], compression: str = "none") -> bool:
    """True when the job's export is complete and was made from these entries (a rerun skips it)."""
    return marker_matches(read_marker(output, job.name), job, job_dir(output, job.name), compression, None,
                          inputs_digest(entries))


#: ``<output>/export_settings.json``: how the output's OME-TIFFs are written ({"compression": ...}),
#: set by ``export --compression`` and kept by every later run and export until changed
SETTINGS = "export_settings.json"


def export_compression(output: Path) -> str:
    """The output's OME-TIFF compression ("none" unless ``export --compression`` set another)."""
    settings = atomic.read_json(Path(output) / SETTINGS)
    value = settings.get("compression") if isinstance(settings, dict) else None
    return value if value in COMPRESSIONS else "none"


def set_export_compression(output: Path, compression: str) -> None:
    atomic.write_json(Path(output) / SETTINGS, {"compression": compression})
