"""Nothing silently wrong: one line per failure on the terminal (failed jobs, a full disk), worker limits, the lock's holder named."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import TINY_SWEEP, run_module, status_of

THREE_JOBS = TINY_SWEEP.replace("[20, 40]", "[20, 30, 40]")


def _run(path, output, *extra, env=None, **kwargs) -> subprocess.CompletedProcess:
    return run_module("run", path, "--output", output, *extra, cwd=path.parent, env=env, **kwargs)


@pytest.mark.parametrize("verb", ["plan", "run"])
def test_more_workers_than_the_ram_holds_are_refused(verb, cli, write_sweep, tmp_path, monkeypatch):
    from pipeline.config import load_sweep
    from pipeline.plan import memory, plan_sweep

    monkeypatch.setattr(memory, "_ram", lambda: 24 * 2**30)  # this machine's RAM, whatever runs the test
    path = write_sweep()
    need = memory.WORKER_BASELINE + max(memory.worker_need(j) for j in plan_sweep(load_sweep(path)).jobs)
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


# two jobs of 120 frames of 96x96 pixels: 4.2 MiB of frames, 8.4 MiB with the OME-TIFFs
FULL = (TINY_SWEEP.replace("roi_size = 32", "roi_size = 96").replace("frames = 12", "frames = 120")
        .replace("chunk_frames = 4", "chunk_frames = 10").replace("area_px = 28.0", "area_px = 90.0"))


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB file system (tmpfs); yields its folder and a function that makes it 64 MiB."""
    folder = tmp_path / "small"
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a 4 MiB tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder, lambda: subprocess.run(["mount", "-o", "remount,size=64m", str(folder)], check=True)
    finally:
        if subprocess.run(["umount", str(folder)]).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)])


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_the_run_resumes(tmp_path, write_sweep, small_disk):
    import re

    import tifffile

    from conftest import stored_movie
    from pipeline.config import load_sweep
    from pipeline.plan import plan_sweep

    folder, make_space = small_disk
    path = write_sweep(FULL)
    output = folder / "out"
    proc = _run(path, output)
    assert proc.returncode == 2 and "use --force" in proc.stderr  # the disk preflight refuses first
    proc = _run(path, output, "--force")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr and "Compute Failed" not in proc.stderr
    # one line in all, or one per failed job; each names the folder, what is left to write, that it resumes
    assert len(lines) == 1 or all(line.startswith("failed: ") for line in lines) and len(lines) <= 2, lines
    for line in lines:
        assert f"no space left on device in {output}" in line, line
        assert re.search(r"still has about [\d.]+ [KM]iB to write", line) and "it resumes" in line, line

    make_space()
    proc = _run(path, output)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    clean = tmp_path / "clean"
    assert _run(path, clean).returncode == 0
    for job in plan_sweep(load_sweep(path)).jobs:
        for a, b in zip(stored_movie(output, job.name), stored_movie(clean, job.name)):
            assert a.tobytes() == b.tobytes(), job.name
        files = [out / "jobs" / job.name for out in (output, clean)]
        assert (tifffile.imread(files[0] / "simulation.ome.tiff").tobytes()
                == tifffile.imread(files[1] / "simulation.ome.tiff").tobytes())
        assert (files[0] / "localizations.csv").read_bytes() == (files[1] / "localizations.csv").read_bytes()


@pytest.mark.slow
def test_a_taken_dashboard_port_is_said_in_our_own_line(tmp_path, write_sweep):
    import socket

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        path = write_sweep(TINY_SWEEP.replace("workers = 2", f'workers = 1\ndashboard_address = "127.0.0.1:{port}"'))
        proc = _run(path, tmp_path / "out")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    line = next(l for l in proc.stdout.splitlines() if l.startswith("dashboard:"))
    assert f":{port}/" not in line and line.endswith(f"(port {port} was taken)")
