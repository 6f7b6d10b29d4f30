"""``preview``: per-job PNG (busiest frame + circles, max projection) and the sweep contact sheet."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from pipeline import preview
from pipeline.cli import main

from conftest import stored_movie


@pytest.fixture
def finished_run(tiny_run) -> Path:
    return tiny_run


def test_preview_writes_pngs(finished_run, capsys):
    assert main(["preview", str(finished_run)]) == 0
    printed = capsys.readouterr().out
    names = sorted(p.name for p in (finished_run / "sweep.zarr").iterdir() if p.is_dir())
    assert len(names) == 2
    for name in names:
        path = finished_run / "jobs" / name / "preview.png"
        assert str(path) in printed
        image = matplotlib.image.imread(path)
        assert image.shape[:2] == (520, 1100)
        assert image[..., :3].std() > 0.05
    sheet = matplotlib.image.imread(finished_run / "contact_sheet.png")
    assert sheet.shape[:2] == (330, 520)  # 2 tiles in one row
    assert sheet[..., :3].std() > 0.05


def test_preview_picks_busiest_frame(finished_run):
    name = sorted(p.name for p in (finished_run / "sweep.zarr").iterdir() if p.is_dir())[1]
    p = preview.collect(finished_run, name)
    frames, rows = stored_movie(finished_run, name)
    counts = np.bincount(rows["frame"], minlength=12)
    assert p.frame_index == int(counts.argmax()) and len(p.truth) == counts.max()
    assert np.array_equal(p.frame, frames[p.frame_index])
    assert np.array_equal(p.max_projection, frames.max(axis=0))
    assert p.complete


def test_reduce_keeps_bright_pixels():
    image = np.zeros((600, 500), np.float32)
    image[599, 3] = 7
    small = preview._reduce(image)
    assert max(small.shape) <= preview.TILE_PX and small.max() == 7
