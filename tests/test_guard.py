"""Nothing silently wrong: one line per failure on the terminal, worker limits, the lock's holder named (issue: guard)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import TINY_SWEEP, status_of

THREE_JOBS = TINY_SWEEP.replace("[20, 40]", "[20, 30, 40]")


def _run(path, output, *extra, env=None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", "run", str(path), "--output", str(output), *map(str, extra)],
                          cwd=path.parent, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONUNBUFFERED="1", **(env or {})), **kwargs)


@pytest.mark.parametrize("verb", ["plan", "run"])
def test_more_workers_than_the_ram_holds_are_refused(verb, cli, write_sweep, tmp_path, monkeypatch):
    from pipeline.config import load_sweep
    from pipeline.plan import memory, plan_sweep

    monkeypatch.setattr(memory, "_ram", lambda: 24 * 2**30)  # this machine's RAM, whatever runs the test
    path = write_sweep()
    need = memory.WORKER_BASELINE + max(j.chunk_working_set for j in plan_sweep(load_sweep(path)).jobs)
    assert 100 * 2**20 < memory.WORKER_BASELINE < need < 200 * 2**20
    code, out, err = cli(verb, path, "--workers", 1000, "--output", tmp_path / "out")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: --workers 1000: each worker would have 24.6 MiB")
    assert f"at most {24 * 2**30 // need} workers" in err
    assert not (tmp_path / "out").exists()
    # the same count with limits that add up past the RAM; and one the RAM holds
    write_sweep(TINY_SWEEP.replace("workers = 2", 'workers = 1000\nmemory_limit = "1GiB"'))
    code, _, err = cli(verb, path, "--output", tmp_path / "out")
    assert code == 2 and "cluster.workers 1000: each worker would have 24.6 MiB" in err and "add up past" in err
    assert cli("plan", path, "--workers", 24 * 2**30 // need)[0] == 0


@pytest.mark.slow
def test_failed_jobs_are_one_line_each_on_stderr(tmp_path, write_sweep):
    path = write_sweep(THREE_JOBS)
    proc = _run(path, tmp_path / "out", env={"SMLM_SWEEP_FAULT": "job_000[12]_*"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert [line.split(":")[:3] for line in lines] == [["failed", " job_0001_num_emitters_30", " InjectedFault"],
                                                       ["failed", " job_0002_num_emitters_40", " InjectedFault"]]
    assert "Traceback" not in proc.stdout + proc.stderr and "Compute Failed" not in proc.stdout + proc.stderr
    jobs = {j["name"]: j for j in status_of(tmp_path / "out")["jobs"]}
    assert "Traceback" in jobs["job_0001_num_emitters_30"]["error"]["traceback"]  # kept where it belongs


def test_a_refused_run_waits_for_the_holders_name(tmp_path):
    import fcntl
    import json
    import threading

    from pipeline.errors import UserError
    from pipeline.run.lock import RunLock

    # a holder caught between taking the flock and writing its name (what a run started at the
    # same instant meets); it writes the name a moment later
    fd = os.open(tmp_path / "run.lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    name = threading.Timer(0.3, os.pwrite, (fd, json.dumps({"pid": 4242, "host": "node7"}).encode(), 0))
    name.start()
    try:
        with pytest.raises(UserError, match=r"in use by a live run \(pid 4242 on node7\)"):
            RunLock(tmp_path).acquire()
    finally:
        name.join()
        os.close(fd)


@pytest.mark.slow
def test_two_runs_started_at_the_same_instant(tmp_path, write_sweep):
    import socket

    path = write_sweep()
    output = tmp_path / "out"
    argv = [sys.executable, "-m", "pipeline", "run", str(path), "--output", str(output)]
    procs = [subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    codes = [p.returncode for p in procs]
    assert sorted(codes) == [0, 2], outputs
    winner, loser = (0, 1) if codes[0] == 0 else (1, 0)
    assert outputs[loser][1].strip().splitlines() == [
        f"error: {output} is in use by a live run (pid {procs[winner].pid} on {socket.gethostname()}); "
        "wait for it or stop it first"]
