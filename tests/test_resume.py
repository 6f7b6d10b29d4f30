"""Per-chunk cache entries: determinism, resume after SIGKILL, extension, verify, locks (issue: cache)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import TINY_SWEEP, computed_chunks, run_module, status_of, stored_movie
from pipeline.config import load_sweep
from pipeline.plan import plan_sweep
from pipeline.store import CacheDir

pytestmark = pytest.mark.slow

ZERNIKE = TINY_SWEEP.replace('psf = "gaussian"', 'psf = "zernike"\nzernike = { 6 = 40.0 }')


def _run(path, output, *extra, **kwargs):
    proc = run_module("run", path, "--output", output, *extra, cwd=Path(path).parent, **kwargs)
    return proc


def _movies(path, output):
    return {job.name: stored_movie(output, job.name) for job in plan_sweep(load_sweep(path)).jobs}


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for name in a:
        assert a[name][0].tobytes() == b[name][0].tobytes(), name
        assert a[name][1].tobytes() == b[name][1].tobytes(), name


def test_bitwise_identical_across_chunking_and_workers(tmp_path, write_sweep):
    results = {}
    for chunk_frames, workers in [(3, 1), (10, 2), (4, 2)]:
        path = write_sweep(ZERNIKE.replace("chunk_frames = 4", f"chunk_frames = {chunk_frames}"),
                           name=f"s{chunk_frames}.toml")
        output = tmp_path / f"out_{chunk_frames}_{workers}"
        proc = _run(path, output, "--workers", workers)
        assert proc.returncode == 0, proc.stderr
        results[(chunk_frames, workers)] = _movies(path, output)
    reference = results.pop((4, 2))
    for key, movies in results.items():
        _assert_same(movies, reference)


SLOW_SWEEP = ZERNIKE.replace("frames = 12", "frames = 60").replace("chunk_frames = 4", "chunk_frames = 1")


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clean")
    path = folder / "sweep.toml"
    path.write_text(SLOW_SWEEP)
    proc = _run(path, folder / "out", "--workers", 2)
    assert proc.returncode == 0, proc.stderr
    return path, _movies(path, folder / "out")


def _entries(output: Path) -> int:
    folder = output / "cache" / "chunks"
    return len(list(folder.glob("*.json"))) if folder.is_dir() else 0


def _kill_after(path, output, entries: int) -> int:
    """Start a run, SIGKILL it once at least ``entries`` cache entries exist; return the count then."""
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "run", str(path), "--output", str(output),
                             "--workers", "2"], cwd=path.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 180
    while _entries(output) < entries and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    # kill the whole process group: the run and its cluster, as a crash of the machine would
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return _entries(output)


def test_resume_after_sigkill_at_several_moments(tmp_path, clean_run):
    path, reference = clean_run
    total = 120
    for moment in (1, 40, 90):
        output = tmp_path / f"killed_{moment}"
        done = _kill_after(path, output, moment)
        assert done >= min(moment, total)
        proc = _run(path, output, "--workers", 2)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "taking over the lock of a run that is gone" in proc.stdout
        assert computed_chunks(output) <= total - done
        _assert_same(_movies(path, output), reference)


def test_finished_sweep_computes_nothing(tmp_path, write_sweep):
    path = write_sweep()
    assert _run(path, tmp_path / "out").returncode == 0
    start = time.monotonic()
    proc = _run(path, tmp_path / "out")
    seconds = time.monotonic() - start
    assert proc.returncode == 0
    assert computed_chunks(tmp_path / "out") == 0
    assert "nothing to compute, 6 chunks reused" in proc.stdout and "progress:" not in proc.stdout
    assert "dashboard" not in proc.stdout  # no cluster is started for nothing
    print(f"re-running a finished sweep took {seconds:.2f} s")


def test_extension_computes_only_the_new_job(tmp_path, write_sweep):
    path = write_sweep(TINY_SWEEP.replace("[20, 40]", "[500, 1000]").replace("area_px = 28.0", "area_px = 20.0"))
    output = tmp_path / "out"
    assert _run(path, output).returncode == 0
    before = _movies(path, output)
    path = write_sweep(TINY_SWEEP.replace("[20, 40]", "[250, 500, 1000]").replace("area_px = 28.0", "area_px = 20.0"))
    proc = _run(path, output)
    assert proc.returncode == 0, proc.stderr
    jobs = {j["name"]: j for j in status_of(output)["jobs"]}
    assert jobs["job_0000_num_emitters_250"]["chunks_computed"] == 3
    assert jobs["job_0001_num_emitters_500"]["chunks_computed"] == 0
    assert jobs["job_0002_num_emitters_1000"]["chunks_computed"] == 0
    after = _movies(path, output)
    assert after["job_0001_num_emitters_500"][0].tobytes() == before["job_0000_num_emitters_500"][0].tobytes()
    assert after["job_0002_num_emitters_1000"][0].tobytes() == before["job_0001_num_emitters_1000"][0].tobytes()
    # a job that left the sweep stays in place and is listed as stale
    path = write_sweep(TINY_SWEEP.replace("[20, 40]", "[250, 500]").replace("area_px = 28.0", "area_px = 20.0"))
    assert _run(path, output).returncode == 0
    assert status_of(output)["stale"] == ["job_0002_num_emitters_1000"]
    code = run_module("status", output)
    assert "stale: job_0002_num_emitters_1000" in code.stdout


def test_garbage_entry_is_recomputed_and_verify_detects_altered_bytes(tmp_path, write_sweep):
    path = write_sweep()
    output = tmp_path / "out"
    assert _run(path, output).returncode == 0
    reference = _movies(path, output)
    entries = sorted((output / "cache" / "chunks").glob("*.json"))
    entries[0].write_text('{"key": "trunc')  # a truncated entry counts as missing
    entries[1].write_text("garbage")
    proc = _run(path, output)
    assert proc.returncode == 0 and computed_chunks(output) == 2
    _assert_same(_movies(path, output), reference)

    assert run_module("verify", output).returncode == 0
    job = plan_sweep(load_sweep(path)).jobs[1]
    chunk = output / "sweep.zarr" / job.name / "frames" / "c" / "1" / "0" / "0"
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0xFF
    chunk.write_bytes(bytes(data))
    proc = run_module("verify", output)
    assert proc.returncode == 1
    assert f"{job.name} frames [4, 8)" in proc.stdout and "1 with problems" in proc.stdout
    proc = _run(path, output)
    assert proc.returncode == 0 and computed_chunks(output) == 1
    assert run_module("verify", output).returncode == 0
    _assert_same(_movies(path, output), reference)


def test_truncated_chunk_file_is_reported(tmp_path, write_sweep):
    path = write_sweep()
    output = tmp_path / "out"
    assert _run(path, output).returncode == 0
    job = plan_sweep(load_sweep(path)).jobs[0]
    chunk = output / "sweep.zarr" / job.name / "frames" / "c" / "2" / "0" / "0"
    chunk.write_bytes(chunk.read_bytes()[:20])
    # and one whose entry was written before chunk sizes were recorded: it fails to decode
    entry = CacheDir(output).entry_path(job.fingerprint, 4, 8)
    entry.write_text(json.dumps({k: v for k, v in json.loads(entry.read_text()).items() if k != "stored_bytes"}))
    older = output / "sweep.zarr" / job.name / "frames" / "c" / "1" / "0" / "0"
    older.write_bytes(older.read_bytes()[:20])
    proc = run_module("verify", output)
    assert proc.returncode == 1 and f"{job.name} frames [8, 12): chunk file has 20 bytes" in proc.stdout
    assert f"{job.name} frames [4, 8): unreadable" in proc.stdout


def test_concurrent_run_refused_and_stale_lock_taken_over(tmp_path, write_sweep):
    path = write_sweep()
    output = tmp_path / "out"
    output.mkdir()
    lock = output / "run.lock"
    # a live holder: another process that holds the output's lock, as a running `run` does
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pipeline.run.lock import RunLock; l = RunLock(sys.argv[1]); l.acquire(); "
        "print('held', flush=True); time.sleep(120)"), str(output)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        proc = _run(path, output)
        assert proc.returncode == 2
        assert f"in use by a live run (pid {holder.pid} on {socket.gethostname()})" in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
        assert not (output / "sweep.zarr").exists()
    finally:
        holder.kill()  # dies without releasing: its lock file stays behind
        holder.wait()
    assert lock.exists()
    proc = _run(path, output)
    assert proc.returncode == 0, proc.stderr
    assert f"taking over the lock of a run that is gone (pid {holder.pid}" in proc.stdout
    assert not lock.exists()


def test_jobs_glob_runs_a_subset(tmp_path, write_sweep):
    path = write_sweep()
    output = tmp_path / "out"
    proc = _run(path, output, "--jobs", "job_0001_*")
    assert proc.returncode == 0, proc.stderr
    assert [j["name"] for j in status_of(output)["jobs"]] == ["job_0001_num_emitters_40"]
    assert (output / "jobs" / "job_0001_num_emitters_40" / "simulation.ome.tiff").is_file()
    assert not (output / "sweep.zarr" / "job_0000_num_emitters_20").exists()
    proc = _run(path, output, "--jobs", "job_0000_*")
    assert proc.returncode == 0 and status_of(output)["stale"] == []
    status = status_of(output)
    assert status["subset"] == "job_0000_*" and status["state"] == "done"
    assert {j["name"]: j["in_run"] for j in status["jobs"]} == {"job_0000_num_emitters_20": True,
                                                                 "job_0001_num_emitters_40": False}
    shown = run_module("status", output).stdout
    assert "the last run was a --jobs 'job_0000_*' subset: done for 1 of 2 jobs" in shown


def test_entries_checksum_frames_by_xxh3_and_earlier_sha256_entries_still_count(tmp_path, tiny_run):
    import hashlib
    import shutil

    import numpy as np
    import xxhash
    import zarr

    from pipeline.store.cache import frames_mean, same_frames

    output = tmp_path / "out"
    shutil.copytree(tiny_run, output)
    entries = sorted((output / "cache" / "chunks").glob("*.json"))
    old = {}
    for path in entries:
        entry = json.loads(path.read_text())
        t0, t1 = entry["frames"]
        frames = zarr.open_array(output / "sweep.zarr" / entry["job"] / "frames", mode="r")[t0:t1]
        data = np.ascontiguousarray(frames).tobytes()
        assert entry["checksum"] == "xxh3-128:" + xxhash.xxh3_128_hexdigest(data)
        assert entry["mean"] == sum(int(v) for v in frames.reshape(-1)) / frames.size  # exact
        # the entry as versions before XXH3 wrote it
        entry["checksum"] = "sha256:" + hashlib.sha256(data).hexdigest()
        entry["mean"] = float(frames.mean(dtype=np.float64))
        path.write_text(json.dumps(entry))
        old[path] = entry
    sweep = output / "sweep.toml"
    proc = _run(sweep, output)
    assert proc.returncode == 0 and computed_chunks(output) == 0, proc.stdout + proc.stderr
    assert run_module("verify", output).returncode == 0
    # a sha256 that does not match the frames is caught, as an xxh3 one is, and the chunk is redone
    path = entries[0]
    for algorithm in ("sha256", "xxh3-128"):
        entry = dict(old[path])
        entry["checksum"] = algorithm + ":" + "0" * (64 if algorithm == "sha256" else 32)
        path.write_text(json.dumps(entry))
        proc = run_module("verify", output)
        assert proc.returncode == 1 and f"{entry['job']} frames [{entry['frames'][0]}, {entry['frames'][1]})" in proc.stdout
    proc = _run(sweep, output, "--workers", 1)
    assert proc.returncode == 0 and computed_chunks(output) == 1, proc.stdout + proc.stderr
    assert run_module("verify", output).returncode == 0
    assert not same_frames(np.zeros(3, np.uint16), "md5:" + hashlib.md5(np.zeros(3, np.uint16)).hexdigest())
    big = np.full((2, 3, 1 << 16), 65535, dtype=np.uint16)  # row sums at the uint32 limit
    assert frames_mean(big) == 65535.0 and frames_mean(big[:, :, :7].astype(np.float32)) == 65535.0
