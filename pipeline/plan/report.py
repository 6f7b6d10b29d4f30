"""What the CLI prints about a plan (tables of jobs, sizes and totals)."""

from __future__ import annotations

from pathlib import Path

from ..table import format_table, human_bytes


def _value(v, drawn: bool = False) -> str:
    if isinstance(v, str) and "/" in v:
        return Path(v).name
    if drawn and isinstance(v, float):
        return f"{v:.6g}"  # a drawn float has 17 digits; the full value is in job.json
    return str(v)


def print_plan(plan, output: Path, workers: int, limit_bytes: int, warnings: list[str]) -> None:
    sweep = plan.sweep
    print(f"sweep {plan.name!r} from {sweep.path}: {len(plan.jobs)} jobs -> {output}")
    print(f"seed {sweep.model.sweep.seed}; {workers} workers, {human_bytes(limit_bytes)} memory limit each")
    design = sweep.model.random
    if design is not None:
        per_draw = len(plan.jobs) // design.n if plan.subset is None else None
        print(f"random design: {design.n} draws (method {design.method}) of {', '.join(plan.random_keys)}"
              + (f"; {per_draw} jobs per draw" if per_draw and per_draw > 1 else ""))
    for note in getattr(plan, "notes", ()):
        print(f"note: {note}")
    for warning in warnings:
        print(f"warning: {warning}")
    keys = list(plan.varied_keys)
    varied_frames = "emitters.frames" in keys  # (then its column already says it)
    headers = (["job"] + [k.rsplit(".", 1)[-1] for k in keys] + ([] if varied_frames else ["frames"])
               + ["Y x X", "chunks", "size", "scene mem", "chunk mem"])
    rows = []
    for job in plan.jobs:
        height, width = job.config.camera.roi_shape
        rows.append(
            [job.name] + [_value(job.varied[k], k in plan.random_keys) for k in keys] + ([] if varied_frames else [job.frames])
            + [f"{height}x{width}", len(job.chunks), human_bytes(job.nbytes), human_bytes(job.scene_bytes),
               human_bytes(job.chunk_working_set)]
        )
    print(format_table(headers, rows))
    total_frames = sum(j.frames for j in plan.jobs)
    total_chunks = sum(len(j.chunks) for j in plan.jobs)
    total_bytes = sum(j.nbytes for j in plan.jobs)
    print(f"total: {len(plan.jobs)} jobs, {total_frames} frames, {total_chunks} chunks, "
          f"{human_bytes(total_bytes)} uncompressed")
