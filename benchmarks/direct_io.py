"""The peer job with and without direct I/O for the chunk and OME-TIFF writes (not a test).

Runs ``python -m pipeline run`` on the peer job (1200x1200 px, 500 frames; ``--frames`` to
shorten) with ``SMLM_SWEEP_DIRECT_IO=1`` (the default: large writes bypass the page cache) and
``=0`` (every write through it), interleaved, and prints wall, user and system CPU seconds of
the whole command (children included) and the ratio. First it measures this machine's file
writes the same two ways: a 1 GiB file in 28 MiB writes (one chunk of the peer job) through the
page cache and with O_DIRECT, each followed by fsync — on a virtual machine whose freed memory
goes back to the host, the page cache's new pages are the slow part.

Run:  python benchmarks/direct_io.py [--frames 500] [--reps 3] [--workers 2] [--tmpdir DIR]
"""

from __future__ import annotations

import argparse
import mmap
import os
import resource
import time

import _common as C  # (also takes benchmarks/ off sys.path)

CHUNK = 28 << 20


def write_rate(folder, direct: bool, total: int = 1 << 30) -> float:
    """MB/s of writing a new ``total``-byte file in CHUNK writes, then fsync."""
    path = folder / f"rate-{int(direct)}.bin"
    buffer = mmap.mmap(-1, CHUNK)  # page-aligned, as O_DIRECT needs
    buffer.write(os.urandom(1 << 20) * (CHUNK >> 20))
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | (os.O_DIRECT if direct else 0)
    fd = os.open(path, flags, 0o644)
    try:
        start = time.perf_counter()
        for i in range(total // CHUNK):
            os.pwrite(fd, buffer, i * CHUNK)
        os.fsync(fd)
        seconds = time.perf_counter() - start
    finally:
        os.close(fd)
        path.unlink()
    return total // CHUNK * CHUNK / seconds / 1e6


def children_cpu() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime, usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=500)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tmpdir", default=None)
    args = ap.parse_args()
    C.header(f"peer job ({args.frames} frames, {args.workers} workers): large writes with O_DIRECT vs through "
             "the page cache (SMLM_SWEEP_DIRECT_IO=1 / 0)", args.reps)
    with C.workdir("direct-io-", args.tmpdir) as work:
        C.check_disk(work, 2.2 * C.peer_bytes(args.frames) + (1 << 30), "the peer job's outputs")
        for direct in (False, True, False, True):
            print(f"  1 GiB in 28 MiB writes + fsync, {'O_DIRECT' if direct else 'page cache'}: "
                  f"{write_rate(work, direct):.0f} MB/s", flush=True)
        sweep = C.write_sweep(work, "peer", C.peer_job(args.frames))
        runs = {"1": [], "0": []}
        for rep in range(args.reps):
            for setting in ("1", "0"):
                os.environ["SMLM_SWEEP_DIRECT_IO"] = setting
                user0, sys0 = children_cpu()
                run = C.run_pipeline(sweep, work / "out", workers=args.workers)
                user1, sys1 = children_cpu()
                runs[setting].append((run.wall_s, user1 - user0, sys1 - sys0))
                print(f"  rep {rep + 1} direct I/O {'on ' if setting == '1' else 'off'}: wall {run.wall_s:5.1f} s, "
                      f"user {user1 - user0:5.1f} s, system {sys1 - sys0:5.1f} s", flush=True)
                C.clear(work / "out")
    rows = [[f"direct I/O {'on (default)' if s == '1' else 'off'}", str(len(v)),
             *(f"{C.median([r[i] for r in v]):.1f}" for i in range(3))] for s, v in runs.items()]
    print()
    print(C.table(["run", "reps", "wall s", "user s", "system s"], rows))
    on, off = (C.median([r[0] for r in runs[s]]) for s in ("1", "0"))
    print(f"wall: off / on = {off / on:.2f}x")


if __name__ == "__main__":
    main()
