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


def run_module(*argv, cwd=None, timeout=300, **kwargs) -> subprocess.CompletedProcess:
    """``python -m pipeline ARGS`` as a real subprocess."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *map(str, argv)],
        cwd=cwd or REPO, capture_output=True, text=True, timeout=timeout, env=env, **kwargs,
    )
