"""Signals with real processes: SIGINT, SIGTERM and SIGHUP at every phase of a run (issue: nothing silently wrong).

Every case checks what design §10 promises: exit 128 + the signal number, status.json "interrupted"
naming the signal, one line on stderr and no traceback, the lock released, no process left behind,
and a second `run` that finishes bitwise identical to the kernels' own rendering.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

import pipeline
from conftest import REPO, TINY_SWEEP, reference_movie, status_of, stored_movie
from pipeline.forkserver import worker_processes

pytestmark = pytest.mark.slow

# 2 jobs x 6 chunks of 2 frames, one worker, a dashboard on any free port (no "port in use" warning)
SWEEP = (TINY_SWEEP.replace("workers = 2", 'workers = 1\ndashboard_address = ":0"')
         .replace("chunk_frames = 4", "chunk_frames = 2"))

# `python -m pipeline ARGS` with slow chunk tasks and a slow export, so that a signal reliably lands
# in the phase a test means. The slow functions are defined in __main__, so that dask pickles them
# by value into the workers; there they call the real ones (the workers' modules are not patched).
SLOW_RUN = r"""
import runpy, sys, time
import pipeline.run.execute, pipeline.run.graph
CHUNK_SECONDS, EXPORT_SECONDS = float(sys.argv[1]), float(sys.argv[2])

def slow_chunk(*args, **kwargs):
    from pipeline.run import graph
    time.sleep(CHUNK_SECONDS)
    return graph.commit_chunk(*args, **kwargs)

def slow_export(*args, **kwargs):
    # stalls after the CSV is written under its temporary name: the export is half done
    from pipeline.exports import job
    write_csv = job.write_csv
    def slow_csv(*a, **k):
        lines = write_csv(*a, **k)
        time.sleep(EXPORT_SECONDS)
        return lines
    job.write_csv = slow_csv
    from pipeline.run import graph
    return graph.export_task(*args, **kwargs)

pipeline.run.graph.commit_chunk = slow_chunk
pipeline.run.execute.export_task = slow_export
sys.argv = ["pipeline", *sys.argv[3:]]
runpy.run_module("pipeline", run_name="__main__")
"""


def _start(path: Path, output: Path, slow: tuple[float, float] | None = None, ignore_sigint: bool = False):
    """The run as a process group of its own (the run and its workers), as a shell starts a job."""
    prefix = ["-c", SLOW_RUN, *map(str, slow)] if slow else ["-m", "pipeline"]
    preexec = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignore_sigint else None
    return subprocess.Popen([sys.executable, *prefix, "run", str(path), "--output", str(output)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=preexec, env=dict(os.environ, PYTHONUNBUFFERED="1"))


def _wait_for(proc, condition, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"the run ended before {what}: {proc.communicate()}"
        assert time.monotonic() < deadline, f"no {what} after {timeout} s"
        time.sleep(0.01)


def _entries(output: Path) -> int:
    folder = output / "cache" / "chunks"
    return len(list(folder.glob("*.json"))) if folder.is_dir() else 0


def _exporting(output: Path) -> bool:
    """A job's export has its CSV written under the temporary name (the slow export stalls there)."""
    return bool(list((output / "jobs").glob("*/.localizations.csv.*.tmp"))) if (output / "jobs").is_dir() else False


def _blocked(pid: int, signum: int) -> bool:
    """Whether ``signum`` is in the process's (main thread's) blocked mask."""
    mask = int(re.search(r"^SigBlk:\s*([0-9a-f]+)$", Path(f"/proc/{pid}/status").read_text(), re.M).group(1), 16)
    return bool(mask & (1 << (signum - 1)))


def _send(proc, signum: int, group: bool) -> list[psutil.Process]:
    """To the run's process group (a terminal's Ctrl-C or hang-up, SLURM's scancel) or to the run alone
    (`timeout`, `kill PID`, `docker stop`); returns the run's processes as they were (workers and all)."""
    family = psutil.Process(proc.pid).children(recursive=True)
    if group:
        os.killpg(proc.pid, signum)
    else:
        proc.send_signal(signum)
    return family


def _assert_stopped(proc, family, out, err, output: Path, signum: int, written: bool = True) -> None:
    """The documented end of an interrupted run."""
    name = signal.Signals(signum).name
    assert proc.returncode == 128 + signum, out + err
    assert "Traceback" not in err, err
    assert err.strip().splitlines() == [f"interrupted by {name}: finished chunks are kept; run again to resume"], err
    assert not (output / "run.lock").exists()
    gone, alive = psutil.wait_procs(family, timeout=60)
    assert not alive, f"left running: {alive}"
    if written:
        status = status_of(output)
        assert status["state"] == "interrupted" and status["signal"] == name, status
        states = {j["state"] for j in status["jobs"]}
        assert states <= {"done", "interrupted"} and "interrupted" in states, states


