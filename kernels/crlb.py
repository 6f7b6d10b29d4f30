"""Cramér–Rao lower bounds of single-emitter localization, from the Fisher information of the
expected image (physics.md, "Localization precision" and "Localization scoring").

For an expected image ``mu_k`` (photons per pixel, signal + background) that depends on parameters
``theta`` (x, y[, z], N, b), the Fisher information of a Poisson camera is

    FI_ij = sum_k  qe² · d_i mu_k · d_j mu_k / (qe · mu_k + read_var_k)  /  excess

* ``qe``: quantum efficiency (the detected electrons are ``qe · mu``);
* ``read_var_k``: read-noise variance in electrons² at the camera's input: ``sigma_e²`` for an
  sCMOS camera (per-pixel maps: ``variance_ADU / gain_ADU_per_e²``, Huang et al. 2013) — the
  Poisson–normal approximation ``mu_k + sigma_k²/g_k²``; for an EMCCD ``sigma_e² / G²`` (read noise
  after the gain register), negligible at usual gains;
* ``excess``: the EMCCD excess-noise factor squared, F² = 2 (the gain register doubles the
  variance of the detected electrons); 1 for ideal and sCMOS cameras.

The CRLB is the diagonal of ``FI⁻¹``; its square root is the best standard deviation an unbiased
estimator can reach. Two ways to get the derivatives ``d_i mu_k``:

* :func:`gaussian_model` — analytic, for the pixel-integrated (erf) Gaussian and astigmatic models:
  ``mu_k = N · Ex_k · Ey_k + b`` with ``Ex_k = ½[erf((e_{k+1} − x0)/(√2 σx)) − erf((e_k − x0)/(√2 σx))]``
  (``e_k`` the pixel edges), ``dEx/dx0 = [exp(−u_k²) − exp(−u_{k+1}²)]/(√(2π) σx)`` and
  ``dEx/dσx = [u_k exp(−u_k²) − u_{k+1} exp(−u_{k+1}²)]/(√π σx)``, ``u = (e − x0)/(√2 σx)``; z enters
  through ``dσ/dz``.
* :func:`numeric_jacobian` / :func:`psf_model` — central finite differences of any rendered model
  (a callable, e.g. a :mod:`kernels.psf` model's ``render``), exact for the linear parameters N and b
  (their derivatives are the unit-flux patch and 1) and O(h²) for the positions.

Everything here is pure numpy (+ scipy.special.erf) and batched over emitters: arrays carry a
leading emitter axis ``n``; images are flattened to ``K`` pixels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .psf import patch_origin

__all__ = ["CameraNoise", "camera_noise", "fisher_information", "crlb_from_fisher", "crlb",
           "gaussian_model", "gaussian_crlb", "numeric_jacobian", "psf_model", "model_crlb", "psf_crlb"]

_SQRT2 = np.sqrt(2.0)
_SQRT2PI = np.sqrt(2.0 * np.pi)
_SQRTPI = np.sqrt(np.pi)


@dataclass(frozen=True)
class CameraNoise:
    """How a camera turns expected photons into variance (see the module docstring).

    Attributes
    ----------
    qe : float
        Quantum efficiency.
    read_var_e : float or ndarray
        Read-noise variance at the camera's input, electrons² (scalar or per pixel).
    excess : float
        Excess-noise factor squared: 2 for an EMCCD, 1 otherwise.
    """

    qe: float = 1.0
    read_var_e: float | np.ndarray = 0.0
    excess: float = 1.0


def camera_noise(kind: str = "ideal", qe: float = 1.0, readout_noise_e: float = 0.0, em_gain: float = 1.0,
                 variance_adu: np.ndarray | None = None, gain_adu_per_e: np.ndarray | None = None) -> CameraNoise:
    """The :class:`CameraNoise` of a camera as the sweep file describes it (``[base.camera]``).

    ``kind`` "ideal" has no read noise; "scmos" has ``readout_noise_e²`` (or, with per-pixel maps,
    ``variance_adu / gain_adu_per_e²``); "emccd" has excess 2 and read noise ``readout_noise_e² / em_gain²``.
    """
    if kind == "ideal":
        return CameraNoise(qe=qe)
    if kind == "scmos":
        if variance_adu is not None:
            gain = 1.0 if gain_adu_per_e is None else np.asarray(gain_adu_per_e, dtype=np.float64)
            return CameraNoise(qe=qe, read_var_e=np.asarray(variance_adu, dtype=np.float64) / gain ** 2)
        return CameraNoise(qe=qe, read_var_e=float(readout_noise_e) ** 2)
    if kind == "emccd":
        return CameraNoise(qe=qe, read_var_e=(float(readout_noise_e) / float(em_gain)) ** 2, excess=2.0)
    raise ValueError(f"unknown camera kind {kind!r} (ideal, scmos, emccd)")


def fisher_information(mu: np.ndarray, jac: np.ndarray, noise: CameraNoise = CameraNoise()) -> np.ndarray:
    """Fisher information matrices.

    Parameters
    ----------
    mu : (n, K) or (K,)
        Expected photons per pixel (signal + background), before QE.
    jac : (n, P, K) or (P, K)
        ``d mu_k / d theta_p``.
    noise : CameraNoise

    Returns
    -------
    (n, P, P) or (P, P)
    """
    mu = np.asarray(mu, dtype=np.float64)
    jac = np.asarray(jac, dtype=np.float64)
    read = np.asarray(noise.read_var_e, dtype=np.float64)
    if read.ndim == 1 or (read.ndim > 1 and mu.ndim == 1):
        read = read.reshape(-1)  # one map of K pixels
    elif read.ndim > 1:
        read = read.reshape(read.shape[0], -1)  # (n, K): each emitter's own pixels
    var = noise.qe * mu + read
    weight = np.where(var > 0, noise.qe ** 2 / np.where(var > 0, var, 1.0), 0.0) / noise.excess
    weighted = jac * weight[..., None, :]
    return np.matmul(weighted, np.swapaxes(jac, -1, -2))


def crlb_from_fisher(fi: np.ndarray) -> np.ndarray:
    """Diagonal of the inverse Fisher information (variances), ``(..., P)``; NaN where singular."""
    fi = np.asarray(fi, dtype=np.float64)
    flat = fi.reshape(-1, fi.shape[-2], fi.shape[-1])
    out = np.full(flat.shape[:-1], np.nan)
    good = np.isfinite(flat).all(axis=(-1, -2))
    try:
        inv = np.linalg.inv(flat[good])
        out[good] = np.diagonal(inv, axis1=-2, axis2=-1)
    except np.linalg.LinAlgError:  # some matrix is singular: invert one by one
        for i in np.flatnonzero(good):
            try:
                out[i] = np.diagonal(np.linalg.inv(flat[i]))
            except np.linalg.LinAlgError:
                pass
    return out.reshape(fi.shape[:-1])


def crlb(mu: np.ndarray, jac: np.ndarray, noise: CameraNoise = CameraNoise()) -> np.ndarray:
    """CRLB variances ``(..., P)`` from the expected image and its derivatives."""
    return crlb_from_fisher(fisher_information(mu, jac, noise))


# ------------------------------------------------------------------------------- analytic erf models


def _axis(edges: np.ndarray, c: np.ndarray, s: np.ndarray):
    """Pixel masses along one axis and their derivatives wrt the centre and the width.

    edges (K+1,), c (n,), s (n,) -> E, dE/dc, dE/ds, each (n, K).
    """
    from scipy.special import erf

    u = (edges[None, :] - c[:, None]) / (_SQRT2 * s[:, None])
    g = np.exp(-u * u)
    e = 0.5 * np.diff(erf(u), axis=1)
    de_dc = -np.diff(g, axis=1) / (_SQRT2PI * s[:, None])
    ug = u * g
    de_ds = -np.diff(ug, axis=1) / (_SQRTPI * s[:, None])
    return e, de_dc, de_ds


def gaussian_model(x_nm, y_nm, photons, background, sigma_x_nm, sigma_y_nm=None, shape=(15, 15),
                   pixel_size_nm: float = 100.0, dsigma_x_dz=None, dsigma_y_dz=None):
    """Expected image of pixel-integrated Gaussians and its analytic derivatives.

    Parameters
    ----------
    x_nm, y_nm : (n,) or scalar
        Emitter position relative to the top-left corner of the patch (pixel (0, 0) spans
        ``[0, a) x [0, a)``, ``a = pixel_size_nm``), x along columns, y along rows.
    photons, background : (n,) or scalar
        N (total photons of the emitter) and b (photons per pixel).
    sigma_x_nm, sigma_y_nm : (n,) or scalar
        Gaussian widths (``sigma_y`` defaults to ``sigma_x``).
    shape : (rows, cols)
    dsigma_x_dz, dsigma_y_dz : (n,) or scalar, optional
        Width derivatives for an astigmatic model: adds z as a parameter.

    Returns
    -------
    mu : (n, K), jac : (n, P, K), names : tuple
        ``K = rows * cols`` (row-major); parameters ``("x", "y", "N", "b")`` or
        ``("x", "y", "z", "N", "b")``; positions in nm.
    """
    x = np.atleast_1d(np.asarray(x_nm, dtype=np.float64))
    n = x.size
    as_n = lambda v: np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)).astype(np.float64)  # noqa: E731
    y, big_n, b = as_n(y_nm), as_n(photons), as_n(background)
    sx = as_n(sigma_x_nm)
    sy = sx if sigma_y_nm is None else as_n(sigma_y_nm)
    rows, cols = int(shape[0]), int(shape[1])
    a = float(pixel_size_nm)
    ex, dex, dsx = _axis(np.arange(cols + 1) * a, x, sx)
    ey, dey, dsy = _axis(np.arange(rows + 1) * a, y, sy)
    unit = (ey[:, :, None] * ex[:, None, :]).reshape(n, -1)
    mu = big_n[:, None] * unit + b[:, None]
    d_x = (big_n[:, None, None] * ey[:, :, None] * dex[:, None, :]).reshape(n, -1)
    d_y = (big_n[:, None, None] * dey[:, :, None] * ex[:, None, :]).reshape(n, -1)
    derivs = [d_x, d_y]
    names = ["x", "y"]
    if dsigma_x_dz is not None or dsigma_y_dz is not None:
        gx = as_n(0.0 if dsigma_x_dz is None else dsigma_x_dz)
        gy = as_n(0.0 if dsigma_y_dz is None else dsigma_y_dz)
        d_z = big_n[:, None, None] * (ey[:, :, None] * (dsx * gx[:, None])[:, None, :]
                                      + (dsy * gy[:, None])[:, :, None] * ex[:, None, :])
        derivs.append(d_z.reshape(n, -1))
        names.append("z")
    derivs += [unit, np.ones_like(unit)]
    names += ["N", "b"]
    return mu, np.stack(derivs, axis=1), tuple(names)


def gaussian_crlb(x_nm, y_nm, photons, background, sigma_x_nm, sigma_y_nm=None, shape=(15, 15),
                  pixel_size_nm: float = 100.0, noise: CameraNoise = CameraNoise(),
                  dsigma_x_dz=None, dsigma_y_dz=None) -> dict[str, np.ndarray]:
    """√CRLB of each parameter (nm for positions, photons for N and b), ``{name: (n,)}``.

    Check values (physics.md): 15×15 ROI, a = 100 nm, σ = 130 nm, emitter at the ROI centre:
    N = 1000, b = 10 → 5.626 nm; N = 5000, b = 50 → 2.516 nm; N = 1000, b = 0 → 4.211 nm.
    """
    mu, jac, names = gaussian_model(x_nm, y_nm, photons, background, sigma_x_nm, sigma_y_nm, shape,
                                    pixel_size_nm, dsigma_x_dz, dsigma_y_dz)
    var = crlb(mu, jac, noise)
    return {name: np.sqrt(var[:, i]) for i, name in enumerate(names)}


# ------------------------------------------------------------------------------- any rendered model


def numeric_jacobian(expected: Callable[[np.ndarray], np.ndarray], theta: Sequence[float],
                     steps: Sequence[float]) -> np.ndarray:
    """Central differences ``(f(θ + h e_p) − f(θ − h e_p)) / 2h`` of ``expected(theta) -> (K,)``.

    Returns ``(P, K)``. Exact for parameters that ``expected`` is linear in; O(h²) otherwise.
    """
    theta = np.asarray(theta, dtype=np.float64)
    out = []
    for p, h in enumerate(steps):
        if h <= 0:
            raise ValueError(f"step {p} must be > 0, got {h}")
        up, down = theta.copy(), theta.copy()
        up[p] += h
        down[p] -= h
        out.append((np.asarray(expected(up), dtype=np.float64).reshape(-1)
                    - np.asarray(expected(down), dtype=np.float64).reshape(-1)) / (2.0 * h))
    return np.stack(out)


def psf_model(render: Callable, x_px: float, y_px: float, z_nm: float = 0.0, radius_px: int = 7,
              coeffs_nm=None, step_px: float = 0.01, step_z_nm: float = 5.0, with_z: bool = True):
    """Unit-flux patch of any patch-rendering PSF and its position derivatives (central differences).

    Parameters
    ----------
    render : callable
        ``render(x_px, y_px, z_nm, coeffs_nm) -> Patches`` (the ``render`` method of the models in
        :mod:`kernels.psf`): frame pixel coordinates, patches with ``values`` (n, P, P) and the
        frame ``row0``/``col0`` of their first pixel.
    x_px, y_px, z_nm : float
        The emitter (frame pixel units, x along columns, pixel (i, j) spans [j, j+1) x [i, i+1)).
    radius_px : int
        The patch the bound is computed on: ``(2r+1)²`` pixels around ``floor(x), floor(y)``
        (the model's own ``radius_px`` is what it renders; a perturbed render is placed on this
        fixed grid, so a step across a pixel edge does not move the grid).
    step_px, step_z_nm : float
        Central-difference steps.
    with_z : bool
        Include the z derivative.

    Returns
    -------
    unit : (K,), d_pos : (2 or 3, K), names
        Patch fractions (per photon) and their derivatives wrt x, y (per nm is obtained by dividing by
        the pixel size; see :func:`model_crlb`) and z (per nm).
    """
    size = 2 * int(radius_px) + 1
    row_ref, col_ref = (int(v) for v in patch_origin(x_px, y_px, radius_px))
    coeffs = None if coeffs_nm is None else np.atleast_2d(np.asarray(coeffs_nm, dtype=np.float64))

    def unit(theta):
        patches = render(np.array([theta[0]]), np.array([theta[1]]), np.array([theta[2]]), coeffs)
        values = np.asarray(patches.values[0], dtype=np.float64)
        out = np.zeros((size, size))
        r0 = int(patches.row0[0]) - row_ref
        c0 = int(patches.col0[0]) - col_ref
        p = values.shape[0]
        rs, re = max(r0, 0), min(r0 + p, size)
        cs, ce = max(c0, 0), min(c0 + p, size)
        if rs < re and cs < ce:
            out[rs:re, cs:ce] = values[rs - r0:re - r0, cs - c0:ce - c0]
        return out.reshape(-1)

    theta = np.array([x_px, y_px, z_nm], dtype=np.float64)
    steps = [step_px, step_px, step_z_nm] if with_z else [step_px, step_px]
    if with_z:
        jac = numeric_jacobian(unit, theta, steps)
    else:
        jac = numeric_jacobian(lambda t: unit(np.array([t[0], t[1], z_nm])), theta[:2], steps)
    names = ("x", "y", "z") if with_z else ("x", "y")
    return unit(theta), jac, names


def model_crlb(render: Callable, x_px: float, y_px: float, photons: float, background: float,
               pixel_size_nm: float, z_nm: float = 0.0, radius_px: int = 7, coeffs_nm=None,
               noise: CameraNoise = CameraNoise(), with_z: bool = True, step_px: float = 0.01,
               step_z_nm: float = 5.0) -> dict[str, float]:
    """√CRLB of (x, y[, z], N, b) for one emitter of any rendered PSF model (nm, photons).

    ``mu = N · unit + b`` on the ``(2r+1)²`` patch; the derivatives wrt N and b are exact
    (``unit`` and 1), those wrt the positions central differences of the rendered model.
    """
    unit, d_pos, names = psf_model(render, x_px, y_px, z_nm, radius_px, coeffs_nm, step_px, step_z_nm, with_z)
    d_pos = d_pos * photons
    d_pos[:2] /= float(pixel_size_nm)  # per pixel -> per nm
    mu = photons * unit + background
    jac = np.vstack([d_pos, unit[None], np.ones((1, unit.size))])
    var = crlb(mu, jac, noise)
    return {name: float(np.sqrt(v)) for name, v in zip((*names, "N", "b"), var)}


# ------------------------------------------------------------------------------- many emitters


def _place(values: np.ndarray, row0: np.ndarray, col0: np.ndarray, row_ref: np.ndarray, col_ref: np.ndarray,
           size: int) -> np.ndarray:
    """Patches ``(n, P, P)`` rendered at ``row0/col0`` moved onto the grids ``row_ref/col_ref`` of
    side ``size`` (pixels outside are dropped; a shift is at most one pixel after a small step)."""
    n, p = values.shape[0], values.shape[1]
    out = np.zeros((n, size, size))
    dr = np.asarray(row0) - row_ref
    dc = np.asarray(col0) - col_ref
    for r, c in set(zip(dr.tolist(), dc.tolist())):
        sel = np.flatnonzero((dr == r) & (dc == c))
        rs, re = max(r, 0), min(r + p, size)
        cs, ce = max(c, 0), min(c + p, size)
        if rs < re and cs < ce:
            out[sel, rs:re, cs:ce] = values[sel, rs - r:re - r, cs - c:ce - c]
    return out


def psf_crlb(psf, x_px, y_px, z_nm, photons, background, noise: CameraNoise = CameraNoise(), coeffs_nm=None,
             with_z: bool | None = None, step_px: float = 0.01, step_z_nm: float = 5.0,
             batch: int = 2048) -> dict[str, np.ndarray]:
    """√CRLB of many emitters of a :mod:`kernels.psf` model, each alone on its own patch.

    The patch is the one the model renders, ``(2r+1)²`` pixels around ``floor(x), floor(y)``
    (frame pixel coordinates, as ``psf.render`` takes them); ``background`` is photons per pixel.
    Gaussian and astigmatic models use the analytic derivatives (:func:`gaussian_model`), any other
    model central differences of its ``render`` in batches (7 renders per batch with z).
    Neighbouring emitters are not included (the bound of an isolated emitter).

    Returns ``{"x", "y"[, "z"], "N", "b"}`` -> (n,) arrays in nm and photons. ``with_z`` (default:
    every model but the Gaussian) adds z. ``noise.read_var_e`` may be (n, P, P): each emitter's
    pixels of an sCMOS variance map.
    """
    from .psf import AstigmaticPSF, GaussianPSF

    x = np.atleast_1d(np.asarray(x_px, dtype=np.float64))
    n = x.size
    as_n = lambda v: np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)).astype(np.float64)  # noqa: E731
    y, z, big_n, b = as_n(y_px), as_n(0.0 if z_nm is None else z_nm), as_n(photons), as_n(background)
    if with_z is None:
        with_z = not isinstance(psf, GaussianPSF)
    r = int(psf.radius_px)
    size = 2 * r + 1
    pixel = float(psf.pixel_size_nm)
    row_ref, col_ref = patch_origin(x, y, r)
    names = ("x", "y", "z", "N", "b") if with_z else ("x", "y", "N", "b")
    out = {k: np.empty(n) for k in names}
    read = np.asarray(noise.read_var_e, dtype=np.float64)
    for s in range(0, n, max(int(batch), 1)):
        sl = slice(s, min(s + int(batch), n))
        m = sl.stop - sl.start
        part = noise if read.ndim < 2 else CameraNoise(noise.qe, read[sl], noise.excess)
        xr, yr = (x[sl] - col_ref[sl]) * pixel, (y[sl] - row_ref[sl]) * pixel
        if isinstance(psf, GaussianPSF) or isinstance(psf, AstigmaticPSF):
            if isinstance(psf, GaussianPSF):
                sx = sy = np.full(m, psf.sigma_nm)
                gx = gy = np.zeros(m)
            else:
                sx, sy = psf.sigmas_nm(z[sl])
                c, d = psf.focal_offset_nm, psf.depth_nm
                gx = psf.sigma0_nm * (z[sl] - c) / d**2 / np.sqrt(1 + ((z[sl] - c) / d) ** 2)
                gy = psf.sigma0_nm * (z[sl] + c) / d**2 / np.sqrt(1 + ((z[sl] + c) / d) ** 2)
            mu, jac, got = gaussian_model(xr, yr, big_n[sl], b[sl], sx, sy, (size, size), pixel,
                                          gx if with_z else None, gy if with_z else None)
        else:
            coeffs = None if coeffs_nm is None else np.asarray(coeffs_nm, dtype=np.float64)[sl]

            def unit(dx=0.0, dy=0.0, dz=0.0):
                p = psf.render(x[sl] + dx, y[sl] + dy, z[sl] + dz, coeffs)
                return _place(np.asarray(p.values, dtype=np.float64), p.row0, p.col0, row_ref[sl], col_ref[sl],
                              size).reshape(m, -1)

            u = unit()
            derivs = [(unit(dx=step_px) - unit(dx=-step_px)) / (2 * step_px * pixel),
                      (unit(dy=step_px) - unit(dy=-step_px)) / (2 * step_px * pixel)]
            if with_z:
                derivs.append((unit(dz=step_z_nm) - unit(dz=-step_z_nm)) / (2 * step_z_nm))
            jac = np.stack([big_n[sl, None] * d for d in derivs] + [u, np.ones_like(u)], axis=1)
            mu = big_n[sl, None] * u + b[sl, None]
            got = names
        var = crlb(mu, jac, part)
        for i, k in enumerate(got):
            out[k][sl] = np.sqrt(var[:, i])
    return out


#: the ground-truth columns of :func:`truth_crlb` (√CRLB of an isolated emitter on the rendered model)
CRLB_DTYPE = np.dtype([("crlb_x_nm", "<f8"), ("crlb_y_nm", "<f8"), ("crlb_z_nm", "<f8"), ("crlb_photons", "<f8")])


def _map_patches(values: np.ndarray, row0: np.ndarray, col0: np.ndarray, size: int) -> np.ndarray:
    """(n, size, size) windows of a per-pixel map at each row's patch (pixels outside the frame: edge values)."""
    rows = np.clip(row0[:, None] + np.arange(size), 0, values.shape[0] - 1)
    cols = np.clip(col0[:, None] + np.arange(size), 0, values.shape[1] - 1)
    return values[rows[:, :, None], cols[:, None, :]]


