"""Shared helpers of the benchmark scripts (not a benchmark, not a test).

- :data:`PEER_JOB`: issue 7's "peer job" as the ``base`` tables of a sweep;
- :func:`sweep_toml` / :func:`write_sweep`: a sweep file from plain dicts;
- :func:`run_pipeline`: ``python -m pipeline run SWEEP --output DIR`` as a subprocess, wall-timed;
- :func:`localizations`: localizations of a finished output (sum over its cache entries);
- :func:`commit_job`: one job through the run's own chunk commit and export, in this process, CPU-timed;
- :func:`median`, :func:`table`, :func:`header`, :func:`check_disk`, :func:`workdir`.

Importing this module also takes ``benchmarks/`` off ``sys.path``: ``benchmarks/kernels.py`` is
named like the ``kernels`` package and would shadow it for any script here that imports
``pipeline`` (this module is already loaded when the path is removed, so the import still works).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != HERE]

from pipeline.config.dump import to_toml  # noqa: E402 - after the path fix above

GiB = 1024 ** 3

#: issue 7's peer job: the original tool's default job made 10x longer (500 frames, 10 000 emitters)
PEER_EMITTERS = {"num_emitters": 10000, "frames": 500, "area_px": 1200.0, "intensity_mu": 10000.0,
                 "intensity_sigma": 2000.0, "lifetime_avg": 2.5}
PEER_OPTICS = {"psf": "gaussian", "gaussian_sigma_nm": 100.0, "pixel_size_nm": 100.0, "psf_radius_px": 5}
PEER_CAMERA = {"roi_size": 1200, "background": 100.0, "readout_noise": 10.0}
PEER_RENDER = {"chunk_frames": 10}
PEER_JOB = {"emitters": PEER_EMITTERS, "optics": PEER_OPTICS, "camera": PEER_CAMERA, "render": PEER_RENDER}


#: a training set's small job: 32x32 px, 100 frames, one chunk (training_set.py, startup.py)
SMALL_JOB = {"emitters": {"num_emitters": 20, "frames": 100, "area_px": 32.0},
             "optics": {"psf": "gaussian", "psf_radius_px": 4},
             "camera": {"roi_size": 32, "background": 10.0}, "render": {"chunk_frames": 100}}


def peer_job(frames: int = 500, **sections: dict) -> dict:
    """The peer job with ``frames`` frames (emitters scaled to keep the density per frame).

    ``sections`` = {"optics": {...}, ...}: keys merged over the peer job's tables.
    """
    job = {name: dict(table) for name, table in PEER_JOB.items()}
    job["emitters"]["frames"] = frames
    job["emitters"]["num_emitters"] = round(PEER_EMITTERS["num_emitters"] * frames / PEER_EMITTERS["frames"])
    for name, table in sections.items():
        job.setdefault(name, {}).update(table)
    return job


def sweep_toml(name: str, base: dict, workers: int | None = None, variables: dict | None = None,
               seed: int = 1, random: dict | None = None) -> str:
    """TOML text of a sweep: ``base`` = {"emitters": {...}, "optics": {...}, ...}; ``random`` = a
    ``[random]`` section ({"n": 100, "camera.background": {...}, ...})."""
    cluster = {"dashboard_address": ":0", **({"workers": workers} if workers else {})}
    return to_toml({"sweep": {"name": name, "seed": seed}, "cluster": cluster, "base": base,
                    "variables": variables or {}, **({"random": random} if random else {})})


def write_sweep(folder: Path, name: str, base: dict, workers: int | None = None,
                variables: dict | None = None, seed: int = 1, random: dict | None = None) -> Path:
    path = Path(folder) / f"{name}.toml"
    path.write_text(sweep_toml(name, base, workers, variables, seed, random))
    return path


@dataclass
class Run:
    wall_s: float
    output: Path
    log: str


def run_pipeline(sweep: Path, output: Path, *extra: str, workers: int | None = None,
                 check: bool = True) -> Run:
    """Wall time of ``python -m pipeline run SWEEP --output OUTPUT [--workers N] EXTRA...``.

    Runs in the sweep's folder (not ``benchmarks/``, whose kernels.py would shadow the package).
    Raises RuntimeError with the log's tail when the command fails and ``check``.
    """
    cmd = [sys.executable, "-m", "pipeline", "run", str(sweep), "--output", str(output), *extra]
    if workers:
        cmd += ["--workers", str(workers)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=Path(sweep).parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - t0
    log = proc.stdout.decode(errors="replace")
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{log[-3000:]}")
    return Run(wall, Path(output), log)


def localizations(output: Path) -> int:
    """Ground-truth rows of a finished output: the sum of ``localizations`` over its cache entries."""
    total = 0
    for path in (Path(output) / "cache" / "chunks").glob("*.json"):
        total += int(json.loads(path.read_text())["localizations"])
    return total


@dataclass
class Committed:
    """What :func:`commit_job` did: CPU (and wall) seconds per frame of the chunk commits and of the
    export, the scene build's CPU seconds, and the job, scene and output (for more measurements)."""

    job: object
    scene: object
    output: Path
    scene_s: float
    commit: float
    export: float
    commit_wall: float
    export_wall: float
    localizations: int


