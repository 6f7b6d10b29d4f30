"""The SMLM Challenge 2016 metrics of one job (Sage et al. 2019, Nat Methods 16:387).

Order of the rules (the Challenge's ``assessment_frame.m`` and ``loc_metrics.m``):

1. **Border exclusion** — ground truth and localizations are kept when
   ``border < x < W·p − border`` and ``border < y < H·p − border`` (strictly; W, H the ROI in
   pixels, p the pixel size, x and y from the ROI's corner); the rest are not scored at all.
2. **Matching** of what is left, frame by frame (:mod:`.match`), every ground truth included.
3. **Photon threshold** (``photon_quantile`` q): ``T = floor(quantile(photons, q))`` over the ground
   truth left after step 1 (MATLAB's ``quantile``: ``numpy`` method ``"hazen"``). Ground truth with
   ``photons <= T`` is neither a TP nor an FN, and a localization matched to it is not an FP.
4. **Counts**: TP = matched pairs with counted ground truth, FN = counted ground truth − TP,
   FP = localizations − TP − localizations matched to uncounted ground truth.

Metrics: recall = TP/(TP+FN), precision = TP/(TP+FP) (fractions), Jaccard = 100·TP/(TP+FP+FN) (%),
F1; over the TP pairs, errors d = localization − truth: ``rmse_lat = sqrt(mean(dx² + dy²))``
(radial, the Challenge's; the per-axis ``rmse_x``/``rmse_y`` are ``rmse_lat/√2`` for isotropic
errors), ``rmse_ax = sqrt(mean(dz²))``, ``rmse_3d``, ``bias_x/y/z = mean(d)``; efficiency
``E = 100 − sqrt((100 − JAC)² + α²·RMSE²)``, α = 1 nm⁻¹ lateral, 0.5 nm⁻¹ axial,
``efficiency_3d = (E_lat + E_ax)/2``; ``photon_bias = mean(N_loc − N_truth)`` (the Challenge's
"md Intensity") and ``photon_ratio = median(N_loc/N_truth)``; with √CRLB columns in the ground
truth, pulls ``d/√CRLB`` per axis (mean and standard deviation: 0 and 1 for an efficient unbiased
localizer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .match import METHODS, match
from .readers import Localizations
from .truth import Truth

ALPHA_LAT = 1.0  # nm^-1
ALPHA_AX = 0.5  # nm^-1


@dataclass(frozen=True)
class Settings:
    """How a job is scored (the Challenge's defaults)."""

    match: str = "greedy"
    tolerance_nm: float = 250.0
    tolerance_z_nm: float = 500.0
    border_nm: float = 450.0
    photon_quantile: float | None = None
    dims: str | int = "auto"  # "auto": 3-D when the localizations carry z (not all zero), else 2-D

    def __post_init__(self):
        from ..errors import UserError

        if self.match not in METHODS:
            raise UserError(f"score: --match {self.match!r} is not one of {', '.join(METHODS)}")
        for name in ("tolerance_nm", "tolerance_z_nm"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise UserError(f"score: {name.replace('_', '-')} {value!r} must be a finite number > 0")
        if not (math.isfinite(self.border_nm) and self.border_nm >= 0):
            raise UserError(f"score: border {self.border_nm!r} nm must be a finite number >= 0")
        q = self.photon_quantile
        if q is not None and not (0 <= q < 1):
            raise UserError(f"score: photon quantile {q!r} must be in [0, 1)")
        if self.dims not in ("auto", 2, 3):
            raise UserError(f"score: dims {self.dims!r} is not auto, 2 or 3")


@dataclass
class JobScore:
    """Metrics of one job and its matched pairs (indices into the border-filtered tables)."""

    metrics: dict[str, float]
    truth: Truth
    localizations: Localizations
    truth_index: np.ndarray
    loc_index: np.ndarray
    counted: np.ndarray  # per pair: its ground truth is above the photon threshold
    counted_truth: np.ndarray  # per ground-truth row: above the photon threshold (scored)
    notes: list[str] = field(default_factory=list)


def inside_border(x, y, fov_nm: tuple[float, float], border_nm: float) -> np.ndarray:
    """``border < x < W − border`` and ``border < y < H − border`` (strict, as the Challenge)."""
    w, h = fov_nm
    return (x > border_nm) & (y > border_nm) & (x < w - border_nm) & (y < h - border_nm)


def photon_threshold(photons: np.ndarray, quantile: float | None) -> float | None:
    """``floor(quantile(photons, q))`` with MATLAB's quantile definition, or None."""
    if quantile is None or photons.size == 0:
        return None
    return float(math.floor(np.quantile(photons, quantile, method="hazen")))


def efficiency(jaccard_pct: float, rmse_nm: float, alpha: float) -> float:
    """Sage et al. 2019: ``100 − sqrt((100 − JAC)² + α² RMSE²)`` (percent; may be negative)."""
    if not (math.isfinite(jaccard_pct) and math.isfinite(rmse_nm)):
        return math.nan
    return 100.0 - math.sqrt((100.0 - jaccard_pct) ** 2 + (alpha * rmse_nm) ** 2)


def _rms(a: np.ndarray) -> float:
    return float(np.sqrt(np.mean(a * a))) if a.size else math.nan


def _mean(a: np.ndarray) -> float:
    return float(np.mean(a)) if a.size else math.nan


def _std(a: np.ndarray) -> float:
    return float(np.std(a, ddof=1)) if a.size > 1 else math.nan


def score_job(truth: Truth, locs: Localizations, settings: Settings = Settings()) -> JobScore:
    """Score one job's localizations against its ground truth (rules in the module docstring)."""
    notes = list(locs.notes)
    three_d = settings.dims == 3 or (settings.dims == "auto" and locs.has_z)
    if three_d and locs.z_nm is None:
        from ..errors import UserError

        raise UserError(f"{locs.source}: 3-D scoring asked for but the localizations have no z")

    t = truth.select(inside_border(truth.x_nm, truth.y_nm, truth.fov_nm, settings.border_nm))
    lz = locs.select(inside_border(locs.x_nm, locs.y_nm, truth.fov_nm, settings.border_nm))
    if three_d:
        lz.z_nm = np.where(np.isfinite(lz.z_nm), lz.z_nm, np.inf)  # a NaN z never matches in 3-D
    ti, li = match(t.frame, t.x_nm, t.y_nm, lz.frame, lz.x_nm, lz.y_nm, settings.tolerance_nm, settings.match,
                   t.z_nm if three_d else None, lz.z_nm if three_d else None, settings.tolerance_z_nm)

    threshold = photon_threshold(t.photons, settings.photon_quantile)
    if threshold is None:
        counted_truth = np.ones(len(t), bool)
    else:
        counted_truth = t.photons > threshold
    counted = counted_truth[ti]
    tp = int(counted.sum())
    n_truth = int(counted_truth.sum())
    fn = n_truth - tp
    fp = len(lz) - tp - int((~counted).sum())
    ti_c, li_c = ti[counted], li[counted]

    dx = lz.x_nm[li_c] - t.x_nm[ti_c]
    dy = lz.y_nm[li_c] - t.y_nm[ti_c]
    dz = (lz.z_nm[li_c] - t.z_nm[ti_c]) if three_d else np.zeros(0)
    recall = tp / (tp + fn) if tp + fn else math.nan
    precision = tp / (tp + fp) if tp + fp else math.nan
    jaccard = 100.0 * tp / (tp + fp + fn) if tp + fp + fn else math.nan
    f1 = 2 * precision * recall / (precision + recall) if tp else (0.0 if tp + fp + fn else math.nan)
    rmse_lat = _rms(np.hypot(dx, dy)) if tp else math.nan
    rmse_ax = _rms(dz) if three_d and tp else math.nan
    e_lat = efficiency(jaccard, rmse_lat, ALPHA_LAT) if tp else math.nan
    e_ax = efficiency(jaccard, rmse_ax, ALPHA_AX) if three_d and tp else math.nan
    m = {
        "dims": 3 if three_d else 2,
        "n_truth": n_truth,
        "n_localizations": len(lz),
        "photon_threshold": math.nan if threshold is None else threshold,
        "tp": tp, "fp": fp, "fn": fn,
        "recall": recall, "precision": precision, "jaccard": jaccard, "f1": f1,
        "rmse_lat": rmse_lat, "rmse_ax": rmse_ax,
        "rmse_3d": _rms(np.sqrt(dx * dx + dy * dy + dz * dz)) if three_d and tp else math.nan,
        "rmse_x": _rms(dx), "rmse_y": _rms(dy), "rmse_z": _rms(dz) if three_d else math.nan,
        "bias_x": _mean(dx), "bias_y": _mean(dy), "bias_z": _mean(dz) if three_d else math.nan,
        "efficiency_lat": e_lat, "efficiency_ax": e_ax,
        "efficiency_3d": 0.5 * (e_lat + e_ax) if three_d and tp else math.nan,
    }
    if lz.photons is not None and tp:
        n_loc, n_true = lz.photons[li_c], t.photons[ti_c]
        m["photon_bias"] = _mean(n_loc - n_true)
        ratio = n_loc[n_true > 0] / n_true[n_true > 0]
        m["photon_ratio"] = float(np.median(ratio)) if ratio.size else math.nan
    else:
        m["photon_bias"] = m["photon_ratio"] = math.nan
    for axis, d in (("x", dx), ("y", dy), ("z", dz)):
        if axis in t.crlb and (axis != "z" or three_d):
            s = t.crlb[axis][ti_c]
            ok = np.isfinite(s) & (s > 0)
            pull = d[ok] / s[ok]
            m[f"pull_{axis}_mean"] = _mean(pull)
            m[f"pull_{axis}_std"] = _std(pull)
    return JobScore(metrics=m, truth=t, localizations=lz, truth_index=ti, loc_index=li, counted=counted,
                    counted_truth=counted_truth, notes=notes)


def photon_bin_edges(photons: np.ndarray, bins) -> np.ndarray:
    """Bin edges: ``bins`` edges as given, or an int n: n bins of equal counts (quantiles)."""
    if isinstance(bins, (int, np.integer)):
        if bins < 1:
            from ..errors import UserError

            raise UserError(f"score: photon bins {bins!r} must be >= 1")
        if photons.size == 0:
            return np.array([0.0, np.inf])
        edges = np.quantile(photons, np.linspace(0, 1, int(bins) + 1))
        edges[0], edges[-1] = -np.inf, np.inf
        return np.unique(edges)
    edges = np.asarray(sorted(float(b) for b in bins), dtype=np.float64)
    if edges.size < 2:
        from ..errors import UserError

        raise UserError(f"score: photon bin edges {list(bins)!r} need at least two values")
    return edges


def by_photons(js: JobScore, edges: np.ndarray) -> list[dict]:
    """Recall and errors per bin of the ground truth's photons (``lo <= photons < hi``).

    False positives belong to no ground-truth bin, so only truth-side metrics are given: counted
    ground truth, TP, FN, recall, rmse_lat, rmse_ax (matched pairs of that bin).
    """
    t, lz = js.truth, js.localizations
    ti, li = js.truth_index[js.counted], js.loc_index[js.counted]
    counted = js.counted_truth
    three_d = js.metrics["dims"] == 3
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        in_bin = counted & (t.photons >= lo) & (t.photons < hi)
        pair = (t.photons[ti] >= lo) & (t.photons[ti] < hi)
        a, b = ti[pair], li[pair]
        dx, dy = lz.x_nm[b] - t.x_nm[a], lz.y_nm[b] - t.y_nm[a]
        n, tp = int(in_bin.sum()), int(pair.sum())
        rows.append({"photons_min": float(lo), "photons_max": float(hi), "n_truth": n, "tp": tp, "fn": n - tp,
                     "recall": tp / n if n else math.nan, "rmse_lat": _rms(np.hypot(dx, dy)) if tp else math.nan,
                     "rmse_ax": _rms(lz.z_nm[b] - t.z_nm[a]) if three_d and tp else math.nan})
    return rows
