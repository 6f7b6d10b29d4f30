"""Measured (spline) PSFs through the pipeline: the file formats' conventions, the psf tools, plan and run.

Known answers are built here independently of pipeline/inputs/spline_files.py: SMAP's layout from
its documented rules (MATLAB coeff (n1 = rows, n2 = columns, nz, 64), index 16 pz + 4 p2 + p1,
spline z index z0 - z / dz, centre x0 - 1) with scipy's not-a-knot splines and a direct port of
the evaluation loop of SMAP's simSplinePSF_c.cpp; MATLAB v7.3 files by h5py in MATLAB's HDF5
layout; uiPSF's res/I_model (z, y, x) with its params JSON. Tolerances: float32 coefficients
(~1e-7 of the peak, 1e-6 used); the round trip's figures are those of docs/physics.md §4.6.
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import scipy.io
import tifffile
from scipy.interpolate import CubicSpline

from kernels.psf import AstigmaticPSF, ZernikePSF
from pipeline.config import load_sweep
from pipeline.inputs import load_spline
from pipeline.plan import plan_sweep
from pipeline.scene import build_scene, psf_model

DZ, Z0, NZ_NODES, N_NODES = 50.0, 8.0, 17, 26  # SMAP z index k at z = (z0 - k) dz: +400 .. -400 nm
CENTRE = 12  # node of the emitter: x0 = 13


def asymmetric(dx, dy, z):
    """A known PSF (displacements in px, z in nm): x sharpest at z = +200, y at -200, a lobe at +2.5 px in x."""
    sx = 1.0 * np.sqrt(1 + ((z - 200.0) / 300.0) ** 2)
    sy = 1.0 * np.sqrt(1 + ((z + 200.0) / 300.0) ** 2)
    core = np.exp(-0.5 * ((dx / sx) ** 2 + (dy / sy) ** 2))
    return core + 0.3 * np.exp(-0.5 * (((dx - 2.5) / 0.7) ** 2 + (dy / 0.7) ** 2))


def smap_volume(func=asymmetric, x0=CENTRE + 1):
    """Node values in MATLAB order V[i1 = row (y), i2 = column (x), k = SMAP z index]."""
    d = np.arange(N_NODES) - (x0 - 1)
    z = (Z0 - np.arange(NZ_NODES)) * DZ
    return func(d[None, :, None], d[:, None, None], z[None, None, :])


def smap_coeff(volume):
    """MATLAB coeff (n1, n2, nz, 64), index 16 p3 + 4 p2 + p1: the tensor not-a-knot spline of the
    nodes (MATLAB's interp3 'spline', which SMAP's Spline3D_interp samples), by scipy."""
    c = CubicSpline(np.arange(volume.shape[0]), volume, axis=0).c[::-1]            # (p1, i1, N2, N3)
    c = CubicSpline(np.arange(volume.shape[1]), c, axis=2).c[::-1]                 # (p2, i2, p1, i1, N3)
    c = CubicSpline(np.arange(volume.shape[2]), c, axis=4).c[::-1]                 # (p3, i3, p2, i2, p1, i1)
    n1, n2, n3 = (s - 1 for s in volume.shape)
    return np.ascontiguousarray(c.transpose(5, 3, 1, 0, 2, 4)).reshape(n1, n2, n3, 64)


def smap_eval(coeff, d1, d2, z, x0=CENTRE + 1, z0=Z0, dz=DZ):
    """simSplinePSF_c.cpp's sum at displacement d1 along MATLAB axis 1 (rows), d2 along axis 2 (columns):
    delta_f[i*16 + j*4 + k] = z^i y^j x^k with its "x" = axis 1, "y" = axis 2, "z" = axis 3."""
    s = np.array([x0 - 1 + d1, x0 - 1 + d2, z0 - z / dz])
    i = np.minimum(np.floor(s).astype(int), np.array(coeff.shape[:3]) - 1)
    t = s - i
    total = 0.0
    for a in range(4):
        for b in range(4):
            for k in range(4):
                total += t[2] ** a * t[1] ** b * t[0] ** k * coeff[i[0], i[1], i[2], a * 16 + b * 4 + k]
    return total


def sxy(coeff, x0=CENTRE + 1, xrange=(-np.inf, np.inf)):
    cspline = {"coeff": coeff.astype(np.float32), "dz": DZ, "z0": Z0}
    if x0 is not None:
        cspline["x0"] = float(x0)
    return {"cspline": cspline, "Xrange": np.array(xrange, dtype=float), "Yrange": np.array([-np.inf, np.inf]), "EMon": False}


# ------------------------------------------------------------------------- MATLAB v7.3 (h5py) writer
def _put(f, parent, name, value):
    if isinstance(value, dict):
        g = parent.create_group(name)
        g.attrs["MATLAB_class"] = np.bytes_("struct")
        for k, v in value.items():
            _put(f, g, k, v)
    elif isinstance(value, np.ndarray) and value.dtype == object:  # a struct array of dicts, MATLAB shape
        g = parent.create_group(name)
        g.attrs["MATLAB_class"] = np.bytes_("struct")
        refs = f.require_group("#refs#")
        for field in value.flat[0]:
            ds = g.create_dataset(field, shape=value.shape[::-1], dtype=h5py.ref_dtype)
            for index in np.ndindex(*value.shape):
                key = f"r{len(refs)}"
                _put(f, refs, key, value[index][field])
                ds[index[::-1]] = refs[key].ref
    else:
        a = np.asarray(value)
        cls = {"float64": "double", "float32": "single", "bool": "logical"}[a.dtype.name]
        data = np.atleast_2d(a.astype(np.uint8) if a.dtype == bool else a)
        ds = parent.create_dataset(name, data=data.T)  # column-major: HDF5 holds the transpose
        ds.attrs["MATLAB_class"] = np.bytes_(cls)


def write_mat73(path, variables):
    with h5py.File(path, "w", userblock_size=512) as f:
        for name, value in variables.items():
            _put(f, f, name, value)
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Dec  1 00:00:00 2026 HDF5 schema 1.00 ."
    with open(path, "r+b") as fh:
        fh.write(header.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM")


# ----------------------------------------------------------------------------------------- helpers
def spline_job(tmp_path, psf_file, extra="", z_range_um=0.6, pixel_nm=100.0, radius=8):
    path = tmp_path / "spline.toml"
    path.write_text(f"""
