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
