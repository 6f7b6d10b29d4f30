"""Re-rendering a movie from a ground-truth file (``emitters.source``; issue: samples): the frame-indexed
reader, and a job re-rendered from its own emitters.h5 / localizations.csv."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import pipeline.inputs.truth_source as truth_source
from conftest import run_module
from kernels.render import TRUTH_DTYPE
from pipeline.inputs.truth_source import open_source

ORIGINAL = """
[sweep]
name = "original"
seed = 5

[cluster]
workers = 1

[base.emitters]
structure = "grid"
structure_count = 5
frames = 12
area_px = 28.0
intensity_mu = 3000.0
intensity_sigma = 300.0
blinking = "markov"
off_time_avg = 3.0

[base.drift]
x_nm = [0.0, 3.0]
walk_nm = 2.0

[base.optics]
psf = "gaussian"
psf_radius_px = 4

[base.camera]
roi_size = 32
background = 10.0
add_noise = false

[base.render]
chunk_frames = 5
"""

RERENDER = """
[sweep]
name = "again"
seed = 99

[cluster]
workers = 1

[base.emitters]
source = "{source}"
frames = 12

[base.optics]
psf = "gaussian"
psf_radius_px = 4

[base.camera]
roi_size = 32
background = 10.0
add_noise = false

[base.render]
chunk_frames = 3
"""


def _rows(frames, ids=None):
    rows = np.zeros(len(frames), dtype=TRUTH_DTYPE)
    rows["frame"] = frames
    rows["id"] = np.arange(len(frames)) if ids is None else ids
    rows["x_nm"] = 100.0 + np.arange(len(frames))
    rows["y_nm"] = 200.0
    rows["photons"] = 1000.0 + np.arange(len(frames))
    rows["on_fraction"] = 1.0
    return rows


@pytest.mark.parametrize("block", [2, 1 << 20])
def test_hdf5_source_reads_exactly_each_frame_range(tmp_path, monkeypatch, block):
    monkeypatch.setattr(truth_source, "_BLOCK", block)  # indexing in blocks smaller than the file
    rows = _rows([0, 0, 2, 2, 2, 5, 5], ids=[3, 1, 0, 2, 1, 4, 0])
    path = tmp_path / f"truth{block}.h5"
    with h5py.File(path, "w") as f:
        f["localizations"] = rows
    source = open_source(path)
    assert source.frames == 6 and source.rows == 7
    np.testing.assert_array_equal(source.counts, [2, 0, 3, 0, 0, 2])
    assert source.max_rows(2) == 3 and source.max_rows(6) == 7
    for t0, t1 in [(0, 1), (1, 2), (1, 3), (3, 5), (5, 6), (0, 6), (4, 100), (6, 9)]:
        got = source(t0, t1)
        want = rows[(rows["frame"] >= t0) & (rows["frame"] < t1)]
        want = want[np.lexsort((want["id"], want["frame"]))]  # sorted by frame, then id
        np.testing.assert_array_equal(got, want)


def test_csv_source_counts_frames_from_one_and_numbers_rows_without_ids(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('"frame","x [nm]","y [nm]","intensity [photon]"\n1,10.5,20,100\n3,11,21,200\n\n3,12,22,300\n')
    source = open_source(path)
    assert source.frames == 3
    got = source(0, 3)
    np.testing.assert_array_equal(got["frame"], [0, 2, 2])
    np.testing.assert_array_equal(got["id"], [0, 1, 2])  # each row its own emitter, in file order
    np.testing.assert_array_equal(got["x_nm"], [10.5, 11, 12])
    np.testing.assert_array_equal(got["z_nm"], 0.0)
    assert np.isnan(got["on_fraction"]).all()
    np.testing.assert_array_equal(source(2, 3)["id"], [1, 2])  # ids do not depend on the range read
    assert len(source(1, 2)) == 0


@pytest.fixture(scope="module")
def original_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rerender")
    (folder / "original.toml").write_text(ORIGINAL)
    proc = run_module("run", folder / "original.toml", "--output", folder / "original")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return folder


@pytest.mark.parametrize("kind", ["emitters.h5", "localizations.csv"])
def test_a_job_re_rendered_from_its_own_ground_truth_gives_its_frames(original_run, kind):
    import pipeline

    folder = original_run
    source = folder / "original" / "jobs" / "job_0000" / kind
    sweep = folder / f"again_{kind}.toml"
    sweep.write_text(RERENDER.format(source=source))
    proc = run_module("run", sweep, "--output", folder / f"again_{kind}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    want = pipeline.open_job(folder / "original", "job_0000").frames.values
    got = pipeline.open_job(folder / f"again_{kind}", "job_0000").frames.values
    if kind == "emitters.h5":
        # the same rows, the same patches, added in the same order: float32 rounding at most
        np.testing.assert_allclose(got, want, rtol=2 * np.finfo(np.float32).eps, atol=0)
    else:
        # the CSV keeps 3 decimals of nm and photons: ~5e-4 relative to a 1000-photon spot
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-2)
    with h5py.File(folder / "original" / "jobs" / "job_0000" / "emitters.h5", "r") as f:
        rows = f["localizations"][()]
    with h5py.File(folder / f"again_{kind}" / "jobs" / "job_0000" / "emitters.h5", "r") as f:
        again, emitters = f["localizations"][()], f["emitters"][()]
    np.testing.assert_array_equal(again["frame"], rows["frame"])
    np.testing.assert_allclose(again["x_nm"], rows["x_nm"], atol=5e-4)
    # the emitters table of a re-render: one row per id, at its first localization, photons summed
    assert len(emitters) == len(np.unique(rows["id"]))
    np.testing.assert_allclose(emitters["total_photons"], np.bincount(rows["id"], rows["photons"])[emitters["id"]],
                               rtol=1e-6)
    assert np.isnan(emitters["flux_photons"]).all()


def test_the_render_verb_re_renders_with_the_source_jobs_settings_or_others(original_run, tmp_path):
    """``python -m pipeline render SOURCE``: the source job's own optics and camera by default (its frames
    again); ``--set`` changes one setting; a bad setting is refused in one line."""
    import pipeline
    from pipeline.rerender import render_sweep

    folder = original_run
    source = folder / "original" / "jobs" / "job_0000" / "emitters.h5"
    proc = run_module("render", source, "--output", folder / "same", "--workers", 1)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    want = pipeline.open_job(folder / "original", "job_0000").frames.values
    np.testing.assert_allclose(pipeline.open_job(folder / "same", "job_0000").frames.values, want,
                               rtol=2 * np.finfo(np.float32).eps, atol=0)
    base = render_sweep(source, tmp_path, settings=["camera.type=emccd", "camera.em_gain=50"]).model.base
    assert base.camera.type == "emccd" and base.camera.em_gain == 50.0 and base.camera.add_noise is False
    assert base.emitters.source == str(source) and base.emitters.frames == 12 and not base.drift.active
    proc = run_module("render", source, "--output", folder / "bad", "--set", "camera.typo=1")
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0
    assert "unknown key 'camera.typo'" in proc.stderr and not (folder / "bad").exists()
