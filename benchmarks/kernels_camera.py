"""Camera kernel speed: ns per pixel for each camera model on a 1200x1200 frame.

Compared with the bare numpy draws the noisy models cannot avoid: ``rng.poisson(lam)`` and
``rng.standard_normal(dtype=float32)`` over the same frame.

Run:  python benchmarks/kernels_camera.py [--size 1200] [--repeat 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from kernels.camera import Camera, expose
from kernels.rng import generator, key_words


def best_ns_per_px(fn, npx: int, repeat: int) -> float:
    fn()  # warm-up (allocations, page faults)
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best / npx * 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1200)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    shape = (args.size, args.size)
    npx = shape[0] * shape[1]
    rng = generator(key_words(0, "benchmark"), "camera", 0)

    maps = dict(
        offset_adu=rng.normal(100, 2, shape).astype(np.float32),
        gain_adu_per_e=rng.normal(0.5, 0.02, shape).astype(np.float32),
        variance_adu2=rng.gamma(2.0, 10.0, shape).astype(np.float32),
    )
    models = {
        "ideal": Camera(kind="ideal"),
        "add_noise=False": Camera(kind="scmos", add_noise=False),
        "scmos": Camera(kind="scmos"),
        "scmos + maps": Camera(kind="scmos", **maps),
        "scmos no shot": Camera(kind="scmos", shot_noise=False),
        "emccd": Camera(kind="emccd", e_per_adu=45.0, readout_noise_e=74.4),
    }
    levels = {"bg 10": 10.0, "bg 100": 100.0}
    rows = []
    for label, bg in levels.items():
        # background plus sparse bright spots, like a real SMLM frame
        lam = np.full(shape, bg, dtype=np.float32)
        spots = rng.integers(0, npx, npx // 400)
        lam.ravel()[spots] += 2000.0
        ref_p = best_ns_per_px(lambda: rng.poisson(lam), npx, args.repeat)
        ref_n = best_ns_per_px(lambda: rng.standard_normal(shape, dtype=np.float32), npx, args.repeat)
        rows.append((label, "numpy poisson(lam)", ref_p))
        rows.append((label, "numpy standard_normal f32", ref_n))
        rows.append((label, "  sum of the two", ref_p + ref_n))
        for name, cam in models.items():
            rows.append((label, name, best_ns_per_px(lambda: expose(cam, lam, rng), npx, args.repeat)))

    print(f"camera kernels, {shape[0]}x{shape[1]} frame, best of {args.repeat}, numpy {np.__version__}")
    print(f"{'lambda':<8} {'model':<28} {'ns/pixel':>9}")
    print("-" * 47)
    for label, name, ns in rows:
        print(f"{label:<8} {name:<28} {ns:9.1f}")


if __name__ == "__main__":
    main()