[sweep]
name = "spline"
[cluster]
workers = 1
[base.emitters]
num_emitters = 30
frames = 6
area_px = 24.0
z_range_um = {z_range_um}
[base.optics]
psf = "spline"
psf_file = "{psf_file}"
psf_radius_px = {radius}
pixel_size_nm = {pixel_nm}
{extra}
[base.camera]
roi_size = 32
add_noise = false
[base.render]
chunk_frames = 3
""")
    return path


def model_of(tmp_path, psf_file, **kw):
    return psf_model(plan_sweep(load_sweep(spline_job(tmp_path, psf_file, **kw))).jobs[0].config)


def widths(values, centre=8):
    """RMS widths (x, y) about the patch's centre pixel of patches (n, rows, columns), pixels."""
    v = values.astype(np.float64)
    dy, dx = np.arange(v.shape[1]) - centre, np.arange(v.shape[2]) - centre
    tot = v.sum(axis=(1, 2))
    return np.sqrt((v.sum(1) * dx**2).sum(1) / tot), np.sqrt((v.sum(2) * dy**2).sum(1) / tot)


# ------------------------------------------------------------------------------- SMAP known answers
@pytest.fixture(scope="module")
def smap_known():
    volume = smap_volume()
    return volume, smap_coeff(volume)


