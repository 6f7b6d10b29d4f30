"""Readers for sCMOS camera maps and emitter positions (pipeline.inputs)."""

from __future__ import annotations

import hashlib

import h5py
import numpy as np
import pytest
import tifffile

from pipeline.errors import InputFileError
from pipeline.inputs import file_digest, load_camera_maps, load_positions

ROI = (6, 5)


def _maps(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "offset": rng.uniform(90, 110, ROI).astype(np.float32),
        "gain": rng.uniform(0.4, 0.6, ROI).astype(np.float32),
        "variance": rng.uniform(1, 50, ROI).astype(np.float32),
    }


def _h5(path, maps):
    with h5py.File(path, "w") as f:
        for k, v in maps.items():
            f.create_dataset(k, data=v)
    return path


def _expect_error(fn, path, *args, needle=None):
    with pytest.raises(InputFileError) as ei:
        fn(path, *args)
    msg = str(ei.value)
    assert str(path) in msg and "\n" not in msg
    if needle is not None:
        assert needle in msg, msg
    return msg


# --------------------------------------------------------------------------- camera maps

def test_camera_maps_hdf5_round_trip(tmp_path):
    m = _maps()
    p = _h5(tmp_path / "cam.h5", m)
    out = load_camera_maps(p, ROI)
    assert set(out) == {"offset_adu", "gain_adu_per_e", "variance_adu2"}
    for key, name in (("offset_adu", "offset"), ("gain_adu_per_e", "gain"), ("variance_adu2", "variance")):
        assert out[key].dtype == np.float32 and out[key].shape == ROI
        np.testing.assert_array_equal(out[key], m[name])


def test_camera_maps_tiff_round_trip(tmp_path):
    m = _maps(1)
    p = tmp_path / "cam.tif"
    tifffile.imwrite(p, np.stack([m["offset"], m["gain"], m["variance"]]), photometric="minisblack")
    out = load_camera_maps(p, ROI)
    np.testing.assert_array_equal(out["offset_adu"], m["offset"])
    np.testing.assert_array_equal(out["gain_adu_per_e"], m["gain"])
    np.testing.assert_array_equal(out["variance_adu2"], m["variance"])


def test_camera_maps_tiff_separate_pages_and_int_roi(tmp_path):
    m = {k: v[:5, :5] for k, v in _maps(2).items()}
    p = tmp_path / "pages.tiff"
    with tifffile.TiffWriter(p) as w:
        for k in ("offset", "gain", "variance"):
            w.write(m[k], photometric="minisblack")
    out = load_camera_maps(p, 5)
    np.testing.assert_array_equal(out["offset_adu"], m["offset"])
    np.testing.assert_array_equal(out["variance_adu2"], m["variance"])
    # RGB-style (Y, X, 3) samples are accepted too
    q = tmp_path / "rgb.tif"
    tifffile.imwrite(q, np.stack([m["offset"], m["gain"], m["variance"]], axis=-1), photometric="rgb")
    np.testing.assert_array_equal(load_camera_maps(q, 5)["gain_adu_per_e"], m["gain"])


@pytest.mark.parametrize(
    "kind,needle",
    [
        ("missing_file", "no such file"),
        ("not_h5_or_tiff", "neither HDF5 nor TIFF"),
        ("missing_dataset", "variance"),
        ("shape", "(6, 5)"),
        ("nan", "offset"),
        ("gain_zero", "gain"),
        ("variance_negative", "variance"),
        ("tiff_two_pages", "3 pages"),
        ("tiff_shape", "(6, 5)"),
        ("string_dataset", "gain"),
    ],
)
def test_camera_map_errors(tmp_path, kind, needle):
    m = _maps()
    p = tmp_path / f"{kind}.h5"
    if kind == "missing_file":
        pass
    elif kind == "not_h5_or_tiff":
        p.write_text("offset,gain\n1,2\n")
    elif kind == "missing_dataset":
        _h5(p, {k: v for k, v in m.items() if k != "variance"})
    elif kind == "shape":
        _h5(p, {**m, "gain": np.ones((5, 6), np.float32)})
    elif kind == "nan":
        m["offset"][2, 3] = np.nan
        _h5(p, m)
    elif kind == "gain_zero":
        m["gain"][0, 0] = 0
        _h5(p, m)
    elif kind == "variance_negative":
        m["variance"][1, 1] = -1
        _h5(p, m)
    elif kind == "tiff_two_pages":
        p = tmp_path / "two.tif"
        tifffile.imwrite(p, np.stack([m["offset"], m["gain"]]), photometric="minisblack")
    elif kind == "tiff_shape":
        p = tmp_path / "shape.tif"
        tifffile.imwrite(p, np.ones((3, 4, 4), np.float32), photometric="minisblack")
    elif kind == "string_dataset":
        with h5py.File(p, "w") as f:
            f.create_dataset("offset", data=m["offset"])
            f.create_dataset("gain", data=np.array([b"a", b"b"]))
            f.create_dataset("variance", data=m["variance"])
    _expect_error(load_camera_maps, p, ROI, needle=needle)


# --------------------------------------------------------------------------- positions

def test_positions_csv_round_trip(tmp_path):
    p = tmp_path / "pos.csv"
    p.write_text("id,x_nm,y_nm,z_nm\n1,10.5,20,-100\n2,300,400.25,50\n")
    pos = load_positions(p)
    assert pos.dtype == np.float64
    np.testing.assert_array_equal(pos, [[10.5, 20, -100], [300, 400.25, 50]])


