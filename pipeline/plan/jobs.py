"""Expand a sweep into jobs: the product of random draws, variables, zip groups and samples (design §3)."""

from __future__ import annotations

import fnmatch
import functools
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kernels.camera import output_dtype

from ..config import JobConfig, LoadedSweep, job_config, leaf_keys
from ..errors import UserError, did_you_mean
from .design import DrawInfo, check_design, draw_design
from .identity import identity
from ..inputs.positions import positions_rows
from .memory import chunk_working_set, expected_fluorophores, scene_bytes
from .names import check_name_length, job_name, random_job_name
from .spline_check import check_spline


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
    #: the job's draw of a [random] design (its drawn values are in ``varied``); None for grid jobs
    draw: DrawInfo | None = None

    @property
    def frames(self) -> int:
        return self.config.emitters.frames

    @property
    def chunk_frames(self) -> int:
        return self.config.render.chunk_frames

    @property
    def shard_frames(self) -> int:
        """Frames per Zarr shard, 0 without sharding."""
        return self.config.render.shard_frames

    @property
    def unit_frames(self) -> int:
        """Frames per stored file, task, cache entry and ground-truth file: a shard, else a chunk."""
        return self.shard_frames or self.chunk_frames

    @property
    def chunks(self) -> list[tuple[int, int]]:
        """Frame ranges [t0, t1) of the job's units of work (its chunks, or its shards when sharded)."""
        return chunk_bounds(self.frames, self.unit_frames)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.frames, *self.config.camera.roi_shape)

    @property
    def dtype(self) -> np.dtype:
        return output_dtype(self.config.camera.add_noise)

    @property
    def pixel_size_um(self) -> float:
        return self.config.optics.pixel_size_nm / 1000.0

    @property
    def frame_interval_s(self) -> float:
        return self.config.camera.frame_interval_ms / 1000.0

    @property
    def nbytes(self) -> int:
        """Uncompressed size of the movie."""
        return math.prod(self.shape) * self.dtype.itemsize

    @property
    def frame_nbytes(self) -> int:
        """Uncompressed size of one frame."""
        return math.prod(self.shape[1:]) * self.dtype.itemsize

    @functools.cached_property
    def positions(self) -> tuple[int, str] | None:
        """(rows, kind) of the positions file, if any (counted, not parsed; 0 rows while it is missing)."""
        path = self.config.emitters.positions_file
        if not path:
            return None
        return positions_rows(path) if Path(path).is_file() else (0, "csv")

    @property
    def n_emitters(self) -> int:
        """Emitters in the movie: the positions file's rows (upper bound), the expected fluorophores of a
        structure, the most rows of a chunk of a re-rendered ground truth, else ``num_emitters``."""
        em = self.config.emitters
        if self.positions:
            return self.positions[0]
        if em.source:
            return self.source.max_rows(self.chunk_frames) if self.source is not None else 0
        if em.labelled:
            return expected_fluorophores(self.config)
        return em.num_emitters

    @functools.cached_property
    def source(self):
        """The indexed ground truth of ``emitters.source`` (None while the file is missing)."""
        from ..inputs.truth_source import open_source

        path = self.config.emitters.source
        return open_source(path) if path and Path(path).is_file() else None

    @property
    def chunk_working_set(self) -> int:
        """Bytes a worker holds while rendering one chunk (estimate, see :func:`chunk_working_set`)."""
        return chunk_working_set(self.config, self.dtype.itemsize, self.n_emitters)

    @property
    def scene_bytes(self) -> int:
        """Bytes of the job's scene on a worker (estimate, see :func:`scene_bytes`)."""
        index = 2 * 8 * self.source.frames if self.source is not None else 0  # a source's per-frame offsets, counts
        return scene_bytes(self.config, self.n_emitters, self.positions) + index