@pytest.mark.parametrize("version", ["v7", "v7.3"])
def test_smap_layout_renders_the_known_asymmetric_psf(version, smap_known, tmp_path):
    volume, coeff = smap_known
    path = tmp_path / "beads_3dcal.mat"
    if version == "v7":
        scipy.io.savemat(path, {"SXY": sxy(coeff)})
    else:
        write_mat73(path, {"SXY": sxy(coeff)})
    cal = load_spline(path)
    assert cal.format.endswith(f"(MATLAB {version})") and cal.z_range_nm == (-400.0, 400.0)
    psf = model_of(tmp_path, path.name, z_range_um=0.8)
    # at pixel-centre positions and node planes the pixels are the nodes over the window's light
    for z in (-400.0, -200.0, 0.0, 150.0, 400.0):
        got = psf.render([30.5], [30.5], [z]).values[0].astype(np.float64)
        k = int(round(Z0 - z / DZ))
        window = volume[:N_NODES - 1, :N_NODES - 1, k]
        want = window[CENTRE - 8: CENTRE + 9, CENTRE - 8: CENTRE + 9] / window.sum()
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6 * want.max())
    # the lobe is on the +x side (columns to the right of the emitter)
    v = psf.render([30.5], [30.5], [0.0]).values[0]
    assert v[8, 8 + 2] > 1.5 * v[8, 8 - 2] and v[8 + 2, 8] == pytest.approx(v[8 - 2, 8], rel=1e-5)
    # x is sharpest at z = +200 nm, y at -200 nm (ignoring the lobe: a symmetric copy)
    zs = np.arange(-400.0, 401.0, 25.0)
    core = psf.render(np.full(zs.size, 30.5), np.full(zs.size, 30.5), zs).values
    wx, wy = widths(core[:, :, :8 + 1])  # the left half and centre column: the core only
    assert zs[np.argmin(wy)] == -200.0 and abs(zs[np.argmin(wx)] - 200.0) <= 25.0
    # anywhere (sub-pixel, between planes) ours equals SMAP's own evaluation of the file
    rng = np.random.default_rng(0)
    for x, y, z in zip(rng.uniform(30, 31, 12), rng.uniform(30, 31, 12), rng.uniform(-400, 400, 12)):
        p = psf.render([x], [y], [z])
        vals = p.values[0].astype(np.float64)
        norm = psf.plane_sum(z)[0]
        for i, j in [(8, 8), (7, 10), (9, 5), (12, 8)]:
            dy, dx = p.row0[0] + i + 0.5 - y, p.col0[0] + j + 0.5 - x
            assert vals[i, j] == pytest.approx(smap_eval(coeff, dy, dx, z) / norm, abs=2e-6 * float(vals.max()))


def test_smap_centre_is_x0_minus_1_as_decode_reads_it(tmp_path):
    """DECODE's SMAPSplineCoefficient: ref0 = (x0 - 1, x0 - 1, z0). A blob at node 12 with x0 = 11
    (origin at node 10) renders 2 px right of and below the emitter; without x0 the origin is n // 2."""
    blob = lambda dx, dy, z: np.exp(-0.5 * (dx**2 + dy**2) / 1.2) + 0 * z  # noqa: E731
    coeff = smap_coeff(smap_volume(blob))
    scipy.io.savemat(tmp_path / "a_3dcal.mat", {"SXY": sxy(coeff, x0=11)})
    scipy.io.savemat(tmp_path / "b_3dcal.mat", {"SXY": sxy(coeff, x0=None)})
    a = model_of(tmp_path, "a_3dcal.mat").render([30.5], [30.5], [0.0]).values[0]
    b = model_of(tmp_path, "b_3dcal.mat").render([30.5], [30.5], [0.0]).values[0]
    assert np.unravel_index(np.argmax(a), a.shape) == (8 + 2, 8 + 2)
    assert np.unravel_index(np.argmax(b), b.shape) == (8, 8)  # n = 25 voxels: node 12


