"""Export a finished job: OME-TIFF, ground truth (HDF5 + ThunderSTORM CSV) and job.json (design §4, §6).

Everything is streamed chunk by chunk from the Zarr store and the per-chunk ground-truth files, so
an export holds O(one chunk) of memory whatever the movie length::

    <output>/jobs/<job>/
        simulation.ome.tiff   T×Y×X, uint16 (float32 without noise), OME-XML with physical sizes
        emitters.h5           tables `emitters` and `localizations`, units in attributes
        localizations.csv     ThunderSTORM: "id","frame","x [nm]","y [nm]","z [nm]","intensity [photon]"
        job.json              parameters, varied values, seeds, fingerprint, timings, software
        export.json           marker, written last: fingerprint + file names of a complete export

Every file is written under a temporary name (``.<name>.<pid>.tmp``) in the same folder and renamed
when complete, so an interrupted export never leaves a complete-looking file. A job is exported
only when every chunk has its cache entry (design §7); a rerun skips a job whose marker matches.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from . import atomic
from .cache import CacheDir, checksum
from .errors import UserError
from .plan import Job
from .store import FRAMES, group_names, store_path
from .stream import TiffStream
from .thunderstorm import CSV_HEADER, csv_lines

TIFF = "simulation.ome.tiff"
H5 = "emitters.h5"
CSV = "localizations.csv"
JOB_JSON = "job.json"
MARKER = "export.json"
FILES = (TIFF, H5, CSV, JOB_JSON)
COMPRESSIONS = ("none", "zlib")

#: classic TIFF addresses 4 GiB; keep a margin for IFDs and the OME-XML (tifffile's own rule)
_CLASSIC_TIFF_LIMIT = 2**32 - 2**25

EMITTER_UNITS = {
    "id": "index (0-based; = localizations.id)",
    "x_nm": "nm", "y_nm": "nm", "z_nm": "nm",
    "flux_photons": "photon/frame (while fully on)",
    "t_on": "frame (0-based, continuous: frame k spans [k, k+1))",
    "t_off": "frame (0-based, continuous: frame k spans [k, k+1))",
    "total_photons": "photon",
}
EMITTER_DESCRIPTIONS = {
    "id": "emitter id",
    "x_nm": "x position, to the right, origin at the top-left corner of pixel (0, 0)",
    "y_nm": "y position, downwards, origin at the top-left corner of pixel (0, 0)",
    "z_nm": "axial position; 0 = focal plane, > 0 away from the coverslip",
    "flux_photons": "photons per frame that reach the detector (before QE) while the emitter is fully on",
    "t_on": "start of the first on-event (NaN if never on)",
    "t_off": "end of the last on-event (NaN if never on)",
    "total_photons": "photons emitted within the movie (sum of localizations.photons of this id)",
}
LOCALIZATION_UNITS = {
    "frame": "frame (0-based)",
    "id": "index (0-based; = emitters.id)",
    "x_nm": "nm", "y_nm": "nm", "z_nm": "nm",
    "photons": "photon",
    "on_fraction": "1 (fraction of the frame the emitter is on)",
}
LOCALIZATION_DESCRIPTIONS = {
    "frame": "frame index",
    "id": "emitter id",
    "x_nm": "x position, to the right, origin at the top-left corner of pixel (0, 0)",
    "y_nm": "y position, downwards, origin at the top-left corner of pixel (0, 0)",
    "z_nm": "axial position; 0 = focal plane, > 0 away from the coverslip",
    "photons": "expected photons in this frame that reach the detector (before QE): the PSF's integral "
               "over the whole plane (the rendered patch is truncated at optics.psf_radius_px)",
    "on_fraction": "fraction of the frame during which the emitter is on",
}
CONVENTIONS = (
    "x to the right, y down; origin at the top-left corner of pixel (0, 0); the centre of pixel "
    "(row i, column j) is at ((j+0.5)*p, (i+0.5)*p) nm. z = 0 is the focal plane, z > 0 away from the "
    "coverslip. Frames are 0-based here and 1-based in localizations.csv (ThunderSTORM)."
)


# ----------------------------------------------------------------------------------------------
# helpers


def job_dir(output: Path, job_name: str) -> Path:
    return Path(output) / "jobs" / job_name


def _remove_temporaries(folder: Path, keep: str | None = None) -> None:
    names = (*FILES, MARKER)
    for path in folder.glob(".*.tmp"):
        if any(path.name.startswith(f".{name}.") for name in names) and str(path) != keep:
            path.unlink(missing_ok=True)


def _glibc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018 - glibc only (not musl)
        return libc
    except (OSError, AttributeError, TypeError):
        return None


_LIBC = _glibc()
_M_TRIM_THRESHOLD = -1
_tuned = False


def tune_malloc() -> None:
    """Make glibc return freed chunk buffers to the OS (once per process; a no-op elsewhere).

    zarr decodes every chunk into fresh multi-MB buffers on its own threads. With glibc's dynamic
    mmap threshold these end up in per-thread arenas that are kept after being freed, and the
    resident size creeps up with the number of chunks although the live data stay one chunk.
    A fixed trim threshold (which also fixes the mmap threshold) keeps the peak RSS flat; it is
    what dask's nanny sets for its workers (``MALLOC_TRIM_THRESHOLD_=65536``). Respects an
    explicit ``MALLOC_TRIM_THRESHOLD_`` in the environment.
    """
    global _tuned
    if _tuned or _LIBC is None:
        return
    _tuned = True
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        _LIBC.mallopt(_M_TRIM_THRESHOLD, 65536)


def release_memory() -> None:
    """Hand freed heap memory back to the OS now (glibc ``malloc_trim``; a no-op elsewhere)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _entries(output: Path, job: Job) -> list[dict]:
    """The cache entries of every chunk; RuntimeError naming the missing ones if the job is unfinished."""
    cache = CacheDir(output)
    entries, missing = [], []
    for t0, t1 in job.chunks:
        entry = cache.read_entry(job.fingerprint, t0, t1)
        if entry is None:
            missing.append((t0, t1))
        entries.append(entry)
    if missing:
        shown = ", ".join(f"[{t0}, {t1})" for t0, t1 in missing[:3]) + (" ..." if len(missing) > 3 else "")
        raise RuntimeError(
            f"job {job.name} is not finished: {len(missing)} of {len(job.chunks)} chunks have no cache entry "
            f"(frames {shown}); run the sweep again to finish it, then export"
        )
    return entries