@dataclass(frozen=True)
class Plan:
    """A sweep expanded into jobs."""

    sweep: LoadedSweep
    jobs: list[Job]
    warnings: list[str] = field(default_factory=list)
    varied_keys: tuple[str, ...] = ()  # drawn keys first, then the grid's
    subset: str | None = None  # the --jobs pattern that selected these jobs, if any
    random_keys: tuple[str, ...] = ()  # the keys a [random] design draws
    notes: list[str] = field(default_factory=list)  # what plan chose for the sweep (printed, not warnings)

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
        return Plan(self.sweep, jobs, self.warnings, self.varied_keys, subset=pattern, random_keys=self.random_keys,
                    notes=self.notes)


def _check_axes(sweep: LoadedSweep, seen: dict[str, str]) -> list[tuple[tuple[str, ...], list[tuple]]]:
    """Validate variables and zip groups; return the product axes as (keys, list of value tuples).

    ``seen`` gains each varied key and where it is varied ("variables", "zip group 2").
    """
    file = sweep.path.name
    valid = set(leaf_keys(JobConfig))
    axes = []
    groups = [("variables", {k: v}) for k, v in sweep.model.variables.items()]
    groups += [(f"zip group {i + 1}", g) for i, g in enumerate(sweep.model.zip)]
    for where, group in groups:
        if not group:
            raise UserError(f"{file}: {where} is empty; give at least one \"section.key\" = [values]")
        lengths = {}
        for dotted, values in group.items():
            if dotted not in valid:
                raise UserError(f"{file}: {where} key '{dotted}' is not a parameter of [base]{did_you_mean(dotted, valid)}")
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


#: the automatic layout's chunk: at least this many bytes of frames (small frames get longer chunks)
AUTO_CHUNK_BYTES = 2**20
#: ... and at most this many stored files (shards) per job: longer movies get shards of several chunks
AUTO_MAX_UNITS = 256
#: ... but no shard of more than this many bytes of frames (a shard task holds its shard, ~3x)
AUTO_MAX_SHARD_BYTES = 64 * 2**20


