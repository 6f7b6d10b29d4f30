"""Memory a worker needs for a job, worker memory limits, and the refusal when it would not fit (design §8).

A worker holds one job's scene (emitters, their on-events, per-emitter aberrations; built once per
job, after parsing the positions file) and renders ``threads_per_worker`` chunks at a time.
"""

from __future__ import annotations

from pathlib import Path

from kernels.psf import zernike_working_bytes
from kernels.vectorial import vectorial_working_bytes
from kernels.render import TRUTH_DTYPE
from kernels.spline import spline_batch_bytes

from ..config import JobConfig
from ..errors import UserError
from ..table import human_bytes

#: peak bytes per row while a positions file is read: the CSV reader holds each row's fields as
#: Python strings (measured 496 B/row for x, y, z); HDF5 reads float64 columns
POSITIONS_BYTES_PER_ROW = {"csv": 512, "hdf5": 64}
#: per emitter: x, y, z, flux (float64), each built once and copied once; per on-event: emitter,
#: t_on, t_off, running max (8 bytes each)
EMITTER_BYTES, EVENT_BYTES = 2 * 4 * 8, 2 * 4 * 8
#: field-dependent modes assumed per emitter (float64 each) when a zmap is given (without reading it)
ZMAP_MODES = 32
#: per (emitter, frame) row of a chunk: the photophysics rows (frame, emitter, photons, on
#: fraction) and the ground-truth row
ROW_BYTES = 4 * 8 + TRUTH_DTYPE.itemsize
#: per patch pixel of a frame's spots: the weighted float32 patch, its int64 frame index, the mask
SPOT_BYTES_PER_PIXEL = 4 + 8 + 1


def expected_fluorophores(config: JobConfig) -> int:
    """Fluorophores a structure's labelling makes, on average (the memory estimate's emitter count)."""
    em = config.emitters
    per_copy = {"grid": em.grid_rows * em.grid_columns, "npc": 16 * em.npc_labels_per_corner,
                "filaments": em.filament_length_nm / 1000.0 * em.filament_sites_per_um}
    sites = em.density_sites if em.structure == "density" else em.structure_count * per_copy[em.structure]
    return int(sites * em.labelling_efficiency * em.fluorophores_per_label) + 1


def emitter_load(config: JobConfig, n_emitters: int) -> tuple[int, float, float]:
    """(on-events, emitters on per frame, emitters on in one chunk) expected for a job: upper estimates.

    "single": one event per emitter, ``lifetime + 1`` frames long on average, started uniformly over
    the movie; "markov": alternating on/off times, at most ``1 / bleach_prob`` events per emitter.
    """
    em = config.emitters
    if em.blinking == "single":
        events = n_emitters
    else:
        per_emitter = em.frames / (em.lifetime_avg + em.off_time_avg) + 1
        if em.bleach_prob > 0:
            per_emitter = min(per_emitter, 1 / em.bleach_prob)
        events = int(n_emitters * per_emitter) + 1
    span = em.lifetime_avg + 1
    chunk = min(config.render.chunk_frames, em.frames)
    per_frame = min(n_emitters, events * span / em.frames)
    per_chunk = min(n_emitters, events * (span + chunk) / em.frames)
    return events, per_frame, per_chunk


#: a spline calibration on a worker, in units of its float32 coefficients: the calibration read
#: (kept for the worker's next job) and the renderer's table, or the float64 arrays of splining a
#: node volume when it is read (uiPSF, compact files: a measured peak of 8x)
SPLINE_COPIES = 8


def spline_bytes(config: JobConfig) -> int:
    """Bytes a spline PSF holds on a worker (0 for other models, or while the file is missing)."""
    optics = config.optics
    if optics.psf != "spline" or not Path(optics.psf_file).is_file():
        return 0
    from ..inputs import load_spline

    return SPLINE_COPIES * load_spline(optics.psf_file).nbytes


