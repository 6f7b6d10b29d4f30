"""Zernike field-dependent PSF vs Gaussian PSF, and the dense Zernike job (not a test).

Two measurements, every run a whole ``python -m pipeline run`` subprocess (wall time, cluster
start-up and export included), outputs deleted after every repetition:

1. **Peer job, Zernike vs Gaussian** (issue 7 target: Zernike <= 1.3x the Gaussian time). The peer
   job (1200x1200 px, 10 000 emitters per 500 frames, r = 5 px, bg 100, read noise 10) once with
   ``psf = "gaussian"`` (sigma 100 nm) and once with ``psf = "zernike"`` (670 nm, NA 1.45, direct
   pixel integration) plus field-dependent aberrations from a zmap. ``configs/zmap_example.h5``
   covers a 128x128 px ROI only, so the script writes one for the 1200 px ROI into its temporary
   folder with ``python -m pipeline zmap synth PATH --grid 8x8 --roi 1200`` (modes Z5, Z6, Z7, Z8,
   Z11, 40 nm RMS each, like the example). Prints the ratio of wall times and, apart, the ratio of
   the chunk tasks' own seconds (sum of ``seconds`` over the cache entries: render + noise + store,
   no start-up, no export).
2. **Dense job**: 64x64 px, ``--dense-frames`` (10 000) frames, ~250 emitters on per frame (single
   blinking: on per frame ~ emitters x (lifetime + 1) / frames, so emitters = 250 x frames / 3.5),
   Zernike PSF r = 7 px with a 64 px zmap (``zmap synth --grid 4x4 --roi 64``: the example's 4x4
   grid and modes, on the 64 px ROI; the example itself tiles 128 px and is refused for 64),
   ``chunk_frames = 100``. Prints emitter-frames/s per worker = localizations (sum over the cache
   entries) / (wall x workers), and the same over the chunk tasks' seconds only.
   Issue 7 target: >= 20 000 emitter-frames/s per worker.

Run:  python benchmarks/psf.py [--frames 500] [--dense-frames 10000] [--reps 3] [--workers 2]
      [--only peer|dense] [--tmpdir DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import _common as C


def synth_zmap(path: Path, grid: str, roi: int) -> None:
    cmd = [sys.executable, "-m", "pipeline", "zmap", "synth", str(path), "--grid", grid, "--roi", str(roi)]
    proc = subprocess.run(cmd, cwd=path.parent, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout}{proc.stderr}")


def chunk_seconds(output: Path) -> float:
    return sum(float(json.loads(p.read_text())["seconds"]) for p in (Path(output) / "cache" / "chunks").glob("*.json"))


def peer(work: Path, args) -> None:
    zmap = work / "zmap_1200.h5"
    synth_zmap(zmap, "8x8", 1200)
    sweeps = {
        "gaussian": C.write_sweep(work, "psf_gaussian", C.peer_job(args.frames), workers=args.workers),
        "zernike+zmap": C.write_sweep(work, "psf_zernike", C.peer_job(
            args.frames, optics={"psf": "zernike", "wavelength_nm": 670.0, "na": 1.45, "zmap_path": str(zmap)}),
            workers=args.workers),
    }
    walls = {k: [] for k in sweeps}
    tasks = {k: [] for k in sweeps}
    locs = {}
    for rep in range(args.reps):
        for name, sweep in sweeps.items():
            out = work / f"out_{name}"
            run = C.run_pipeline(sweep, out)
            walls[name].append(run.wall_s)
            tasks[name].append(chunk_seconds(out))
            locs[name] = C.localizations(out)
            print(f"  peer {name:<13} rep {rep + 1}: wall {run.wall_s:6.1f} s, chunk tasks {tasks[name][-1]:6.1f} s, "
                  f"{locs[name]} localizations", flush=True)
            C.clear(out)
    g, z = C.median(walls["gaussian"]), C.median(walls["zernike+zmap"])
    gt, zt = C.median(tasks["gaussian"]), C.median(tasks["zernike+zmap"])
    print()
    print(C.table(["peer job, " + f"{args.frames} frames, {args.workers} workers", "reps", "wall s", "chunk tasks s",
                   "wall / Gaussian", "tasks / Gaussian"],
                  [["Gaussian (sigma 100 nm)", args.reps, f"{g:.1f}", f"{gt:.1f}", "1.00", "1.00"],
                   ["Zernike + 1200 px zmap (8x8)", args.reps, f"{z:.1f}", f"{zt:.1f}", f"{z / g:.2f}", f"{zt / gt:.2f}"]]))
    note = "" if args.frames == 500 else f"  (measured at {args.frames} frames, the target is for the 500-frame peer job)"
    print(f"target: Zernike field-dependent <= 1.3x Gaussian on the peer job: {z / g:.2f}x (wall) -> "
          f"{C.verdict(z / g <= 1.3)}; chunk tasks alone {zt / gt:.2f}x{note}")


def dense(work: Path, args) -> None:
    zmap = work / "zmap_64.h5"
    synth_zmap(zmap, "4x4", 64)
    frames = args.dense_frames
    emitters = round(250 * frames / 3.5)
    base = {
        "emitters": {"num_emitters": emitters, "frames": frames, "area_px": 64.0, "lifetime_avg": 2.5},
        "optics": {"psf": "zernike", "zmap_path": str(zmap), "psf_radius_px": 7},
        "camera": {"roi_size": 64},
        "render": {"chunk_frames": 100},
    }
    sweep = C.write_sweep(work, "dense", base, workers=args.workers)
    rates, task_rates, walls = [], [], []
    for rep in range(args.reps):
        out = work / "out_dense"
        run = C.run_pipeline(sweep, out)
        locs, secs = C.localizations(out), chunk_seconds(out)
        walls.append(run.wall_s)
        rates.append(locs / (run.wall_s * args.workers))
        task_rates.append(locs / secs)
        print(f"  dense rep {rep + 1}: wall {run.wall_s:6.1f} s, {locs} localizations ({locs / frames:.0f} per frame), "
              f"{rates[-1]:,.0f} emitter-frames/s per worker; chunk tasks {secs:.1f} s -> {task_rates[-1]:,.0f}/s",
              flush=True)
        C.clear(out)
    r, rt = C.median(rates), C.median(task_rates)
    print()
    print(C.table([f"dense job: 64x64 px, {frames} frames, {emitters} emitters, Zernike r=7, {args.workers} workers",
                   "reps", "wall s", "emitter-frames/s/worker", "over chunk tasks only"],
                  [["median", args.reps, f"{C.median(walls):.1f}", f"{r:,.0f}", f"{rt:,.0f}"]]))
    note = "" if frames == 10000 else f"  (measured at {frames} frames, the target is for 10 000)"
    print(f"target: dense job >= 20 000 emitter-frames/s per worker: {r:,.0f} -> {C.verdict(r >= 20000)}{note}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=500, help="peer job length (emitters scale with it)")
    ap.add_argument("--dense-frames", type=int, default=10000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--only", choices=["peer", "dense"])
    ap.add_argument("--tmpdir", default=None)
    args = ap.parse_args()

    C.header(f"PSF models: peer job Gaussian vs Zernike with field-dependent aberrations ({args.frames} frames), "
             f"and the dense Zernike job ({args.dense_frames} frames); {args.workers} workers, wall of "
             f"`python -m pipeline run`", args.reps)
    if args.only != "dense":
        C.check_disk(Path(args.tmpdir or "/tmp"), C.peer_bytes(args.frames), "the peer job")
    with C.workdir("psf_", args.tmpdir) as work:
        if args.only != "dense":
            peer(work, args)
        if args.only is None:
            print()
        if args.only != "peer":
            dense(work, args)


if __name__ == "__main__":
    main()
