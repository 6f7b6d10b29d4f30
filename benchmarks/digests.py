"""Digests of every output of every ``configs/*.toml`` job: proof that a change kept the bytes.

Runs each shipped sweep through the CLI (as a user would) into a temporary folder and prints one
line per job: sha256 of the stored frames, of the OME-TIFF's pixels, of both HDF5 tables and of
the ThunderSTORM CSV, plus the job's fingerprint. Run it before and after a change and compare
(``diff``). Reads the results with zarr, tifffile and h5py only, so it does not depend on the
package's internals.

    python benchmarks/digests.py [--configs configs/sweep.toml ...] [--out digests.txt]
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np
from numpy.lib.recfunctions import repack_fields
import tifffile
import zarr

REPO = Path(__file__).resolve().parents[1]
#: emitters columns added after the first digests (issue: structures): -1 for every job without a structure
ADDED_COLUMNS = ("structure_id", "site_id")


def _sha(data) -> str:
    return hashlib.sha256(np.ascontiguousarray(data).tobytes() if isinstance(data, np.ndarray) else data).hexdigest()[:16]


def job_digests(output: Path) -> list[str]:
    root = zarr.open_group(output / "sweep.zarr", mode="r", use_consolidated=False)
    lines = []
    for name, group in sorted(root.groups()):
        folder = output / "jobs" / name
        with tifffile.TiffFile(folder / "simulation.ome.tiff") as tif:
            pixels = tif.asarray()
        with h5py.File(folder / "emitters.h5", "r") as f:
            emitters, locs = f["emitters"][()], f["localizations"][()]
        # (the columns every emitters table has had: those added later are compared on their own)
        emitters = repack_fields(emitters[[n for n in emitters.dtype.names if n not in ADDED_COLUMNS]])
        csv = (folder / "localizations.csv").read_bytes()
        lines.append(f"{name} fp={group.attrs['fingerprint']} frames={_sha(group['frames'][:])} "
                     f"tiff={_sha(pixels)} emitters={_sha(emitters)} localizations={_sha(locs)} csv={_sha(csv)}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="*", default=sorted(str(p) for p in (REPO / "configs").glob("*.toml")))
    parser.add_argument("--out", help="also write the lines to this file")
    args = parser.parse_args()
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        for config in args.configs:
            output = Path(tmp) / Path(config).stem
            done = subprocess.run([sys.executable, "-m", "pipeline", "run", config, "--output", str(output)],
                                  cwd=REPO, capture_output=True, text=True)
            if done.returncode != 0:
                print(done.stdout, done.stderr, file=sys.stderr)
                return done.returncode
            block = [f"# {Path(config).name}", *job_digests(output)]
            print("\n".join(block), flush=True)
            lines.extend(block)
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