@pytest.mark.parametrize("version", ["v7", "v7.3"])
def test_an_array_of_sxy_is_a_field_dependent_calibration(version, smap_known, tmp_path):
    _, coeff = smap_known
    mirrored = smap_coeff(smap_volume(lambda dx, dy, z: asymmetric(-dx, dy, z)))  # lobe on -x
    arr = np.empty((2, 1), dtype=object)
    arr[0, 0], arr[1, 0] = sxy(coeff, xrange=(0.0, 16.0)), sxy(mirrored, xrange=(16.0, 32.0))
    path = tmp_path / "field_3dcal.mat"
    if version == "v7":
        rec = np.empty((2, 1), dtype=[(k, object) for k in arr[0, 0]])
        for i in range(2):
            for k in arr[0, 0]:
                rec[i, 0][k] = arr[i, 0][k]
        scipy.io.savemat(path, {"SXY": rec})
    else:
        write_mat73(path, {"SXY": arr})
    cal = load_spline(path)
    assert [p.x_range_px for p in cal.parts] == [(0.0, 16.0), (16.0, 32.0)]
    v = model_of(tmp_path, path.name).render([8.5, 24.5], [16.5, 16.5], [0.0, 0.0]).values
    assert v[0, 8, 10] > 1.5 * v[0, 8, 6]  # left half of the field: lobe on +x
    assert v[1, 8, 6] > 1.5 * v[1, 8, 10]  # right half: the mirrored calibration


def test_uipsf_result_renders_with_its_conventions(tmp_path):
    """uiPSF: res/I_model (z, y, x), plane k at z = (k - (Nz - 1)/2) pixel_size.z; offset (its minimum) removed."""
    nz, size, dz = 17, 25, 50.0
    z = (np.arange(nz) - (nz - 1) / 2) * dz
    d = np.arange(size) - (size - 1) / 2
    model = asymmetric(d[None, None, :], d[None, :, None], z[:, None, None]) + 0.01
    path = tmp_path / "psf_zernike_single.h5"
    with h5py.File(path, "w") as f:
        f.attrs["params"] = json.dumps({"pixel_size": {"x": 0.1, "y": 0.1, "z": dz / 1000}, "PSFtype": "zernike"})
        f.create_group("res").create_dataset("I_model", data=model.astype(np.float32))
    cal = load_spline(path)
    assert cal.z_range_nm == (-400.0, 400.0) and cal.pixel_size_nm == pytest.approx(100.0)
    psf = model_of(tmp_path, path.name, z_range_um=0.8)
    for k in (0, 6, 8, 16):
        got = psf.render([30.5], [30.5], [z[k]]).values[0].astype(np.float64)
        plane = model[k].astype(np.float32).astype(np.float64) - model.astype(np.float32).min()
        want = plane[12 - 8: 12 + 9, 12 - 8: 12 + 9] / plane.sum()
        np.testing.assert_allclose(got, want, rtol=0, atol=2e-6 * want.max())
    v = psf.render([30.5], [30.5], [0.0]).values[0]
    assert v[8, 10] > 1.5 * v[8, 6]
    zs = np.arange(-400.0, 401.0, 25.0)
    wx, wy = widths(psf.render(np.full(zs.size, 30.5), np.full(zs.size, 30.5), zs).values[:, :, :9])
    assert zs[np.argmin(wy)] == -200.0 and abs(zs[np.argmin(wx)] - 200.0) <= 25.0


# ----------------------------------------------------------------------------- export and round trip
ZERNIKE_SWEEP = """
[base.optics]
psf = "zernike"
zernike = {{ 6 = 60.0, 8 = 40.0, 11 = 20.0 }}
{extra}
[base.emitters]
z_range_um = 0.6
[base.camera]
roi_size = 40
"""


