"""Pure-numpy kernels: photophysics, Zernike/PSF models, camera, chunk render."""
