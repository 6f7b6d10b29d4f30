"""PNG previews of a sweep output (``python -m pipeline preview OUTPUT``).

Per job ``jobs/<job>/preview.png``: the frame with the most localizations with the ground-truth
positions circled, next to the maximum projection over the movie. Per sweep
``<output>/contact_sheet.png``: one tile (maximum projection) per job, labelled with its varied
values. Frames are streamed chunk by chunk (memory O(one chunk)); matplotlib is used through the
Agg canvas only (no pyplot state), so it is safe in workers and threads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import atomic
from .exports import job_dir
from .plan import chunk_bounds
from .store import FRAMES, CacheDir, DamagedTruth, check_group, group_names, store_path

PREVIEW = "preview.png"
CONTACT_SHEET = "contact_sheet.png"
#: longest side of a contact-sheet tile, pixels (projections are block-max reduced to this)
TILE_PX = 256


@dataclass
class JobPreview:
    name: str
    varied: dict
    sample_id: int | None
    pixel_nm: float
    frame_index: int | None          # frame with most localizations (None: no localization at all)
    frame: np.ndarray | None
    truth: np.ndarray | None         # rows of that frame
    max_projection: np.ndarray
    complete: bool


def _reduce(image: np.ndarray, longest: int = TILE_PX) -> np.ndarray:
    """Block maximum so that the longest side is at most ``longest`` (keeps single bright pixels)."""
    factor = max(1, math.ceil(max(image.shape) / longest))
    if factor == 1:
        return image
    h, w = (math.ceil(s / factor) * factor for s in image.shape)
    padded = np.pad(image, ((0, h - image.shape[0]), (0, w - image.shape[1])), mode="edge")
    return padded.reshape(h // factor, factor, w // factor, factor).max(axis=(1, 3))


def collect(output: Path, name: str) -> JobPreview:
    """Stream one job's frames once: max projection, and the frame with most ground-truth rows."""
    import zarr

    check_group(output, name)  # a damaged zarr.json is one line naming it
    group = zarr.open_group(store_path(output) / name, mode="r")
    attrs = dict(group.attrs)
    array = group[FRAMES]
    fingerprint = attrs["fingerprint"]
    pixel_nm = float(attrs["parameters"]["optics"]["pixel_size_nm"])
    frames = array.shape[0]
    step = int(attrs.get("shard_frames") or attrs.get("chunk_frames") or array.chunks[0])  # (entries per shard)
    cache = CacheDir(output)

    # pass 1 (cheap, truth files only): the frame with most localizations
    best, best_count, best_rows, complete = None, 0, None, True
    for t0, t1 in chunk_bounds(frames, step):
        entry = cache.read_entry(fingerprint, t0, t1)
        try:
            rows = cache.read_truth(entry) if entry is not None else None
        except DamagedTruth:  # (read through its checksum: never circles at other positions)
            rows = None
        if rows is None:
            complete = False
            continue
        if len(rows):
            counts = np.bincount(rows["frame"] - t0, minlength=t1 - t0)
            k = int(counts.argmax())
            if counts[k] > best_count:
                best, best_count, best_rows = t0 + k, int(counts[k]), rows

    # pass 2: max projection, chunk by chunk, keeping the chosen frame
    projection = None
    frame = None
    for t0, t1 in chunk_bounds(frames, step):
        block = array[t0:t1]
        top = block.max(axis=0)
        projection = top if projection is None else np.maximum(projection, top)
        if best is not None and t0 <= best < t0 + len(block):
            frame = np.array(block[best - t0])
    if projection is None:
        projection = np.zeros(array.shape[1:], dtype=array.dtype)
    truth = None
    if best is not None:
        truth = best_rows[best_rows["frame"] == best]
    elif frames:
        frame = np.array(array[0])
    return JobPreview(name=name, varied=attrs.get("varied") or {}, sample_id=attrs.get("sample_id"),
                      pixel_nm=pixel_nm, frame_index=best if best is not None else (0 if frames else None),
                      frame=frame, truth=truth, max_projection=projection, complete=complete)