def _frames_array(output: Path, job: Job):
    import zarr

    path = store_path(output) / job.name
    try:
        group = zarr.open_group(path, mode="r")
    except Exception:  # noqa: BLE001 - zarr raises several types for a missing group
        raise RuntimeError(f"job {job.name}: no group in {store_path(output)}") from None
    if group.attrs.get("fingerprint") != job.fingerprint:
        raise RuntimeError(
            f"job {job.name}: the store holds fingerprint {group.attrs.get('fingerprint')}, expected "
            f"{job.fingerprint} (the sweep changed since it ran; run it again)"
        )
    frames = group[FRAMES]
    if frames.shape != job.shape or frames.dtype != job.dtype:
        raise RuntimeError(f"job {job.name}: frames are {frames.shape} {frames.dtype}, expected {job.shape} {job.dtype}")
    return frames


def iter_chunks(output: Path, job: Job, entries: list[dict] | None = None,
                skip: frozenset[int] = frozenset()) -> Iterator[tuple[int, np.ndarray]]:
    """(t0, frames[t0:t1]) of every chunk (but those starting at a frame in ``skip``), read one chunk
    at a time; checked against the entries' checksums."""
    array = _frames_array(output, job)
    for i, (t0, t1) in enumerate(job.chunks):
        if t0 in skip:
            continue
        block = array[t0:t1]
        if entries is not None and checksum(block) != entries[i]["checksum"]:
            raise RuntimeError(
                f"job {job.name}: frames [{t0}, {t1}) do not match their cache entry's checksum "
                f"(the store was modified or is corrupt); run `python -m pipeline verify` and the sweep again"
            )
        yield t0, block
        del block
        release_memory()


def iter_frames(output: Path, job: Job, entries: list[dict] | None = None) -> Iterator[np.ndarray]:
    """Frames one by one, holding one chunk at a time."""
    for _, block in iter_chunks(output, job, entries):
        yield from block
        del block  # before the next chunk is read (and the freed memory trimmed)


