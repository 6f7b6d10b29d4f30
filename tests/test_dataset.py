"""FrameDataset: training items from a finished sweep — the store's exact pixels and emitters.h5's rows."""

from __future__ import annotations

import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest
import zarr

import pipeline

pytestmark = pytest.mark.slow


@pytest.fixture
def finished(tiny_run) -> Path:
    return tiny_run


def truth_of(out: Path, name: str, frame: int) -> np.ndarray:
    with h5py.File(out / "jobs" / name / "emitters.h5", "r") as f:
        rows = f["localizations"][()]
    return rows[rows["frame"] == frame]


def test_items_are_the_stored_pixels_and_the_centre_frames_truth(finished):
    data = pipeline.FrameDataset(finished, window=3, crop=(16, 20), seed=5)
    assert len(data) == 2 * (12 - 3 + 1)
    for index in np.random.default_rng(0).choice(len(data), 8, replace=False):
        name, t0, row, col = data.locate(int(index))
        frames, rows = data[int(index)]
        stored = zarr.open_array(finished / "sweep.zarr" / name / "frames", mode="r")[t0:t0 + 3, row:row + 16, col:col + 20]
        assert frames.dtype == np.float32 and frames.shape == (3, 16, 20)
        assert np.array_equal(frames, stored.astype(np.float32))
        truth = truth_of(finished, name, t0 + 1)
        x, y = truth["x_nm"] / 100.0 - col, truth["y_nm"] / 100.0 - row
        inside = (x >= 0) & (x < 20) & (y >= 0) & (y < 16)
        assert np.array_equal(rows["id"], truth["id"][inside])
        np.testing.assert_allclose(rows["x_px"], x[inside], rtol=0, atol=1e-4)
        np.testing.assert_allclose(rows["y_px"], y[inside], rtol=0, atol=1e-4)
        np.testing.assert_allclose(rows["photons"], truth["photons"][inside], rtol=1e-6)


def test_crops_are_deterministic_and_survive_pickling(finished):
    data = pipeline.FrameDataset(finished, window=1, crop=8, seed=1)
    again = pickle.loads(pickle.dumps(data))
    for index in (0, 7, len(data) - 1):
        a, b = data[index], again[index]
        assert data.locate(index) == again.locate(index)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert data.locate(3) != pipeline.FrameDataset(finished, window=1, crop=8, seed=2).locate(3)


def test_photon_map_targets(finished):
    data = pipeline.FrameDataset(finished, jobs="job_0001_*", targets="map")
    assert len(data) == 12
    for index in range(len(data)):
        frames, photons = data[index]
        assert frames.shape == (1, 32, 32) and photons.shape == (32, 32)
        truth = truth_of(finished, "job_0001_num_emitters_40", index)
        inside = (truth["x_nm"] < 3200) & (truth["y_nm"] < 3200) & (truth["x_nm"] >= 0) & (truth["y_nm"] >= 0)
        np.testing.assert_allclose(photons.sum(), truth["photons"][inside].sum(), rtol=1e-5)
        for r in truth[inside][:3]:
            assert photons[int(r["y_nm"] // 100), int(r["x_nm"] // 100)] >= np.float32(r["photons"]) * (1 - 1e-6)


@pytest.mark.parametrize("kwargs, message", [
    ({"window": 2}, "odd number"), ({"crop": 100}, "crop = 100"), ({"targets": "boxes"}, "targets = 'boxes'"),
    ({"jobs": "nope*"}, "matching 'nope*'"),
])
def test_bad_arguments(finished, kwargs, message):
    with pytest.raises(pipeline.UserError, match=message.replace("*", r"\*").replace("(", r"\(")):
        pipeline.FrameDataset(finished, **kwargs)
