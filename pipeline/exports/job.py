"""Export one finished job — OME-TIFF, ground truth (HDF5 + CSV), job.json, then the export.json marker —
and every job of an output folder (``python -m pipeline export``).

A job is exported only when every chunk has its cache entry (design §7); the files are streamed
chunk by chunk (memory O(one chunk)); a job whose marker matches is skipped unless ``force``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import atomic
from ..clock import now
from ..errors import UserError
from ..plan import Job, identity
from ..plan.design import DrawInfo
from ..store import check_group, file_checksum, group_names, store_path
from .layout import (
    CALIBRATION, COMPRESSIONS, CSV, FILES, H5, JOB_JSON, MARKER, TIFF, job_files, export_compression, inputs_digest, job_dir, marker_matches,
    marker_problem, read_marker, remove_temporaries, set_export_compression,
)
from .malloc import tune_malloc
from .readback import check_frames, check_stored, entries_of, iter_truth
from .tiff import TiffStream, finish_stream, write_tiff
from .calibration import has_calibration, write_calibration
from .truth import rewrite_draw, write_csv, write_h5


def software_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    import h5py
    import tifffile

    import kernels

    try:
        package = version("smlm-sweep")
    except PackageNotFoundError:
        package = "unknown"
    return {"smlm-sweep": package, "kernels": kernels.__version__, "numpy": np.__version__,
            "zarr": version("zarr"), "tifffile": tifffile.__version__, "h5py": h5py.__version__}


def _clear_folder(folder: Path, marker: Any, job: Job, keep: str | None) -> None:
    """From here on the folder holds no complete export until the new marker is written."""
    folder.mkdir(parents=True, exist_ok=True)
    remove_temporaries(folder, keep=keep)
    (folder / MARKER).unlink(missing_ok=True)
    if not (isinstance(marker, dict) and marker.get("fingerprint") == job.fingerprint):
        for name in (*FILES, CALIBRATION):  # files of another fingerprint (or of unknown origin) must not survive
            (folder / name).unlink(missing_ok=True)


def _job_info(job: Job, entries: list[dict], localizations: int, compression: str, bigtiff: bool,
              seconds: float, software: dict) -> dict:
    """job.json: everything about the job and its export."""
    return {
        "job": job.name,
        "fingerprint": job.fingerprint,
        "parameters": job.config.model_dump(mode="json"),
        "varied": job.varied,
        "sample_id": job.sample_id,
        "seed": {"sweep_seed": job.sweep_seed, "seed_digest": job.seed_digest},
        "shape": {"t": job.shape[0], "y": job.shape[1], "x": job.shape[2]},
        "dtype": str(job.dtype),
        "chunk_frames": job.chunk_frames,
        "chunks": len(job.chunks),
        "localizations": localizations,
        **({"draw": job.draw.as_json()} if job.draw is not None else {}),
        "timings": {
            "chunk_seconds": round(sum(float(e.get("seconds") or 0.0) for e in entries), 3),
            "export_seconds": seconds,
            "exported": now(),
        },
        "tiff": {"compression": compression, "bigtiff": bigtiff},
        "files": list(job_files(job)),
        "software": software,
    }


def _write_files(output: Path, folder: Path, job: Job, entries: list[dict], compression: str,
                 bigtiff: bool | None, stream: TiffStream | None, streamed: frozenset[int],
                 software: dict) -> tuple[bool, int]:
    """The OME-TIFF, emitters.h5 and the CSV; returns (BigTIFF, localizations)."""
    expected = sum(int(e["localizations"]) for e in entries)
    if stream is not None:
        finish_stream(stream, output, job, entries, streamed)
        is_big = stream.bigtiff
    else:
        with atomic.Staged(folder / TIFF, sync_folder=False) as tmp:
            is_big = write_tiff(tmp, output, job, entries, compression, bigtiff)
    # each file's bytes are durable before the marker that vouches for them by size; their names
    # need no fsync: a file lost in a crash has another size than the marker says (re-exported)
    with atomic.Staged(folder / H5, sync_folder=False) as tmp:
        n_h5 = write_h5(tmp, output, job, entries, software)
    with atomic.Staged(folder / CSV, sync_folder=False) as tmp:
        n_csv = write_csv(tmp, output, job, entries)
    if has_calibration(job):
        with atomic.Staged(folder / CALIBRATION) as tmp:
            write_calibration(tmp, job)
    if not n_h5 == n_csv == expected:
        raise RuntimeError(f"job {job.name}: wrote {n_h5} localizations to HDF5 and {n_csv} to CSV, "
                           f"the cache entries count {expected}")
    return is_big, expected


def export_job(output: Path, job: Job, force: bool = False, compression: str = "none",
               bigtiff: bool | None = None, stream: TiffStream | None = None,
               streamed: frozenset[int] = frozenset()) -> dict:
    """Write ``<output>/jobs/<job>/`` (OME-TIFF, emitters.h5, localizations.csv, job.json, export.json).

    Skips the job when its ``export.json`` marker matches the fingerprint, the options and the
    cache's current entries, and every file has the size written, unless ``force``.
    ``compression`` is "none" (default, Fiji-safe) or "zlib"; ``bigtiff`` None = automatic (when
    the file may exceed 4 GiB), True/False forces it.
    ``stream`` is the OME-TIFF that the run's chunk tasks filled (:func:`start_stream`); the chunks
    starting at the frames in ``streamed`` are in it, the others are read from the store.
    Raises RuntimeError when the job is not finished (a chunk without cache entry) or its data
    do not match (a chunk's ground truth is checked before anything is touched).
    Returns a summary dict (``status`` "exported" or "skipped").
    """
    output = Path(output)
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression = {compression!r}: expected one of {', '.join(COMPRESSIONS)}")
    folder = job_dir(output, job.name)
    marker = read_marker(output, job.name)
    if stream is not None and not (stream.exists() and compression == "none" and bigtiff in (None, stream.bigtiff)):
        stream = None  # (a retried export task finds it renamed already) written from the store instead
    entries = entries_of(output, job)  # refuses an unfinished job before anything is touched
    inputs = inputs_digest(entries)
    current = not force and marker_matches(marker, job, folder, compression, bigtiff, inputs)
    if not force and not current and marker_problem(marker, job, folder, inputs, compression, bigtiff, draw=False) is None:
        current = _refresh_draw(folder, job, marker)
    if current:
        if stream is not None:
            Path(stream.path).unlink(missing_ok=True)
        return {"job": job.name, "status": "skipped", "folder": str(folder), "files": marker["files"],
                "localizations": marker.get("localizations"), "bigtiff": marker.get("bigtiff")}

    started = time.monotonic()
    tune_malloc()
    check_frames(output, job)
    # a chunk gone from the store or a damaged ground truth refuses the job, the old export intact
    check_stored(output, job, entries)
    for _ in iter_truth(output, job, entries):
        pass
    _clear_folder(folder, marker, job, keep=stream.path if stream is not None else None)
    software = software_versions()
    is_big, localizations = _write_files(output, folder, job, entries, compression, bigtiff, stream, streamed, software)
    seconds = round(time.monotonic() - started, 3)
    info = _job_info(job, entries, localizations, compression, is_big, seconds, software)
    # job.json and the marker are not fsynced: one lost or torn in a crash makes the export not
    # current (sizes, marker), and the next run exports the job again
    atomic.write_json(folder / JOB_JSON, info, durable=False)
    atomic.write_json(folder / MARKER, durable=False, obj={
        "fingerprint": job.fingerprint, "files": list(job_files(job)), "compression": compression, "bigtiff": is_big,
        "localizations": localizations, "time": info["timings"]["exported"],
        **({"draw": job.draw.as_json()} if job.draw is not None else {}),  # (a design grows: _refresh_draw)
        "inputs": inputs,  # what it was made from: an export follows its chunks' entries (layout.inputs_digest)
        "sha256": {name: file_checksum(folder / name) for name in job_files(job) if name not in (TIFF, JOB_JSON)},  # `verify`
        "bytes": {name: (folder / name).stat().st_size for name in job_files(job)},  # checked by every run
    })
    return {"job": job.name, "status": "exported", "folder": str(folder), "files": list(job_files(job)),
            "localizations": localizations, "bigtiff": is_big, "seconds": seconds}


def _refresh_draw(folder: Path, job: Job, marker: dict) -> bool:
    """A reused job of a random design that grew (N -> 2N draws keep the first N jobs): write the
    design's new size into job.json and emitters.h5, keep the movie and the CSV. False (export it
    again) when job.json cannot be read."""
    info = atomic.read_json(folder / JOB_JSON)
    if not isinstance(info, dict):
        return False
    (folder / MARKER).unlink()  # not current until the new marker: a crash in between exports it again
    with atomic.Staged(folder / H5, sync_folder=False) as tmp:
        rewrite_draw(folder / H5, tmp, job)
    atomic.write_json(folder / JOB_JSON, {**info, "draw": job.draw.as_json()}, durable=False)
    marker = {**marker, "draw": job.draw.as_json(),
              "sha256": {**marker.get("sha256", {}), H5: file_checksum(folder / H5)},
              "bytes": {**marker["bytes"], **{name: (folder / name).stat().st_size for name in (H5, JOB_JSON)}}}
    atomic.write_json(folder / MARKER, marker, durable=False)
    return True


def job_from_group(output: Path, name: str) -> Job:
    """Rebuild a :class:`Job` from its store group's attributes (parameters, seeds, fingerprint).

    Groups written before the seeds were stored get them by recomputing the job's identity with
    the seed of ``<output>/sweep.toml``. RuntimeError when that does not reproduce the fingerprint.
    """
    import zarr

    from ..config import JobConfig

    check_group(Path(output), name)  # a damaged zarr.json is one line naming it
    try:
        attrs = dict(zarr.open_group(store_path(Path(output)) / name, mode="r").attrs)
    except Exception:  # noqa: BLE001 - zarr raises several types for a missing group
        raise RuntimeError(f"no job group {name!r} in {store_path(Path(output))}") from None
    config = JobConfig.model_validate(attrs["parameters"])
    fingerprint, sample_id = attrs["fingerprint"], attrs.get("sample_id")
    draw = DrawInfo(**{**attrs["draw"], "keys": tuple(attrs["draw"]["keys"])}) if attrs.get("draw") else None
    sweep_seed, seed_digest = attrs.get("sweep_seed"), attrs.get("seed_digest")
    if sweep_seed is None or seed_digest is None:
        sweep_seed = _seed_of(Path(output))
        seed_digest, again, _ = identity(config, sample_id, sweep_seed, draw.index if draw else None)
        if again != fingerprint:
            raise RuntimeError(
                f"job {name}: its fingerprint {fingerprint} is not reproduced with the seed of {Path(output) / 'sweep.toml'} "
                "(the output was reused by another sweep, or an input file changed); run the sweep again")
    return Job(index=-1, name=name, config=config, varied=attrs.get("varied") or {}, sample_id=sample_id,
               sweep_seed=int(sweep_seed), seed_digest=str(seed_digest), fingerprint=fingerprint, draw=draw)


def _seed_of(output: Path) -> int:
    import tomllib

    try:
        return int(tomllib.loads((output / "sweep.toml").read_text())["sweep"]["seed"])
    except (OSError, KeyError, ValueError, TypeError):
        raise RuntimeError(f"{output / 'sweep.toml'} is missing or has no sweep.seed: cannot recover the seeds") from None


def export_sweep(output: Path, jobs: str | None = None, force: bool = False, compression: str | None = None) -> list[dict]:
    """Export every job (matching the shell pattern ``jobs``) of an output folder.

    ``compression`` (OME-TIFF: "none" or "zlib") is kept in the output: later runs and exports use it
    until another is given; None = the output's current setting. One job's failure does not stop
    the others: its result has ``status`` "failed" and ``error``.
    """
    output = Path(output)
    if compression is not None and compression not in COMPRESSIONS:
        raise UserError(f"--compression {compression!r}: expected one of {', '.join(COMPRESSIONS)}")
    names = group_names(output, jobs)  # (a one-line refusal before the setting is written)
    if compression is None:
        compression = export_compression(output)
    elif compression != export_compression(output):
        set_export_compression(output, compression)
    results = []
    for name in names:
        try:
            results.append(export_job(output, job_from_group(output, name), force=force, compression=compression))
        except Exception as exc:  # noqa: BLE001 - one job's failure must not stop the others
            reason = str(exc) if isinstance(exc, (RuntimeError, UserError)) else f"{type(exc).__name__}: {exc}"
            results.append({"job": name, "status": "failed", "error": reason})
    return results
