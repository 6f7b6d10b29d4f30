"""Expand a sweep into jobs: product of variables, zip groups and samples; names, identity, sizes.

A job's *fingerprint* hashes everything that determines its bytes (design §3); its *seed digest*
hashes the physical parameters and sample id, and keys every random stream together with the sweep
seed. Neither depends on the job's position in the sweep or on the chunk layout.
"""

from __future__ import annotations

import fnmatch
import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import kernels
from kernels.psf import zernike_batch_bytes

from .config import PATH_KEYS, JobConfig, LoadedSweep, job_config, leaf_keys
from .errors import UserError

_SAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def chunk_bounds(frames: int, chunk_frames: int) -> list[tuple[int, int]]:
    """Frame ranges [t0, t1) of ``frames`` frames cut every ``chunk_frames``."""
    return [(t0, min(t0 + chunk_frames, frames)) for t0 in range(0, frames, chunk_frames)]


@dataclass(frozen=True)
class Job:
    """One parameter combination (and sample) of a sweep."""

    index: int
    name: str
    config: JobConfig
    varied: dict[str, Any]
    sample_id: int | None
    sweep_seed: int
    seed_digest: str
    fingerprint: str
    missing_inputs: tuple[str, ...] = ()

    @property
    def frames(self) -> int:
        return self.config.emitters.frames

    @property
    def chunk_frames(self) -> int:
        return self.config.render.chunk_frames

    @property
    def chunks(self) -> list[tuple[int, int]]:
        """Frame ranges [t0, t1) of the job's chunks."""
        return chunk_bounds(self.frames, self.chunk_frames)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.frames, *self.config.camera.roi_shape)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint16 if self.config.camera.add_noise else np.float32)

    @property
    def nbytes(self) -> int:
        """Uncompressed size of the movie."""
        return math.prod(self.shape) * self.dtype.itemsize

    @property
    def chunk_working_set(self) -> int:
        """Bytes a worker holds while rendering one chunk (estimate, see :func:`chunk_working_set`)."""
        return chunk_working_set(self.config)


@dataclass(frozen=True)
class Plan:
    """A sweep expanded into jobs."""

    sweep: LoadedSweep
    jobs: list[Job]
    warnings: list[str] = field(default_factory=list)
    varied_keys: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.sweep.name

    def select(self, pattern: str | None) -> Plan:
        """The jobs whose names match a shell glob (``--jobs``)."""
        if not pattern:
            return self
        jobs = [j for j in self.jobs if fnmatch.fnmatchcase(j.name, pattern)]
        if not jobs:
            raise UserError(f"--jobs '{pattern}' matches none of the {len(self.jobs)} jobs of {self.sweep.path.name}")
        return Plan(self.sweep, jobs, self.warnings, self.varied_keys)


def chunk_working_set(config: JobConfig) -> int:
    """Estimated peak bytes of one chunk render.

    An upper bound: the chunk's output and a chunk-sized float32 expected image (what a run
    without noise holds; with noise only the lit pixels of one frame are), per-frame noise
    temporaries (the Poisson draw needs float64 rates and int64 counts: ~20 bytes per pixel), and
    one PSF batch (Zernike:
    :func:`kernels.psf.zernike_batch_bytes` with N = 64 pupil cells and M = (2r+1)·q sample points
    per patch side; otherwise 256 float32 patches and two temporaries).
    """
    height, width = config.camera.roi_shape
    frames = min(config.render.chunk_frames, config.emitters.frames)
    pixels = height * width
    out_bytes = 2 if config.camera.add_noise else 4
    images = frames * pixels * (4 + out_bytes) + 20 * pixels
    side = 2 * config.optics.psf_radius_px + 1
    if config.optics.psf == "zernike":
        m = side * (config.render.oversample if config.render.mode == "oversampled" else 3)
        psf_batch = zernike_batch_bytes(64, m)
    else:
        psf_batch = 256 * side * side * 4 * 3
    return images + psf_batch


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def _digest(obj: Any) -> str:
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()


