"""Pure-numpy kernels: photophysics, Zernike/PSF models, camera, chunk render."""

#: Bump whenever a change in the kernels changes output bytes: it is part of every job fingerprint.
__version__ = "3"
