"""Per-frame CPU cost of rendering with a constant vs a structured background (not a test).

Kernels only (:func:`kernels.render.render_chunk`, no store, no pipeline): the peer job's frame
(1200x1200 px, Gaussian PSF r=5, ~50 emitters on per frame, background 100 photons, read noise
10 e-, sCMOS), rendered with

- ``constant``: the fast path (background pixels from the exact per-level table);
- ``constant + bleaching``: a scalar background that changes every frame (one table per frame);
- ``hot/dead pixels``: constant background, 0.1 % hot + 0.1 % dead pixels (they join the lit pixels);
- ``structured map``: a smooth field (length 20 px, amplitude 0.3) times bleaching: every pixel
  has its own law; drawn by :class:`kernels.mapsampler.MapSampler` (exact per-level tables, the
  chain for the pixels whose remainder is drawn >= 1 and for sparse levels);
- ``structured map (static)``: the same map without a temporal factor (the sampler keeps the
  pixels' levels from the second frame on);
- ``structured map, whole chain``: the same frames' law through the Poisson/normal chain (the
  previous path, still used for cameras the tables do not model), for comparison;
- ``PRNU + DSNU``: constant background with dense fixed patterns (whole chain too).

The cases are interleaved within every repetition. Table building is included where it happens:
the warm-up frame builds the first frame's levels (reported separately: levels, seconds, memory),
and bleaching brings new levels later. Prints the per-frame medians and the ratio to ``constant``
(each repetition's, their median; target, issue 18: structured <= 2x constant).

``--ops`` then prints where a map frame's sampling time goes, per frame of 1200² pixels: the
constant path's whole table draw against the steps of :class:`kernels.mapsampler.MapSampler`'s
table draw (level per pixel, random bits, offsets, the alias draw) and the rest of ``expose``.

``--pipeline`` instead times whole jobs as a run computes them, in this process (no cluster):
the peer job (``--pipeline-frames`` frames) with a constant background, the same map (+ bleaching)
and the map without it, each through the run's own chunk commit and export
(:func:`_common.commit_job`: render, camera, Zarr write, streamed OME-TIFF, ground truth, cache
entry, then the export), the cases interleaved in every repetition; it prints CPU per frame and the
ratio to the constant job: the per-frame cost a run pays, of which the camera draw is a part.

``--baseline DIR`` (another checkout, e.g. a git worktree of an earlier commit) instead times
``constant`` and both structured maps with this checkout's kernels and with DIR's, each
repetition in a fresh process per checkout (the two interleaved), and prints both side by side:
per-frame CPU, the first frame's table building, and the ratio baseline / this.

Run:  python benchmarks/background.py [--frames 20] [--reps 3] [--ops] [--baseline DIR]
      python benchmarks/background.py --pipeline [--pipeline-frames 100] [--reps 3] [--tmpdir DIR]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import _common as C  # noqa: E402  (also takes benchmarks/ off sys.path)
import numpy as np  # noqa: E402

from kernels.background import background_map, smooth_field  # noqa: E402
from kernels.camera import Camera, expose  # noqa: E402
from kernels.defects import defect_maps  # noqa: E402
from kernels.photophysics import place_emitters, single_events  # noqa: E402
from kernels.psf import GaussianPSF  # noqa: E402
from kernels.mapsampler import map_sampler  # noqa: E402
from kernels.render import Scene, render_chunk, render_expected  # noqa: E402
from kernels.rng import generator, key_words  # noqa: E402

SIZE = 1200
SHAPE = (SIZE, SIZE)
BACKGROUND = 100.0
WHOLE_CHAIN = "structured map, whole chain"
MAP = "structured map (+ bleaching)"
STATIC = "structured map (static)"


def scenes(frames: int) -> dict[str, Scene]:
    key = key_words(1, "benchmark-background")
    n = round(10000 * frames / 500)  # the peer job's density per frame
    emitters = place_emitters(generator(key, "emitters"), n, SHAPE, 100.0, float(SIZE), 0.0, 10000.0, 2000.0)
    events = single_events(generator(key, "blinking"), n, frames, 2.5)
    psf = GaussianPSF(sigma_nm=100.0, radius_px=5)
    camera = Camera(readout_noise_e=10.0)
    bmap = background_map(BACKGROUND, SHAPE, smooth_field(generator(key, "background-field"), SHAPE, 20.0), 0.3)
    sparse = defect_maps(generator(key, "defects"), SHAPE, hot_fraction=0.001, hot_dark_e=50.0, dead_fraction=0.001)
    dense = defect_maps(generator(key, "defects"), SHAPE, dsnu_adu=1.0, prnu=0.01)
    common = dict(key=key, roi_shape=SHAPE, pixel_size_nm=100.0, background_photons=BACKGROUND,
                  emitters=emitters, events=events, psf=psf)
    return {
        "constant": Scene(camera=camera, **common),
        "constant + bleaching": Scene(camera=camera, background_bleach_tau_frames=50.0, **common),
        "hot/dead pixels (0.1 % each)": Scene(camera=Camera(readout_noise_e=10.0, dark_e=sparse["dark_e"],
                                                            response=sparse["response"]), **common),
        MAP: Scene(camera=camera, background_map=bmap, background_bleach_tau_frames=50.0, **common),
        STATIC: Scene(camera=camera, background_map=bmap, **common),
        WHOLE_CHAIN: Scene(camera=camera, background_map=bmap, background_bleach_tau_frames=50.0, **common),
        "PRNU 1 % + DSNU 1 ADU": Scene(camera=Camera(readout_noise_e=10.0, response=dense["response"],
                                                     dsnu_adu=dense["dsnu_adu"]), **common),
    }


def _whole_chain(scene: Scene, t0: int, t1: int) -> None:
    """The frames of a map scene through the camera's whole chain (the path before MapSampler)."""
    photons, _ = render_expected(scene, t0, t1)
    for i, frame in enumerate(range(t0, t1)):
        expose(scene.camera, photons[i], generator(scene.key, "camera", frame=frame))


