"""A job opens in napari (0.9, headless) with its physical scale, pixel-centre translation, axes and units.

Two ways in (README "Reading results"): napari-ome-zarr on the job's OME-Zarr group (NGFF 0.5
metadata), and a layer built from ``open_sweep`` with the snippet the README shows.
"""

from __future__ import annotations

import numpy as np
import pytest

import pipeline

napari = pytest.importorskip("napari", reason="napari is in the test extra: pip install -e '.[test]'")
pytestmark = pytest.mark.slow


def test_the_readme_snippet_places_pixel_centres(tiny_run):
    tree = pipeline.open_sweep(tiny_run)
    ds = tree["job_0000_num_emitters_20"].to_dataset()
    frames = ds.frames
    # -- the README snippet --
    layer = napari.layers.Image(
        frames.data, name=ds.attrs["job"], axis_labels=frames.dims,
        scale=[float(frames[d][1] - frames[d][0]) for d in frames.dims],
        translate=[float(frames[d][0]) for d in frames.dims],
        units=[frames[d].attrs["units"] for d in frames.dims],
    )
    # --
    np.testing.assert_allclose(layer.scale, [0.01, 0.1, 0.1])
    np.testing.assert_allclose(layer.translate, [0.0, 0.05, 0.05])  # napari puts index i at a pixel's centre
    assert layer.axis_labels == ("t", "y", "x") and [str(u) for u in layer.units] == ["second", "micrometer", "micrometer"]
    # world coordinates of pixel (row 3, column 5) = the xarray coordinates of that pixel
    world = layer.data_to_world([0, 3, 5])
    assert np.allclose(world[1:], [float(frames.y[3]), float(frames.x[5])])


def test_napari_ome_zarr_reads_the_job_group(tiny_run):
    reader = pytest.importorskip("napari_ome_zarr").napari_get_reader
    path = str(tiny_run / "sweep.zarr" / "job_0001_num_emitters_40")
    (data, meta, kind), = reader(path)(path)
    assert kind == "image" and data[0].shape == (12, 32, 32)
    np.testing.assert_allclose(meta["scale"], [0.01, 0.1, 0.1])
    assert tuple(meta["axis_labels"]) == ("t", "y", "x") and tuple(meta["units"]) == ("second", "micrometer", "micrometer")
    # napari-ome-zarr 0.10 applies only the first transform of a dataset (the scale): the half-pixel
    # translation that the NGFF metadata carries is not passed on (README says so). If a release reads it,
    # this fails and the README can drop the caveat.
    assert "translate" not in meta or meta["translate"] is None
