"""Peak memory of the export step does not grow with the movie length (design §8: O(one chunk)).

Runs one 256×256 job (gaussian PSF, sparse emitters, chunk_frames 50) at 1 000 and at 20 000
frames through ``python -m pipeline run`` into a temporary folder, then exports each job
(OME-TIFF, emitters.h5, localizations.csv, job.json) in a fresh subprocess and reads that
process's peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``). Median of 3 per length;
prints both, the ratio (target: within 15 %) and, for reference, the RSS of a process that only
imports the export module.

    python benchmarks/export_memory.py [--keep DIR] [--repeats 3] [--frames 1000 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SWEEP = """
[sweep]
name = "export_memory"
seed = 1

[cluster]
threads_per_worker = 1

[base.emitters]
frames = 1000
num_emitters = 500
area_px = 240.0
intensity_mu = 3000.0
intensity_sigma = 500.0
lifetime_avg = 2.5

[base.optics]
psf = "gaussian"
psf_radius_px = 5

[base.camera]
roi_size = 256
type = "scmos"
background = 20.0

[base.render]
chunk_frames = 50

[[zip]]
"emitters.frames" = {frames}
"emitters.num_emitters" = {emitters}
"""

#: the measured child: export one job (force) and report its own peak RSS
CHILD = """
import json, resource, sys, time
from pathlib import Path
out, name = Path(sys.argv[1]), sys.argv[2]
import pipeline.exports as E
job = E.job_from_group(out, name)
if sys.argv[3] == "export":
    t = time.perf_counter()
    E.export_job(out, job, force=True)
    seconds = time.perf_counter() - t
else:
    seconds = 0.0
print(json.dumps({"maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "seconds": seconds}))
"""


def measure(out: Path, name: str, what: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(out), name, what], cwd=REPO, capture_output=True,
                          text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, nargs=2, default=[1000, 20000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=max(1, min(4, os.cpu_count() or 1)))
    parser.add_argument("--keep", type=Path, help="use (and keep) this folder instead of a temporary one")
    args = parser.parse_args()

    folder = args.keep or Path(tempfile.mkdtemp(prefix="export_memory_"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        # the same emitter density per frame at both lengths
        emitters = [f * 500 // 1000 for f in args.frames]
        sweep = folder / "sweep.toml"
        sweep.write_text(textwrap.dedent(SWEEP.format(frames=list(args.frames), emitters=emitters)))
        out = folder / "out"
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "pipeline", "run", str(sweep), "--output", str(out),
                               "--workers", str(args.workers)], cwd=REPO, capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stdout, proc.stderr, file=sys.stderr)
            return 1
        print(f"run: {len(args.frames)} jobs of 256x256 in {time.perf_counter() - t:.0f} s -> {out}")
        names = sorted(p.name for p in (out / "sweep.zarr").iterdir() if p.is_dir())
        base = measure(out, names[0], "import")["maxrss_kib"] / 1024
        print(f"baseline (imports + job_from_group, no export): peak RSS {base:.1f} MiB")
        peaks = {}
        for frames, name in zip(args.frames, names):
            runs = [measure(out, name, "export") for _ in range(args.repeats)]
            rss = [r["maxrss_kib"] / 1024 for r in runs]
            secs = [r["seconds"] for r in runs]
            peaks[frames] = statistics.median(rss)
            tiff = out / "jobs" / name / "simulation.ome.tiff"
            print(f"{frames:>6} frames: export peak RSS median {peaks[frames]:.1f} MiB "
                  f"(runs {', '.join(f'{r:.1f}' for r in rss)}), {statistics.median(secs):.1f} s, "
                  f"OME-TIFF {tiff.stat().st_size / 2**20:.0f} MiB")
        short, long = args.frames
        ratio = peaks[long] / peaks[short]
        verdict = "OK" if ratio <= 1.15 else "FAIL"
        print(f"ratio {long}/{short} frames: {ratio:.3f} (target <= 1.15: {verdict}); "
              f"above baseline: {peaks[short] - base:.1f} MiB vs {peaks[long] - base:.1f} MiB")
        return 0  # a measurement: the verdict is printed, not an exit status
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
