"""A small Gaussian maximum-likelihood localizer, to show ``score`` at work (not a test).

    python benchmarks/fit_mle.py OUTPUT [--jobs GLOB] [--threshold 5] [--radius 3]
    python -m pipeline score OUTPUT --localizations 'OUTPUT/fits/{job}.csv'

For each exported job of a sweep output it reads ``simulation.ome.tiff`` as a user's localizer
would, converts ADU to photons with the job's camera (``(ADU − baseline) · e_per_adu / qe``),
detects spots (difference of Gaussians 1 px − 3 px, local maxima in 5×5 above ``threshold`` robust
standard deviations of the filtered frame), fits a pixel-integrated Gaussian of the job's PSF
width to each (2r+1)² box by Fisher scoring on the Poisson likelihood (x, y, N, b; σ fixed), and
writes ``OUTPUT/fits/<job>.csv`` in ThunderSTORM's layout (frames 1-based, nm with the origin at
the image corner, ``uncertainty [nm]`` = √CRLB at the fitted parameters from kernels.crlb).
A single-emitter fitter: at high density, overlapping spots are fitted as one or lost.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != HERE]  # benchmarks/kernels.py shadows kernels

import numpy as np  # noqa: E402
from scipy import ndimage  # noqa: E402
from scipy.special import erf  # noqa: E402

from kernels.crlb import gaussian_crlb  # noqa: E402


def model(theta: np.ndarray, size: int, sigma: float):
    """Expected (n, size, size) box and derivatives (n, 4, size, size); x, y in pixels from the box corner."""
    x, y, n, b = theta.T
    edges = np.arange(size + 1.0)
    s2 = np.sqrt(2.0) * sigma

    def axis(c):
        u = (edges[None, :] - c[:, None]) / s2
        g = np.exp(-u * u)
        return 0.5 * np.diff(erf(u), axis=1), -np.diff(g, axis=1) / (np.sqrt(2 * np.pi) * sigma)

    ex, dex = axis(x)
    ey, dey = axis(y)
    unit = ey[:, :, None] * ex[:, None, :]
    mu = n[:, None, None] * unit + b[:, None, None]
    jac = np.stack([n[:, None, None] * ey[:, :, None] * dex[:, None, :],
                    n[:, None, None] * dey[:, :, None] * ex[:, None, :], unit, np.ones_like(unit)], axis=1)
    return mu, jac


def fit_boxes(boxes: np.ndarray, sigma: float, iterations: int = 25):
    """MLE of (x, y, N, b) for each box by Fisher scoring; returns theta (n, 4) and a 'converged' mask."""
    size = boxes.shape[-1]
    b0 = np.percentile(boxes.reshape(len(boxes), -1), 20, axis=1).clip(0.5)
    w = (boxes - b0[:, None, None]).clip(0)
    grid = np.arange(size) + 0.5
    total = w.sum(axis=(1, 2)).clip(1.0)
    theta = np.stack([(w.sum(1) * grid).sum(1) / total, (w.sum(2) * grid).sum(1) / total, total, b0], axis=1)
    data = boxes.clip(0)
    step = np.zeros_like(theta)
    for _ in range(iterations):
        mu, jac = model(theta, size, sigma)
        grad = np.einsum("npij,nij->np", jac, data / mu - 1.0)
        fi = np.einsum("npij,nij,nqij->npq", jac, 1.0 / mu, jac) + 1e-9 * np.eye(4)
        step = np.linalg.solve(fi, grad[..., None])[..., 0]
        step[:, :2] = step[:, :2].clip(-0.5, 0.5)
        theta = theta + step
        theta[:, 2] = theta[:, 2].clip(1.0)
        theta[:, 3] = theta[:, 3].clip(1e-3)
    converged = np.all(np.abs(step[:, :2]) < 1e-3, axis=1)
    inside = np.all((theta[:, :2] > 0.5) & (theta[:, :2] < size - 0.5), axis=1)
    return theta, converged & inside


def detect(frame: np.ndarray, threshold: float, radius: int):
    """Local maxima (rows, cols) of a difference-of-Gaussians filtered frame."""
    dog = ndimage.gaussian_filter(frame, 1.0) - ndimage.gaussian_filter(frame, 3.0)
    noise = 1.4826 * np.median(np.abs(dog - np.median(dog)))
    peaks = (dog == ndimage.maximum_filter(dog, size=5)) & (dog > threshold * max(noise, 1e-9))
    rows, cols = np.nonzero(peaks)
    h, w = frame.shape
    keep = (rows >= radius) & (rows < h - radius) & (cols >= radius) & (cols < w - radius)
    return rows[keep], cols[keep]


def localize_job(folder: Path, threshold: float, radius: int) -> tuple[np.ndarray, dict]:
    import tifffile

    info = json.loads((folder / "job.json").read_text())
    p = info["parameters"]
    cam, optics = p["camera"], p["optics"]
    pixel = float(optics["pixel_size_nm"])
    sigma_nm = float(optics["gaussian_sigma_nm"]) or 0.21 * float(optics["wavelength_nm"]) / float(optics["na"])
    movie = tifffile.imread(folder / "simulation.ome.tiff").astype(np.float64)
    photons = (movie - float(cam["baseline_adu"])) * float(cam["e_per_adu"]) / float(cam["qe"])
    size = 2 * radius + 1
    boxes, where = [], []
    for t, frame in enumerate(photons):
        rows, cols = detect(frame, threshold, radius)
        for r, c in zip(rows.tolist(), cols.tolist()):
            boxes.append(frame[r - radius:r + radius + 1, c - radius:c + radius + 1])
            where.append((t, r - radius, c - radius))
    if not boxes:
        return np.zeros((0, 6)), {"pixel": pixel, "sigma_nm": sigma_nm, "spots": 0}
    boxes = np.asarray(boxes)
    where = np.asarray(where, dtype=np.float64)
    theta, ok = fit_boxes(boxes, sigma_nm / pixel)
    theta, where = theta[ok], where[ok]
    # frame coordinates (pixel (i, j) spans [j, j+1) x [i, i+1)) -> nm from the image corner
    x_nm = (where[:, 2] + theta[:, 0]) * pixel
    y_nm = (where[:, 1] + theta[:, 1]) * pixel
    bound = gaussian_crlb(theta[:, 0] * pixel, theta[:, 1] * pixel, theta[:, 2], theta[:, 3], sigma_nm,
                          shape=(size, size), pixel_size_nm=pixel)
    table = np.column_stack([where[:, 0] + 1, x_nm, y_nm, theta[:, 2], theta[:, 3], bound["x"]])
    return table, {"pixel": pixel, "sigma_nm": sigma_nm, "spots": int(len(boxes)), "fitted": int(ok.sum())}


def write_thunderstorm(path: Path, table: np.ndarray, sigma_nm: float) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as f:
        f.write('"id","frame","x [nm]","y [nm]","sigma [nm]","intensity [photon]","offset [photon]","uncertainty [nm]"\n')
        for i, (frame, x, y, n, b, u) in enumerate(table):
            f.write(f"{i + 1},{int(frame)},{x:.3f},{y:.3f},{sigma_nm:.3f},{n:.3f},{b:.3f},{u:.3f}\n")
    os.replace(tmp, path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("output", type=Path, help="a sweep output folder (with jobs/<job>/simulation.ome.tiff)")
    ap.add_argument("--jobs", default="*", help="shell pattern of job names")
    ap.add_argument("--threshold", type=float, default=5.0, help="detection threshold, robust std of the filtered frame")
    ap.add_argument("--radius", type=int, default=3, help="fit box half-width, pixels")
    args = ap.parse_args(argv)
    out = args.output / "fits"
    out.mkdir(exist_ok=True)
    for folder in sorted((args.output / "jobs").iterdir()):
        if not fnmatch.fnmatchcase(folder.name, args.jobs) or not (folder / "export.json").is_file():
            continue
        t0 = time.perf_counter()
        table, info = localize_job(folder, args.threshold, args.radius)
        write_thunderstorm(out / f"{folder.name}.csv", table, info["sigma_nm"])
        print(f"{folder.name}: {info.get('spots', 0)} spots, {len(table)} localizations "
              f"({time.perf_counter() - t0:.1f} s) -> {out / (folder.name + '.csv')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
