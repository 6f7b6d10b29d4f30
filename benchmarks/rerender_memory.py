"""Peak worker memory while re-rendering ground-truth files of 10^5 and 10^6 rows (not a test).

Acceptance check of ``emitters.source`` (issue: samples): the file is read by frame range, never
whole, so the peak RSS of the worker processes must not grow with the file. For every length the
script writes a ground truth in this project's ``emitters.h5`` layout (table ``localizations``, 10
rows per frame at random positions of a 64 x 64 frame, ids cycling over 10^4 emitters: the job's
``emitters`` table, one row per id, is the one part whose size is the emitters') and, with ``--csv``, the same rows as a
ThunderSTORM CSV; re-renders it (Gaussian PSF, chunk_frames 500, 2 workers) through
``python -m pipeline run`` and samples every process as ``benchmarks/memory.py`` does (VmHWM).

Run:  python benchmarks/rerender_memory.py [--rows 100000 1000000] [--csv] [--repeats 1]
Prints one line per run and the worker-RSS ratio to the shortest file (pass: within 15 %).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import h5py
import numpy as np

from memory import MiB, TOLERANCE, run_measured  # noqa: E402  (benchmarks/ is sys.path[0] here)
import _common  # noqa: E402,F401  (takes benchmarks/ off sys.path: benchmarks/kernels.py shadows kernels)

ROWS_PER_FRAME = 10
#: emitters of every file (ids cycle): the job's `emitters` table is O(emitters) by nature, the rest must
#: not grow with the file
EMITTERS = 10_000
SWEEP = """\
[sweep]
name = "rerender_{rows}"
seed = 1

[cluster]
workers = 2
dashboard_address = ":0"

[base.emitters]
source = "{source}"
frames = {frames}

[base.optics]
psf = "gaussian"
psf_radius_px = 5

[base.camera]
roi_size = 64

[base.render]
chunk_frames = 500
"""


def ground_truth(rows: int, folder: Path, csv: bool) -> Path:
    """A sorted ground truth of ``rows`` localizations, written in blocks (never whole in memory)."""
    from kernels.render import TRUTH_DTYPE
    from pipeline.exports.thunderstorm import CSV_HEADER, csv_lines

    rng = np.random.default_rng(rows)
    path = folder / (f"truth_{rows}.csv" if csv else f"truth_{rows}.h5")
    block = 100_000
    with h5py.File(folder / f"truth_{rows}.h5", "w") as f, open(folder / f"truth_{rows}.csv", "wb") as text:
        table = f.create_dataset("localizations", shape=(rows,), dtype=TRUTH_DTYPE)
        text.write(CSV_HEADER.encode() + b"\n")
        for lo in range(0, rows, block):
            n = min(block, rows - lo)
            part = np.zeros(n, dtype=TRUTH_DTYPE)
            part["frame"] = (lo + np.arange(n)) // ROWS_PER_FRAME
            part["id"] = (lo + np.arange(n)) % EMITTERS
            part["x_nm"], part["y_nm"] = rng.uniform(300, 6100, (2, n))
            part["photons"] = 2000.0
            part["on_fraction"] = 1.0
            table[lo:lo + n] = part
            if csv:
                text.write(csv_lines(part))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--csv", action="store_true", help="re-render the ThunderSTORM CSV instead of the HDF5")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--interval", type=float, default=0.05)
    args = parser.parse_args()
    peaks = {}
    with tempfile.TemporaryDirectory(prefix="rerender_memory_") as tmp:
        root = Path(tmp)
        for rows in args.rows:
            source = ground_truth(rows, root, args.csv)
            frames = -(-rows // ROWS_PER_FRAME)
            text = SWEEP.format(rows=rows, source=source, frames=frames)
            runs = [run_measured(text, frames, root, args.interval) for _ in range(args.repeats)]
            peaks[rows] = statistics.median(r.worker_peak for r in runs)
            wall = statistics.median(r.wall_s for r in runs)
            client = statistics.median(r.client.peak for r in runs)
            print(f"rows {rows:>9} ({source.suffix[1:]}, {source.stat().st_size / MiB:7.1f} MiB), frames {frames:>7}: "
                  f"peak worker RSS {peaks[rows] / MiB:6.1f} MiB, client {client / MiB:6.1f} MiB, wall {wall:6.1f} s",
                  flush=True)
    first = peaks[args.rows[0]]
    ratios = {rows: peak / first for rows, peak in peaks.items()}
    ok = all(abs(r - 1) <= TOLERANCE for r in ratios.values())
    print("worker RSS / shortest: " + ", ".join(f"{rows}: {r:.3f}" for rows, r in ratios.items())
          + f" -> {'PASS' if ok else 'FAIL'} (flat within {TOLERANCE:.0%})")


if __name__ == "__main__":
    main()
