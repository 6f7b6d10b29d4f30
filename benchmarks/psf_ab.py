"""Zernike and vectorial render time per emitter: this checkout against another one, interleaved (not a test).

For a change inside the PSF kernels: each repetition times both checkouts' ``psf.render`` in a
fresh process (``PYTHONPATH`` = the checkout, one BLAS thread, as a worker has), the two
alternating so that both see the same machine; prints every repetition, the medians and the ratio.
Models: the scalar Zernike PSF and the vectorial one (free, fixed, wobbling dipole) in a water
sample under NA 1.45 oil, 15x15 px patches, 512 emitters.

    git worktree add /tmp/before <commit>
    python benchmarks/psf_ab.py --baseline /tmp/before [--reps 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

import _common as C  # (also takes benchmarks/ off sys.path)

TIMING = r"""
import time, numpy as np
from kernels.vectorial import VectorialPSF
from kernels.psf import ZernikePSF
rng = np.random.default_rng(1)
n = 512
x, y, z = rng.uniform(0, 50, n), rng.uniform(0, 50, n), rng.uniform(0, 500, n)
ang = dict(polar_rad=rng.uniform(0, np.pi, n), azimuth_rad=rng.uniform(0, 2 * np.pi, n))
water = dict(sample_index=1.33, focus_depth_nm=0.0)
models = {"zernike": (ZernikePSF(670.0, 1.45, 1.518), {}),
          "vectorial free": (VectorialPSF(670.0, 1.45, 1.518, **water), {}),
          "vectorial fixed": (VectorialPSF(670.0, 1.45, 1.518, dipole="fixed", **water), ang),
          "vectorial wobble": (VectorialPSF(670.0, 1.45, 1.518, dipole="fixed", wobble_rad=0.5, **water), ang)}
for name, (model, kw) in models.items():
    model.render(x[:16], y[:16], z[:16], **{k: v[:16] for k, v in kw.items()})
    best = 1e9
    for _ in range(3):
        t = time.process_time()
        model.render(x, y, z, **kw)
        best = min(best, time.process_time() - t)
    print(name, 1e6 * best / n)
"""


def timings(tree: Path) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(tree), OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", TIMING], env=env, cwd="/", capture_output=True, text=True,
                         check=True).stdout
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in out.splitlines()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", required=True, help="the other checkout (e.g. a git worktree)")
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    C.header(f"us per 15x15 patch, this checkout vs {args.baseline} (interleaved)", args.reps)
    trees = {"baseline": Path(args.baseline).resolve(), "this": C.REPO}
    runs = {name: [] for name in trees}
    for rep in range(args.reps):
        for name, tree in trees.items():
            runs[name].append(timings(tree))
            print(f"  rep {rep + 1} {name:8s}: " + " | ".join(f"{k} {v:.0f}" for k, v in runs[name][-1].items()),
                  flush=True)
    models = list(runs["this"][0])
    med = {name: {m: statistics.median(r[m] for r in rs) for m in models} for name, rs in runs.items()}
    print()
    print(C.table(["model", "baseline us", "this us", "this / baseline"],
                  [[m, f"{med['baseline'][m]:.0f}", f"{med['this'][m]:.0f}", f"{med['this'][m] / med['baseline'][m]:.2f}"]
                   for m in models]))


if __name__ == "__main__":
    main()
