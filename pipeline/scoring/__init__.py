"""Score a localizer's output against a sweep's ground truth with the SMLM Challenge 2016 metrics.

``pipeline.score(output, localizations, ...)`` -> ScoreResult; writes OUTPUT/score/ (README "Scoring a localizer").
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from .match import METHODS, match
from .metrics import JobScore, Settings, efficiency, inside_border, photon_threshold, score_job
from .readers import FORMATS, Localizations, ReaderOptions, parse_columns, read_localizations
from .truth import CRLB_COLUMNS, Truth, list_jobs, localization_path, read_truth

__all__ = ["score", "ScoreResult", "Settings", "ReaderOptions", "Localizations", "Truth", "JobScore",
           "score_job", "read_localizations", "read_truth", "match", "efficiency", "inside_border",
           "photon_threshold", "parse_columns", "FORMATS", "METHODS", "CRLB_COLUMNS"]

SCORE_DIR = "score"


@dataclass
class ScoreResult:
    """What :func:`score` computed and wrote.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per job: ``job``, the varied parameters, the metrics (= score.csv).
    dataset : xarray.Dataset
        The metrics with the varied parameters as dimensions (= score.nc).
    jobs : dict of JobScore
        Per job: metrics, the border-filtered truth and localizations and the matched pairs.
    folder : Path or None
        ``OUTPUT/score`` (None with ``write=False``); ``files`` lists what was written.
    notes : list of str
        Conventions applied and warnings (e.g. a pixel size that differs from the simulation's).
    by_photons : pandas.DataFrame or None
        With ``photon_bins``: one row per job and photon bin (= score_by_photons.csv).
    """

    table: object
    dataset: object
    jobs: dict[str, JobScore]
    settings: Settings
    dims: list[str]
    folder: Path | None = None
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    by_photons: object = None

    def summary(self) -> str:
        from .report import AXIAL_METRICS, MAIN_METRICS, summary

        three_d = any(j.metrics["dims"] == 3 for j in self.jobs.values())
        return summary(self.table, self.dims, MAIN_METRICS + (AXIAL_METRICS if three_d else ()))


def score(output, localizations: str, format: str = "auto", match: str = "greedy", tolerance_nm: float = 250.0,
          tolerance_z_nm: float = 500.0, border_nm: float = 450.0, photon_quantile: float | None = None,
          jobs: str | None = None, columns: dict | str | None = None, xy_unit: str | None = None,
          z_unit: str | None = None, frame_base: int | None = None, origin: str | None = None,
          pixel_size_nm: float | None = None, dims: str | int = "auto", photon_bins=None, write: bool = True,
          plots: bool = True) -> ScoreResult:
    """Score every job of a sweep output against its ground truth.

    Parameters
    ----------
    output : path
        The sweep's output folder (with ``jobs/<job>/emitters.h5``).
    localizations : str
        Pattern of each job's localization file: ``{job}`` is replaced by the job name,
        ``{job_dir}`` by the job's folder, ``{output}`` by ``output``; relative to the current
        directory (e.g. ``"fits/{job}.csv"``, ``"runs/x/jobs/{job}/fit.hdf5"``).
    format : "auto" | "thunderstorm" | "picasso" | "decode" | "csv"
        The file format (auto: from the content). Conventions: :mod:`pipeline.scoring.readers`.
    match : "greedy" | "hungarian"
    tolerance_nm, tolerance_z_nm : float
        Lateral radius and axial half-width of a match (nm; axial only in 3-D).
    border_nm : float
        Ground truth and localizations closer than this to the ROI's edge are not scored.
    photon_quantile : float in [0, 1), optional
        Ground truth at or below this photon quantile is not counted (the Challenge's rule).
    jobs : str, optional
        Shell pattern of the job names to score.
    columns, xy_unit, z_unit, frame_base, origin, pixel_size_nm
        Override the format's conventions (:class:`ReaderOptions`); ``columns`` as a mapping role
        -> column or the CLI's ``"x=x_nm,y=y_nm,frame=frame"``.
    dims : "auto" | 2 | 3
        auto: 3-D when the localizations carry z (not all zero), else 2-D.
    photon_bins : int or sequence of float, optional
        Also recall and RMSE per bin of the ground truth's photons (an int n: n bins of equal
        counts in each job; else the bin edges): ``ScoreResult.by_photons``, ``score_by_photons.csv``.
    write, plots : bool
        Write ``OUTPUT/score/`` (score.csv, score.nc, score.json) and the PNG plots.

    Raises
    ------
    pipeline.UserError
        A missing or malformed file, a bad option (nothing is written).
    """
    from .report import (AXIAL_METRICS, MAIN_METRICS, dataset, dimension_names, plot_metrics, table, write_csv,
                         write_netcdf)

    output = Path(output)
    settings = Settings(match=match, tolerance_nm=float(tolerance_nm), tolerance_z_nm=float(tolerance_z_nm),
                        border_nm=float(border_nm), photon_quantile=None if photon_quantile is None else float(photon_quantile),
                        dims=dims)
    if isinstance(columns, str):
        columns = parse_columns(columns)
    options = ReaderOptions(columns=columns, xy_unit=xy_unit, z_unit=z_unit, frame_base=frame_base, origin=origin,
                            pixel_size_nm=pixel_size_nm)
    selected = list_jobs(output, jobs)
    if len(selected) > 1 and not any(t in str(localizations) for t in ("{job}", "{job_dir}")):
        raise UserError(f"score: --localizations {localizations!r} names one file for {len(selected)} jobs; "
                        f"put {{job}} (or {{job_dir}}) in it, e.g. 'fits/{{job}}.csv'")
    paths = {job.name: localization_path(localizations, output, job) for job in selected}
    missing = [f"{name}: {p}" for name, p in paths.items() if not p.is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise UserError(f"score: no localization file for job {missing[0]}{more}; check --localizations "
                        f"{localizations!r} (relative paths are relative to {Path.cwd()}) or select jobs with --jobs")

    results: dict[str, JobScore] = {}
    varied_paths: list[str] = []
    raw_rows = []
    notes: list[str] = []
    for job in selected:
        truth = read_truth(job.truth)
        locs = read_localizations(paths[job.name], format, options, default_pixel_size_nm=truth.pixel_size_nm)
        js = score_job(truth, locs, settings)
        results[job.name] = js
        notes += [n for n in js.notes if n not in notes]
        labels = dict(truth.varied)
        if truth.sample_id is not None:
            labels["sample"] = truth.sample_id
        for p in labels:
            if p not in varied_paths:
                varied_paths.append(p)
        raw_rows.append((job.name, labels, js.metrics, locs.format))
    names = dimension_names([p for p in varied_paths if p != "sample"])
    if "sample" in varied_paths:
        names["sample"] = "sample"
    dims = list(names.values())
    rows = [{"job": name, **{names[p]: labels.get(p) for p in names}, **metrics} for name, labels, metrics, _ in raw_rows]
    frame = table(rows, dims)
    binned = None
    if photon_bins is not None:
        import pandas as pd

        from .metrics import by_photons, photon_bin_edges

        bin_rows = []
        for name, labels, _, _ in raw_rows:
            js = results[name]
            edges = photon_bin_edges(js.truth.photons[js.counted_truth], photon_bins)
            for row in by_photons(js, edges):
                bin_rows.append({"job": name, **{names[p]: labels.get(p) for p in names}, **row})
        binned = pd.DataFrame(bin_rows)
    drawn = any(js.truth.draw for js in results.values())  # a random design: a table, not a grid
    ds = dataset(frame, dims, drawn)
    ds.attrs.update({"title": "localization scores (SMLM Challenge 2016 metrics)", "output": str(output),
                     "localizations": str(localizations), "match": settings.match,
                     "tolerance_nm": settings.tolerance_nm, "tolerance_z_nm": settings.tolerance_z_nm,
                     "border_nm": settings.border_nm,
                     "photon_quantile": -1.0 if settings.photon_quantile is None else settings.photon_quantile})
    result = ScoreResult(table=frame, dataset=ds, jobs=results, settings=settings, dims=dims, notes=notes,
                         by_photons=binned)
    if not write:
        return result

    folder = output / SCORE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for old in [*folder.glob("*_vs_*.png"), *(folder / n for n in ("score.csv", "score.nc", "score.json",
                                                                   "score_by_photons.csv"))]:
        old.unlink(missing_ok=True)  # what an earlier score wrote: never mixed with this one's files
    result.folder = folder
    result.files.append(write_csv(frame, folder / "score.csv"))
    if binned is not None:
        result.files.append(write_csv(binned, folder / "score_by_photons.csv"))
    nc, how = write_netcdf(ds, folder / "score.nc")
    if nc is not None:
        result.files.append(nc)
    else:
        result.notes.append(f"score.nc not written: {how}")
    if plots and not [d for d in dims if d != "sample"]:
        result.notes.append("the sweep varies no parameter: no plots")
    elif plots:
        three_d = any(j.metrics["dims"] == 3 for j in results.values())
        result.files += plot_metrics(frame, dims, folder, MAIN_METRICS + (AXIAL_METRICS if three_d else ()), drawn)
    from .. import atomic

    info = {"written": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "output": str(output), "localizations": str(localizations),
            "files": {name: str(paths[name]) for name in results}, "formats": {n: f for n, _, _, f in raw_rows},
            "settings": settings.__dict__, "reader_options": {k: v for k, v in options.__dict__.items() if v is not None},
            "dims": dims, "varied_paths": {names[p]: p for p in names if p != "sample"}, "notes": result.notes}
    atomic.write_bytes(folder / "score.json", (json.dumps(info, indent=1, default=str) + "\n").encode())
    result.files.append(folder / "score.json")
    return result
