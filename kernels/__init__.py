"""Pure-numpy kernels: photophysics, Zernike/PSF models, camera, chunk render."""

#: Bump whenever a change in the kernels changes output bytes: it is part of every job fingerprint.
__version__ = "3"

#: Revisions of single features whose bytes changed on their own: hashed into the fingerprints of
#: the jobs that use the feature only (every other job keeps its fingerprint and its cache).
#: psf:zernike, psf:vectorial 3: one matrix product per emitter (patches no longer depend on the
#: batch; 2 summed per-emitter coefficients term by term, a development state);
#: crlb:varying-background 2: the bounds of a bleaching or fluctuating background use each frame's level.
REVISIONS = {"psf:zernike": "3", "psf:vectorial": "3", "crlb:varying-background": "2"}
