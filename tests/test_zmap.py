"""Field interpolation (kernels.field) and zmap files (pipeline.inputs)."""

from __future__ import annotations


import h5py
import numpy as np
import pytest

from kernels.field import bilinear
from kernels.zernike import noll_to_nm
from pipeline import inputs as zmap
from pipeline.cli import build_parser
from pipeline.errors import InputFileError, UserError


# --------------------------------------------------------------------------- bilinear

def test_bilinear_exact_on_linear_field():
    cy = np.array([0.5, 2.0, 4.0, 7.5])
    cx = np.array([1.0, 3.0, 3.5, 9.0, 12.0])
    yy, xx = np.meshgrid(cy, cx, indexing="ij")
    vals = np.stack([2.0 + 0.3 * xx - 1.1 * yy, -xx + 4 * yy], axis=-1)
    rng = np.random.default_rng(1)
    y = rng.uniform(cy[0], cy[-1], size=(7, 3))
    x = rng.uniform(cx[0], cx[-1], size=(7, 3))
    out = bilinear(cy, cx, vals, y, x)
    assert out.shape == (7, 3, 2)
    np.testing.assert_allclose(out[..., 0], 2.0 + 0.3 * x - 1.1 * y, rtol=0, atol=1e-12)
    np.testing.assert_allclose(out[..., 1], -x + 4 * y, rtol=0, atol=1e-12)
    # exact at the centres themselves
    np.testing.assert_allclose(bilinear(cy, cx, vals, yy, xx), vals, atol=1e-12)


def test_bilinear_bilinear_term_and_midpoint():
    cy, cx = np.array([0.0, 1.0]), np.array([0.0, 1.0])
    vals = np.array([[[0.0], [1.0]], [[2.0], [7.0]]])
    # f = x + 2y + 4xy
    y, x = np.array([0.5, 0.25]), np.array([0.5, 0.75])
    np.testing.assert_allclose(bilinear(cy, cx, vals, y, x)[:, 0], x + 2 * y + 4 * x * y)


def test_bilinear_clamps_at_edges():
    cy = np.array([10.0, 20.0])
    cx = np.array([10.0, 20.0, 30.0])
    vals = np.arange(6, dtype=float).reshape(2, 3, 1)
    y = np.array([-100.0, 0.0, 10.0, 500.0, 15.0, 15.0])
    x = np.array([-100.0, 25.0, 100.0, 500.0, -5.0, 1e9])
    out = bilinear(cy, cx, vals, y, x)[:, 0]
    assert out[0] == vals[0, 0, 0]
    assert out[1] == pytest.approx(1.5)  # top edge row, between columns 1 and 2
    assert out[2] == vals[0, 2, 0]
    assert out[3] == vals[1, 2, 0]
    assert out[4] == pytest.approx(1.5)  # left edge, halfway in y
    assert out[5] == pytest.approx(3.5)


@pytest.mark.parametrize("ny,nx", [(1, 4), (4, 1), (1, 1)])
def test_bilinear_single_row_or_column(ny, nx):
    cy = np.arange(ny) * 10.0 + 5
    cx = np.arange(nx) * 10.0 + 5
    yy, xx = np.meshgrid(cy, cx, indexing="ij")
    vals = (3.0 + xx + 2 * yy)[..., None]
    y = np.array([-50.0, 7.0, 12.0, 1000.0])
    x = np.array([6.0, -3.0, 22.0, 1000.0])
    out = bilinear(cy, cx, vals, y, x)[:, 0]
    ey = np.clip(y, cy[0], cy[-1])
    ex = np.clip(x, cx[0], cx[-1])
    np.testing.assert_allclose(out, 3.0 + ex + 2 * ey)


def test_bilinear_scalar_points():
    cy = cx = np.array([0.0, 1.0])
    vals = np.ones((2, 2, 3))
    assert bilinear(cy, cx, vals, 0.5, 0.5).shape == (3,)


# --------------------------------------------------------------------------- synth + load

@pytest.fixture
def synth_path(tmp_path):
    p = tmp_path / "zm.h5"
    zmap.synth_zmap(p, grid=(6, 5), modes=(4, 5, 6, 7, 8, 11), rms_nm=30.0, roi_shape=(300, 250), seed=3)
    return p


