"""A sweep's scores as a table (CSV), an xarray Dataset (netCDF), PNG plots and a printed summary.

``score.csv``: one row per job — ``job``, the varied parameters (last segment of each dotted path,
as ``open_sweep(stack=True)`` names its dimensions; ``sample`` with samples), then the metrics.
``score.nc``: the same as a Dataset whose dimensions are the varied parameters (NaN where the
sweep has no job, e.g. zipped parameters). ``<metric>_vs_<parameter>.png``: each main metric
against each varied parameter, one line per combination of the other parameters, the mean over
samples with its standard error as error bars.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

#: the metrics plotted and printed; the axial ones only when a job was scored in 3-D
MAIN_METRICS = ("jaccard", "recall", "precision", "rmse_lat", "efficiency_lat")
AXIAL_METRICS = ("rmse_ax", "efficiency_ax", "efficiency_3d")
LABELS = {
    "jaccard": "Jaccard index (%)", "recall": "recall", "precision": "precision",
    "rmse_lat": "lateral RMSE (nm)", "rmse_ax": "axial RMSE (nm)",
    "efficiency_lat": "efficiency, lateral (%)", "efficiency_ax": "efficiency, axial (%)",
    "efficiency_3d": "efficiency, 3-D (%)",
}
METRIC_UNITS = {
    "jaccard": "%", "recall": "1", "precision": "1", "f1": "1", "efficiency_lat": "%", "efficiency_ax": "%",
    "efficiency_3d": "%", "photon_bias": "photon", "photon_ratio": "1", "photon_threshold": "photon",
    "tp": "count", "fp": "count", "fn": "count", "n_truth": "count", "n_localizations": "count", "dims": "1",
}


def dimension_names(varied_paths: Sequence[str]) -> dict[str, str]:
    """Dotted path -> column name: its last segment, the whole path (dots as ``_``) if two collide."""
    last = [p.rsplit(".", 1)[-1] for p in varied_paths]
    return {p: (name if last.count(name) == 1 else p.replace(".", "_")) for p, name in zip(varied_paths, last)}


def table(rows: list[dict], dims: Sequence[str]):
    """pandas DataFrame: job, dims, metrics (the column order of score.csv)."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    metrics = [c for c in frame.columns if c not in ("job", *dims)]
    return frame[["job", *dims, *metrics]]


def dataset(frame, dims: Sequence[str], drawn: bool = False):
    """xarray Dataset with the varied parameters as dimensions (``job`` as a variable on them).

    ``drawn``: a random design, no grid (its values would span a mostly empty n^k grid): a ``job``
    dimension with the parameters as coordinates on it.
    """
    import xarray as xr

    metrics = [c for c in frame.columns if c not in ("job", *dims)]
    if not dims:
        ds = xr.Dataset({c: ("job", frame[c].to_numpy()) for c in metrics}, coords={"job": frame["job"].to_numpy()})
    else:
        indexed = frame.set_index(list(dims))
        if drawn or indexed.index.has_duplicates:  # the varied values do not identify the jobs: keep a job dim
            ds = xr.Dataset({c: ("job", frame[c].to_numpy()) for c in metrics},
                            coords={"job": frame["job"].to_numpy(), **{d: ("job", frame[d].to_numpy()) for d in dims}})
        else:
            ds = indexed.to_xarray()
    for c in metrics:
        ds[c].attrs["units"] = METRIC_UNITS.get(c, "nm" if c.startswith(("rmse", "bias")) else "1")
    return ds


def write_csv(frame, path: Path) -> Path:
    from .. import atomic

    atomic.write_bytes(path, frame.to_csv(index=False, float_format="%.6g", lineterminator="\n").encode())
    return path


def write_netcdf(ds, path: Path) -> tuple[Path | None, str]:
    """score.nc with whatever netCDF engine xarray has (scipy writes netCDF 3); (None, why) if none."""
    from .. import atomic

    clean = ds.copy()
    for name in list(clean.variables):
        v = clean[name]
        if v.dtype.kind == "i":
            clean[name] = v.astype(np.int32) if np.all(np.abs(v.values) < 2 ** 31) else v.astype(np.float64)
        elif v.dtype.kind == "b":
            clean[name] = v.astype(np.int8)
        elif v.dtype.kind == "O":
            clean[name] = v.astype(str)
    clean.attrs = {k: (str(v) if not isinstance(v, (int, float, str)) else v) for k, v in ds.attrs.items()}
    for engine in ("netcdf4", "h5netcdf", "scipy"):
        try:
            with atomic.Staged(path) as tmp:
                clean.to_netcdf(tmp, engine=engine)
            return path, engine
        except (ImportError, ValueError, TypeError) as exc:
            last = f"{engine}: {exc}"
            continue
    return None, f"no netCDF engine could write it ({last})"