def commit_job(work: Path, name: str, base: dict) -> Committed:
    """The one job of the sweep ``base`` as a run computes it, but in this process (no cluster, so
    no scheduling or start-up cost): :func:`pipeline.run.graph.commit_chunk` over every chunk
    (render, camera, Zarr chunk write, frames into the streamed OME-TIFF, ground truth, cache
    entry), then :func:`pipeline.exports.export_job`. Output in ``work / "out"`` (left there)."""
    from pipeline.config import load_sweep
    from pipeline.exports import export_job, start_stream
    from pipeline.plan import plan_sweep
    from pipeline.run.graph import ChunkTarget, commit_chunk
    from pipeline.scene import build_scene
    from pipeline.store import CacheDir, prepare_job

    job = plan_sweep(load_sweep(write_sweep(work, name, base, workers=1))).jobs[0]
    output = work / "out"
    output.mkdir()
    prepare_job(output, job)
    CacheDir(output).ensure()
    cpu0 = time.process_time()
    scene = build_scene(job)
    scene_s = time.process_time() - cpu0
    stream = start_stream(output, job, name)
    target = ChunkTarget(str(output), job.name, job.fingerprint, stream)
    frames = job.config.emitters.frames
    locs = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for t0, t1 in job.chunks:
        locs += commit_chunk(scene, target, t0, t1)["localizations"]
    cpu1, wall1 = time.process_time(), time.perf_counter()
    export_job(output, job, stream=stream, streamed=frozenset(t0 for t0, _ in job.chunks))
    cpu2, wall2 = time.process_time(), time.perf_counter()
    return Committed(job, scene, output, scene_s, (cpu1 - cpu0) / frames, (cpu2 - cpu1) / frames,
                     (wall1 - wall0) / frames, (wall2 - wall1) / frames, locs)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def table(headers: Sequence[str], rows: Sequence[Sequence], align: str | None = None) -> str:
    """A plain text table; ``align`` one of 'l'/'r' per column (default: first left, rest right)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    align = align or "l" + "r" * (len(headers) - 1)

    def line(row):
        return "  ".join(c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(row, widths, align))

    out = [line(cells[0]), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells[1:]]
    return "\n".join(out)


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def load() -> str:
    try:
        one, five, fifteen = os.getloadavg()
        return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"
    except OSError:
        return "load average unknown"


def header(title: str, reps: int) -> None:
    """First lines of every script: what, repetitions, machine, load."""
    print(title)
    print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, {load()}; "
          f"every figure is the median of {reps} repetition{'s' if reps != 1 else ''}"
          + ("" if reps >= 3 else "  (below the issue's 3)"))


def check_disk(folder: Path, need_bytes: float, what: str) -> None:
    free = shutil.disk_usage(folder).free
    if need_bytes > free:
        sys.exit(f"{folder}: {free / GiB:.1f} GiB free, {what} needs about {need_bytes / GiB:.1f} GiB")


@contextlib.contextmanager
def workdir(prefix: str, root: str | None = None, keep: bool = False) -> Iterator[Path]:
    """A temporary folder, deleted at the end (unless ``keep``)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=root))
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)


def clear(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def peer_bytes(frames: int) -> int:
    """Disk a peer-job run writes: uint16 frames, store (LZ4, about half) + OME-TIFF, plus headroom."""
    return 2 * frames * 1200 * 1200 * 2
