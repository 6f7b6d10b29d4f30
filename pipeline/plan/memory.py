"""Memory a chunk needs, worker memory limits, and the refusal when one would not fit (design §8)."""

from __future__ import annotations

from kernels.psf import zernike_working_bytes

from ..config import JobConfig
from ..errors import UserError
from ..table import human_bytes


def chunk_working_set(config: JobConfig, itemsize: int) -> int:
    """Estimated peak bytes of one chunk render, frames of ``itemsize`` bytes per pixel.

    An upper bound: the chunk's output and a chunk-sized float32 expected image (what a run
    without noise holds; with noise only the lit pixels of one frame are), per-frame noise
    temporaries (the Poisson draw needs float64 rates and int64 counts: ~20 bytes per pixel), and
    one PSF batch (Zernike: :func:`kernels.psf.zernike_working_bytes`; otherwise 256 float32
    patches and two temporaries).
    """
    height, width = config.camera.roi_shape
    frames = min(config.render.chunk_frames, config.emitters.frames)
    pixels = height * width
    images = frames * pixels * (4 + itemsize) + 20 * pixels
    radius = config.optics.psf_radius_px
    if config.optics.psf == "zernike":
        psf_batch = zernike_working_bytes(radius, config.render.mode, config.render.oversample)
    else:
        psf_batch = 256 * (2 * radius + 1) ** 2 * 4 * 3
    return images + psf_batch


#: RSS of an idle worker process that has imported everything a chunk task imports: 119 MiB measured
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


def check_memory(plan, limit_bytes: int, threads_per_worker: int = 1) -> list[str]:
    """Warn when a worker's chunks need > 1/4 of its memory; refuse past 90 %, or past the limit
    with the worker's own baseline.

    A worker renders ``threads_per_worker`` chunks at once.
    """
    warnings = []
    worst = max(plan.jobs, key=lambda j: j.chunk_working_set)
    need = worst.chunk_working_set * threads_per_worker
    advice = "use a smaller render.chunk_frames or give workers more memory (cluster.memory_limit)"
    if need > 0.9 * limit_bytes:
        raise UserError(
            f"{plan.sweep.path.name}: one chunk of {worst.name} needs about {human_bytes(need)}, more than 90 % of the "
            f"worker memory limit {human_bytes(limit_bytes)}; {advice}"
        )
    if need + WORKER_BASELINE > limit_bytes:
        raise UserError(
            f"{plan.sweep.path.name}: the worker memory limit {human_bytes(limit_bytes)} is less than one worker needs, "
            f"about {human_bytes(need + WORKER_BASELINE)} ({_needs(threads_per_worker, need)}); {advice}"
        )
    if need > 0.25 * limit_bytes:
        warnings.append(
            f"one chunk of {worst.name} needs about {human_bytes(need)}, more than a quarter of the worker memory "
            f"limit {human_bytes(limit_bytes)}; {advice}"
        )
    return warnings


def _needs(threads_per_worker: int, chunk: int) -> str:
    chunks = "one chunk" if threads_per_worker == 1 else f"{threads_per_worker} chunks (one per thread)"
    return f"an idle worker {human_bytes(WORKER_BASELINE)} + {chunks} {human_bytes(chunk)}"


def check_workers(plan, workers: int, limit_bytes: int, auto: bool, threads_per_worker: int = 1,
                  option: str = "--workers") -> None:
    """Refuse a local cluster of more workers than the machine's RAM holds.

    A worker needs its own baseline (:data:`WORKER_BASELINE`) plus ``threads_per_worker`` chunks,
    and has RAM / workers at most, whatever its memory limit says: limits that add up past the RAM
    are not there to be had. ``option`` names where the count came from. (A limit too small for
    one worker is :func:`check_memory`'s refusal.)
    """
    ram = _ram()
    chunk = max(j.chunk_working_set for j in plan.jobs) * threads_per_worker
    need = WORKER_BASELINE + chunk
    share = ram // workers
    if share >= need:
        return
    why = (f"RAM {human_bytes(ram)} / {workers}" if auto else
           f"RAM {human_bytes(ram)} / {workers}; the limits, {workers} x {human_bytes(limit_bytes)}, add up past the RAM")
    raise UserError(f"{option} {workers}: each worker would have {human_bytes(share)} ({why}) but one needs about "
                    f"{human_bytes(need)} ({_needs(threads_per_worker, chunk)}); at most {ram // need} workers "
                    f"on this machine")