def test_synth_round_trip(synth_path):
    z = zmap.load_zmap(synth_path, roi_shape=(300, 250))
    assert z.noll == (4, 5, 6, 7, 8, 11)
    assert z.coeffs_nm.shape == (6, 5, 6)
    assert z.coeffs_nm.dtype == np.float64
    np.testing.assert_allclose(z.centres_y_px, (np.arange(6) + 0.5) * 50)
    np.testing.assert_allclose(z.centres_x_px, (np.arange(5) + 0.5) * 50)
    rms = np.sqrt(np.mean(z.coeffs_nm**2, axis=(0, 1)))
    np.testing.assert_allclose(rms, 30.0, rtol=1e-9)
    # at() at the centres reproduces the grid; (n, m) for 1-D input
    yy, xx = np.meshgrid(z.centres_y_px, z.centres_x_px, indexing="ij")
    got = z.at(xx.ravel(), yy.ravel())
    assert got.shape == (30, 6)
    np.testing.assert_allclose(got, z.coeffs_nm.reshape(30, 6))
    assert len(z.content_hash) == 64
    with h5py.File(synth_path, "r") as f:
        assert f.attrs["units"] == "nm"
        assert "description" in f.attrs
        assert float(f.attrs["patch_size_px"]) == 50.0


def test_synth_is_deterministic_and_seeded(tmp_path):
    a, b, c = tmp_path / "a.h5", tmp_path / "b.h5", tmp_path / "c.h5"
    zmap.synth_zmap(a, grid=(4, 4), roi_shape=(128, 128), seed=1)
    zmap.synth_zmap(b, grid=(4, 4), roi_shape=(128, 128), seed=1)
    zmap.synth_zmap(c, grid=(4, 4), roi_shape=(128, 128), seed=2)
    za, zb, zc = (zmap.load_zmap(p) for p in (a, b, c))
    np.testing.assert_array_equal(za.coeffs_nm, zb.coeffs_nm)
    assert not np.array_equal(za.coeffs_nm, zc.coeffs_nm)
    assert not list(tmp_path.glob("*.tmp"))


def test_synth_grows_toward_edges(tmp_path):
    p = tmp_path / "z.h5"
    zmap.synth_zmap(p, grid=(8, 8), modes=(5, 6, 7, 8, 11), rms_nm=40.0, roi_shape=(1200, 1200))
    z = zmap.load_zmap(p)
    total = np.sqrt(np.sum(z.coeffs_nm**2, axis=-1))  # RMS wavefront per patch
    corners = total[[0, 0, -1, -1], [0, -1, 0, -1]]
    centre = total[3:5, 3:5]
    assert corners.min() > centre.max()
    # astigmatism and coma individually grow with field radius
    yy, xx = np.meshgrid(z.centres_y_px - 600, z.centres_x_px - 600, indexing="ij")
    r = np.hypot(xx, yy)
    astig = np.hypot(z.coeffs_nm[..., 0], z.coeffs_nm[..., 1])
    coma = np.hypot(z.coeffs_nm[..., 2], z.coeffs_nm[..., 3])
    for a in (astig, coma):
        assert np.corrcoef(r.ravel(), a.ravel())[0, 1] > 0.9
    # coma points along the field direction (x-coma Z8 ~ +x, y-coma Z7 ~ +y)
    assert np.corrcoef(xx.ravel(), z.coeffs_nm[..., 3].ravel())[0, 1] > 0.9
    assert np.corrcoef(yy.ravel(), z.coeffs_nm[..., 2].ravel())[0, 1] > 0.9


def _write(path, coeffs=None, attrs=None, datasets=None, root_attrs=True):
    coeffs = np.zeros((2, 3, 2)) if coeffs is None else coeffs
    attrs = {"units": "nm", "noll": [5, 6], "patch_size_px": 10.0} if attrs is None else attrs
    with h5py.File(path, "w") as f:
        if coeffs is not False:
            ds = f.create_dataset("zernike", data=coeffs)
        target = f.attrs if root_attrs else ds.attrs
        for k, v in attrs.items():
            target[k] = v
        for k, v in (datasets or {}).items():
            f.create_dataset(k, data=v)
    return path


def test_waves_converted_to_nm(tmp_path):
    c = np.full((2, 3, 2), 0.05)
    p = _write(tmp_path / "w.h5", c, {"units": "waves", "wavelength_nm": 600.0, "noll": [5, 6], "patch_size_px": 10})
    z = zmap.load_zmap(p)
    np.testing.assert_allclose(z.coeffs_nm, 30.0)