def test_export_spline_reads_back_the_same_as_mat_and_hdf5(cli, tmp_path):
    (tmp_path / "model.toml").write_text(ZERNIKE_SWEEP.format(extra=""))
    code, out, err = cli("psf", "export-spline", "model.toml", "--out", "m.h5", "--out", "m_3dcal.mat",
                         "--size", "15", "--dz-nm", "50")
    assert code == 0, err
    assert "wrote m.h5" in out and "wrote m_3dcal.mat" in out
    h5, mat = load_spline(tmp_path / "m.h5"), load_spline(tmp_path / "m_3dcal.mat")
    assert h5.z_range_nm == mat.z_range_nm == (-300.0, 300.0) and mat.pixel_size_nm == h5.pixel_size_nm == 100.0
    rng = np.random.default_rng(1)
    x, y, z = rng.uniform(20, 21, 40), rng.uniform(20, 21, 40), rng.uniform(-300, 300, 40)
    a = h5.model(7).render(x, y, z).values
    b = mat.model(7).render(x, y, z).values
    assert np.abs(a - b).max() <= 1e-6 * a.max()
    # and SMAP's own evaluation of the .mat is our HDF5's spline
    m = scipy.io.loadmat(tmp_path / "m_3dcal.mat", struct_as_record=False, squeeze_me=True)["SXY"].cspline
    p = h5.model(7).render(x[:5], y[:5], z[:5])
    for n in range(5):
        dy, dx = p.row0[n] + 7 + 0.5 - y[n], p.col0[n] + 9 + 0.5 - x[n]
        want = smap_eval(np.asarray(m.coeff, dtype=np.float64), dy, dx, z[n], x0=m.x0, z0=m.z0, dz=m.dz)
        assert p.values[n, 7, 9] == pytest.approx(want, abs=1e-6 * float(p.values[n].max()))


@pytest.fixture(scope="module")
def bead_stacks(tmp_path_factory):
    """Bead z-stacks (-600 .. 600 nm every 25 nm) of one bead 0.3, 0.6 px off a pixel corner, rendered by
    the Zernike model (NA 1.45, 670 nm, 100 nm px), 1e5 photons + 10 per pixel of background, no noise.
    The estimated background takes pixels beyond one ROI from the bead: the frame is large enough
    (121 px) that the PSF's tail there is small (0.03 per pixel)."""
    folder = tmp_path_factory.mktemp("beads")
    zs = np.arange(-600.0, 601.0, 25.0)
    stacks = {}
    for name, ab, size in (("coma", ((6, 60.0), (8, 40.0), (11, 20.0)), 81), ("astig", ((6, 60.0), (11, 20.0)), 121)):
        half = size // 2
        big = ZernikePSF(670.0, 1.45, 1.518, pixel_size_nm=100.0, radius_px=half, global_coeffs_nm=ab)
        p = big.render(np.full(zs.size, half + 0.3), np.full(zs.size, half + 0.6), zs)
        stack = np.full((zs.size, size, size), 10.0)
        for i in range(zs.size):
            r0, c0 = p.row0[i], p.col0[i]
            stack[i, max(r0, 0):, max(c0, 0):] += 1e5 * p.values[i][-r0 if r0 < 0 else 0:size - r0, -c0 if c0 < 0 else 0:size - c0]
        tifffile.imwrite(folder / f"{name}.tif", stack.astype(np.float32), photometric="minisblack")
        stacks[name] = (folder / f"{name}.tif", big, ab)
    return stacks


