"""Digests of structured-background frames, straight from the kernels: proof that a change of
:mod:`kernels.mapsampler` (or of what it calls) kept the bytes. Not a test, not a benchmark.

Renders frames with :func:`kernels.render.render_chunk` for 180 cases: frames of 96², 250² and
1200² px; backgrounds of 3, 40, 100 and 900 photons; smooth fields of length 5 and 20 px; five
cameras (plain sCMOS, QE 0.82 with 0.5 e-/ADU, no read noise, a full well with 12 bits, hot and
dead pixels) each with and without bleaching. Every case is rendered whole and in chunks of two
frames (which must agree, or it stops), and prints one line: the case and the sha256 of its frames.
Run it with two checkouts and compare::

    PYTHONPATH=<checkout> python benchmarks/map_digests.py > digests.txt
"""

from __future__ import annotations

import hashlib

import _common  # noqa: F401  (takes benchmarks/ off sys.path: benchmarks/kernels.py would shadow the package)
import numpy as np

from kernels.background import background_map, smooth_field
from kernels.camera import Camera
from kernels.defects import defect_maps
from kernels.photophysics import place_emitters, single_events
from kernels.psf import GaussianPSF
from kernels.render import Scene, render_chunk
from kernels.rng import generator, key_words


def cases():
    """(name, scene, frames) of every case."""
    for size, frames in ((96, 7), (250, 5), (1200, 3)):
        shape = (size, size)
        key = key_words(7, f"digest-{size}")
        n = 4 * size
        emitters = place_emitters(generator(key, "emitters"), n, shape, 100.0, float(size), 0.0, 3000.0, 800.0)
        events = single_events(generator(key, "blinking"), n, frames, 2.5)
        psf = GaussianPSF(sigma_nm=100.0, radius_px=4)
        for background in (3.0, 40.0, 100.0, 900.0):
            for length, amplitude in ((5.0, 0.5), (20.0, 0.3)):
                if size == 1200 and (background, length) not in ((100.0, 20.0), (3.0, 5.0)):
                    continue  # (two of the large frames: the rest would take minutes)
                field = smooth_field(generator(key, "background-field"), shape, length)
                bmap = background_map(background, shape, field, amplitude)
                sparse = defect_maps(generator(key, "defects"), shape, hot_fraction=0.002, hot_dark_e=50.0,
                                     dead_fraction=0.002)
                cameras = {
                    "plain": Camera(readout_noise_e=10.0),
                    "qe": Camera(readout_noise_e=1.6, qe=0.82, e_per_adu=0.5, baseline_adu=100.0),
                    "noread": Camera(readout_noise_e=0.0, qe=0.9),
                    "fullwell": Camera(readout_noise_e=2.0, full_well_e=int(background * 1.1) + 5, bit_depth=12),
                    "hotdead": Camera(readout_noise_e=10.0, dark_e=sparse["dark_e"], response=sparse["response"]),
                }
                for camera_name, camera in cameras.items():
                    for tau in (None, 3.0):
                        scene = Scene(key=key, roi_shape=shape, pixel_size_nm=100.0, background_photons=background,
                                      emitters=emitters, events=events, psf=psf, camera=camera,
                                      background_map=bmap, background_bleach_tau_frames=tau)
                        yield f"{size} bg{background} L{length} {camera_name} tau{tau}", scene, frames


def main() -> None:
    for name, scene, frames in cases():
        whole = render_chunk(scene, 0, frames)[0]
        parts = np.concatenate([render_chunk(scene, a, min(a + 2, frames))[0] for a in range(0, frames, 2)])
        if whole.tobytes() != parts.tobytes():
            raise SystemExit(f"{name}: frames differ between one chunk and chunks of two")
        print(f"{name}: {hashlib.sha256(whole.tobytes()).hexdigest()[:16]}", flush=True)


if __name__ == "__main__":
    main()