def _limits(image: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(image, [0.5, 99.9]) if image.size else (0.0, 1.0)
    if hi <= lo:
        hi = lo + 1
    return float(lo), float(hi)


def _short(value) -> str:
    # a drawn float (a [random] design) has 17 digits; values written in the sweep file are short
    return f"{value:.4g}" if isinstance(value, float) and len(str(value)) > 8 else str(value)


def _label(varied: dict, sample_id: int | None) -> str:
    parts = [f"{key.rsplit('.', 1)[-1]}={_short(value)}" for key, value in varied.items()]
    if sample_id is not None:
        parts.append(f"sample={sample_id}")
    return "\n".join(parts) or "base"


def write_job_preview(path: Path, p: JobPreview) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    height, width = p.max_projection.shape
    extent = (0, width * p.pixel_nm / 1000, height * p.pixel_nm / 1000, 0)  # µm, pixel edges
    fig = Figure(figsize=(11, 5.2), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    if p.frame is not None:
        image = left.imshow(p.frame, cmap="gray", extent=extent, vmin=_limits(p.frame)[0], vmax=_limits(p.frame)[1],
                            interpolation="nearest")
        fig.colorbar(image, ax=left, label="ADU", shrink=0.8)
    if p.truth is not None and len(p.truth):
        radius = max(0.15, 2.5 * p.pixel_nm / 1000)  # µm
        from matplotlib.collections import EllipseCollection

        offsets = np.column_stack([p.truth["x_nm"] / 1000, p.truth["y_nm"] / 1000])
        left.add_collection(EllipseCollection(
            widths=2 * radius, heights=2 * radius, angles=0, units="xy", offsets=offsets,
            offset_transform=left.transData, facecolors="none", edgecolors="tab:red", linewidths=1.0))
    n = 0 if p.truth is None else len(p.truth)
    left.set_title(f"frame {p.frame_index} (0-based): {n} emitters on (circles)")
    vmin, vmax = _limits(p.max_projection)
    image = right.imshow(p.max_projection, cmap="magma", extent=extent, vmin=vmin, vmax=vmax, interpolation="nearest")
    fig.colorbar(image, ax=right, label="ADU", shrink=0.8)
    right.set_title("maximum projection over all frames")
    for ax in (left, right):
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[2], extent[3])
        ax.set_xlabel("x [µm]")
        ax.set_ylabel("y [µm]")
    varied = ", ".join(_label(p.varied, p.sample_id).split("\n"))
    fig.suptitle(f"{p.name}  ({varied}){'' if p.complete else '  [incomplete]'}", fontsize=10)
    _save(fig, path)


def write_contact_sheet(path: Path, tiles: list[tuple[str, dict, int | None, np.ndarray, bool]], title: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = max(1, len(tiles))
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(2.6 * cols, 2.9 * rows + 0.4), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax in axes:
        ax.set_axis_off()
    for ax, (name, varied, sample_id, image, complete) in zip(axes, tiles):
        vmin, vmax = _limits(image)
        ax.imshow(image, cmap="magma", vmin=vmin, vmax=vmax, interpolation="nearest")
        ax.set_title(_label(varied, sample_id) + ("" if complete else "\n[incomplete]"), fontsize=8)
    fig.suptitle(f"{title}: maximum projections", fontsize=10)
    _save(fig, path)


def _save(fig, path: Path) -> None:
    with atomic.Staged(Path(path), durable=False) as tmp:
        fig.savefig(tmp, format="png")


def _sweep_name(output: Path) -> str:
    import tomllib

    try:
        return str(tomllib.loads((output / "sweep.toml").read_text())["sweep"]["name"])
    except (OSError, KeyError, ValueError, TypeError):
        return output.resolve().name


def preview_output(output: Path, pattern: str | None = None) -> list[Path]:
    """Write every job's ``preview.png`` and the sweep's ``contact_sheet.png``; returns their paths."""
    output = Path(output)
    names = group_names(output, pattern)
    written, tiles = [], []
    for name in names:
        p = collect(output, name)
        folder = job_dir(output, name)
        folder.mkdir(parents=True, exist_ok=True)
        write_job_preview(folder / PREVIEW, p)
        written.append(folder / PREVIEW)
        tiles.append((name, p.varied, p.sample_id, _reduce(p.max_projection.astype(np.float32)), p.complete))
    write_contact_sheet(output / CONTACT_SHEET, tiles, _sweep_name(output))
    written.append(output / CONTACT_SHEET)
    return written
