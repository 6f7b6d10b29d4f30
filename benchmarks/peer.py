"""The peer job end to end: our ``python -m pipeline run`` (1 and 2 workers) vs Picasso and SMAPpy simulate.

Not a test. Issue 7's *peer job* is the original tool's default job made 10x longer: 1200x1200 px,
500 frames, 10 000 emitters (single blinking, lifetime 2.5 frames, 10 000 +- 2 000 photons),
background 100 photons, read noise 10 e-, Gaussian PSF sigma = 1 px (r = 5 px), chunks of 10 frames.

Ours: the wall time of the whole ``python -m pipeline run SWEEP --output DIR`` command (interpreter
start, LocalCluster start, rendering + noise, Zarr store, ground truth, OME-TIFF/HDF5/CSV export),
with ``cluster.workers`` = 1 and 2; the output is deleted after every repetition. The repetitions
of the two worker counts are interleaved, so both see the same machine state.

Picasso (PyPI ``picassosr``): the same job through the functions its Simulate GUI calls
(``picasso.simulate``: ``distphotons`` -> ``paintgen`` for the photons of every site and frame,
``convertMovie`` per frame = photon-by-photon Gaussian PSF via ``np.random.multivariate_normal`` +
``np.histogram2d`` into a float64 whole-movie array, ``noisy_p`` = Poisson background on the whole
movie, ``noisy`` per frame = Gaussian read noise (the GUI itself leaves it out), ``check_type`` to
uint16, ``saveMovie`` = raw file + YAML). It runs in its own environment (it pins numpy, PyQt6,
numba...), as a subprocess; create it once with::

    python3 -m venv /tmp/picasso-venv && /tmp/picasso-venv/bin/pip install picassosr

Picasso's blinking is PAINT-like (dark/bright exponential cycles, times in ms); the runner uses an
integration time of 100 ms, mean bright time 2.5 frames and mean dark time (frames - 2.5) frames,
so a site has about one on-event per movie like our single blinking, and photon rate 100 +- 20 per
ms = 10 000 +- 2 000 photons per frame. Both sides print their emitter-frames (localizations) and
Picasso its photon count so the workloads can be compared. Picasso's time is measured inside its
process, after its imports (conservative for the ratio: our time includes interpreter start).

Picasso's noise step holds ~3 float64 copies of the movie (17 GB for 500 frames); when less
memory is available the runner applies the same ``noisy_p`` frame by frame and says so.

SMAPpy (PyPI ``smappy-smlm`` 0.4.1, the Ries lab's Python port of SMAP): the same job through its
own simulator, the plugin ``File/Simulate/Blinking Structure`` (``smappy.plugins.file.SimulateBlinks``,
found through ``smappy.plugins.get``) with camera-frame output and "also write a TIFF": its ``run``
= ``smappy.simulate.ground_truth`` (structure -> labels -> blinks -> photons per frame) + the
``*.sim.yaml`` recipe + ``smappy.simulate.render`` asked for 500 frames at a time (it draws blocks
of 200 frames in float64: pixel-integrated Gaussian spots by erf, one Python loop step per spot;
then Poisson, read noise and uint16 frame by frame), written by tifffile as one BigTIFF. The structure is a YAML of one point with
10 000 copies placed uniformly at random over the 1200x1200 px frame; activation "all" with 1
blink = exactly one on-event per emitter, spread uniformly over the movie; on time 2.5 frames
(exponential); photons per blink 25 000 +- 5 000 = 2.5 x (10 000 +- 2 000) per frame, emitted at
the constant rate photons / on time; pixel 100 nm, PSF sigma 100 nm; background 100 photons/px;
camera 1 e-/ADU, offset 100 ADU, read noise 10 ADU = 10 e-, no EM gain. It runs in its own
environment as a subprocess; create it once with::

    python3 -m venv /tmp/smappy-venv && /tmp/smappy-venv/bin/pip install smappy-smlm==0.4.1

Its settings that differ from ours (printed with the results, :data:`SMAPPY_DIFFERS`): the photons
of a blink are gamma-distributed (ours: a normal flux per emitter); a spot is drawn in a 9x9 px
window (+-4 sigma; ours r = 5 px, 11x11); every emitter at z = 0 (ours uniform over 1 um, which a
Gaussian PSF ignores); no ground-truth file and no second movie format (ours writes Zarr, OME-TIFF
and HDF5/CSV ground truth) -- its recipe YAML and BigTIFF only. The TIFF goes to a temporary folder,
deleted after every run. Time and peak RSS are measured inside its process after its imports
(scipy.special, tifffile and yaml, which it imports lazily, are imported first);
its emitter-frames and photons are counted afterwards from ``ground_truth`` of the same settings
and seed (it gives the same simulation), outside the timed part.

Run:  python benchmarks/peer.py [--frames 500] [--reps 3] [--picasso-reps 1] [--picasso-python PATH]
      [--smappy-reps 1] [--smappy-python PATH] [--skip-ours] [--skip-picasso] [--skip-smappy]
      [--tmpdir DIR]
Picasso is slow (~100 s for 500 frames): by default the peer job runs ``--picasso-reps`` (1) times
and the original default job (50 frames, 1 000 emitters) ``--reps`` times; the ratio uses the
Picasso peer-job median. SMAPpy runs the peer job ``--smappy-reps`` (1) times. Targets (issue 7,
500 frames): >= 10x Picasso with 2 workers, >= 5x with 1 worker; and for 2 workers >= 20x Picasso
and >= 8x SMAPpy.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

import _common as C

PICASSO_PYTHON = "/tmp/picasso-venv/bin/python"
CREATE = "python3 -m venv /tmp/picasso-venv && /tmp/picasso-venv/bin/pip install picassosr"

RUNNER = r'''
import json, os, resource, sys, time
args = json.loads(sys.argv[1])
t_start = time.perf_counter()
import numpy as np
import psutil
from picasso import simulate
from picasso import __version__ as picasso_version
t_imported = time.perf_counter()

frames, nsites, size = args["frames"], args["emitters"], args["size"]
itime = 100.0                                   # ms per frame
taub = args["lifetime"] * itime                 # mean bright time, ms
taud = frames * itime - taub                    # mean dark time: ~1 on-event per site per movie
rate, rate_std = args["mu"] / itime, args["sigma"] / itime   # photons per ms
np.random.seed(args["seed"])

t0 = time.perf_counter()
struct = np.zeros((5, nsites))                  # rows x, y, exchange, -, z (pixels)
struct[0] = np.random.uniform(0, size, nsites)
struct[1] = np.random.uniform(0, size, nsites)
photondist = np.zeros((nsites, frames), dtype=int)
for i in range(nsites):
    photondist[i, :] = simulate.distphotons(struct, itime, frames, taud, taub, rate, rate_std, 1e15)[0]
t1 = time.perf_counter()

movie = np.zeros((frames, size, size))          # float64, whole movie, like the GUI
for runner in range(frames):
    movie[runner] = simulate.convertMovie(runner, photondist, struct, size, frames, args["psf_px"], rate,
                                          args["background"], args["noise"], False, [], [])
t2 = time.perf_counter()

need = 3 * movie.nbytes                         # movie + Poisson draw (int64 -> float64) + sum
whole = psutil.virtual_memory().available > 1.2 * need
if whole:
    movie = simulate.noisy_p(movie, args["background"])
else:
    for r in range(frames):
        movie[r] = simulate.noisy_p(movie[r], args["background"])
for r in range(frames):
    movie[r] = simulate.noisy(movie[r], 0, args["noise"])
movie = simulate.check_type(movie)
t3 = time.perf_counter()

path = os.path.join(args["dir"], "picasso_movie.raw")
simulate.saveMovie(path, movie, {"Frames": frames, "Height": size, "Width": size, "Data Type": "uint16",
                                 "Byte Order": "<", "Generated by": "benchmarks/peer.py"})
t4 = time.perf_counter()
print(json.dumps({
    "picasso": picasso_version, "numpy": np.__version__, "import_s": t_imported - t_start,
    "photons_s": t1 - t0, "render_s": t2 - t1, "noise_s": t3 - t2, "save_s": t4 - t3, "total_s": t4 - t0,
    "emitter_frames": int((photondist > 0).sum()), "photons": int(photondist.sum()),
    "noise_whole_movie": whole, "noise_need_gib": need / 2**30,
    "maxrss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
}))
'''

SMAPPY_PYTHON = "/tmp/smappy-venv/bin/python"
SMAPPY_CREATE = "python3 -m venv /tmp/smappy-venv && /tmp/smappy-venv/bin/pip install smappy-smlm==0.4.1"
SMAPPY_DIFFERS = ("photons per blink gamma-distributed (ours: normal flux per emitter)",
                  "spot window 9x9 px, +-4 sigma (ours: r = 5 px, 11x11)",
                  "all emitters at z = 0 (ours: uniform over 1 um; no effect on a Gaussian PSF)",
                  "writes its recipe YAML + one BigTIFF only (ours: Zarr, OME-TIFF, HDF5/CSV ground truth)")

SMAPPY_RUNNER = r'''
import json, os, resource, sys, time
args = json.loads(sys.argv[1])
t_start = time.perf_counter()
import numpy as np
import scipy.special, tifffile, yaml             # imported lazily inside the plugin's run
import smappy
from smappy import plugins
from smappy.plugins import Context
from smappy.simulate import (BlinkingSettings, CameraOutputSettings, OpticsSettings, SimulationSettings,
                             StructureSettings, ground_truth)
plugin = plugins.get("File/Simulate/Blinking Structure")()
t_imported = time.perf_counter()

size, px, frames = args["size"], args["pixel_nm"], args["frames"]
structure = os.path.join(args["dir"], "uniform.yaml")
with open(structure, "w") as fh:                 # one point, copied uniformly over the frame
    yaml.safe_dump({"name": "uniform", "elements": [{"points": [[0.0, 0.0, 0.0]]}],
                    "copies": {"n": args["emitters"], "placement": "random", "rotation": "none",
                               # pixel k is centred on k: the frame spans -0.5 .. size - 0.5 px
                               "field": [-px / 2, -px / 2, size * px - px / 2, size * px - px / 2]}}, fh)
settings = SimulationSettings(
    output="camera", n_frames=frames, background=args["background"], seed=args["seed"],
    structure=StructureSettings(file=structure),
    blinking=BlinkingSettings(on_time=args["lifetime"], blinks=1.0, activation="all",
                              photons=args["lifetime"] * args["mu"], photons_std=args["lifetime"] * args["sigma"]),
    optics=OpticsSettings(pixelsize_nm=px, sigma_nm=args["psf_px"] * px),
    camera=CameraOutputSettings(path=os.path.join(args["dir"], "smappy_movie.sim.yaml"), tiff=True,
                                size_px=size, conversion=1.0, offset=100.0, read_noise=args["noise"], em_gain=0.0))

t0 = time.perf_counter()
result = plugin.run(Context(), settings)
t1 = time.perf_counter()
maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
tiff = result.data["tiff"]
with tifffile.TiffFile(tiff) as tf:
    shape, bigtiff = list(tf.series[0].shape), tf.is_bigtiff
emission = ground_truth(settings).emission       # the same settings and seed: the same simulation
print(json.dumps({
    "smappy": smappy.__version__, "numpy": np.__version__, "import_s": t_imported - t_start, "total_s": t1 - t0,
    "emitter_frames": len(emission), "photons": float(emission.photons.sum()), "emitters": int(np.unique(emission.owner).size),
    "tiff_gib": os.path.getsize(tiff) / 2**30, "tiff_shape": shape, "bigtiff": bigtiff, "text": result.text,
    "maxrss_gib": maxrss,
}))
'''


def _run_peer(name: str, python: str, runner: Path, args: dict, cwd: Path) -> dict:
    """Run a peer's runner script in its own environment; its last stdout line (JSON) + the wall time."""
    t0 = time.perf_counter()
    proc = subprocess.run([python, str(runner), json.dumps(args)], cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{name} runner exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_s"] = wall
    return result


def _environment_problem(python: str, imports: str, what: str, create: str) -> str | None:
    """Why ``python`` cannot run ``imports`` (None when it can), with the command that makes the environment."""
    if not Path(python).exists():
        return f"{python} does not exist; create the environment with: {create}"
    proc = subprocess.run([python, "-c", imports], capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
        return f"{python} cannot import {what}: {last}; (re)create it with: {create}"
    return None


def picasso_job(python: str, work: Path, frames: int, emitters: int, seed: int) -> dict:
    """One Picasso run in its own environment; returns the runner's JSON (+ wall of the subprocess)."""
    runner = work / "picasso_runner.py"
    runner.write_text(RUNNER)
    args = {"frames": frames, "emitters": emitters, "size": 1200, "lifetime": 2.5, "mu": 10000.0,
            "sigma": 2000.0, "background": 100.0, "noise": 10.0, "psf_px": 1.0, "seed": seed, "dir": str(work)}
    try:
        return _run_peer("Picasso", python, runner, args, work)
    finally:
        for name in ("picasso_movie.raw", "picasso_movie.yaml"):
            (work / name).unlink(missing_ok=True)


def picasso_problem(python: str) -> str | None:
    """Why Picasso cannot run here (None when it can)."""
    return _environment_problem(python, "import psutil, numpy; from picasso import simulate", "picasso.simulate", CREATE)


def smappy_job(python: str, work: Path, frames: int, emitters: int, seed: int) -> dict:
    """One SMAPpy run in its own environment, in a folder deleted afterwards; the runner's JSON + wall."""
    with C.workdir("smappy_", str(work)) as folder:
        runner = folder / "smappy_runner.py"
        runner.write_text(SMAPPY_RUNNER)
        args = {"frames": frames, "emitters": emitters, "size": 1200, "pixel_nm": 100.0, "lifetime": 2.5,
                "mu": 10000.0, "sigma": 2000.0, "background": 100.0, "noise": 10.0, "psf_px": 1.0, "seed": seed,
                "dir": str(folder)}
        return _run_peer("SMAPpy", python, runner, args, folder)


def smappy_problem(python: str) -> str | None:
    """Why SMAPpy cannot run here (None when it can)."""
    return _environment_problem(python, "import scipy.special, tifffile, yaml; from smappy.plugins.file import SimulateBlinks",
                                "smappy's simulator", SMAPPY_CREATE)


def _peer_runs(name: str, skip: bool, problem_of, reps: int, run, line) -> list[dict] | None:
    """``reps`` runs of a peer (``run(rep)`` gives its result, ``line(rep, result)`` the line printed);
    None when it is skipped or its environment is not there (said so)."""
    if skip:
        return None
    problem = problem_of()
    if problem:
        print(f"  {name}: NOT RUN: {problem}")
        return None
    results = []
    for rep in range(reps):
        results.append(run(rep))
        print(line(rep, results[-1]), flush=True)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=500, help="peer job length (emitters scale with it); 500 = issue 7")
    ap.add_argument("--reps", type=int, default=3, help="repetitions of our runs and of Picasso's 50-frame job")
    ap.add_argument("--picasso-reps", type=int, default=1, help="repetitions of Picasso's peer job")
    ap.add_argument("--picasso-python", default=PICASSO_PYTHON)
    ap.add_argument("--smappy-reps", type=int, default=1, help="repetitions of SMAPpy's peer job")
    ap.add_argument("--smappy-python", default=SMAPPY_PYTHON)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--skip-ours", action="store_true")
    ap.add_argument("--skip-picasso", action="store_true")
    ap.add_argument("--skip-smappy", action="store_true")
    ap.add_argument("--tmpdir", default=None)
    args = ap.parse_args()

    emitters = round(10000 * args.frames / 500)
    C.header(f"peer job: 1200x1200 px, {args.frames} frames, {emitters} emitters, Gaussian PSF sigma 1 px, "
             f"bg 100, read noise 10; ours = wall of `python -m pipeline run` (cluster start, Zarr, "
             f"OME-TIFF, HDF5/CSV ground truth); Picasso and SMAPpy = their simulators' time after imports",
             args.reps)
    root = Path(args.tmpdir or "/tmp")
    C.check_disk(root, C.peer_bytes(args.frames) + 1200 * 1200 * 2 * args.frames, "the peer job")

    ours: dict[int, list[float]] = {w: [] for w in args.workers}
    locs = None
    with C.workdir("peer_", args.tmpdir) as work:
        if not args.skip_ours:
            sweep = C.write_sweep(work, "peer", C.peer_job(args.frames))
            for rep in range(args.reps):
                for w in args.workers:
                    out = work / f"out_w{w}"
                    run = C.run_pipeline(sweep, out, workers=w)
                    files = sorted(p.name for p in (out / "jobs").glob("*/*"))
                    locs = C.localizations(out)
                    ours[w].append(run.wall_s)
                    print(f"  ours  {w} worker{'s' if w > 1 else ' '}  rep {rep + 1}: {run.wall_s:7.1f} s  "
                          f"({locs} localizations; {', '.join(f for f in files if not f.endswith('.json'))})",
                          flush=True)
                    C.clear(out)

        def picasso_line(rep, r):
            return (f"  Picasso {r['picasso']} {args.frames} frames rep {rep + 1}: {r['total_s']:7.1f} s "
                    f"(photons {r['photons_s']:.1f} + render {r['render_s']:.1f} + noise {r['noise_s']:.1f} + save "
                    f"{r['save_s']:.1f}; imports {r['import_s']:.1f} s, process wall {r['wall_s']:.1f} s; "
                    f"{r['emitter_frames']} emitter-frames, {r['photons'] / 1e6:.0f} M photons; noise on the "
                    f"{'whole movie' if r['noise_whole_movie'] else 'movie frame by frame (not enough free memory)'};"
                    f" peak RSS {r['maxrss_gib']:.1f} GiB)")

        def smappy_line(rep, r):
            return (f"  SMAPpy {r['smappy']} {args.frames} frames rep {rep + 1}: {r['total_s']:7.1f} s "
                    f"(imports {r['import_s']:.1f} s, process wall {r['wall_s']:.1f} s; {r['emitter_frames']} "
                    f"emitter-frames of {r['emitters']} emitters, {r['photons'] / 1e6:.0f} M photons; "
                    f"{'Big' if r['bigtiff'] else ''}TIFF {'x'.join(map(str, r['tiff_shape']))} "
                    f"{r['tiff_gib']:.2f} GiB; peak RSS {r['maxrss_gib']:.1f} GiB)")

        pic_peer = _peer_runs("Picasso", args.skip_picasso, lambda: picasso_problem(args.picasso_python),
                              args.picasso_reps, lambda rep: picasso_job(args.picasso_python, work, args.frames,
                                                                         emitters, seed=rep), picasso_line)
        pic_default = []
        if pic_peer is not None and args.frames != 50:
            pic_default = _peer_runs(
                "Picasso default job", False, lambda: None, args.reps,
                lambda rep: picasso_job(args.picasso_python, work, 50, 1000, seed=100 + rep),
                lambda rep, r: (f"  Picasso default job (50 frames, 1000 emitters) rep {rep + 1}: {r['total_s']:6.1f} s "
                                f"(process wall {r['wall_s']:.1f} s, {r['emitter_frames']} emitter-frames)"))
        pic_peer = pic_peer or []
        smap_peer = _peer_runs("SMAPpy", args.skip_smappy, lambda: smappy_problem(args.smappy_python),
                               args.smappy_reps, lambda rep: smappy_job(args.smappy_python, work, args.frames,
                                                                        emitters, seed=rep), smappy_line) or []
        if smap_peer:
            print("  SMAPpy settings that differ from ours: " + "; ".join(SMAPPY_DIFFERS))

    print()
    rows = []
    if pic_default:
        t = C.median([r["total_s"] for r in pic_default])
        rows.append(["Picasso, default job (50 frames, 1000 emitters)", len(pic_default), f"{t:.1f}", "", ""])
    pic = C.median([r["total_s"] for r in pic_peer]) if pic_peer else None
    if pic is not None:
        rows.append([f"Picasso, peer job ({args.frames} frames)", len(pic_peer), f"{pic:.1f}", "1.00", ""])
    smap = C.median([r["total_s"] for r in smap_peer]) if smap_peer else None
    if smap is not None:
        rows.append([f"SMAPpy, peer job ({args.frames} frames)", len(smap_peer), f"{smap:.1f}",
                     f"{pic / smap:.2f}" if pic else "n/a", "1.00"])
    for w, times in ours.items():
        if times:
            t = C.median(times)
            rows.append([f"ours, {w} worker{'s' if w > 1 else ''} ({args.frames} frames)", len(times), f"{t:.1f}",
                         f"{pic / t:.2f}" if pic else "n/a", f"{smap / t:.2f}" if smap else "n/a"])
    print(C.table(["run", "reps", "median s", "Picasso / this", "SMAPpy / this"], rows))
    if locs is not None and (pic_peer or smap_peer):
        print(f"workload: ours {locs} localizations (emitter-frames)"
              + (f", Picasso {pic_peer[0]['emitter_frames']} emitter-frames" if pic_peer else "")
              + (f", SMAPpy {smap_peer[0]['emitter_frames']} emitter-frames" if smap_peer else ""))
    if smap is not None and ours.get(2):
        print(f"ours (2 workers) vs SMAPpy: SMAPpy {smap:.1f} s / ours {C.median(ours[2]):.1f} s = "
              f"{smap / C.median(ours[2]):.2f}x")
    at = "" if args.frames == 500 else f"  (measured at {args.frames} frames, the target is for 500)"
    for peer, t_peer, goals in (("Picasso", pic, ((2, 10.0), (1, 5.0), (2, 20.0))), ("SMAPpy", smap, ((2, 8.0),))):
        for w, goal in goals:
            if w not in ours:
                continue
            target = f"target: {w} worker{'s' if w > 1 else ''} >= {goal:.0f}x faster than {peer}: "
            if t_peer is None or not ours[w]:
                print(target + "not measured")
                continue
            ratio = t_peer / C.median(ours[w])
            print(target + f"{ratio:.2f}x -> {C.verdict(ratio >= goal)}{at}")
    if pic is not None:
        if len(pic_peer) < 3:
            print(f"note: Picasso's peer job ran {len(pic_peer)}x (too slow for 3); its 50-frame default job "
                  f"ran {len(pic_default)}x")


if __name__ == "__main__":
    main()
