"""Command line: ``python -m pipeline {run,plan,status,export,verify,zmap,preview}`` (design §8)."""

from __future__ import annotations

import argparse
import sys

from .errors import UserError


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake as one line and exit code 2."""

    def error(self, message: str):
        raise UserError(f"{self.prog}: {message} (see --help)")


def cmd_plan(args) -> int:
    from .cluster import cluster_spec
    from .config import load_sweep
    from .plan import check_memory, plan_sweep
    from .report import print_plan

    sweep = load_sweep(args.sweep)
    plan = plan_sweep(sweep).select(args.jobs)
    output = sweep.output_dir(args.output)
    spec = cluster_spec(sweep, args.workers, None, output)
    warnings = plan.warnings + check_memory(plan, spec.memory_limit, spec.threads_per_worker)
    print_plan(plan, output, spec.workers, spec.memory_limit, warnings)
    return 0


def cmd_run(args) -> int:
    from .run import run_command

    return run_command(args)


def cmd_status(args) -> int:
    from pathlib import Path

    from .status import load_status, status_table

    data = load_status(Path(args.output))
    if data is None:
        raise UserError(f"{args.output}: no readable status.json (not a sweep output folder, or never run)")
    print(status_table(data))
    return 0


def cmd_verify(args) -> int:
    from .verify import verify_command

    return verify_command(args)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m pipeline",
                     description="Synthetic SMLM movies with exact ground truth over parameter sweeps: "
                                 "plan a sweep, run it on a dask cluster, inspect, verify and export the results.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def sweep_command(name: str, help: str):
        p = sub.add_parser(name, help=help)
        p.add_argument("sweep", help="sweep file (.toml, or the original tool's .json)")
        p.add_argument("--output", help="output folder (overrides sweep.output; relative to the current directory)")
        p.add_argument("--workers", type=int, help="worker processes of the local cluster")
        p.add_argument("--jobs", metavar="GLOB", help="only the jobs whose names match this shell pattern")
        return p

    p = sweep_command("plan", "validate a sweep, list its jobs, sizes and memory per chunk; writes nothing")
    p.set_defaults(func=cmd_plan)

    p = sweep_command("run", "run a sweep (resumes finished chunks)")
    p.add_argument("--scheduler", metavar="ADDR", help="use this existing dask scheduler instead of a local cluster")
    p.add_argument("--no-resume", action="store_true", help="recompute every chunk, replacing cache entries")
    p.add_argument("--force", action="store_true", help="run even when the free disk space looks too small")
    p.set_defaults(func=cmd_run)

    for name, help, func in (
        ("status", "print status.json of an output folder as a table", cmd_status),
        ("verify", "re-read every stored chunk and check it against its cache entry", cmd_verify),
    ):
        p = sub.add_parser(name, help=help)
        p.add_argument("output", help="output folder of a sweep")
        p.set_defaults(func=func)

    from . import export, preview, zmap

    export.register_cli(sub)
    preview.register_cli(sub)
    zmap.register_cli(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `plan ... | head`: the reader left; not an error of ours
        sys.stderr.close()
        return 0