def _tables(sampler) -> tuple[int, float, float]:
    """Tables built, seconds spent building them, MiB held: both stores of a MapSampler."""
    stores = (sampler.tables, sampler.tables_plus_one)
    return (sum(t.levels_built for t in stores), sum(t.build_seconds for t in stores),
            sum(t.nbytes for t in stores) / 2**20)


def _ratios(times: dict[str, list[float]]) -> dict[str, float]:
    """Each case's ratio to ``constant`` in every repetition (its cases ran back to back, on the same
    machine state), then the median of those."""
    return {k: C.median([t / c for t, c in zip(v, times["constant"])]) for k, v in times.items()}


def per_frame(name: str, scene: Scene, frames: int) -> float:
    """CPU seconds per frame of render_chunk over ``frames`` frames (chunks of 10)."""
    render = _whole_chain if name == WHOLE_CHAIN else render_chunk
    t0 = time.process_time()
    for a in range(0, frames, 10):
        render(scene, a, min(a + 10, frames))
    return (time.process_time() - t0) / frames


def op_breakdown(constant: Scene, structured: Scene, reps: int) -> None:
    """CPU ms per frame of the steps of the two background draws (median of ``reps`` frames each)."""
    from kernels.camera import _background_table
    from kernels.lookup import uniform_bits
    from kernels.mapsampler import _BLOCK, _alias_draw, _Scratch

    sampler = map_sampler(structured.camera, structured.background_map)
    table = _background_table(constant.camera, float(np.float32(BACKGROUND)))
    rng, n, factor = np.random.default_rng(0), sampler.map.size, np.float32(0.97)
    out = np.empty(n, dtype=np.uint16)
    none = (np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.float32))
    sampler.expose(rng, factor, *none)  # builds this factor's tables
    tables, scratch = sampler.tables, _Scratch()
    entries = tables.entries.reshape(-1)
    steps = {"constant: whole table draw": [], "map: level per pixel": [], "map: random bits": [],
             "map: offset take": [], "map: alias draw": [], "map: whole expose": []}
    for _ in range(reps):
        t = time.process_time()
        table.sample(rng, n, out=out)
        steps["constant: whole table draw"].append(time.process_time() - t)
        spent = dict.fromkeys(["map: level per pixel", "map: random bits", "map: offset take", "map: alias draw"], 0.0)
        for a in range(0, n, _BLOCK):  # as MapSampler.expose does it, step by step
            b = min(a + _BLOCK, n)
            t = time.process_time()
            level = sampler._levels(factor, tables.max_rows, 0, a, b, out=scratch.level[: b - a])
            t1 = time.process_time()
            bits = uniform_bits(rng.bit_generator.random_raw((b - a + 1) // 2), b - a)
            t2 = time.process_time()
            np.take(tables.offset, level, out=out[a:b], mode="clip")
            np.left_shift(level, tables.bits, out=level)
            t3 = time.process_time()
            _alias_draw(tables.bits, entries, level, bits, out[a:b], scratch)
            t4 = time.process_time()
            for key, dt in zip(spent, (t1 - t, t2 - t1, t3 - t2, t4 - t3)):
                spent[key] += dt
        for key, dt in spent.items():
            steps[key].append(dt)
        t = time.process_time()
        sampler.expose(rng, factor, *none)
        steps["map: whole expose"].append(time.process_time() - t)
    print(C.table([f"step (1200x1200 px; median of {reps} frames)", "CPU ms/frame"],
                  [[k, f"{C.median(v) * 1e3:.1f}"] for k, v in steps.items()]))


def one_rep(frames: int) -> None:
    """One repetition of ``constant``, :data:`MAP` and :data:`STATIC` in this process, as one JSON line
    (for --baseline)."""
    cases = {k: v for k, v in scenes(frames).items() if k in ("constant", MAP, STATIC)}
    start = time.perf_counter()
    render_chunk(cases[MAP], 0, 1)
    first = time.perf_counter() - start
    built, seconds, _ = _tables(map_sampler(cases[MAP].camera, cases[MAP].background_map))
    render_chunk(cases["constant"], 0, 1)
    render_chunk(cases[STATIC], 0, 1)
    result = {"first_frame_s": first, "first_tables_s": seconds, "first_tables": built}
    result.update({name: per_frame(name, scene, frames) for name, scene in cases.items()})
    built_all, seconds_all, _ = _tables(map_sampler(cases[MAP].camera, cases[MAP].background_map))
    result.update(later_tables=built_all - built, later_tables_s=seconds_all - seconds)
    print(json.dumps(result))


def compare(frames: int, reps: int, baseline: str) -> None:
    """This checkout's kernels against ``baseline``'s, each repetition in fresh processes, interleaved."""
    roots = {"this": str(C.REPO), "baseline": str(Path(baseline).resolve())}
    C.header(f"render_chunk CPU per {SIZE}x{SIZE} frame, this checkout vs {roots['baseline']} ({frames} frames "
             f"per case, one process per checkout and repetition, interleaved); numpy {np.__version__}", reps)
    runs = {label: [] for label in roots}
    for rep in range(reps):
        for label in (list(roots) if rep % 2 == 0 else list(roots)[::-1]):
            out = subprocess.run([sys.executable, __file__, "--frames", str(frames), "--one-rep"], check=True,
                                 capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=roots[label]))
            runs[label].append(json.loads(out.stdout.strip().splitlines()[-1]))
            r = runs[label][-1]
            print(f"  rep {rep + 1} {label:8s}: constant {r['constant'] * 1e3:.1f}, {MAP} {r[MAP] * 1e3:.1f}, "
                  f"{STATIC} {r[STATIC] * 1e3:.1f} ms/frame; "
                  f"first frame {r['first_frame_s']:.2f} s ({r['first_tables']} tables in {r['first_tables_s']:.2f} s), "
                  f"later frames built {r['later_tables']} tables in {r['later_tables_s']:.2f} s", flush=True)

    def med(label, key):
        return C.median([r[key] for r in runs[label]])

    rows = []
    for key, what, scale, unit in (("constant", "constant: CPU per frame", 1e3, "ms"),
                                   (MAP, f"{MAP}: CPU per frame", 1e3, "ms"),
                                   (STATIC, f"{STATIC}: CPU per frame", 1e3, "ms"),
                                   ("first_tables_s", "first frame: table building", 1, "s"),
                                   ("later_tables_s", f"table building in the {frames - 1} later frames", 1, "s")):
        this, base = med("this", key), med("baseline", key)
        rows.append([what, f"{this * scale:.2f} {unit}", f"{base * scale:.2f} {unit}", f"{base / this:.2f}" if this else "-"])
    for case in (MAP, STATIC):
        rows.append([f"{case} / constant", *(f"{med(label, case) / med(label, 'constant'):.2f}" for label in roots), ""])
    print()
    print(C.table(["", "this", "baseline", "baseline / this"], rows))
    ratio = med("this", MAP) / med("this", "constant")
    print(f"target: structured <= 2x constant per frame: {ratio:.2f}x (+ bleaching), "
          f"{med('this', STATIC) / med('this', 'constant'):.2f}x (static) -> {C.verdict(ratio <= 2.0)}")


#: the structured cases of --pipeline: the sweep's [base.background] table (the map of scenes())
PIPELINE_CASES = {"constant": {},
                  MAP: {"field_amplitude": 0.3, "field_length_px": 20.0, "bleach_tau_frames": 50.0},
                  STATIC: {"field_amplitude": 0.3, "field_length_px": 20.0}}


def pipeline(frames: int, reps: int, tmpdir: str | None) -> None:
    """Whole jobs through the run's chunk commit and export: CPU per frame, constant vs map."""
    C.header(f"the peer job ({SIZE}x{SIZE} px, {frames} frames) through the run's chunk commit and export, "
             f"in-process, constant vs structured background (cases interleaved); numpy {np.__version__}", reps)
    C.check_disk(Path(tmpdir or "/tmp"), C.peer_bytes(frames), "one job")
    times = {name: [] for name in PIPELINE_CASES}
    with C.workdir("background_", tmpdir) as work:
        for rep in range(reps):
            for i, (name, table) in enumerate(PIPELINE_CASES.items()):
                folder = work / f"rep{rep}-{i}"
                folder.mkdir()
                done = C.commit_job(folder, "background", C.peer_job(frames, **({"background": table} if table else {})))
                times[name].append(done.commit + done.export)
                C.clear(folder)
            print(f"  rep {rep + 1}: " + ", ".join(f"{k} {v[-1] * 1e3:.1f}" for k, v in times.items())
                  + " ms CPU/frame", flush=True)
    med = {k: C.median(v) for k, v in times.items()}
    ratio_of = _ratios(times)
    print()
    print(C.table(["job (commit + export)", "CPU ms/frame", "/ constant (median of the repetitions' ratios)"],
                  [[k, f"{v * 1e3:.1f}", f"{ratio_of[k]:.2f}"] for k, v in med.items()]))
    ratio = ratio_of[MAP]
    print(f"target: structured <= 2x constant per frame, whole job: {ratio:.2f}x (+ bleaching), "
          f"{ratio_of[STATIC]:.2f}x (static) -> {C.verdict(ratio <= 2.0)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--ops", action="store_true", help="also print where a map frame's sampling time goes")
    ap.add_argument("--baseline", help="another checkout to compare with")
    ap.add_argument("--pipeline", action="store_true", help="whole jobs through the run's chunk commit instead")
    ap.add_argument("--pipeline-frames", type=int, default=100)
    ap.add_argument("--tmpdir", default=None)
    ap.add_argument("--one-rep", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one_rep:
        return one_rep(args.frames)
    if args.baseline:
        return compare(args.frames, args.reps, args.baseline)
    if args.pipeline:
        return pipeline(args.pipeline_frames, args.reps, args.tmpdir)
    C.header(f"render_chunk CPU per {SIZE}x{SIZE} frame, constant vs structured background "
             f"({args.frames} frames per case and repetition, cases interleaved); numpy {np.__version__}", args.reps)
    cases = scenes(args.frames)
    for name, scene in cases.items():
        start = time.perf_counter()
        render_chunk(scene, 0, 1)  # warm-up: tables, caches
        if scene.background_map is not None and name != WHOLE_CHAIN:
            sampler = map_sampler(scene.camera, scene.background_map)
            built, seconds, mib = _tables(sampler)
            print(f"  {name}: first frame {time.perf_counter() - start:.2f} s wall, of which table building "
                  f"{seconds:.2f} s for {built} tables (levels of step {sampler.step_photons} photons, for M = 0 "
                  f"and M = 1; {1 << sampler.tables.bits} alias columns), {mib:.1f} MiB", flush=True)
    times = {name: [] for name in cases}
    for rep in range(args.reps):
        for name, scene in cases.items():
            times[name].append(per_frame(name, scene, args.frames))
        print(f"  rep {rep + 1}: " + ", ".join(f"{k} {v[-1] * 1e3:.1f}" for k, v in times.items()) + " ms", flush=True)
    med = {k: C.median(v) for k, v in times.items()}
    ratio_of = _ratios(times)
    print()
    print(C.table(["case", "CPU ms/frame", "/ constant (median of the repetitions' ratios)"],
                  [[k, f"{v * 1e3:.1f}", f"{ratio_of[k]:.2f}"] for k, v in med.items()]))
    sampler = map_sampler(cases[MAP].camera, cases[MAP].background_map)
    built, seconds, mib = _tables(sampler)
    print(f"map tables after all runs: {sampler.tables.levels} levels, {built} tables built in {seconds:.2f} s "
          f"({1e3 * seconds / max(built, 1):.2f} ms per table, included in the per-frame times after the "
          f"warm-up frame), {mib:.1f} MiB held")
    ratio = ratio_of[MAP]
    print(f"structured map: {ratio_of[WHOLE_CHAIN] / ratio:.2f}x faster than the whole chain")
    print(f"target: structured <= 2x constant per frame: {ratio:.2f}x (+ bleaching), {ratio_of[STATIC]:.2f}x "
          f"(static) -> {C.verdict(ratio <= 2.0)}")
    if args.ops:
        print()
        op_breakdown(cases["constant"], cases[MAP], max(5, args.reps))


if __name__ == "__main__":
    main()
