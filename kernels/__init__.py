"""Pure-numpy kernels: photophysics, Zernike/PSF models, camera, chunk render."""

#: Bump whenever a change in the kernels changes output bytes: it is part of every job fingerprint.
__version__ = "3"

#: Revisions of single PSF models whose bytes changed on their own: hashed into the fingerprints of
#: the jobs that use the model only (every other job keeps its fingerprint and its cache).
#: zernike, vectorial 2: one matrix product per emitter (patches no longer depend on the batch).
PSF_REVISIONS = {"zernike": "2", "vectorial": "2"}