def _numeric(values) -> bool:
    return all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in values)


def _sort_key(v):
    return (0, float(v), "") if _numeric([v]) else (1, 0.0, str(v))


def series(frame, dims: Sequence[str], dim: str, metric: str) -> list[tuple[str | None, list, np.ndarray, np.ndarray]]:
    """The lines of ``<metric>_vs_<dim>``: one per combination of the other dimensions (but
    ``sample``), each ``(label, x values, mean over samples, standard error or NaN)``, x sorted."""
    others = [d for d in dims if d not in (dim, "sample")]
    xs = sorted(frame[dim].dropna().unique().tolist(), key=_sort_key)
    groups = [((), frame)] if not others else list(frame.groupby(others, dropna=False, sort=True))
    lines = []
    for key, sub in groups:
        key = key if isinstance(key, tuple) else (key,)
        stats = sub.groupby(dim)[metric].agg(["mean", "std", "count"])
        stats = stats.reindex([x for x in xs if x in stats.index])  # labels (a list of bools is no mask here)
        sem = (stats["std"] / np.sqrt(stats["count"])).where(stats["count"] > 1)
        label = ", ".join(f"{o} = {v:g}" if _numeric([v]) else f"{o} = {v}" for o, v in zip(others, key)) or None
        lines.append((label, stats.index.tolist(), stats["mean"].to_numpy(dtype=float), sem.to_numpy(dtype=float)))
    return lines


def plot_metrics(frame, dims: Sequence[str], folder: Path, metrics: Sequence[str], drawn: bool = False) -> list[Path]:
    """``<metric>_vs_<dim>.png`` for each metric and each varied dimension but ``sample``.

    ``drawn``: a random design: every job is one point (a scatter), not a line per combination of
    the other parameters (each combination is a single job there).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .. import atomic

    written = []
    for dim in [d for d in dims if d != "sample"]:
        xs = sorted(frame[dim].dropna().unique().tolist(), key=_sort_key)
        numeric = _numeric(xs)
        for metric in metrics:
            if metric not in frame.columns or not np.isfinite(frame[metric].to_numpy(dtype=float)).any():
                continue
            fig = Figure(figsize=(5.2, 3.6), dpi=110)
            FigureCanvasAgg(fig)
            ax = fig.add_subplot(1, 1, 1)
            lines = [] if drawn else series(frame, dims, dim, metric)
            if drawn:
                y = frame[metric].to_numpy(dtype=float)
                pos = frame[dim].to_numpy(dtype=float) if numeric else [xs.index(v) for v in frame[dim]]
                ax.plot(pos, y, "o", ms=3, alpha=0.6)
            for label, x, mean, sem in lines:
                pos = np.asarray(x, dtype=float) if numeric else [xs.index(v) for v in x]
                ax.errorbar(pos, mean, yerr=sem, marker="o", ms=4, capsize=3, label=label)
            if not numeric:
                ax.set_xticks(range(len(xs)), [str(x) for x in xs])
            ax.set_xlabel(dim)
            ax.set_ylabel(LABELS.get(metric, metric))
            if metric in ("recall", "precision"):
                ax.set_ylim(-0.02, 1.02)
            elif metric == "jaccard":
                ax.set_ylim(-2, 102)
            ax.grid(alpha=0.3)
            if len(lines) > 1:
                ax.legend(fontsize=7, frameon=False)
            ax.set_title(f"{LABELS.get(metric, metric)} vs {dim}", fontsize=9)
            fig.tight_layout()
            path = folder / f"{metric}_vs_{dim}.png"
            with atomic.Staged(path, durable=False) as tmp:
                fig.savefig(tmp, format="png")
            written.append(path)
    return written


def _cell(v) -> str:
    if isinstance(v, (float, np.floating)):
        return "-" if not math.isfinite(v) else f"{v:.4g}" if abs(v) < 1e4 else f"{v:.0f}"
    return str(v)


def summary(frame, dims: Sequence[str], metrics: Sequence[str]) -> str:
    """The printed table: job, varied values, counts and the main metrics."""
    from ..table import format_table

    cols = ["job", *dims, "tp", "fp", "fn", *[m for m in metrics if m in frame.columns]]
    rows = [[_cell(v) for v in row] for row in frame[cols].itertuples(index=False)]
    return format_table(cols, rows)