def scene_bytes(config: JobConfig, n_emitters: int, positions: tuple[int, str] | None = None) -> int:
    """Bytes of a job's scene on a worker (and of reading its positions file and its spline PSF)."""
    events, _, _ = emitter_load(config, n_emitters)
    coeffs = 8 * ZMAP_MODES if config.optics.zmap_path else 0
    read = positions[0] * POSITIONS_BYTES_PER_ROW[positions[1]] if positions else 0
    height, width = config.camera.roi_shape
    # float32 maps of the frame: the background map (and its float64 field while built; the map sampler's
    # sorted copies and ~7 MiB of level tables), the defect maps
    sampler = 17 * height * width + 8 * 2**20
    maps = height * width * ((4 + 8) * config.background.structured + 14 * config.camera.defects) + \
        sampler * config.background.structured
    return n_emitters * (EMITTER_BYTES + coeffs) + events * EVENT_BYTES + read + spline_bytes(config) + maps


def chunk_working_set(config: JobConfig, itemsize: int, n_emitters: int | None = None) -> int:
    """Estimated peak bytes of one chunk render, frames of ``itemsize`` bytes per pixel.

    An upper bound: the chunk's output and a chunk-sized float32 expected image (what a run
    without noise holds; with noise only the lit pixels of one frame are), per-frame noise
    temporaries (the Poisson draw needs float64 rates and int64 counts: ~20 bytes per pixel), the
    PSF patches of every emitter on in the chunk (float32) and one frame's weighted spots, the
    chunk's photophysics and ground-truth rows, and one PSF batch (Zernike:
    :func:`kernels.psf.zernike_working_bytes`; spline: :func:`kernels.spline.spline_batch_bytes`;
    otherwise 256 float32 patches and two temporaries). A shard task also holds its whole shard.
    """
    height, width = config.camera.roi_shape
    frames = min(config.render.chunk_frames, config.emitters.frames)
    pixels = height * width
    images = frames * pixels * (4 + itemsize) + 20 * pixels
    radius = config.optics.psf_radius_px
    patch = (2 * radius + 1) ** 2
    if config.optics.psf == "zernike":
        psf_batch = zernike_working_bytes(radius, config.render.mode, config.render.oversample)
    elif config.optics.psf == "vectorial":
        psf_batch = vectorial_working_bytes(radius, config.render.mode, config.render.oversample,
                                            dipole=config.optics.dipole, wobble_rad=float(config.optics.dipole_wobble_deg))  # (0 or not: fields)
    elif config.optics.psf == "spline":
        psf_batch = spline_batch_bytes(radius)
    else:
        psf_batch = 256 * patch * 4 * 3
    n = config.emitters.num_emitters if n_emitters is None else n_emitters
    _, per_frame, per_chunk = emitter_load(config, n)
    if config.emitters.source:  # n is the most rows of a chunk, each its own patch
        per_frame = per_chunk = n
    elif config.drift.active:  # every row its own patch
        per_chunk = per_frame * frames
    emitters = per_chunk * patch * 4 + per_frame * patch * SPOT_BYTES_PER_PIXEL + per_frame * frames * ROW_BYTES
    if config.render.shard_frames:
        # a shard's task renders it chunk by chunk but holds its frames: the chunks, their
        # concatenation and the encoded shard (Blosc never grows it by much): 3 copies
        images += 3 * min(config.render.shard_frames, config.emitters.frames) * pixels * itemsize
    return int(images + psf_batch + emitters)


#: RSS of an idle worker process that has imported everything a chunk task may import: 83 MiB with
#: the chunk task's imports at start, 119 MiB with the scipy modules nearly every chunk imports on
#: first use (Gaussian PSF's erf, the sCMOS background table)
#: (``benchmarks/worker_baseline.py``: distributed 2026.8, Python 3.11, 2-core machine); what a
#: worker holds before its first chunk. (Its nanny lives in the run process.)
WORKER_BASELINE = 120 * 2**20


def _ram() -> int:
    import psutil

    return psutil.virtual_memory().total


