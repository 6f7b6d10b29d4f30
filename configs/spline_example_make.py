"""How configs/beads_example.tif and configs/spline_example_psf.h5 were made (run from the repository root).

beads_example.tif is a simulated bead z-stack standing in for a measured one: one 100 nm-pixel
bead 0.3, 0.6 px off a pixel corner, rendered by this project's Zernike model (NA 1.45, 670 nm,
Z6 astigmatism 70 nm, Z8 coma 15 nm, Z11 spherical 10 nm RMS), 4e5 photons per plane, 100 photons
per pixel of background, Poisson noise, planes from -400 to +400 nm every 25 nm, as uint16.
spline_example_psf.h5 is its calibration:

    python configs/spline_example_make.py
    python -m pipeline psf spline configs/beads_example.tif --dz-nm 25 --pixel-size-nm 100 \\
        --background 100 --compact --out configs/spline_example_psf.h5
"""

from pathlib import Path

import numpy as np
import tifffile

from kernels.psf import ZernikePSF

SIZE, HALF = 45, 22
zs = np.arange(-400.0, 401.0, 25.0)
model = ZernikePSF(670.0, 1.45, 1.518, pixel_size_nm=100.0, radius_px=HALF,
                   global_coeffs_nm=((6, 70.0), (8, 15.0), (11, 10.0)))
patches = model.render(np.full(zs.size, HALF + 0.3), np.full(zs.size, HALF + 0.6), zs)
assert (patches.row0 == 0).all() and (patches.col0 == 0).all()
expected = 4e5 * patches.values.astype(np.float64) + 100.0
counts = np.random.default_rng(15).poisson(expected)
assert counts.max() < 65536  # uint16 holds every count
stack = counts.astype(np.uint16)
tifffile.imwrite(Path(__file__).with_name("beads_example.tif"), stack, photometric="minisblack")