@pytest.mark.parametrize("case, args", [
    ("coma", ["--bead", "40.3,40.6", "--background", "10"]),  # known position: the origin is the emitter
    ("astig", []),  # found, centred on its centroid, background estimated
])
def test_round_trip_through_psf_spline(case, args, bead_stacks, cli, tmp_path):
    """psf spline of a Zernike bead stack, rendered with psf = "spline", against the Zernike model divided
    by its light in the 31 px window. Measured (docs/physics.md §4.6): coma, position and background
    given: 3.7e-4 of the peak between planes, 3.3e-4 on them, centroid 4.6e-4 px; astigmatism, all
    estimated (121 px frame): 4.6e-4 and 2.8e-4 px."""
    stack, big, ab = bead_stacks[case]
    c = big.radius_px
    code, out, err = cli("psf", "spline", stack, "--dz-nm", "25", "--pixel-size-nm", "100", "--out", "cal.h5", *args)
    assert code == 0, err
    psf = model_of(tmp_path, "cal.h5", z_range_um=1.2, radius=7)
    small = ZernikePSF(670.0, 1.45, 1.518, pixel_size_nm=100.0, radius_px=7, global_coeffs_nm=ab)
    rng = np.random.default_rng(2)
    n = 120
    x, y = rng.uniform(30, 31, n), rng.uniform(30, 31, n)
    for z in (rng.uniform(-600, 600, n), -600 + 25.0 * rng.integers(0, 49, n)):  # between planes, on planes
        light = big.render(np.full(n, 60.5), np.full(n, 60.5), z).values[:, c - 15:c + 16, c - 15:c + 16].sum(axis=(1, 2))
        got = psf.render(x, y, z).values.astype(np.float64)
        want = small.render(x, y, z).values.astype(np.float64) / light[:, None, None]
        err = (np.abs(got - want).max(axis=(1, 2)) / want.max(axis=(1, 2))).max()
        assert err < 1e-3, err
        cols = np.arange(15)
        for axis in (1, 2):
            cg = (got.sum(axis) * cols).sum(1) / got.sum((1, 2))
            cw = (want.sum(axis) * cols).sum(1) / want.sum((1, 2))
            assert np.abs(cg - cw).max() < 1e-3


def test_psf_show_prints_and_plots(cli, tmp_path, smap_known):
    scipy.io.savemat(tmp_path / "k_3dcal.mat", {"SXY": sxy(smap_known[1])})
    code, out, err = cli("psf", "show", "k_3dcal.mat", "--out", "plots")
    assert code == 0, err
    assert "SMAP _3dcal.mat (MATLAB v7)" in out and "z -400 .. 400 nm, dz 50 nm" in out and "window 25 x 25 px" in out
    assert (tmp_path / "plots" / "k_3dcal_psf.png").stat().st_size > 10_000


# ---------------------------------------------------------------------------------------- refusals
def _bad_files(tmp_path):
    tifffile.imwrite(tmp_path / "stack.tif", np.zeros((3, 8, 8), np.float32), photometric="minisblack")
    scipy.io.savemat(tmp_path / "nosxy_3dcal.mat", {"other": np.ones(3)})
    scipy.io.savemat(tmp_path / "shape_3dcal.mat", {"SXY": sxy(np.ones((4, 4, 3, 16)))})
    with h5py.File(tmp_path / "v2.h5", "w") as f:
        f.attrs.update(format="smlm-sweep spline psf", version=2)
    with h5py.File(tmp_path / "multi.h5", "w") as f:
        f.attrs["params"] = json.dumps({"pixel_size": {"x": 0.1, "y": 0.1, "z": 0.05}})
        f.create_dataset("res/channel0/I_model", data=np.ones((3, 5, 5)))
    (tmp_path / "text.h5").write_text("not a calibration")


@pytest.mark.parametrize("name, found", [
    ("stack.tif", "found a TIFF image (a bead stack?)"),
    ("nosxy_3dcal.mat", "found a MATLAB file with variables ['other']"),
    ("shape_3dcal.mat", "found SXY.cspline.coeff of shape (4, 4, 3, 16)"),
    ("v2.h5", "found attr version = 2"),
    ("multi.h5", "found a multi-channel uiPSF result"),
    ("text.h5", "found a file that is neither HDF5 nor MATLAB"),
])
def test_bad_calibrations_are_refused_in_one_line(name, found, cli, tmp_path):
    _bad_files(tmp_path)
    code, out, err = cli("plan", spline_job(tmp_path, name))
    assert code == 2 and err.count("\n") == 1, err
    assert str(tmp_path / name) in err and found in err and "; expected " in err