def test_attrs_on_dataset_and_centre_datasets(tmp_path):
    c = np.arange(2 * 3 * 1, dtype=float).reshape(2, 3, 1)
    p = _write(
        tmp_path / "xy.h5", c, {"units": "nm", "noll": [11]},
        datasets={"y_px": [10.0, 50.0], "x_px": [0.0, 20.0, 100.0]}, root_attrs=False,
    )
    z = zmap.load_zmap(p)
    np.testing.assert_array_equal(z.centres_y_px, [10.0, 50.0])
    np.testing.assert_array_equal(z.centres_x_px, [0.0, 20.0, 100.0])
    # halfway between x centres 20 and 100 on the first row; below the last row -> clamped
    np.testing.assert_allclose(z.at([60.0, 60.0], [10.0, 99.0])[:, 0], [1.5, 4.5])


def test_patch_size_pair_and_pixel_convention(tmp_path):
    c = np.zeros((2, 2, 1))
    c[0, 1, 0] = 8.0
    p = _write(tmp_path / "pp.h5", c, {"noll": [6], "patch_size_px": [4.0, 8.0]})
    z = zmap.load_zmap(p, roi_shape=(8, 16))
    np.testing.assert_allclose(z.centres_y_px, [2.0, 6.0])
    np.testing.assert_allclose(z.centres_x_px, [4.0, 12.0])
    # a point halfway between patch centres x=4 and x=12 on row 0
    assert z.at(8.0, 2.0)[0, 0] == pytest.approx(4.0)


def _err(p, **kw):
    with pytest.raises(InputFileError) as ei:
        zmap.load_zmap(p, **kw)
    msg = str(ei.value)
    assert str(p) in msg
    assert "\n" not in msg
    return msg


def test_errors_missing_and_not_hdf5(tmp_path):
    assert "no such file" in _err(tmp_path / "nope.h5")
    bad = tmp_path / "text.h5"
    bad.write_text("hello")
    assert "not HDF5" in _err(bad)


@pytest.mark.parametrize(
    "kind,needle",
    [
        ("no_dataset", "zernike"),
        ("ndim", "zernike"),
        ("noll_len", "noll"),
        ("no_noll", "noll"),
        ("noll_dup", "noll"),
        ("noll_zero", "noll"),
        ("nan", "zernike"),
        ("inf", "zernike"),
        ("units", "units"),
        ("no_wavelength", "wavelength_nm"),
        ("no_centres", "patch_size_px"),
        ("bad_patch", "patch_size_px"),
        ("non_increasing", "x_px"),
        ("centre_len", "y_px"),
        ("only_y", "x_px"),
        ("roi_mismatch", "ROI"),
    ],
)
def test_errors_name_the_problem(tmp_path, kind, needle):
    p = tmp_path / f"{kind}.h5"
    good = {"units": "nm", "noll": [5, 6], "patch_size_px": 10.0}
    kw = {}
    if kind == "no_dataset":
        _write(p, False, good, datasets={"other": [1]})
    elif kind == "ndim":
        _write(p, np.zeros((8, 8)), good)
    elif kind == "noll_len":
        _write(p, np.zeros((2, 3, 3)), good)
    elif kind == "no_noll":
        _write(p, None, {"units": "nm", "patch_size_px": 10.0})
    elif kind == "noll_dup":
        _write(p, None, {**good, "noll": [6, 6]})
    elif kind == "noll_zero":
        _write(p, None, {**good, "noll": [0, 6]})
    elif kind in ("nan", "inf"):
        c = np.zeros((2, 3, 2))
        c[1, 2, 1] = np.nan if kind == "nan" else np.inf
        _write(p, c, good)
    elif kind == "units":
        _write(p, None, {**good, "units": "furlongs"})
    elif kind == "no_wavelength":
        _write(p, None, {**good, "units": "waves"})
    elif kind == "no_centres":
        _write(p, None, {"units": "nm", "noll": [5, 6]})
    elif kind == "bad_patch":
        _write(p, None, {**good, "patch_size_px": -3.0})
    elif kind == "non_increasing":
        _write(p, None, {"noll": [5, 6]}, datasets={"y_px": [0.0, 5.0], "x_px": [0.0, 5.0, 5.0]})
    elif kind == "centre_len":
        _write(p, None, {"noll": [5, 6]}, datasets={"y_px": [0.0, 5.0, 9.0], "x_px": [0.0, 5.0, 6.0]})
    elif kind == "only_y":
        _write(p, None, {"noll": [5, 6]}, datasets={"y_px": [0.0, 5.0]})
    elif kind == "roi_mismatch":
        _write(p, None, good)
        kw = {"roi_shape": (1200, 1200)}
    msg = _err(p, **kw)
    assert needle in msg, msg