def _truth_rows(cache: CacheDir, job: Job, t0: int, t1: int, expected: int | None) -> np.ndarray:
    """One chunk's ground-truth rows, checked against the number its cache entry counts."""
    try:
        rows = cache.read_truth(job.fingerprint, t0, t1)
    except (OSError, ValueError) as exc:
        raise RuntimeError(
            f"job {job.name}: ground truth of frames [{t0}, {t1}) is missing or unreadable "
            f"({cache.truth_path(job.fingerprint, t0, t1)}: {exc}); run the sweep again (it recomputes that chunk)"
        ) from None
    if expected is not None and len(rows) != expected:
        raise RuntimeError(
            f"job {job.name}: ground truth of frames [{t0}, {t1}) has {len(rows)} rows, its cache entry says {expected}"
        )
    return rows


def iter_truth(output: Path, job: Job, entries: list[dict] | None = None) -> Iterator[np.ndarray]:
    """Ground-truth rows (``kernels.render.TRUTH_DTYPE``) chunk by chunk."""
    cache = CacheDir(output)
    for i, (t0, t1) in enumerate(job.chunks):
        rows = _truth_rows(cache, job, t0, t1, None if entries is None else int(entries[i]["localizations"]))
        yield rows
        del rows
        release_memory()


def _bigtiff(job: Job, compression: str, bigtiff: bool | None) -> bool:
    if bigtiff is not None:
        return bool(bigtiff)
    # zlib never grows incompressible data by more than ~0.1 %, plus a few hundred bytes per page
    estimate = job.nbytes * (1.01 if compression == "zlib" else 1.0) + job.frames * 1024
    return estimate > _CLASSIC_TIFF_LIMIT


def software_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    import h5py
    import tifffile
    import zarr

    import kernels

    try:
        package = version("smlm-sweep")
    except PackageNotFoundError:
        package = "unknown"
    return {"smlm-sweep": package, "kernels": kernels.__version__, "numpy": np.__version__,
            "zarr": zarr.__version__, "tifffile": tifffile.__version__, "h5py": h5py.__version__}


# ----------------------------------------------------------------------------------------------
# writers


def _ome_metadata(job: Job) -> dict:
    config = job.config
    pixel_um = config.optics.pixel_size_nm / 1000.0
    return {
        "axes": "TYX", "Name": job.name,
        "PhysicalSizeX": pixel_um, "PhysicalSizeXUnit": "µm",
        "PhysicalSizeY": pixel_um, "PhysicalSizeYUnit": "µm",
        "TimeIncrement": config.camera.frame_interval_ms / 1000.0, "TimeIncrementUnit": "s",
    }


def write_tiff(path: Path, output: Path, job: Job, entries: list[dict] | None, compression: str = "none",
               bigtiff: bool | None = None) -> bool:
    """Stream the movie into an OME-TIFF at ``path`` (one page per frame); returns whether it is BigTIFF."""
    import tifffile

    big = _bigtiff(job, compression, bigtiff)
    with tifffile.TiffWriter(path, bigtiff=big, ome=True) as tif:
        tif.write(data=iter_frames(output, job, entries), shape=job.shape, dtype=job.dtype,
                  photometric="minisblack", metadata=_ome_metadata(job),
                  compression=None if compression == "none" else "zlib")
    return big


def start_stream(output: Path, job: Job, token: str) -> TiffStream:
    """Lay out the job's uncompressed OME-TIFF (no pixels yet: a sparse file) for its chunk tasks to fill.

    Removes what earlier, interrupted runs left under temporary names; a finished export stays
    valid until :func:`export_job` replaces it.
    """
    import tifffile

    folder = job_dir(Path(output), job.name)
    folder.mkdir(parents=True, exist_ok=True)
    _remove_temporaries(folder)
    path = folder / f".{TIFF}.run-{token}.tmp"
    big = _bigtiff(job, "none", None)
    with tifffile.TiffWriter(path, bigtiff=big, ome=True, byteorder="<") as tif:
        tif.write(shape=job.shape, dtype=job.dtype, photometric="minisblack", metadata=_ome_metadata(job))
    frame_nbytes = int(np.prod(job.shape[1:])) * job.dtype.itemsize
    last = job.frames - 1
    with tifffile.TiffFile(path) as tif:  # the frames must be where the stream will put them
        tif.pages.useframes = True  # (the last page's offset without parsing every IFD)
        offsets = {t: int(tif.pages[t].dataoffsets[0]) for t in {0, min(1, last), last}}
    if any(offset != offsets[0] + t * frame_nbytes for t, offset in offsets.items()):
        raise RuntimeError(f"{path}: tifffile did not lay out the frames contiguously")
    return TiffStream(str(path), str(folder / TIFF), offsets[0], frame_nbytes, big)


