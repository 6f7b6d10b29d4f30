"""Fault matrix with real processes: dead workers, killed runs, Ctrl-C, status readable (issue: reliability)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from distributed import as_completed

from conftest import TINY_SWEEP, computed_chunks, reference_movie, run_module, status_of, stored_movie
from pipeline.config import load_sweep
from pipeline.forkserver import worker_processes
from pipeline.plan import plan_sweep
from pipeline.run.cluster import ClusterSpec, connect
from pipeline.run.execute import task_error

pytestmark = pytest.mark.slow

# 2 jobs x 40 one-frame chunks of a Zernike PSF: long enough to hit mid-run
SLOW = (TINY_SWEEP.replace('psf = "gaussian"', 'psf = "zernike"\nzernike = { 6 = 40.0 }')
        .replace("frames = 12", "frames = 40").replace("chunk_frames = 4", "chunk_frames = 1"))
TOTAL = 80


def _entries(output: Path) -> int:
    folder = output / "cache" / "chunks"
    return len(list(folder.glob("*.json"))) if folder.is_dir() else 0


def _start(path: Path, output: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipeline", "run", str(path), "--output", str(output)],
                            cwd=path.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _wait_entries(proc, output, n, timeout=180):
    deadline = time.monotonic() + timeout
    while _entries(output) < n and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, "the run finished before the fault was injected"


def _assert_equals_reference(path, output):
    for job in plan_sweep(load_sweep(path)).jobs:
        frames, truth = stored_movie(output, job.name)
        expected, expected_truth = reference_movie(job)
        assert frames.tobytes() == expected.tobytes(), job.name
        assert truth.tobytes() == expected_truth.tobytes(), job.name


def test_worker_killed_mid_chunk(tmp_path, write_sweep):
    path = write_sweep(SLOW)
    output = tmp_path / "out"
    proc = _start(path, output)
    _wait_entries(proc, output, 10)
    workers = worker_processes(proc.pid)
    assert workers, "no worker process found"
    workers[0].send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, out + err
    assert status_of(output)["state"] == "done"
    _assert_equals_reference(path, output)


def test_a_result_lost_with_its_worker_counts_as_finished(tmp_path):
    """A worker that dies after a task finished loses the result it held: the future, given back by
    as_completed already, goes "lost" (then "pending" while the scheduler computes it again). The
    run books such a task finished, not failed (its work is on disk), and has it not computed twice.
    (The run crashed with exit 1 when this happened between as_completed and the booking.)"""
    marks = tmp_path / "executions"
    marks.mkdir()
    with connect(ClusterSpec(workers=1, dashboard_address="127.0.0.1:0", spill_dir=str(tmp_path / "spill"))) as client:
        future = client.submit(tempfile.mkstemp, dir=str(marks), pure=False)  # (a file per execution)
        assert next(as_completed([future])).status == "finished"
        (pid,) = client.run(os.getpid).values()
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while future.status == "finished" and time.monotonic() < deadline:
            time.sleep(0.005)
        assert future.status in ("lost", "pending")
        assert task_error(future) is None
        client.wait_for_workers(1, timeout=60)  # (the nanny's new worker: it would compute it again)
        time.sleep(1.0)
    assert len(list(marks.iterdir())) == 1


def _resume_and_check(path, output):
    """Run the sweep again: it finishes, computes only the chunks that had no entry, and matches the kernels."""
    done = _entries(output)
    proc = run_module("run", path, "--output", output, cwd=path.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert computed_chunks(output) <= TOTAL - done
    _assert_equals_reference(path, output)


def test_run_killed_five_times_then_resumes(tmp_path, write_sweep):
    path = write_sweep(SLOW)
    output = tmp_path / "out"
    for k in range(5):
        proc = _start(path, output)
        _wait_entries(proc, output, min(TOTAL - 5, _entries(output) + 8))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    _resume_and_check(path, output)


def test_ctrl_c_exits_130_and_resumes(tmp_path, write_sweep):
    path = write_sweep(SLOW)
    output = tmp_path / "out"
    proc = _start(path, output)
    _wait_entries(proc, output, 10)
    sent = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole foreground group
    out, err = proc.communicate(timeout=60)
    seconds = time.monotonic() - sent
    assert proc.returncode == 130, out + err
    assert seconds < 20, seconds
    assert "Traceback" not in err
    status = status_of(output)
    assert status["state"] == "interrupted" and status["signal"] == "SIGINT"
    assert {j["state"] for j in status["jobs"]} <= {"interrupted", "done"}
    _resume_and_check(path, output)


def test_status_json_readable_during_a_run(tmp_path, write_sweep):
    path = write_sweep(SLOW)
    output = tmp_path / "out"
    proc = _start(path, output)
    reads = 0
    while proc.poll() is None:
        if (output / "status.json").exists():
            data = json.loads((output / "status.json").read_text())  # never half-written
            assert data["state"] in ("running", "done")
            reads += 1
        time.sleep(0.005)
    proc.communicate()
    assert proc.returncode == 0 and reads > 10


def test_a_job_that_kills_its_worker_fails_alone_in_its_batch(tmp_path, write_sweep):
    # 20 one-chunk jobs on one worker run in 8 batches of 2-3; job 5 kills its worker (as the OOM
    # killer would) every time: it fails, and its batch mates are done, exported and reported so
    text = TINY_SWEEP.replace("workers = 2", "workers = 1").replace("frames = 12", "frames = 4")
    text = text.split("[variables]")[0] + "[variables]\n\"camera.background\" = " + str([float(b) for b in range(10, 30)]) + "\n"
    path = write_sweep(text)
    jobs = plan_sweep(load_sweep(path)).jobs
    assert len(jobs) == 20 and all(len(j.chunks) == 1 for j in jobs)
    killer = jobs[5].name
    proc = run_module("run", path, "--output", tmp_path / "out", env={"SMLM_SWEEP_KILL": killer}, timeout=600)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    states = {j["name"]: (j["state"], j["exported"], j["error"]) for j in status_of(tmp_path / "out")["jobs"]}
    assert states[killer][0] == "failed" and "KilledWorker" in json.dumps(states[killer][2])
    assert all(state == ("done", True, None) for name, state in states.items() if name != killer), states
    for job in jobs:
        if job.name != killer:
            assert (tmp_path / "out" / "jobs" / job.name / "export.json").is_file()
            assert stored_movie(tmp_path / "out", job.name)[0].tobytes() == reference_movie(job)[0].tobytes()