def test_emitters_beyond_the_calibrated_z_are_refused_at_plan_unless_clamped(cli, tmp_path, smap_known):
    scipy.io.savemat(tmp_path / "k_3dcal.mat", {"SXY": sxy(smap_known[1])})
    code, out, err = cli("plan", spline_job(tmp_path, "k_3dcal.mat", z_range_um=1.0))
    assert code == 2 and err.count("\n") == 1
    assert "emitters reach z = -500 .. 500 nm (emitters.z_range_um)" in err and "calibrated for z = -400 .. 400 nm" in err
    assert "optics.psf_clamp_z = true" in err
    code, out, err = cli("plan", spline_job(tmp_path, "k_3dcal.mat", z_range_um=1.0, extra="psf_clamp_z = true"))
    assert code == 0, err
    # positions with z: the file's range is what counts
    (tmp_path / "pos.csv").write_text("x_nm,y_nm,z_nm\n1000,1000,-100\n1200,1500,450\n")
    code, out, err = cli("plan", _with_positions(tmp_path))
    assert code == 2 and "emitters reach z = -100 .. 450 nm (the positions file)" in err


def _with_positions(tmp_path):
    path = spline_job(tmp_path, "k_3dcal.mat", z_range_um=0.2)
    path.write_text(path.read_text().replace("[base.emitters]", '[base.emitters]\npositions_file = "pos.csv"'))
    return path


def test_a_calibration_for_other_pixels_is_refused(cli, tmp_path):
    model = AstigmaticPSF(sigma0_nm=120.0, radius_px=10, pixel_size_nm=100.0)
    from pipeline.inputs.spline_tools import export_model

    export_model(model, [tmp_path / "a.h5"], (-300, 300), 50.0, 15, print_fn=lambda *a: None)
    code, out, err = cli("plan", spline_job(tmp_path, "a.h5", pixel_nm=110.0))
    assert code == 2 and "optics.pixel_size_nm = 110 but" in err and "calibrated for 100 nm pixels" in err


@pytest.mark.parametrize("argv, words", [
    (["psf", "spline", "flat.tif", "--dz-nm", "20", "--pixel-size-nm", "100", "--out", "c.h5"], "no isolated bead found"),
    (["psf", "spline", "nosuch.tif", "--dz-nm", "20", "--pixel-size-nm", "100", "--out", "c.h5"], "found no such file"),
    (["psf", "spline", "flat.tif", "--dz-nm", "-5", "--pixel-size-nm", "100", "--out", "c.h5"], "is not a finite number > 0"),
    (["psf", "spline", "flat.tif", "--dz-nm", "20", "--pixel-size-nm", "100", "--out", "c.h5", "--roi", "12"], "not an odd number"),
    (["psf", "spline", "flat.tif", "--dz-nm", "20", "--pixel-size-nm", "100", "--out", "c.mat"], "writes this project's HDF5"),
    (["psf", "export-spline", "model.toml", "--out", "m.txt"], "must end in .h5/.hdf5"),
    (["psf", "export-spline", "model.toml", "--out", "m.mat", "--oversample", "2"], "one voxel per pixel"),
    (["psf", "show", "model.toml"], "found a file that is neither HDF5 nor MATLAB"),
])
def test_psf_tool_mistakes_are_one_line(argv, words, cli, tmp_path):
    tifffile.imwrite(tmp_path / "flat.tif", np.full((4, 40, 40), 7.0, np.float32), photometric="minisblack")
    (tmp_path / "model.toml").write_text(ZERNIKE_SWEEP.format(extra=""))
    code, out, err = cli(*argv)
    assert code == 2 and err.count("\n") == 1 and words in err, err


def test_spline_needs_a_file(cli, write_sweep):
    code, out, err = cli("plan", write_sweep('[base.optics]\npsf = "spline"\n'))
    assert code == 2 and 'psf = "spline" needs psf_file' in err