def truth_crlb(scene, truth: np.ndarray) -> np.ndarray:
    """√CRLB of every ground-truth row (one emitter in one frame) for the model that rendered it.

    Each row is an isolated emitter on its rendered patch with the row's expected photons, the
    background of its frame (the scene's, times its bleaching/fluctuation factor) and the camera
    (QE, read noise — per pixel with sCMOS maps —, EMCCD excess noise).
    Returns a :data:`CRLB_DTYPE` array; ``crlb_z_nm`` is NaN for the Gaussian model (no z information).
    """
    out = np.full(len(truth), np.nan, dtype=CRLB_DTYPE)
    if not len(truth):
        return out
    cam, psf = scene.camera, scene.psf
    x_px, y_px = truth["x_nm"] / scene.pixel_size_nm, truth["y_nm"] / scene.pixel_size_nm
    if cam.variance_adu2 is not None:
        size, r = 2 * int(psf.radius_px) + 1, int(psf.radius_px)
        row0, col0 = patch_origin(x_px, y_px, r)
        gain = 1.0 if cam.gain_adu_per_e is None else _map_patches(np.asarray(cam.gain_adu_per_e, np.float64), row0, col0, size)
        variance = _map_patches(np.asarray(cam.variance_adu2, np.float64), row0, col0, size)
        noise = CameraNoise(qe=cam.qe, read_var_e=variance / gain ** 2)
    else:
        noise = camera_noise(cam.kind, cam.qe, cam.readout_noise_e, cam.em_gain)
    coeffs = scene.row_coeffs(truth)
    background = scene.background_photons
    if scene.background_varies:  # bleaching or fluctuation: each row's own frame's background
        first = int(truth["frame"].min())
        factor = scene.background_factor(first, int(truth["frame"].max()) + 1)
        background = background * factor[truth["frame"] - first]
    bounds = psf_crlb(psf, x_px, y_px, truth["z_nm"], truth["photons"], background, noise, coeffs_nm=coeffs)
    out["crlb_x_nm"], out["crlb_y_nm"], out["crlb_photons"] = bounds["x"], bounds["y"], bounds["N"]
    if "z" in bounds:
        out["crlb_z_nm"] = bounds["z"]
    return out
