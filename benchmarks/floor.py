"""Per-frame CPU cost of the whole pipeline on the peer job vs numpy's bare noise draw (not a test).

The floor no simulator escapes is the noise: one Poisson and one normal draw per pixel per frame.
This script measures, in this process (no cluster, so no scheduling or start-up cost), the CPU
time (``time.process_time``: all threads of the process) per frame of:

- ``commit``: :func:`pipeline.run.graph.commit_chunk` over every chunk of the peer job = render
  (PSF patches, scatter), camera noise, Zarr chunk write (+ fsync), frames into the job's
  OME-TIFF (streamed as in a run: :func:`pipeline.exports.start_stream`), ground-truth file,
  cache entry;
- ``export``: :func:`pipeline.exports.export_job` as a run calls it = finish the streamed OME-TIFF
  (fsync, rename) + emitters.h5 + localizations.csv + job.json;
- ``total`` = commit + export (the scene build, once per job, is printed apart and not counted:
  it is amortised over the movie);

next to numpy's ``rng.poisson(lam)`` + ``rng.standard_normal(dtype=float32)`` on a 1200x1200
frame (lam = background = 100, ``np.random.default_rng``), timed in the same process, interleaved
with the pipeline repetitions. Prints the ratio pipeline / numpy (target, issue 7: <= 0.6).

A breakdown of the commit step on the first chunks (``render_chunk`` = PSF, scatter and camera;
Zarr write; OME-TIFF write; ground truth + CSV lines; cache-entry checksum) tells where the time goes.

BLAS/OpenMP threads are set to 1 as in a dask worker. The output (store + OME-TIFF, ~2.1 GB for 500
frames) goes to a temporary folder, deleted after every repetition.

Run:  python benchmarks/floor.py [--frames 500] [--reps 3] [--tmpdir DIR]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import _common as C  # noqa: E402  (also takes benchmarks/ off sys.path)
import numpy as np  # noqa: E402

from kernels.render import render_chunk  # noqa: E402
from pipeline.exports import csv_lines, start_stream  # noqa: E402
from pipeline.store import CacheDir, checksum, write_chunk  # noqa: E402

SIZE = 1200
LAM = 100.0


class Clock:
    """CPU and wall seconds of a block."""

    def __enter__(self):
        self.cpu0, self.wall0 = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.cpu = time.process_time() - self.cpu0
        self.wall = time.perf_counter() - self.wall0


def numpy_floor(frames: int, seed: int) -> tuple[float, float, float]:
    """CPU seconds per frame: poisson, standard_normal, both (median over ``frames`` frames)."""
    rng = np.random.default_rng(seed)
    lam = np.full((SIZE, SIZE), LAM, dtype=np.float32)
    rng.poisson(lam)  # warm-up
    pois, norm = [], []
    for _ in range(frames):
        t0 = time.process_time()
        rng.poisson(lam)
        t1 = time.process_time()
        rng.standard_normal((SIZE, SIZE), dtype=np.float32)
        t2 = time.process_time()
        pois.append(t1 - t0)
        norm.append(t2 - t1)
    p, n = C.median(pois), C.median(norm)
    return p, n, C.median([a + b for a, b in zip(pois, norm)])


def pipeline_once(work: Path, frames: int, breakdown_chunks: int) -> dict:
    done = C.commit_job(work, "floor", C.peer_job(frames))
    job, scene, output = done.job, done.scene, done.output

    # where the commit time goes, on the first chunks (re-rendered; same bytes)
    parts = {"render + camera (render_chunk)": 0.0, "zarr write": 0.0, "tiff write": 0.0,
             "ground truth + CSV lines": 0.0, "checksum": 0.0}
    stream = start_stream(work / "breakdown", job, "floor")
    cache = CacheDir(output)
    n = 0
    for t0, t1 in job.chunks[:breakdown_chunks]:
        with Clock() as c:
            out, truth = render_chunk(scene, t0, t1)
        parts["render + camera (render_chunk)"] += c.cpu
        with Clock() as c:
            write_chunk(output, job.name, t0, out)
        parts["zarr write"] += c.cpu
        with Clock() as c:
            stream.write(t0, out)
        parts["tiff write"] += c.cpu
        with Clock() as c:
            cache.write_truth(job.fingerprint, t0, t1, truth)
            cache.write_csv_lines(job.fingerprint, t0, t1, csv_lines(truth))
        parts["ground truth + CSV lines"] += c.cpu
        with Clock() as c:
            checksum(out)
        parts["checksum"] += c.cpu
        n += t1 - t0
    C.clear(output)
    C.clear(work / "breakdown")
    return {"scene": done.scene_s, "commit": done.commit, "export": done.export,
            "commit_wall": done.commit_wall, "export_wall": done.export_wall,
            "locs": done.localizations, "parts": {k: v / max(n, 1) for k, v in parts.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=500, help="peer job length (emitters scale with it)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--numpy-frames", type=int, default=20, help="frames drawn per numpy repetition")
    ap.add_argument("--breakdown-chunks", type=int, default=5)
    ap.add_argument("--tmpdir", default=None)
    args = ap.parse_args()

    C.header(f"per-frame CPU cost, peer job ({SIZE}x{SIZE} px, {args.frames} frames, "
             f"{round(10000 * args.frames / 500)} emitters, Gaussian r=5, bg 100, read noise 10), in-process, "
             f"1 thread for BLAS; numpy {np.__version__}", args.reps)
    C.check_disk(Path(args.tmpdir or "/tmp"), C.peer_bytes(args.frames), "the peer job")
    runs, floors = [], []
    with C.workdir("floor_", args.tmpdir) as work:
        for rep in range(args.reps):
            floors.append(numpy_floor(args.numpy_frames, seed=rep))
            rep_dir = work / f"rep{rep}"
            rep_dir.mkdir()
            r = pipeline_once(rep_dir, args.frames, args.breakdown_chunks)
            runs.append(r)
            p, n, both = floors[-1]
            print(f"  rep {rep + 1}: pipeline commit {r['commit'] * 1e3:6.1f} + export {r['export'] * 1e3:5.1f} ms CPU/frame"
                  f" (wall {r['commit_wall'] * 1e3:.1f} + {r['export_wall'] * 1e3:.1f}); scene build {r['scene']:.2f} s; "
                  f"{r['locs']} localizations | numpy poisson {p * 1e3:.1f} + normal {n * 1e3:.1f} ms", flush=True)

    med = {k: C.median([r[k] for r in runs]) for k in ("commit", "export", "commit_wall", "export_wall", "scene")}
    total = C.median([r["commit"] + r["export"] for r in runs])
    p, n, both = (C.median([f[i] for f in floors]) for i in range(3))
    print()
    rows = [
        ["pipeline: render + noise + store + truth (commit_chunk)", f"{med['commit'] * 1e3:.1f}", f"{med['commit'] / both:.2f}"],
        ["pipeline: export (finish OME-TIFF, HDF5, CSV)", f"{med['export'] * 1e3:.1f}", f"{med['export'] / both:.2f}"],
        ["pipeline: total", f"{total * 1e3:.1f}", f"{total / both:.2f}"],
        ["numpy rng.poisson(lam=100)", f"{p * 1e3:.1f}", f"{p / both:.2f}"],
        ["numpy rng.standard_normal(float32)", f"{n * 1e3:.1f}", f"{n / both:.2f}"],
        ["numpy poisson + standard_normal (the floor)", f"{both * 1e3:.1f}", "1.00"],
    ]
    print(C.table(["per 1200x1200 frame", "CPU ms", "/ floor"], rows))
    print()
    parts = {k: C.median([r["parts"][k] for r in runs]) for k in runs[0]["parts"]}
    print(f"breakdown of commit_chunk on the first {args.breakdown_chunks} chunks (CPU ms/frame): "
          + ", ".join(f"{k} {v * 1e3:.1f}" for k, v in parts.items()))
    ratio = total / both
    print(f"target: whole pipeline <= 0.6x numpy poisson + standard_normal: {ratio:.2f}x -> {C.verdict(ratio <= 0.6)}")


if __name__ == "__main__":
    main()
