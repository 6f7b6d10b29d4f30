"""Shared fixtures: small sweep files, the CLI called in-process and as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: a tiny but complete sweep: every code path of a real run, frames of 32x32 pixels
TINY_SWEEP = """
[sweep]
name = "tiny"
seed = 11

[cluster]
workers = 2

[base.emitters]
num_emitters = 40
frames = 12
area_px = 28.0
intensity_mu = 3000.0
intensity_sigma = 500.0

[base.optics]
psf = "gaussian"
psf_radius_px = 4

[base.camera]
roi_size = 32
background = 10.0
readout_noise = 2.0

[base.render]
chunk_frames = 4

[variables]
"emitters.num_emitters" = [20, 40]
"""


@pytest.fixture
def write_sweep(tmp_path):
    """Write a sweep file (dedented text) into tmp_path and return its path."""

    def write(text: str = TINY_SWEEP, name: str = "sweep.toml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return write


@pytest.fixture
def cli(capsys, monkeypatch, tmp_path):
    """Run ``python -m pipeline ARGS`` in-process (cwd = tmp_path); returns (exit code, stdout, stderr)."""
    from pipeline.cli import main

    monkeypatch.chdir(tmp_path)

    def run(*argv: str):
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """TINY_SWEEP run once (one worker) for the whole session: read it, or copy it to change it."""
    folder = tmp_path_factory.mktemp("tiny_run")
    (folder / "sweep.toml").write_text(TINY_SWEEP)
    proc = run_module("run", folder / "sweep.toml", "--output", folder / "out", "--workers", 1)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return folder / "out"


def run_module(*argv, cwd=None, timeout=300, env=None, **kwargs) -> subprocess.CompletedProcess:
    """``python -m pipeline ARGS`` as a real subprocess (``env``: variables added to this process's)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *map(str, argv)],
        cwd=cwd or REPO, capture_output=True, text=True, timeout=timeout, env=env, **kwargs,
    )


def reference_movie(job):
    """A job's frames and ground truth rendered directly by the kernels (no dask, no store)."""
    import numpy as np

    from kernels.render import render_chunk
    from pipeline.scene import build_scene

    frames, truth = render_chunk(build_scene(job), 0, job.frames)
    return np.asarray(frames), truth


def stored_movie(output, job_name):
    """A job's frames as stored in the Zarr store, and its ground-truth rows from the cache."""
    import numpy as np
    import zarr

    from pipeline.store import CacheDir

    group = zarr.open_group(Path(output) / "sweep.zarr" / job_name, mode="r")
    frames = group["frames"][:]
    step = group.attrs.get("shard_frames") or group.attrs["chunk_frames"]  # (one entry per shard when sharded)
    fingerprint = group.attrs["fingerprint"]
    cache = CacheDir(Path(output))
    truth = [cache.read_truth(cache.read_entry(fingerprint, t0, min(t0 + step, frames.shape[0])))
             for t0 in range(0, frames.shape[0], step)]
    return frames, np.concatenate(truth)


def status_of(output):
    import json

    return json.loads((Path(output) / "status.json").read_text())


def computed_chunks(output) -> int:
    return sum(j["chunks_computed"] for j in status_of(output)["jobs"])