# ------------------------------------------------------------------------------ identity and memory
def test_new_keys_leave_old_fingerprints_alone_and_follow_the_file(tmp_path, write_sweep):
    from pipeline.config.models import JobConfig
    from pipeline.plan.identity import physical_parameters

    tree = physical_parameters(JobConfig(), {})
    assert "psf_file" not in tree["optics"] and "psf_clamp_z" not in tree["optics"]
    model = AstigmaticPSF(sigma0_nm=120.0, radius_px=10)
    from pipeline.inputs.spline_tools import export_model

    export_model(model, [tmp_path / "a.h5"], (-300, 300), 50.0, 15, print_fn=lambda *a: None)
    first = plan_sweep(load_sweep(spline_job(tmp_path, "a.h5"))).jobs[0]
    export_model(model, [tmp_path / "a.h5"], (-300, 300), 25.0, 15, print_fn=lambda *a: None)
    second = plan_sweep(load_sweep(spline_job(tmp_path, "a.h5"))).jobs[0]
    assert first.fingerprint != second.fingerprint
    clamp = plan_sweep(load_sweep(spline_job(tmp_path, "a.h5", extra="psf_clamp_z = true"))).jobs[0]
    assert clamp.fingerprint != second.fingerprint


def test_plan_counts_the_spline_in_memory(tmp_path):
    from kernels.spline import spline_batch_bytes
    from pipeline.inputs.spline_tools import export_model

    export_model(AstigmaticPSF(sigma0_nm=120.0, radius_px=12), [tmp_path / "a.h5"], (-300, 300), 20.0, 21,
                 print_fn=lambda *a: None)
    job = plan_sweep(load_sweep(spline_job(tmp_path, "a.h5"))).jobs[0]
    coeff_bytes = 30 * 21 * 21 * 64 * 4
    assert job.scene_bytes >= 8 * coeff_bytes
    assert job.chunk_working_set >= spline_batch_bytes(8)


def test_spline_keys_reach_the_scene(tmp_path):
    from pipeline.inputs.spline_tools import export_model

    export_model(AstigmaticPSF(sigma0_nm=120.0, radius_px=10, pixel_size_nm=107.0), [tmp_path / "a.h5"], (-300, 300),
                 50.0, 15, print_fn=lambda *a: None)
    job = plan_sweep(load_sweep(spline_job(tmp_path, "a.h5", extra="psf_clamp_z = true", pixel_nm=107.0, radius=5))).jobs[0]
    psf = build_scene(job).psf
    assert (psf.radius_px, psf.clamp_z, psf.pixel_size_nm, psf.z_range_nm) == (5, True, 107.0, (-300.0, 300.0))


# ------------------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_a_spline_sweep_runs_exports_and_verifies(cli, tmp_path):
    from conftest import reference_movie, stored_movie

    (tmp_path / "model.toml").write_text(ZERNIKE_SWEEP.format(extra="psf_radius_px = 6"))
    code, out, err = cli("psf", "export-spline", "model.toml", "--out", "cal_3dcal.mat", "--size", "15", "--dz-nm", "50")
    assert code == 0, err
    sweep = spline_job(tmp_path, "cal_3dcal.mat", radius=6)
    code, out, err = cli("run", sweep, "--output", "out")
    assert code == 0, err
    code, out, err = cli("verify", "out")
    assert code == 0 and "0 with problems" in out
    job = plan_sweep(load_sweep(sweep)).jobs[0]
    frames, truth = stored_movie(tmp_path / "out", job.name)
    ref, ref_truth = reference_movie(job)
    assert np.array_equal(frames, ref) and np.array_equal(truth, ref_truth) and len(truth) > 0
    folder = tmp_path / "out" / "jobs" / job.name
    assert all((folder / f).is_file() for f in ("simulation.ome.tiff", "emitters.h5", "localizations.csv", "job.json"))
    # a frame holds its emitters' photons but what the 13 x 13 patch and the frame edges cut off
    cam = job.config.camera
    for frame in range(job.frames):
        photons = truth[truth["frame"] == frame]["photons"].sum()
        signal = ((frames[frame].astype(np.float64) - cam.baseline_adu) * cam.e_per_adu / cam.qe - cam.background).sum()
        assert 0.8 * photons <= signal <= photons * (1 + 1e-5)