def _finish_stream(stream: TiffStream, output: Path, job: Job, entries: list[dict], streamed: frozenset[int]) -> None:
    """Fill in the chunks the run did not compute (reused ones), then make the file durable and final."""
    for t0, block in iter_chunks(output, job, entries, skip=streamed):
        stream.write(t0, block)
        del block
    atomic.publish(Path(stream.path), Path(stream.final))


def _json_attr(obj: Any) -> str:
    return json.dumps(obj, default=str)


def _set_column_attrs(dataset, units: dict[str, str], descriptions: dict[str, str]) -> None:
    dataset.attrs["columns"] = _json_attr(list(dataset.dtype.names))
    dataset.attrs["units"] = _json_attr(units)
    dataset.attrs["descriptions"] = _json_attr(descriptions)
    for name in dataset.dtype.names:
        dataset.attrs[f"{name}_units"] = units[name]


def write_h5(path: Path, output: Path, job: Job, entries: list[dict] | None, software: dict[str, str]) -> int:
    """``emitters`` and ``localizations`` tables (appended chunk by chunk); returns the number of localizations."""
    import h5py

    from kernels.render import TRUTH_DTYPE

    from .scene import build_scene, emitter_table

    emitters = emitter_table(build_scene(job), job.frames)
    config = job.config
    with h5py.File(path, "w") as f:
        root = f.attrs
        root["job"] = job.name
        root["fingerprint"] = job.fingerprint
        root["parameters"] = _json_attr(config.model_dump(mode="json"))
        root["varied"] = _json_attr(job.varied)
        root["sample_id"] = -1 if job.sample_id is None else job.sample_id
        root["sweep_seed"] = job.sweep_seed
        root["seed_digest"] = job.seed_digest
        root["frames"] = job.frames
        root["roi_shape"] = np.asarray(config.camera.roi_shape, dtype=np.int64)
        root["pixel_size_nm"] = config.optics.pixel_size_nm
        root["frame_interval_ms"] = config.camera.frame_interval_ms
        root["conventions"] = CONVENTIONS
        root["software"] = _json_attr(software)

        # uncompressed: gzip halves float tables but costs ~1.5 us per row, serially at the end of
        # the run; plain (chunked) datasets are also what every HDF5 reader opens without filters
        table = f.create_dataset("emitters", data=emitters)
        _set_column_attrs(table, EMITTER_UNITS, EMITTER_DESCRIPTIONS)
        table.attrs["description"] = "one row per emitter"

        locs = f.create_dataset("localizations", shape=(0,), maxshape=(None,), dtype=TRUTH_DTYPE,
                                chunks=(65536,))
        _set_column_attrs(locs, LOCALIZATION_UNITS, LOCALIZATION_DESCRIPTIONS)
        locs.attrs["description"] = "one row per emitter per frame in which it emits (sorted by frame, then id)"
        n = 0
        for rows in iter_truth(output, job, entries):
            if len(rows):
                locs.resize((n + len(rows),))
                locs[n:n + len(rows)] = rows.astype(TRUTH_DTYPE, copy=False)
                n += len(rows)
    return n


def write_csv(path: Path, output: Path, job: Job, entries: list[dict] | None) -> int:
    """ThunderSTORM CSV, 1-based frames; returns the number of rows.

    Concatenates the lines each chunk task formatted (``cache.csv_path``); a chunk whose lines
    are missing or do not count its localizations is formatted here from its ground truth.
    """
    cache = CacheDir(output)
    n = 0
    with open(path, "wb") as f:
        f.write(CSV_HEADER.encode() + b"\n")
        for i, (t0, t1) in enumerate(job.chunks):
            expected = None if entries is None else int(entries[i]["localizations"])
            try:
                lines = cache.csv_path(job.fingerprint, t0, t1).read_bytes()
            except OSError:
                lines = None
            if lines is None or expected is None or lines.count(b"\n") != expected:
                rows = _truth_rows(cache, job, t0, t1, expected)
                lines, expected = csv_lines(rows), len(rows)
            f.write(lines)
            n += expected
            del lines
    return n


# ----------------------------------------------------------------------------------------------
# one job


def _marker_matches(marker: Any, job: Job, folder: Path, compression: str, bigtiff: bool | None) -> bool:
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
    folder = job_dir(Path(output), job.name)
    return _marker_matches(atomic.read_json(folder / MARKER), job, folder, compression, None)