def test_positions_csv_2d_any_column_order_and_thunderstorm(tmp_path):
    p = tmp_path / "pos.csv"
    p.write_text("y_nm, x_nm\n1,2\n3,4\n")
    np.testing.assert_array_equal(load_positions(p), [[2, 1], [4, 3]])
    q = tmp_path / "ts.csv"
    q.write_text('"id","frame","x [nm]","y [nm]","z [nm]","intensity [photon]"\n1,1,5,6,7,100\n')
    np.testing.assert_array_equal(load_positions(q), [[5, 6, 7]])


def test_positions_hdf5_variants(tmp_path):
    a = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    p1 = tmp_path / "p1.h5"
    with h5py.File(p1, "w") as f:
        f.create_dataset("positions", data=a)
    np.testing.assert_array_equal(load_positions(p1), a)
    p2 = tmp_path / "p2.h5"
    with h5py.File(p2, "w") as f:
        f.create_dataset("x_nm", data=a[:, 0])
        f.create_dataset("y_nm", data=a[:, 1])
    np.testing.assert_array_equal(load_positions(p2), a[:, :2])
    p3 = tmp_path / "p3.h5"
    table = np.zeros(2, dtype=[("id", "i8"), ("x_nm", "f8"), ("y_nm", "f8"), ("z_nm", "f4")])
    table["x_nm"], table["y_nm"], table["z_nm"] = a[:, 0], a[:, 1], a[:, 2]
    with h5py.File(p3, "w") as f:
        f.create_dataset("emitters", data=table)
    np.testing.assert_array_equal(load_positions(p3), a)


@pytest.mark.parametrize(
    "kind,needle",
    [
        ("missing", "no such file"),
        ("empty", "empty"),
        ("header_only", "no data rows"),
        ("no_y", "y_nm"),
        ("nan_csv", "NaN"),
        ("text_value", "x_nm"),
        ("short_row", "row 2"),
        ("binary", "not CSV"),
        ("fake_h5", "not HDF5"),
        ("h5_no_data", "positions"),
        ("h5_shape", "positions"),
        ("h5_nan", "NaN"),
        ("h5_lengths", "equal length"),
        ("h5_empty", "0 rows"),
        ("h5_only_x", "y_nm"),
    ],
)
def test_position_errors(tmp_path, kind, needle):
    p = tmp_path / f"{kind}.csv"
    if kind == "missing":
        pass
    elif kind == "empty":
        p.write_text("")
    elif kind == "header_only":
        p.write_text("x_nm,y_nm\n")
    elif kind == "no_y":
        p.write_text("x_nm,z_nm\n1,2\n")
    elif kind == "nan_csv":
        p.write_text("x_nm,y_nm\n1,2\n3,nan\n")
    elif kind == "text_value":
        p.write_text("x_nm,y_nm\nabc,2\n")
    elif kind == "short_row":
        p.write_text("x_nm,y_nm\n1,2\n3\n")
    elif kind == "binary":
        p.write_bytes(b"\xff\xfe\x00\x81\x92binary")
    elif kind == "fake_h5":
        p = tmp_path / "fake.h5"
        p.write_text("x_nm,y_nm\n1,2\n")
    else:
        p = tmp_path / f"{kind}.h5"
        with h5py.File(p, "w") as f:
            if kind == "h5_no_data":
                f.create_dataset("stuff", data=[1, 2])
            elif kind == "h5_shape":
                f.create_dataset("positions", data=np.zeros((3, 4)))
            elif kind == "h5_nan":
                f.create_dataset("positions", data=np.array([[1.0, np.nan]]))
            elif kind == "h5_lengths":
                f.create_dataset("x_nm", data=[1.0, 2.0])
                f.create_dataset("y_nm", data=[1.0])
            elif kind == "h5_empty":
                f.create_dataset("positions", data=np.zeros((0, 2)))
            elif kind == "h5_only_x":
                f.create_dataset("x_nm", data=[1.0, 2.0])
    _expect_error(load_positions, p, needle=needle)


# --------------------------------------------------------------------------- digest

def test_file_digest(tmp_path):
    p = tmp_path / "f.bin"
    data = np.random.default_rng(0).bytes(3 << 20)
    p.write_bytes(data)
    assert file_digest(p) == hashlib.sha256(data).hexdigest()
    _expect_error(file_digest, tmp_path / "none.bin", needle="no such file")


def test_palette_images_give_their_colours_not_their_indices(tmp_path):
    # a two-colour palette image: index 0 is white (255), index 1 near black (10)
    from PIL import Image

    from pipeline.inputs.images import load_image

    indices = np.zeros((8, 8), dtype=np.uint8)
    indices[:, 4:] = 1
    png = Image.fromarray(indices, mode="P")
    png.putpalette([255, 255, 255, 10, 10, 10] + [0] * (3 * 254))
    png.save(tmp_path / "palette.png")
    colormap = np.zeros((3, 256), dtype=np.uint16)
    colormap[:, 0], colormap[:, 1] = 65535, 2570  # 16-bit TIFF colour map: 255 and 10 times 257
    tifffile.imwrite(tmp_path / "palette.tif", indices, photometric="palette", colormap=colormap)
    want = np.where(indices == 0, 255.0, 10.0)
    np.testing.assert_array_equal(load_image(tmp_path / "palette.png"), want)
    np.testing.assert_array_equal(load_image(tmp_path / "palette.tif"), want * 257)


def test_a_complex_image_is_refused(tmp_path):
    from pipeline.inputs.images import load_image

    tifffile.imwrite(tmp_path / "complex.tif", np.ones((4, 4), dtype=np.complex64))
    with pytest.raises(InputFileError, match="complex"):
        load_image(tmp_path / "complex.tif")
