"""Command line: ``python -m pipeline {render,plan,run,status,verify,export,preview,score,zmap,psf}`` (docs/design.md §8).

Every verb's arguments are declared here; each verb is a thin call into the Python API.
Exit codes: 0 done; 1 some job failed, or the environment stopped the run (a full disk: one line
on stderr, resumable); 2 bad input (one line on stderr, nothing written); 128 + the signal number
when stopped by a signal: 130 SIGINT (Ctrl-C), 143 SIGTERM, 129 SIGHUP.
"""

from __future__ import annotations

import argparse
import gc
import math
import sys
from pathlib import Path

from .errors import RunAborted, RunInterrupted, UserError

DOCS = "docs/design.md (output, cache, CLI) and docs/physics.md (models, units, conventions)"


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake as one line and exit code 2."""

    def error(self, message: str):
        raise UserError(f"{self.prog}: {message} (see --help)")


# ---------------------------------------------------------------------------------------- verbs


def cmd_plan(args) -> int:
    from .config import load_sweep
    from .plan import check_memory, check_workers, plan_sweep
    from .plan.report import print_plan
    from .run.cluster import cluster_spec

    sweep = load_sweep(args.sweep)
    plan = plan_sweep(sweep).select(args.jobs)
    output = sweep.output_dir(args.output)
    spec = cluster_spec(sweep, args.workers, None, output)
    check_workers(plan, spec.workers, spec.memory_limit, spec.memory_auto, spec.threads_per_worker, spec.workers_option)
    warnings = plan.warnings + check_memory(plan, spec.memory_limit, spec.threads_per_worker)
    print_plan(plan, output, spec.workers, spec.memory_limit, warnings)
    return 0


def _start_forkserver() -> None:
    """Start the workers' preloaded server now (:mod:`pipeline.forkserver`): its imports run on
    another core while this process imports and validates. Wasted only where no local cluster
    starts (an address in the sweep file, nothing to compute, bad input): it exits with us."""
    from . import forkserver

    forkserver.start()


def _import_run():
    """``run_sweep``, imported with the cyclic garbage collector paused: its passes over the new
    modules' objects took ~10 % of the imports' time, on the path to the first chunk (see
    :mod:`pipeline._preloading`). What they made moves to its permanent generation."""
    gc.disable()
    try:
        from .run import run_sweep
    finally:
        gc.freeze()
        gc.enable()
    return run_sweep


def cmd_run(args) -> int:
    if not args.scheduler:
        _start_forkserver()
    run_sweep = _import_run()

    result = run_sweep(args.sweep, output=args.output, workers=args.workers, scheduler=args.scheduler,
                       resume=not args.no_resume, jobs=args.jobs, force=args.force)
    return _run_outcome(result)


def cmd_render(args) -> int:
    _start_forkserver()
    import tempfile

    from .rerender import render_sweep

    run_sweep = _import_run()
    with tempfile.TemporaryDirectory() as folder:  # (the run keeps the sweep as run: <output>/sweep.toml)
        sweep = render_sweep(args.source, Path(folder), args.sweep, args.set)
        result = run_sweep(sweep, output=args.output, workers=args.workers, resume=not args.no_resume)
    return _run_outcome(result)


def _run_outcome(result) -> int:
    """One line on stderr per failed job; the exit code."""
    for job in result.failed:
        message = job.error["message"]
        if job.error["type"] == "DiskFull" and result.disk_full:  # where, what is left to write, that it resumes
            message = result.disk_full
        print(f"failed: {job.name}: {job.error['type']}: {message}", file=sys.stderr)
    return 0 if result.ok else 1


def cmd_status(args) -> int:
    from .run.status import read_status, status_table
    from .store import damaged_metadata

    output = Path(args.output)
    data, problem = read_status(output)
    if problem:
        raise UserError(f"{output / 'status.json'}: {problem}; `run` rebuilds it")
    if data is None:
        raise UserError(f"{args.output}: no status.json (not a sweep output folder, or never run)")
    print(status_table(data))
    for damage in damaged_metadata(output):
        print(f"damaged: {damage}")
    return 0


def cmd_verify(args) -> int:
    from .verification import verify

    result = verify(args.output)
    if result.live is not None:
        print(f"live: a run holds this output (pid {result.live.get('pid', '?')} on {result.live.get('host', '?')}); "
              f"checking its finished chunks only ({result.unfinished} not finished yet), no exports")
    for line in result.problems:
        print(line)
    print(f"verified {result.checked} chunks and {result.exports} exports: {len(result.problems)} with problems")
    return 0 if result.ok else 1


def cmd_export(args) -> int:
    from .exports import export_sweep

    results = export_sweep(args.output, args.jobs, args.force, args.compression)
    for r in results:
        if r["status"] == "failed":
            print(f"failed    {r['job']}: {r['error']}")
        elif r["status"] == "skipped":
            print(f"skipped   {r['job']}: up to date")
        else:
            print(f"exported  {r['job']}: {r['localizations']} localizations in {r['seconds']:.1f} s"
                  f"{' (BigTIFF)' if r['bigtiff'] else ''} -> {r['folder']}")
    return 1 if any(r["status"] == "failed" for r in results) else 0


def cmd_preview(args) -> int:
    from .preview import preview_output

    for path in preview_output(Path(args.output), args.jobs):
        print(f"wrote {path}")
    return 0


def _photon_bins(text: str | None):
    """``--photon-bins``: N (bins of equal counts) or comma-separated edges (``inf`` allowed)."""
    if text is None:
        return None
    try:
        values = [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        values = []
    if len(values) == 1 and math.isfinite(values[0]) and values[0] == int(values[0]) and values[0] >= 1:
        return int(values[0])
    if len(values) < 2 or any(math.isnan(v) for v in values):
        raise UserError(f"score: --photon-bins {text!r} is not N (>= 1) or comma-separated edges (e.g. 0,500,2000,inf)")
    return values


def cmd_score(args) -> int:
    from .scoring import score

    result = score(args.output, args.localizations, format=args.format, match=args.match,
                   tolerance_nm=args.tolerance_nm, tolerance_z_nm=args.tolerance_z_nm, border_nm=args.border_nm,
                   photon_quantile=args.photon_quantile, jobs=args.jobs, columns=args.columns, xy_unit=args.xy_unit,
                   z_unit=args.z_unit, frame_base=args.frame_base, origin=args.origin,
                   pixel_size_nm=args.pixel_size_nm, dims=args.dims if args.dims == "auto" else int(args.dims),
                   photon_bins=_photon_bins(args.photon_bins), plots=not args.no_plots)
    s = result.settings
    print(f"scored {len(result.jobs)} jobs ({s.match} matching, tolerance {s.tolerance_nm:g} nm"
          f"{f' / {s.tolerance_z_nm:g} nm axial' if any(j.metrics['dims'] == 3 for j in result.jobs.values()) else ''}, "
          f"border {s.border_nm:g} nm"
          f"{'' if s.photon_quantile is None else f', photon quantile {s.photon_quantile:g}'})")
    print(result.summary())
    for note in result.notes:
        print(f"note: {note}")
    print(f"wrote {result.folder}: " + ", ".join(p.name for p in result.files))
    return 0


def _pair(text: str, option: str) -> tuple[int, int]:
    """``N`` or ``NxM`` with positive integers."""
    parts = str(text).strip().lower().replace("×", "x").split("x")
    try:
        values = [int(v) for v in parts]
    except ValueError:
        values = []
    if len(values) == 1:
        values *= 2
    if len(values) != 2 or min(values) < 1:
        raise UserError(f"zmap synth: {option} {text!r} is not N or NxM with positive integers (e.g. 8 or 8x8)")
    return values[0], values[1]


def _modes(text: str) -> tuple[int, ...]:
    try:
        modes = tuple(int(v) for v in str(text).replace(" ", "").split(",") if v != "")
    except ValueError:
        modes = ()
    if not modes or min(modes) < 1 or len(set(modes)) != len(modes):
        raise UserError(f"zmap synth: --modes {text!r} must list unique Noll indices >= 1 (e.g. 5,6,7,8,11)")
    return modes


def cmd_zmap_synth(args) -> int:
    from .inputs import mode_name, synth_zmap

    grid, roi, modes = _pair(args.grid, "--grid"), _pair(args.roi, "--roi"), _modes(args.modes)
    try:
        rms = float(args.rms_nm)
    except ValueError:
        rms = math.nan
    if not (math.isfinite(rms) and rms >= 0):
        raise UserError(f"zmap synth: --rms-nm {args.rms_nm!r} must be a finite number >= 0")
    try:
        seed = int(args.seed)
    except ValueError:
        seed = -1
    if seed < 0:
        raise UserError(f"zmap synth: --seed {args.seed!r} must be an integer >= 0")
    out = synth_zmap(args.path, grid=grid, modes=modes, rms_nm=rms, roi_shape=roi, seed=seed)
    print(f"wrote {out}: {grid[0]}x{grid[1]} patches over a {roi[0]}x{roi[1]} px ROI, "
          f"modes {', '.join(mode_name(j) for j in modes)}, {rms:g} nm RMS each")
    return 0


def cmd_zmap_show(args) -> int:
    from .inputs import show_zmap

    show_zmap(args.path, out_dir=args.out)
    return 0


def _number(text: str, low: float = 0.0, strict: bool = True) -> float:
    """A finite number above ``low`` (argparse type: a bad value is one line, exit 2)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < low or (strict and value == low):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number {'>' if strict else '>='} {low:g}")
    return value