def export_job(output: Path, job: Job, force: bool = False, compression: str = "none",
               bigtiff: bool | None = None, stream: TiffStream | None = None,
               streamed: frozenset[int] = frozenset()) -> dict:
    """Write ``<output>/jobs/<job>/`` (OME-TIFF, emitters.h5, localizations.csv, job.json, export.json).

    Skips the job when its ``export.json`` marker matches the fingerprint (and options) and all
    files exist, unless ``force``. ``compression`` is "none" (default, Fiji-safe) or "zlib";
    ``bigtiff`` None = automatic (when the file may exceed 4 GiB), True/False forces it.
    ``stream`` is the OME-TIFF that the run's chunk tasks filled (:func:`start_stream`); the chunks
    starting at the frames in ``streamed`` are in it, the others are read from the store.
    Raises RuntimeError when the job is not finished (a chunk without cache entry) or its data
    do not match. Returns a summary dict (``status`` "exported" or "skipped").
    """
    output = Path(output)
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression = {compression!r}: expected one of {', '.join(COMPRESSIONS)}")
    folder = job_dir(output, job.name)
    marker = atomic.read_json(folder / MARKER)
    if stream is not None and not (stream.exists() and compression == "none" and bigtiff in (None, stream.bigtiff)):
        stream = None  # (a retried export task finds it renamed already) written from the store instead
    if not force and _marker_matches(marker, job, folder, compression, bigtiff):
        if stream is not None:
            Path(stream.path).unlink(missing_ok=True)
        return {"job": job.name, "status": "skipped", "folder": str(folder), "files": marker["files"],
                "localizations": marker.get("localizations"), "bigtiff": marker.get("bigtiff")}

    started = time.monotonic()
    tune_malloc()
    entries = _entries(output, job)  # refuses an unfinished job before anything is touched
    _frames_array(output, job)
    folder.mkdir(parents=True, exist_ok=True)
    _remove_temporaries(folder, keep=stream.path if stream is not None else None)
    # from here on the folder holds no complete export until the new marker is written
    (folder / MARKER).unlink(missing_ok=True)
    if not (isinstance(marker, dict) and marker.get("fingerprint") == job.fingerprint):
        for name in FILES:  # files of another fingerprint (or of unknown origin) must not survive
            (folder / name).unlink(missing_ok=True)

    expected = sum(int(e["localizations"]) for e in entries)
    software = software_versions()
    if stream is not None:
        _finish_stream(stream, output, job, entries, streamed)
        is_big = stream.bigtiff
    else:
        with atomic.Staged(folder / TIFF) as tmp:
            is_big = write_tiff(tmp, output, job, entries, compression, bigtiff)
    with atomic.Staged(folder / H5) as tmp:
        n_h5 = write_h5(tmp, output, job, entries, software)
    with atomic.Staged(folder / CSV) as tmp:
        n_csv = write_csv(tmp, output, job, entries)
    if not n_h5 == n_csv == expected:
        raise RuntimeError(f"job {job.name}: wrote {n_h5} localizations to HDF5 and {n_csv} to CSV, "
                           f"the cache entries count {expected}")

    seconds = round(time.monotonic() - started, 3)
    info = {
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
        "localizations": expected,
        "timings": {
            "chunk_seconds": round(sum(float(e.get("seconds") or 0.0) for e in entries), 3),
            "export_seconds": seconds,
            "exported": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
        "tiff": {"compression": compression, "bigtiff": is_big},
        "files": list(FILES),
        "software": software,
    }
    atomic.write_json(folder / JOB_JSON, info)
    atomic.write_json(folder / MARKER, {"fingerprint": job.fingerprint, "files": list(FILES), "compression": compression,
                                  "bigtiff": is_big, "localizations": expected, "time": info["timings"]["exported"]})
    return {"job": job.name, "status": "exported", "folder": str(folder), "files": list(FILES),
            "localizations": expected, "bigtiff": is_big, "seconds": seconds}


# ----------------------------------------------------------------------------------------------
# jobs of an output folder


_PLANS: dict[tuple[str, float], dict[str, Job]] = {}


def _planned_jobs(output: Path) -> dict[str, Job]:
    """The jobs of ``<output>/sweep.toml`` by fingerprint (re-planned once per file version)."""
    from .config import load_sweep
    from .plan import plan_sweep

    path = Path(output) / "sweep.toml"
    key = (str(path.resolve()), path.stat().st_mtime)
    if key not in _PLANS:
        _PLANS[key] = {j.fingerprint: j for j in plan_sweep(load_sweep(path)).jobs}
    return _PLANS[key]


def job_from_group(output: Path, name: str) -> Job:
    """Rebuild a :class:`Job` from its store group's attributes (+ seeds from ``<output>/sweep.toml``).

    The sweep seed and seed digest are recovered by re-planning the sweep as run and matching the
    fingerprint; failing that (the sweep file was replaced), by recomputing the job's identity
    with the seed of ``sweep.toml``. RuntimeError when neither reproduces the fingerprint.
    """
    import zarr

    from .config import JobConfig
    from .plan import identity

    output = Path(output)
    try:
        attrs = dict(zarr.open_group(store_path(output) / name, mode="r").attrs)
    except Exception:  # noqa: BLE001
        raise RuntimeError(f"no job group {name!r} in {store_path(output)}") from None
    config = JobConfig.model_validate(attrs["parameters"])
    fingerprint = attrs["fingerprint"]
    sample_id = attrs.get("sample_id")
    varied = attrs.get("varied") or {}
    if not (output / "sweep.toml").is_file():
        raise RuntimeError(f"job {name}: {output / 'sweep.toml'} is missing, cannot recover the job's seed")
    try:
        planned = _planned_jobs(output).get(fingerprint)
    except UserError:
        planned = None
    if planned is not None:
        return Job(index=planned.index, name=name, config=config, varied=varied, sample_id=sample_id,
                   sweep_seed=planned.sweep_seed, seed_digest=planned.seed_digest, fingerprint=fingerprint)
    import tomllib

    try:
        seed = tomllib.loads((output / "sweep.toml").read_text())["sweep"]["seed"]
    except (OSError, KeyError, ValueError, TypeError):
        seed = None
    if seed is not None:
        seed_digest, again, _ = identity(config, sample_id, seed)
        if again == fingerprint:
            return Job(index=-1, name=name, config=config, varied=varied, sample_id=sample_id,
                       sweep_seed=seed, seed_digest=seed_digest, fingerprint=fingerprint)
    raise RuntimeError(
        f"job {name}: its fingerprint {fingerprint} is not a job of {output / 'sweep.toml'} (the output was "
        f"reused by another sweep, or an input file changed); cannot recover its seed"
    )


def export_output(output: Path, pattern: str | None = None, force: bool = False, compression: str = "none",
                  echo=print) -> int:
    """Export every (matching) job of an output folder; prints one line per job; returns the exit code."""
    output = Path(output)
    names = group_names(output, pattern)
    failed = 0
    for name in names:
        try:
            result = export_job(output, job_from_group(output, name), force=force, compression=compression)
        except Exception as exc:  # noqa: BLE001 - one job's failure must not stop the others
            failed += 1
            reason = str(exc) if isinstance(exc, (RuntimeError, UserError)) else f"{type(exc).__name__}: {exc}"
            echo(f"failed    {name}: {reason}")
            continue
        if result["status"] == "skipped":
            echo(f"skipped   {name}: up to date")
        else:
            echo(f"exported  {name}: {result['localizations']} localizations in {result['seconds']:.1f} s"
                 f"{' (BigTIFF)' if result['bigtiff'] else ''} -> {result['folder']}")
    return 1 if failed else 0


def export_command(args) -> int:
    """``python -m pipeline export OUTPUT [--jobs GLOB] [--force] [--compression none|zlib]``."""
    return export_output(Path(args.output), getattr(args, "jobs", None), bool(getattr(args, "force", False)),
                         getattr(args, "compression", None) or "none")


def register_cli(subparsers) -> None:
    p = subparsers.add_parser("export", help="(re)write OME-TIFF, ground truth and job.json of finished jobs")
    p.add_argument("output", help="output folder of a sweep")
    p.add_argument("--jobs", metavar="GLOB", help="only the jobs whose names match this shell pattern")
    p.add_argument("--force", action="store_true", help="rewrite the files even when an export is up to date")
    p.add_argument("--compression", choices=COMPRESSIONS, default="none",
                   help="OME-TIFF compression (default none: readable everywhere, e.g. Fiji)")
    p.set_defaults(func=export_command)