@pytest.fixture(scope="module")
def client():
    """One cluster for every resume in this module (the CLI's `run` is this same call, on a cluster of its own)."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        yield client


def _assert_resumes(path: Path, output: Path, client) -> None:
    """A second run finishes; frames, ground truth and exports are those of an uninterrupted run."""
    result = pipeline.run_sweep(path, output=output, client=client, progress=False)
    assert result.ok and status_of(output)["state"] == "done"
    for job in pipeline.plan_sweep(pipeline.load_sweep(path)).jobs:
        frames, truth = stored_movie(output, job.name)
        expected, expected_truth = reference_movie(job)
        assert frames.tobytes() == expected.tobytes(), job.name
        assert truth.tobytes() == expected_truth.tobytes(), job.name
        folder = output / "jobs" / job.name
        assert (folder / "export.json").is_file() and not list(folder.glob(".*")), sorted(folder.iterdir())


@pytest.fixture
def sweep(write_sweep):
    return write_sweep(SWEEP)


def test_sigint_at_once(tmp_path, client, sweep):
    """0.3 s in, the run is still importing: it stops before it writes anything (or, if it got that far,
    as interrupted)."""
    output = tmp_path / "out"
    proc = _start(sweep, output)
    time.sleep(0.3)
    family = _send(proc, signal.SIGINT, group=True)
    out, err = proc.communicate(timeout=120)
    written = (output / "status.json").exists()
    print(f"SIGINT at 0.3 s: {'status.json written' if written else 'nothing written'}")
    _assert_stopped(proc, family, out, err, output, signal.SIGINT, written=written)
    if not written:
        assert not output.exists() or not any(output.iterdir())
    _assert_resumes(sweep, output, client)


def test_sigint_during_cluster_start(tmp_path, client, sweep):
    """Sent as the cluster starts (the line before the dashboard's): not dropped; the run stops as soon as
    the cluster can be closed, before any chunk is submitted."""
    output = tmp_path / "out"
    proc = _start(sweep, output)
    line = proc.stdout.readline()
    assert line.startswith("sweep 'tiny'"), line
    family = _send(proc, signal.SIGINT, group=True)
    out, err = proc.communicate(timeout=120)
    _assert_stopped(proc, family, out, err, output, signal.SIGINT)
    assert "dashboard" not in out and _entries(output) == 0, out
    _assert_resumes(sweep, output, client)


def _assert_masks(proc) -> None:
    """The workers have a terminal's signals blocked (Ctrl-C, hang-up: for the run to handle); the run has not."""
    workers = worker_processes(proc.pid)
    assert workers and all(_blocked(w.pid, signal.SIGINT) and _blocked(w.pid, signal.SIGHUP) for w in workers)
    assert not any(_blocked(proc.pid, s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP))


# (SIGINT mid-render to the process group: test_faults.py's Ctrl-C test, and the SIGINT-ignored one below)
@pytest.mark.parametrize("signum, group", [(signal.SIGTERM, False), (signal.SIGHUP, True)],
                         ids=["SIGTERM-run", "SIGHUP-group"])
def test_signal_mid_render(tmp_path, client, sweep, signum, group):
    output = tmp_path / "out"
    proc = _start(sweep, output, slow=(0.3, 0))
    _wait_for(proc, lambda: _entries(output) >= 2, "cache entry")
    _assert_masks(proc)
    family = _send(proc, signum, group)
    out, err = proc.communicate(timeout=120)
    _assert_stopped(proc, family, out, err, output, signum)
    assert _entries(output) < 12
    _assert_resumes(sweep, output, client)


@pytest.mark.parametrize("signum, group", [(signal.SIGTERM, True), (signal.SIGHUP, False)],
                         ids=["SIGTERM-group", "SIGHUP-run"])
def test_signal_during_export(tmp_path, client, sweep, signum, group):
    output = tmp_path / "out"
    proc = _start(sweep, output, slow=(0, 600))
    _wait_for(proc, lambda: _exporting(output), "export")
    family = _send(proc, signum, group)
    out, err = proc.communicate(timeout=120)
    _assert_stopped(proc, family, out, err, output, signum)
    assert not list((output / "jobs").glob("*/export.json"))  # no export was completed
    _assert_resumes(sweep, output, client)


def test_sigint_when_started_with_sigint_ignored(tmp_path, client, sweep):
    """A shell script's `run ... &` starts the run with SIGINT ignored; it still stops on SIGINT, here a
    Ctrl-C to the whole group (a script's background jobs share its process group)."""
    output = tmp_path / "out"
    proc = _start(sweep, output, slow=(0.3, 0), ignore_sigint=True)
    _wait_for(proc, lambda: _entries(output) >= 2, "cache entry")
    _assert_masks(proc)
    family = _send(proc, signal.SIGINT, group=True)
    out, err = proc.communicate(timeout=120)
    _assert_stopped(proc, family, out, err, output, signal.SIGINT)
    _assert_resumes(sweep, output, client)


def test_second_signal_exits_at_once(tmp_path, client, sweep):
    """The first SIGINT stops the run; closing the cluster then waits for the export task that is stuck
    in a worker; a second SIGINT ends the process at once, the workers with it."""
    output = tmp_path / "out"
    proc = _start(sweep, output, slow=(0, 600))
    _wait_for(proc, lambda: _exporting(output), "export")
    _send(proc, signal.SIGINT, group=True)
    _wait_for(proc, lambda: (status_of(output)["state"] == "interrupted"), "status interrupted")
    family = _send(proc, signal.SIGINT, group=True)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err, err
    assert err.strip().splitlines() == ["interrupted by SIGINT again: stopped at once; run again to resume"], err
    gone, alive = psutil.wait_procs(family, timeout=60)
    assert not alive, f"left running: {alive}"
    status = status_of(output)
    assert status["state"] == "interrupted" and status["signal"] == "SIGINT"
    assert not (output / "run.lock").exists()
    _assert_resumes(sweep, output, client)


# ------------------------------------------------------------------------------------ from Python


def test_run_sweep_raises_run_interrupted_and_puts_the_handlers_back(tmp_path, client, sweep, monkeypatch):
    """In a notebook or here: the run's handler only while it runs; the signal comes out as RunInterrupted."""
    import pipeline.run.execute as execute
    from pipeline import signals

    def compute_until_signalled(*args):
        assert signal.getsignal(signal.SIGTERM) is signals._handle  # (else the SIGTERM below ends pytest)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(60)  # the handler raises in here

    before = {s: signal.getsignal(s) for s in signals.SIGNALS}
    monkeypatch.setattr(execute, "_compute", compute_until_signalled)
    output = tmp_path / "out"
    with pytest.raises(pipeline.RunInterrupted) as info:
        pipeline.run_sweep(sweep, output=output, client=client, progress=False)
    assert (info.value.signal_name, info.value.exit_code) == ("SIGTERM", 143)
    assert {s: signal.getsignal(s) for s in signals.SIGNALS} == before
    status = status_of(output)
    assert status["state"] == "interrupted" and status["signal"] == "SIGTERM"
    assert {j["state"] for j in status["jobs"]} == {"interrupted"}
    assert not (output / "run.lock").exists()
    monkeypatch.undo()
    _assert_resumes(sweep, output, client)


def test_handlers_keep_nohup_and_override_an_ignored_sigint():
    from pipeline import signals

    previous = {s: signal.signal(s, signal.SIG_IGN) for s in signals.SIGNALS}
    try:
        with signals.handling():
            assert signal.getsignal(signal.SIGINT) is signals._handle  # a background start's "ignore"
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN  # ignored on purpose
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN  # nohup
        assert all(signal.getsignal(s) is signal.SIG_IGN for s in signals.SIGNALS)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def test_a_signal_in_a_deferred_block_is_raised_at_its_end():
    from pipeline import signals

    with signals.handling():
        with pytest.raises(signals.Interrupt) as info:
            with signals.deferred():
                os.kill(os.getpid(), signal.SIGHUP)
                for _ in range(100):  # the handler runs between bytecodes; it only takes note here
                    time.sleep(0.01)
                reached = True
        assert reached and info.value.name == "SIGHUP" and isinstance(info.value, KeyboardInterrupt)


def test_a_signal_that_something_swallowed_still_stops_the_run(tmp_path, client, sweep):
    # as a library's `except BaseException` around an import would: the SIGINT arrives while such a
    # block runs, its Interrupt is swallowed; the run must stop anyway, before it writes anything
    script = tmp_path / "swallow.py"
    script.write_text(
        "import os, signal, sys, time\n"
        "if __name__ == '__main__':  # (the workers import this file too)\n"
        "    from pipeline import signals\n"
        "    signals.install()\n"
        "    try:\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "        time.sleep(5)\n"
        "    except BaseException:\n"
        "        pass\n"
        "    from pipeline.cli import main\n"
        "    sys.exit(main(sys.argv[1:]))\n")
    output = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(script), "run", str(sweep), "--output", str(output)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 128 + signal.SIGINT, proc.stdout + proc.stderr
    assert not (output / "status.json").exists() and "interrupted by SIGINT" in proc.stderr, proc.stderr


def test_a_signal_while_a_class_is_created_is_an_interruption_too(monkeypatch, capsys):
    # Python 3.11 wraps an exception raised in __set_name__ (pydantic's models call it while
    # `run` imports them) in a RuntimeError: a Ctrl-C at that moment must still exit 130, one line
    from pipeline import cli
    from pipeline.signals import Interrupt

    class Field:
        def __set_name__(self, owner, name):
            raise Interrupt(signal.SIGINT)

    def plan_interrupted_while_importing(args):
        type("Model", (), {"field": Field()})

    monkeypatch.setattr(cli, "cmd_plan", plan_interrupted_while_importing)
    assert cli.main(["plan", "sweep.toml"]) == 130
    assert capsys.readouterr().err.splitlines() == ["interrupted by SIGINT: finished chunks are kept; run again to resume"]