def auto_layout(config: JobConfig) -> tuple[int, int]:
    """(chunk_frames, shard_frames) that ``plan`` chooses when the sweep does not set ``render.chunk_frames``.

    Chunks of at least 10 frames (the former default, kept by every frame of 229² px or more)
    and at least :data:`AUTO_CHUNK_BYTES`; when that still makes more than :data:`AUTO_MAX_UNITS`
    chunks, shards of whole chunks bring the files down to about that many, each of at most
    :data:`AUTO_MAX_SHARD_BYTES` (a worker holds a whole shard). Never longer than the movie. The
    layout never changes the bytes (the fingerprint leaves it out).
    """
    frames = config.emitters.frames
    frame_bytes = math.prod(config.camera.roi_shape) * output_dtype(config.camera.add_noise).itemsize
    chunk = min(frames, max(10, -(-AUTO_CHUNK_BYTES // frame_bytes)))
    chunks = -(-frames // chunk)
    per_shard = min(-(-chunks // AUTO_MAX_UNITS), max(1, AUTO_MAX_SHARD_BYTES // (chunk * frame_bytes)))
    shard = chunk * per_shard if chunks > AUTO_MAX_UNITS and per_shard > 1 else 0
    return chunk, shard


def _layout_is_set(sweep: LoadedSweep) -> bool:
    """Whether the sweep file chooses the layout (sets or varies render.chunk_frames or render.shard_frames)."""
    model = sweep.model
    keys = {"chunk_frames", "shard_frames"}
    varied = {k for group in [model.variables, *model.zip] for k in group}
    varied |= set(model.random.parameters) if model.random is not None else set()
    return bool(keys & model.base.render.model_fields_set) or bool({f"render.{k}" for k in keys} & varied)


def plan_sweep(sweep: LoadedSweep) -> Plan:
    """Expand a loaded sweep into its jobs (validating every job's parameters).

    Jobs are the product of the [random] draws (slowest, so that more draws keep the first jobs'
    indices), the [variables], each [[zip]] group and the [samples] (fastest).
    """
    model = sweep.model
    where: dict[str, str] = {}  # varied key -> where it is varied
    axes = _check_axes(sweep, where)
    design = model.random
    if design is not None:
        check_design(design, sweep.path.name, where)
    random_keys = tuple(design.parameters) if design else ()
    draws: list[dict | None] = draw_design(design, model.sweep.seed) if design else [None]
    varied_keys = random_keys + tuple(k for keys, _ in axes for k in keys)
    samples = model.samples
    if samples and samples.frames_per_sample and "emitters.frames" in varied_keys:
        place = "[random]" if "emitters.frames" in random_keys else where["emitters.frames"]
        raise UserError(f"{sweep.path.name}: samples.frames_per_sample = {samples.frames_per_sample} would override "
                        f"emitters.frames, which {place} varies; give the number of frames in one place")
    # numbered from 1, as the original tool numbers them (sample_001 ... sample_005)
    sample_ids: list[int | None] = list(range(1, samples.num_samples + 1)) if samples else [None]
    jobs, warnings, notes, missing_seen = [], [], [], set()
    auto = not _layout_is_set(sweep)
    combos = list(itertools.product(*(values for _, values in axes))) if axes else [()]
    index = 0
    for draw_index, drawn in enumerate(draws):
        info = DrawInfo(draw_index, design.n, design.method, random_keys) if design else None
        for combo in combos:
            grid = {k: v for (keys, _), vals in zip(axes, combo) for k, v in zip(keys, vals)}
            varied = {**(drawn or {}), **grid}
            what = ", ".join(f"{k} = {v!r}" for k, v in varied.items()) or "the base"
            if info is not None:
                what = f"random draw {draw_index}: {what}"
            overrides = dict(varied)
            if samples and samples.frames_per_sample:
                overrides["emitters.frames"] = samples.frames_per_sample
            config = job_config(model.base, overrides, sweep.path.name, what)
            if auto:
                chunk, shard = auto_layout(config)
                config = config.model_copy(update={"render": config.render.model_copy(
                    update={"chunk_frames": chunk, "shard_frames": shard})})
            check_spline(config, sweep.path.name, what)
            for sample_id in sample_ids:
                suffix = samples.naming.format(sample_id=sample_id) if samples else None
                seed_digest, fingerprint, missing = identity(config, sample_id, model.sweep.seed,
                                                             draw_index if info else None)
                for path in missing:
                    if path not in missing_seen:
                        missing_seen.add(path)
                        warnings.append(f"input file {path} does not exist")
                if info is None:
                    name = job_name(index, grid, suffix)
                else:
                    name = random_job_name(index, draw_index, drawn, grid, suffix)
                check_name_length(name, sweep.path.name)
                jobs.append(
                    Job(index=index, name=name, config=config, varied=varied,
                        sample_id=sample_id, sweep_seed=model.sweep.seed, seed_digest=seed_digest,
                        fingerprint=fingerprint, missing_inputs=tuple(missing), draw=info)
                )
                index += 1
    seen: dict[str, str] = {}
    for job in jobs:
        render = job.config.render
        if render.shard_frames % render.chunk_frames:
            raise UserError(f"{sweep.path.name}: {job.name}: render.shard_frames = {render.shard_frames} must be a "
                            f"multiple of render.chunk_frames = {render.chunk_frames} (0 = no sharding)")
        if job.fingerprint in seen:
            raise UserError(f"{sweep.path.name}: jobs {seen[job.fingerprint]} and {job.name} are the same simulation "
                            "(equal parameters; chunk_frames changes only the layout): vary something physical")
        seen[job.fingerprint] = job.name
    layouts = sorted({(j.chunk_frames, j.shard_frames) for j in jobs})
    if auto and layouts != [(10, 0)]:
        shown = ", ".join(f"{c} frames per chunk" + (f" in shards of {s}" if s else "") for c, s in layouts[:3])
        notes.append(f"render.chunk_frames not set: layout chosen from the frame size ({shown}; "
                     f"chunks of >= 1 MiB, <= {AUTO_MAX_UNITS} files per job); set it to choose")
    if sweep.ignored_keys:
        warnings.append(f"ignored keys of the original tool: {', '.join(sweep.ignored_keys)}")
    return Plan(sweep=sweep, jobs=jobs, warnings=warnings, varied_keys=varied_keys, random_keys=random_keys,
                notes=notes)