def _input_digests(config: JobConfig) -> tuple[dict[str, str], list[str]]:
    """Content hashes of the job's input files (so that moving a file keeps the fingerprint)."""
    from .inputs import file_digest

    digests, missing = {}, []
    for dotted in PATH_KEYS:
        section, key = dotted.split(".")
        path = getattr(getattr(config, section), key)
        if path:
            if Path(path).is_file():
                digests[dotted] = file_digest(path)
            else:
                digests[dotted] = f"missing:{path}"  # plan before inputs exist: still distinct jobs
                missing.append(path)
    return digests, missing


def physical_parameters(config: JobConfig, digests: dict[str, str]) -> dict:
    """Everything physical about a job, canonical: input files by content, ROI as [height, width]."""
    tree = config.model_dump(mode="json", exclude={"render"})
    for dotted, digest in digests.items():
        section, key = dotted.split(".")
        tree[section][key] = digest
    tree["camera"]["roi"] = list(config.camera.roi_shape)
    tree["camera"].pop("roi_size")
    return tree


def identity(config: JobConfig, sample_id: int | None, sweep_seed: int) -> tuple[str, str, list[str]]:
    """(seed digest, fingerprint, missing input files) of a job."""
    digests, missing = _input_digests(config)
    physics = physical_parameters(config, digests)
    seed_digest = _digest({"physics": physics, "sample_id": sample_id})
    # chunk_frames changes only the layout, never the bytes (design §3), so it is not part of identity
    numerics = config.render.model_dump(mode="json", exclude={"chunk_frames"})
    fingerprint = _digest(
        {"seed_digest": seed_digest, "render": numerics, "sweep_seed": sweep_seed, "kernels": kernels.__version__,
         # numpy's generators may change their streams between feature releases
         "numpy": ".".join(np.__version__.split(".")[:2])}
    )
    return seed_digest[:32], fingerprint[:32], missing


def _value_label(dotted: str, value: Any) -> str:
    if dotted in PATH_KEYS and isinstance(value, str):
        value = Path(value).stem if value else "none"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dict):
        value = "-".join(f"{k}-{v}" for k, v in value.items())
    label = _SAFE.sub("-", str(value)).strip("-.")
    return label or "x"


def job_name(index: int, varied: dict[str, Any], sample_suffix: str | None) -> str:
    """``job_{index:04d}_{key}_{value}_...`` (+ sample suffix), always a safe file name."""
    parts = [f"job_{index:04d}"]
    lasts = [d.rsplit(".", 1)[-1] for d in varied]
    for dotted, value in varied.items():
        key = dotted.rsplit(".", 1)[-1] if lasts.count(dotted.rsplit(".", 1)[-1]) == 1 else dotted.replace(".", "_")
        parts.append(f"{key}_{_value_label(dotted, value)}")
    if sample_suffix:
        parts.append(_SAFE.sub("-", sample_suffix).strip("-."))
    return "_".join(parts)


def _check_axes(sweep: LoadedSweep) -> list[tuple[tuple[str, ...], list[tuple]]]:
    """Validate variables and zip groups; return the product axes as (keys, list of value tuples)."""
    file = sweep.path.name
    valid = set(leaf_keys(JobConfig))
    seen: dict[str, str] = {}
    axes = []
    groups = [("variables", {k: v}) for k, v in sweep.model.variables.items()]
    groups += [(f"zip group {i + 1}", g) for i, g in enumerate(sweep.model.zip)]
    for where, group in groups:
        if not group:
            raise UserError(f"{file}: {where} is empty; give at least one \"section.key\" = [values]")
        lengths = {}
        for dotted, values in group.items():
            if dotted not in valid:
                import difflib

                close = difflib.get_close_matches(dotted, sorted(valid), n=1, cutoff=0.6)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise UserError(f"{file}: {where} key '{dotted}' is not a parameter of [base]{hint}")
            if not values:
                raise UserError(f"{file}: {where} '{dotted}' has an empty list of values")
            if dotted in seen:
                raise UserError(f"{file}: '{dotted}' is varied both in {seen[dotted]} and in {where}")
            seen[dotted] = where
            lengths[dotted] = len(values)
        if len(set(lengths.values())) > 1:
            detail = ", ".join(f"'{k}' has {n}" for k, n in lengths.items())
            raise UserError(f"{file}: {where} lists must have equal lengths: {detail}")
        axes.append((tuple(group), list(zip(*group.values()))))
    return axes


