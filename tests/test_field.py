"""Field dependence end to end: a zmap whose only mode is tilt (Z2) shifts spots, bilinearly between patches."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from kernels.psf import ZernikePSF
from pipeline.inputs import load_zmap

NA, WAVELENGTH, N_IMM, PIXEL = 1.4, 600.0, 1.518, 100.0


def _tilt_map(path, left_nm: float, right_nm: float):
    """Two patch columns of a 64-px-wide ROI (centres at x = 16 and 48 px); tilt Z2 only."""
    coeffs = np.zeros((1, 2, 1))
    coeffs[0, :, 0] = [left_nm, right_nm]
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("zernike", data=coeffs)
        ds.attrs["units"] = "nm"
        ds.attrs["noll"] = [2]
        ds.attrs["patch_size_px"] = 32
    return load_zmap(path, (32, 64))


def _psf(noll=()):
    return ZernikePSF(wavelength_nm=WAVELENGTH, na=NA, immersion_index=N_IMM, pixel_size_nm=PIXEL,
                      radius_px=8, noll=noll)


@pytest.mark.parametrize("x_px", [16.0, 48.0, 32.3, 24.7, 5.0, 60.0])
def test_tilt_map_shifts_spots(tmp_path, x_px):
    # linear between the patch centres (16 and 48 px), the edge value outside them
    expected_nm = 20.0 + 40.0 * np.clip((x_px - 16.0) / 32.0, 0.0, 1.0)
    zmap = _tilt_map(tmp_path / "tilt.h5", 20.0, 60.0)
    coeffs = zmap.at(np.array([x_px]), np.array([16.0]))
    # bilinear between the patch centres, clamped outside them
    assert coeffs[0, 0] == pytest.approx(expected_nm, abs=1e-12)
    # Z2 = 2ρcosθ with RMS c is the phase ramp of a lateral shift Δx = −2c/NA (kernel e^{+i2πk·r})
    shift_px = -2.0 * coeffs[0, 0] / NA / PIXEL
    tilted = _psf(noll=(2,)).render(np.array([x_px]), np.array([16.5]), np.array([0.0]), coeffs)
    moved = _psf().render(np.array([x_px + shift_px]), np.array([16.5]), np.array([0.0]))
    # compare on the frame grid, over the pixels both patches cover (they may be anchored one
    # pixel apart; a centroid over different truncation windows would differ for that reason alone)
    frame_a, frame_b = np.zeros((40, 90)), np.zeros((40, 90))
    covered = np.ones((40, 90), dtype=bool)
    for frame, p in ((frame_a, tilted), (frame_b, moved)):
        r0, c0 = int(p.row0[0]) + 10, int(p.col0[0]) + 10
        frame[r0:r0 + 17, c0:c0 + 17] = p.values[0]
        window = np.zeros_like(covered)
        window[r0:r0 + 17, c0:c0 + 17] = True
        covered &= window
    frame_a[~covered] = 0.0
    frame_b[~covered] = 0.0
    peak = frame_b.max()
    # same field up to the pupil's edge cells (phase at their centre of mass vs the DFT at the
    # cell centre) and float32 rounding: well below 1 % of the peak
    assert np.abs(frame_a - frame_b).max() < 5e-3 * peak
    centroid = lambda f: (f.sum(axis=0) * np.arange(f.shape[1])).sum() / f.sum()
    assert centroid(frame_a) - centroid(frame_b) == pytest.approx(0.0, abs=0.01)