def _positive(text: str) -> float:
    return _number(text)


def _non_negative(text: str) -> float:
    return _number(text, strict=False)


def _finite(text: str) -> float:
    return _number(text, -math.inf)


def _odd_side(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 5 or value % 2 == 0 or value > 301:
        raise argparse.ArgumentTypeError(f"{text!r} is not an odd number of pixels from 5 to 301")
    return value


def _factor(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 8:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer from 1 to 8")
    return value


def _xy(text: str) -> tuple[float, float]:
    parts = str(text).replace(" ", "").split(",")
    try:
        x, y = (float(v) for v in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not X,Y (pixels, e.g. 20.4,31.7)") from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise argparse.ArgumentTypeError(f"{text!r} is not X,Y with finite numbers")
    return x, y


def cmd_psf_spline(args) -> int:
    from .inputs.spline_tools import fit_stack

    fit_stack(args.stack, args.out, args.dz_nm, args.pixel_size_nm, roi=args.roi, beads=args.bead,
              background=args.background, smooth_z=args.smooth_z, focus_plane=args.focus_plane,
              oversample=args.oversample, compact=args.compact, reverse=args.reverse)
    return 0


def cmd_psf_show(args) -> int:
    from .inputs.spline_tools import show_spline

    show_spline(args.path, out_dir=args.out)
    return 0


def cmd_psf_export(args) -> int:
    from .config import load_sweep
    from .inputs.spline_tools import export_model
    from .plan import plan_sweep
    from .plan.spline_check import emitter_z_range_nm
    from .scene import psf_model

    plan = plan_sweep(load_sweep(args.sweep)).select(args.job)
    if len(plan.jobs) > 1:
        names = ", ".join(j.name for j in plan.jobs[:4]) + (" ..." if len(plan.jobs) > 4 else "")
        raise UserError(f"psf export-spline: {plan.sweep.path.name} has {len(plan.jobs)} jobs ({names}); "
                        "choose one with --job")
    config = plan.jobs[0].config
    # the model's patch must cover the window (and the sub-pixel phases)
    optics = config.optics.model_copy(update={"psf_radius_px": args.size // 2 + 2})
    model = psf_model(config.model_copy(update={"optics": optics}))
    if args.z_range_nm:
        lo, hi = args.z_range_nm
    else:
        lo, hi = emitter_z_range_nm(config)
        if hi - lo < args.dz_nm:
            lo, hi = (lo + hi) / 2 - args.dz_nm, (lo + hi) / 2 + args.dz_nm
    if config.optics.psf == "zernike" and config.optics.zmap_path:
        print(f"note: {config.optics.zmap_path} (field-dependent aberrations) is left out: "
              "the spline holds the global optics.zernike aberrations only")
    description = f"psf export-spline of {plan.sweep.path.name} job {plan.jobs[0].name}: optics.psf = {config.optics.psf!r}"
    export_model(model, args.out, (lo, hi), args.dz_nm, args.size, args.oversample, description)
    return 0


# ---------------------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m pipeline",
                     description="Synthetic SMLM movies with exact ground truth over parameter sweeps: "
                                 "plan a sweep, run it on a dask cluster, inspect, verify and export the results.",
                     epilog=f"Reference: README.md, {DOCS}.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def sweep_verb(name: str, help: str, func):
        p = sub.add_parser(name, help=help)
        p.add_argument("sweep", help="sweep file (.toml, or the original tool's .json)")
        p.add_argument("--output", help="output folder (overrides sweep.output; relative to the current directory)")
        p.add_argument("--workers", type=int, help="worker processes of the local cluster")
        p.add_argument("--jobs", metavar="GLOB", help="only the jobs whose names match this shell pattern")
        p.set_defaults(func=func)
        return p

    def output_verb(name: str, help: str, func):
        p = sub.add_parser(name, help=help)
        p.add_argument("output", help="output folder of a sweep")
        p.set_defaults(func=func)
        return p

    p = sub.add_parser("render", help="re-render a ground truth (emitters.h5 or ThunderSTORM CSV) through other "
                                      "optics or another camera: a one-job sweep with emitters.source")
    p.add_argument("source", help="emitters.h5 (its job's parameters are the default) or a ThunderSTORM CSV")
    p.add_argument("--output", required=True, help="output folder of the re-rendered job")
    p.add_argument("--sweep", help="take the optics, camera, background and render settings from this sweep's [base]")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one setting, e.g. --set camera.type=emccd --set camera.em_gain=300 (repeatable)")
    p.add_argument("--workers", type=int, help="worker processes of the local cluster")
    p.add_argument("--no-resume", action="store_true", help="recompute every chunk")
    p.set_defaults(func=cmd_render)
    sweep_verb("plan", "validate a sweep, list its jobs, sizes and memory per chunk; writes nothing", cmd_plan)
    p = sweep_verb("run", "run a sweep (resumes finished chunks)", cmd_run)
    p.add_argument("--scheduler", metavar="ADDR", help="use this existing dask scheduler instead of a local cluster")
    p.add_argument("--no-resume", action="store_true", help="recompute every chunk, replacing cache entries")
    p.add_argument("--force", action="store_true", help="run even when the free disk space looks too small")

    output_verb("status", "print status.json of an output folder as a table", cmd_status)
    output_verb("verify", "re-read every stored chunk and check it against its cache entry", cmd_verify)
    p = output_verb("export", "(re)write OME-TIFF, ground truth and job.json of finished jobs", cmd_export)
    p.add_argument("--jobs", metavar="GLOB", help="only the jobs whose names match this shell pattern")
    p.add_argument("--force", action="store_true", help="rewrite the files even when an export is up to date")
    p.add_argument("--compression", choices=("none", "zlib"), default=None,
                   help="OME-TIFF compression, kept for later runs and exports of this output "
                        "(default: as set before; at first none: readable everywhere, e.g. Fiji)")
    p = output_verb("preview", "write PNG previews of every job and a sweep contact sheet", cmd_preview)
    p.add_argument("--jobs", metavar="GLOB", help="only the jobs whose names match this shell pattern")

    p = output_verb("score", "score a localizer's output against every job's ground truth (SMLM Challenge 2016 "
                             "metrics); writes OUTPUT/score/", cmd_score)
    p.add_argument("--localizations", required=True, metavar="PATTERN",
                   help="each job's localization file; {job} = job name, {job_dir} = its folder, {output} = OUTPUT "
                        "(relative to the current directory), e.g. 'fits/{job}.csv'")
    p.add_argument("--format", default="auto", choices=("auto", "thunderstorm", "picasso", "decode", "csv"),
                   help="file format (default auto: from the content)")
    p.add_argument("--match", default="greedy", choices=("greedy", "hungarian"),
                   help="greedy: the Challenge's (closest pair first); hungarian: optimal assignment")
    p.add_argument("--tolerance-nm", dest="tolerance_nm", type=float, default=250.0,
                   help="lateral match radius, nm (default 250)")
    p.add_argument("--tolerance-z-nm", dest="tolerance_z_nm", type=float, default=500.0,
                   help="axial match tolerance in 3-D, nm (default 500)")
    p.add_argument("--border-nm", dest="border_nm", type=float, default=450.0,
                   help="exclude ground truth and localizations this close to the ROI edge, nm (default 450)")
    p.add_argument("--photon-quantile", dest="photon_quantile", type=float, default=None, metavar="Q",
                   help="do not count ground truth at or below this photon quantile (0..1; the Challenge's rule)")
    p.add_argument("--jobs", metavar="GLOB", help="only the jobs whose names match this shell pattern")
    p.add_argument("--dims", default="auto", choices=("auto", "2", "3"),
                   help="auto: 3-D when the localizations carry z (not all zero)")
    p.add_argument("--columns", metavar="MAP", help="column mapping, e.g. x=x_nm,y=y_nm,z=z_nm,frame=frame,photons=phot")
    p.add_argument("--xy-unit", dest="xy_unit", choices=("nm", "px", "um"), help="unit of x and y (default: the format's)")
    p.add_argument("--z-unit", dest="z_unit", choices=("nm", "um"), help="unit of z (default: the format's)")
    p.add_argument("--frame-base", dest="frame_base", type=int, choices=(0, 1), help="number of the first frame")
    p.add_argument("--origin", choices=("corner", "center"),
                   help="coordinate 0 at the corner (ThunderSTORM, this project) or centre (Picasso, DECODE) of pixel 0")
    p.add_argument("--pixel-size-nm", dest="pixel_size_nm", type=float,
                   help="pixel size for pixel units (default: the file's, else the simulation's)")
    p.add_argument("--photon-bins", dest="photon_bins", metavar="N|EDGES",
                   help="also recall and RMSE per ground-truth photon bin (N equal-count bins, or edges "
                        "e.g. 0,500,2000,inf): score_by_photons.csv")
    p.add_argument("--no-plots", action="store_true", help="write score.csv/score.nc only")

    zmap = sub.add_parser("zmap", help="synthesize or show a field-dependent aberration map (HDF5)",
                          description="Field-dependent aberration maps (layout: docs/design.md §5).")
    verbs = zmap.add_subparsers(dest="zmap_command", metavar="{synth,show}", required=True, parser_class=_Parser)
    s = verbs.add_parser("synth", help="write a smooth synthetic zmap", description="Write a smooth synthetic zmap HDF5.")
    s.add_argument("path", metavar="PATH", help="output HDF5 file")
    s.add_argument("--grid", default="8x8", help="patch grid NYxNX or N (default 8x8)")
    s.add_argument("--modes", default="5,6,7,8,11", help="comma-separated Noll indices (default 5,6,7,8,11)")
    s.add_argument("--rms-nm", dest="rms_nm", default="40", help="RMS over the field of each mode, nm (default 40)")
    s.add_argument("--roi", default="1200", help="ROI in pixels, N or HxW (default 1200)")
    s.add_argument("--seed", default="0", help="random seed (default 0)")
    s.set_defaults(func=cmd_zmap_synth)
    s = verbs.add_parser("show", help="print a zmap summary and write one PNG per mode", description="Print and plot a zmap.")
    s.add_argument("path", metavar="PATH", help="zmap HDF5 file")
    s.add_argument("--out", default=None, metavar="DIR", help="folder for the PNGs (default: next to the file)")
    s.set_defaults(func=cmd_zmap_show)

    psf = sub.add_parser("psf", help="make, show or export a measured (cubic-spline) PSF",
                         description="Cubic-spline PSFs for optics.psf = \"spline\" (README: Using your own PSF).")
    verbs = psf.add_subparsers(dest="psf_command", metavar="{spline,show,export-spline}", required=True, parser_class=_Parser)
    s = verbs.add_parser("spline", help="fit a spline PSF to a bead z-stack TIFF",
                         description="Fit a cubic-spline PSF to a bead z-stack (planes in order of increasing z) and "
                                     "write this project's HDF5 calibration.")
    s.add_argument("stack", metavar="STACK.tif", help="bead z-stack TIFF (one or several beads)")
    s.add_argument("--dz-nm", dest="dz_nm", type=_positive, required=True, help="plane spacing, nm")
    s.add_argument("--pixel-size-nm", dest="pixel_size_nm", type=_positive, required=True,
                   help="camera pixel in the sample plane, nm (must equal optics.pixel_size_nm where it is used)")
    s.add_argument("--out", required=True, metavar="FILE.h5", help="calibration to write")
    s.add_argument("--roi", type=_odd_side, default=31, help="bead ROI side, odd, pixels (default 31)")
    s.add_argument("--bead", type=_xy, action="append", metavar="X,Y",
                   help="a bead's position in pixels (repeat for several); default: found and centred on its centroid")
    s.add_argument("--background", type=_finite, default=None,
                   help="background per pixel to subtract (default: estimated from pixels away from the beads)")
    s.add_argument("--smooth-z", dest="smooth_z", type=_non_negative, default=0.0,
                   help="Gaussian smoothing along z, sigma in planes (default 0: none)")
    s.add_argument("--focus-plane", dest="focus_plane", type=_non_negative, default=None,
                   help="plane index (in the file's order) at z = 0 (default: the middle plane)")
    s.add_argument("--reverse", action="store_true",
                   help="the planes go down in z (default: plane k + 1 is dz above plane k)")
    s.add_argument("--oversample", type=_factor, default=2, help="lateral spline voxels per pixel (default 2)")
    s.add_argument("--compact", action="store_true",
                   help="store the averaged bead only; readers rebuild the spline (a much smaller file)")
    s.set_defaults(func=cmd_psf_spline)
    s = verbs.add_parser("show", help="print a spline calibration and write a PNG of its sections",
                         description="Print a calibration (size, voxel, z range, centre) and write <stem>_psf.png.")
    s.add_argument("path", metavar="FILE", help="SMAP _3dcal.mat, uiPSF .h5 or this project's HDF5")
    s.add_argument("--out", default=None, metavar="DIR", help="folder for the PNG (default: next to the file)")
    s.set_defaults(func=cmd_psf_show)
    s = verbs.add_parser("export-spline", help="write the spline of a sweep's PSF model (HDF5 or SMAP _3dcal.mat)",
                         description="Write the PSF model of a sweep's job as a cubic spline: .h5 (this project's "
                                     "layout) or .mat (SMAP _3dcal.mat, read by SMAP and DECODE).")
    s.add_argument("sweep", help="sweep file whose [base] optics define the model")
    s.add_argument("--out", required=True, action="append", metavar="FILE",
                   help="output .h5 or .mat (repeat to write the same spline to several)")
    s.add_argument("--job", metavar="GLOB", help="the job whose model to export, when the sweep has several")
    s.add_argument("--z-range-nm", dest="z_range_nm", type=_finite, nargs=2, metavar=("LO", "HI"),
                   help="calibrated z range (default: the job's emitter z range)")
    s.add_argument("--dz-nm", dest="dz_nm", type=_positive, default=20.0, help="plane spacing, nm (default 20)")
    s.add_argument("--size", type=_odd_side, default=31, help="window side, odd, pixels (default 31)")
    s.add_argument("--oversample", type=_factor, default=1,
                   help="lateral voxels per pixel (default 1; a .mat needs 1)")
    s.set_defaults(func=cmd_psf_export)
    return parser


def _interrupted(exc: RunInterrupted) -> int:
    """One line on stderr (the progress bar ended its line already); exit 128 + the signal number."""
    print(exc, file=sys.stderr)
    return exc.exit_code


def _interrupt_behind(exc: BaseException) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt that ``exc`` was raised from, if any."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def console() -> int:
    """The ``smlm-sweep`` command: what ``python -m pipeline`` does."""
    from .signals import install

    install()
    return program()


def program(argv: list[str] | None = None) -> int:
    """:func:`main` as the whole life of a process (the command line's; not a test's or a notebook's).

    At exit the interpreter's last collection walks every object still alive (~0.9 s after a run
    in a py-spy profile: distributed's scheduler and dashboard are loaded) and finds nothing worth freeing, since the
    process ends; moved to the permanent generation, they are left to the exit.
    """
    code = main(argv)
    gc.freeze()
    return code


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except RunInterrupted as exc:
        return _interrupted(exc)
    except RunAborted as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:  # a signal outside run_sweep: while importing it, in another verb
        return _interrupted(RunInterrupted.of(exc))
    except RuntimeError as exc:  # Python 3.11 wraps a signal in __set_name__ (class creation, pydantic)
        signal = _interrupt_behind(exc)
        if signal is None:
            raise
        return _interrupted(RunInterrupted.of(signal))
    except BrokenPipeError:  # `plan ... | head`: the reader left; not an error of ours
        sys.stderr.close()
        return 0
    except OSError as exc:  # the environment (a full disk, a file that cannot be written): one line
        print(f"error: {exc}", file=sys.stderr)
        return 1