def test_error_message_example_shape(tmp_path):
    p = _write(tmp_path / "zmap.h5", np.zeros((8, 8)), {"noll": [5, 6], "patch_size_px": 10.0})
    msg = _err(p)
    assert "(8, 8)" in msg and "n_modes" in msg


# --------------------------------------------------------------------------- show, names, CLI

def test_mode_names():
    assert zmap.mode_name(6) == "Z6 astigmatism 0°"
    assert zmap.mode_name(5) == "Z5 astigmatism 45°"
    assert zmap.mode_name(8) == "Z8 coma 0°"
    assert zmap.mode_name(7) == "Z7 coma 90°"
    assert zmap.mode_name(11) == "Z11 spherical"
    assert zmap.mode_name(4) == "Z4 defocus"


def test_noll_mapping_used_for_mode_names_matches_convention():
    expect = {1: (0, 0), 2: (1, 1), 3: (1, -1), 4: (2, 0), 5: (2, -2), 6: (2, 2), 7: (3, -1),
              8: (3, 1), 9: (3, -3), 10: (3, 3), 11: (4, 0), 12: (4, 2), 13: (4, -2), 14: (4, 4),
              15: (4, -4), 16: (5, 1), 21: (5, -5), 22: (6, 0)}
    for j, nm in expect.items():
        assert noll_to_nm(j) == nm


def test_show_writes_png(synth_path, tmp_path, capsys):
    import matplotlib.image as mpimg

    out = tmp_path / "png"
    files = zmap.show_zmap(synth_path, out_dir=out)
    assert [f.name for f in files] == [f"zm_Z{j}.png" for j in (4, 5, 6, 7, 8, 11)]
    for f in files:
        img = mpimg.imread(f)
        assert img.shape[0] > 100 and img.shape[1] > 100
        assert float(img[..., :3].std()) > 0.01
    text = capsys.readouterr().out
    assert "Z6 astigmatism 0°" in text and "6x5" in text


def test_show_default_next_to_file(synth_path):
    files = zmap.show_zmap(synth_path, print_fn=lambda *_: None)
    assert all(f.parent == synth_path.parent for f in files)
    assert (synth_path.parent / "zm_Z11.png").exists()


def _parser():
    return build_parser()


def test_cli_synth_and_show(tmp_path, capsys):
    p = tmp_path / "cli.h5"
    args = _parser().parse_args(["zmap", "synth", str(p), "--grid", "4x3", "--modes", "6,11", "--rms-nm", "25", "--roi", "128x96", "--seed", "5"])
    assert args.func(args) == 0
    z = zmap.load_zmap(p, roi_shape=(128, 96))
    assert z.coeffs_nm.shape == (4, 3, 2) and z.noll == (6, 11)
    np.testing.assert_allclose(np.sqrt(np.mean(z.coeffs_nm**2, axis=(0, 1))), 25.0)
    args = _parser().parse_args(["zmap", "show", str(p), "--out", str(tmp_path / "o")])
    assert args.func(args) == 0
    assert (tmp_path / "o" / "cli_Z6.png").exists()


@pytest.mark.parametrize(
    "extra",
    [["--grid", "8by8"], ["--grid", "0x3"], ["--modes", "5,a"], ["--modes", "0,5"], ["--modes", "5,5"],
     ["--rms-nm", "abc"], ["--rms-nm", "-1"], ["--roi", "12x"], ["--seed", "x"]],
)
def test_cli_bad_arguments(tmp_path, extra):
    args = _parser().parse_args(["zmap", "synth", str(tmp_path / "x.h5"), *extra])
    with pytest.raises(UserError) as ei:
        args.func(args)
    assert "\n" not in str(ei.value) and extra[0] in str(ei.value)
    assert not (tmp_path / "x.h5").exists()


def test_cli_missing_folder(tmp_path):
    args = _parser().parse_args(["zmap", "synth", str(tmp_path / "no" / "x.h5")])
    with pytest.raises(UserError):
        args.func(args)


def test_example_config_map_loads():
    from pathlib import Path

    p = Path(__file__).resolve().parents[1] / "configs" / "zmap_example.h5"
    z = zmap.load_zmap(p, roi_shape=128)
    assert z.coeffs_nm.shape[:2] == (4, 4)
    assert p.stat().st_size < 100_000