def plan_sweep(sweep: LoadedSweep) -> Plan:
    """Expand a loaded sweep into its jobs (validating every job's parameters)."""
    model = sweep.model
    axes = _check_axes(sweep)
    varied_keys = tuple(k for keys, _ in axes for k in keys)
    samples = model.samples
    sample_ids: list[int | None] = list(range(samples.num_samples)) if samples else [None]
    jobs, warnings, missing_seen = [], [], set()
    combos = itertools.product(*(values for _, values in axes)) if axes else [()]
    index = 0
    for combo in combos:
        varied = {k: v for (keys, _), vals in zip(axes, combo) for k, v in zip(keys, vals)}
        what = ", ".join(f"{k} = {v!r}" for k, v in varied.items()) or "the base"
        overrides = dict(varied)
        if samples and samples.frames_per_sample:
            overrides["emitters.frames"] = samples.frames_per_sample
        config = job_config(model.base, overrides, sweep.path.name, what)
        for sample_id in sample_ids:
            suffix = samples.naming.format(sample_id=sample_id) if samples else None
            seed_digest, fingerprint, missing = identity(config, sample_id, model.sweep.seed)
            for path in missing:
                if path not in missing_seen:
                    missing_seen.add(path)
                    warnings.append(f"input file {path} does not exist")
            jobs.append(
                Job(index=index, name=job_name(index, varied, suffix), config=config, varied=varied,
                    sample_id=sample_id, sweep_seed=model.sweep.seed, seed_digest=seed_digest,
                    fingerprint=fingerprint, missing_inputs=tuple(missing))
            )
            index += 1
    seen: dict[str, str] = {}
    for job in jobs:
        if job.fingerprint in seen:
            raise UserError(f"{sweep.path.name}: jobs {seen[job.fingerprint]} and {job.name} are the same simulation "
                            "(equal parameters; chunk_frames changes only the layout): vary something physical")
        seen[job.fingerprint] = job.name
    if sweep.ignored_keys:
        warnings.append(f"ignored keys of the original tool: {', '.join(sweep.ignored_keys)}")
    return Plan(sweep=sweep, jobs=jobs, warnings=warnings, varied_keys=varied_keys)


def worker_memory_limit(memory_limit: str, workers: int) -> int:
    """Bytes per worker: a dask size string, or "auto" = total RAM / workers."""
    import psutil
    from dask.utils import parse_bytes

    if memory_limit in ("auto", ""):
        return psutil.virtual_memory().total // max(workers, 1)
    try:
        return int(parse_bytes(memory_limit))
    except (ValueError, TypeError):
        raise UserError(f"cluster.memory_limit = {memory_limit!r}: expected a size such as \"4GiB\" or \"auto\"") from None


def check_memory(plan: Plan, limit_bytes: int, threads_per_worker: int = 1) -> list[str]:
    """Warn when a worker's chunks need > 1/4 of its memory; refuse past 90 % (design §8).

    A worker renders ``threads_per_worker`` chunks at once.
    """
    from .table import human_bytes

    warnings = []
    worst = max(plan.jobs, key=lambda j: j.chunk_working_set)
    need = worst.chunk_working_set * threads_per_worker
    advice = "use a smaller render.chunk_frames or give workers more memory (cluster.memory_limit)"
    if need > 0.9 * limit_bytes:
        raise UserError(
            f"{plan.sweep.path.name}: one chunk of {worst.name} needs about {human_bytes(need)}, more than 90 % of the "
            f"worker memory limit {human_bytes(limit_bytes)}; {advice}"
        )
    if need > 0.25 * limit_bytes:
        warnings.append(
            f"one chunk of {worst.name} needs about {human_bytes(need)}, more than a quarter of the worker memory "
            f"limit {human_bytes(limit_bytes)}; {advice}"
        )
    return warnings