def worker_memory_limit(memory_limit: str, workers: int) -> int:
    """Bytes per worker: a dask size string, or "auto" = total RAM / workers."""
    from dask.utils import parse_bytes

    if memory_limit in ("auto", ""):
        return _ram() // max(workers, 1)
    try:
        return int(parse_bytes(memory_limit))
    except (ValueError, TypeError):
        raise UserError(f"cluster.memory_limit = {memory_limit!r}: expected a size such as \"4GiB\" or \"auto\"") from None


def worker_need(job, threads_per_worker: int = 1) -> int:
    """Bytes a worker holds for a job beyond its own baseline: the scene and one chunk per thread."""
    return job.scene_bytes + job.chunk_working_set * threads_per_worker


def check_memory(plan, limit_bytes: int, threads_per_worker: int = 1) -> list[str]:
    """Warn when a worker's scene and chunks need > 1/4 of its memory; refuse past 90 %, or past the
    limit with the worker's own baseline.

    A worker renders ``threads_per_worker`` chunks at once.
    """
    warnings = []
    worst = max(plan.jobs, key=lambda j: worker_need(j, threads_per_worker))
    need = worker_need(worst, threads_per_worker)
    what = (f"{worst.name} needs about {human_bytes(need)} per worker (scene {human_bytes(worst.scene_bytes)}, "
            f"{threads_per_worker} chunk(s) of {human_bytes(worst.chunk_working_set)})")
    advice = ("use fewer emitters per job, a smaller render.chunk_frames or give workers more memory "
              "(cluster.memory_limit)")
    if need > 0.9 * limit_bytes:
        raise UserError(f"{plan.sweep.path.name}: {what}, more than 90 % of the worker memory limit "
                        f"{human_bytes(limit_bytes)}; {advice}")
    if need + WORKER_BASELINE > limit_bytes:
        raise UserError(
            f"{plan.sweep.path.name}: the worker memory limit {human_bytes(limit_bytes)} is less than one worker needs, "
            f"about {human_bytes(need + WORKER_BASELINE)} ({_needs(threads_per_worker, need)}); {advice}"
        )
    if need > 0.25 * limit_bytes:
        warnings.append(f"{what}, more than a quarter of the worker memory limit {human_bytes(limit_bytes)}; {advice}")
    return warnings


def _needs(threads_per_worker: int, chunk: int) -> str:
    chunks = "one chunk" if threads_per_worker == 1 else f"{threads_per_worker} chunks (one per thread)"
    return f"an idle worker {human_bytes(WORKER_BASELINE)} + the scene and {chunks} {human_bytes(chunk)}"


def check_workers(plan, workers: int, limit_bytes: int, auto: bool, threads_per_worker: int = 1,
                  option: str = "--workers") -> None:
    """Refuse a local cluster of more workers than the machine's RAM holds.

    A worker needs its own baseline (:data:`WORKER_BASELINE`) plus ``threads_per_worker`` chunks,
    and has RAM / workers at most, whatever its memory limit says: limits that add up past the RAM
    are not there to be had. ``option`` names where the count came from. (A limit too small for
    one worker is :func:`check_memory`'s refusal.)
    """
    ram = _ram()
    if not auto and workers * limit_bytes <= ram:
        return  # the limits fit in the RAM: whether one worker fits in its limit is check_memory's question
    chunk = max(worker_need(j, threads_per_worker) for j in plan.jobs)
    need = WORKER_BASELINE + chunk
    share = ram // workers
    if share >= need:
        return
    why = (f"RAM {human_bytes(ram)} / {workers}" if auto else
           f"RAM {human_bytes(ram)} / {workers}; the limits, {workers} x {human_bytes(limit_bytes)}, add up past the RAM")
    raise UserError(f"{option} {workers}: each worker would have {human_bytes(share)} ({why}) but one needs about "
                    f"{human_bytes(need)} ({_needs(threads_per_worker, chunk)}); at most {ram // need} workers "
                    f"on this machine")
