"""Each command-line flag has its effect (asserted on what it changes, not only on the exit code)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile

from conftest import TINY_SWEEP, computed_chunks, run_module, status_of, stored_movie

pytestmark = pytest.mark.slow


@pytest.fixture
def finished(tiny_run) -> Path:
    return tiny_run


def copy(finished: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(finished, tmp_path / "out", ignore=shutil.ignore_patterns("dask-spill")))


def entries(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((out / "cache" / "chunks").glob("*.json"))]


def test_workers_one_runs_every_chunk_on_one_worker(finished):
    assert len({e["worker"] for e in entries(finished)}) == 1 and len(entries(finished)) == 6


def test_no_resume_recomputes_every_chunk(finished, tmp_path):
    out = copy(finished, tmp_path)
    before = {name: stored_movie(out, name)[0] for name in ("job_0000_num_emitters_20", "job_0001_num_emitters_40")}
    proc = run_module("run", out / "sweep.toml", "--output", out, "--workers", 1)
    assert proc.returncode == 0 and computed_chunks(out) == 0  # resume: nothing to do
    proc = run_module("run", out / "sweep.toml", "--output", out, "--workers", 1, "--no-resume")
    assert proc.returncode == 0, proc.stderr
    assert computed_chunks(out) == 6
    for name, frames in before.items():
        assert np.array_equal(stored_movie(out, name)[0], frames)


def test_jobs_runs_only_the_matching_jobs(tmp_path):
    (tmp_path / "sweep.toml").write_text(TINY_SWEEP)
    proc = run_module("run", tmp_path / "sweep.toml", "--output", tmp_path / "out", "--workers", 1,
                      "--jobs", "job_0001_*")
    assert proc.returncode == 0, proc.stderr
    jobs = {j["name"]: j for j in status_of(tmp_path / "out")["jobs"]}
    assert list(jobs) == ["job_0001_num_emitters_40"] and jobs["job_0001_num_emitters_40"]["chunks_computed"] == 3
    assert sorted(p.name for p in (tmp_path / "out" / "jobs").iterdir()) == ["job_0001_num_emitters_40"]


def test_force_overrides_the_disk_check(tmp_path, write_sweep, monkeypatch):
    import collections

    from pipeline.errors import UserError
    from pipeline.run import preflight
    from pipeline.config import load_sweep
    from pipeline.plan import plan_sweep

    plan = plan_sweep(load_sweep(write_sweep()))
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(preflight.shutil, "disk_usage", lambda path: usage(10**6, 10**6, 1000))
    with pytest.raises(UserError, match="use --force"):
        preflight.preflight(plan, tmp_path / "out", "", resume=True, force=False, output_given=True)
    preflight.preflight(plan, tmp_path / "out", "", resume=True, force=True, output_given=True)


def test_export_compression_and_force(finished, tmp_path):
    out = copy(finished, tmp_path)
    name = "job_0000_num_emitters_20"
    tiff = out / "jobs" / name / "simulation.ome.tiff"
    with tifffile.TiffFile(tiff) as tif:
        assert tif.pages[0].compression == tifffile.COMPRESSION.NONE
        pixels = tif.asarray()
    proc = run_module("export", out, "--jobs", name, "--compression", "zlib")
    assert proc.returncode == 0 and proc.stdout.count("exported") == 1, proc.stdout
    with tifffile.TiffFile(tiff) as tif:
        assert tif.pages[0].compression == tifffile.COMPRESSION.ADOBE_DEFLATE
        assert np.array_equal(tif.asarray(), pixels)
    inode = tiff.stat().st_ino
    proc = run_module("export", out, "--jobs", name, "--compression", "zlib")
    assert "skipped" in proc.stdout and tiff.stat().st_ino == inode
    proc = run_module("export", out, "--jobs", name, "--compression", "zlib", "--force")
    assert "exported" in proc.stdout and tiff.stat().st_ino != inode
    # the setting is kept: a later run re-exports the other job compressed too, and keeps this one
    proc = run_module("run", out / "sweep.toml", "--output", out, "--workers", 1)
    assert proc.returncode == 0 and "1 exports" in proc.stdout, proc.stdout
    for job in ("job_0000_num_emitters_20", "job_0001_num_emitters_40"):
        with tifffile.TiffFile(out / "jobs" / job / "simulation.ome.tiff") as tif:
            assert tif.pages[0].compression == tifffile.COMPRESSION.ADOBE_DEFLATE, job
    proc = run_module("export", out, "--compression", "none")
    assert proc.stdout.count("exported") == 2
    with tifffile.TiffFile(tiff) as tif:
        assert tif.pages[0].compression == tifffile.COMPRESSION.NONE and np.array_equal(tif.asarray(), pixels)


def test_verify_checks_the_ground_truth(finished, tmp_path):
    out = copy(finished, tmp_path)
    truth = sorted((out / "cache" / "truth").rglob("*.npy"))[0]
    data = bytearray(truth.read_bytes())
    data[-1] ^= 0x01  # one bit of the last row
    truth.write_bytes(bytes(data))
    proc = run_module("verify", out)
    assert proc.returncode == 1 and "ground-truth rows missing or differ" in proc.stdout, proc.stdout
    assert "1 with problems" in proc.stdout


def test_a_chunk_without_its_truth_file_is_recomputed(finished, tmp_path):
    out = copy(finished, tmp_path)
    truth = sorted((out / "cache" / "truth").rglob("*.npy"))[0]
    truth.unlink()
    proc = run_module("run", out / "sweep.toml", "--output", out, "--workers", 1)
    assert proc.returncode == 0, proc.stderr
    assert computed_chunks(out) == 1 and truth.is_file()


def test_plan_prints_the_workers_it_would_use(write_sweep, cli):
    code, out, _ = cli("plan", write_sweep(), "--workers", 3)
    assert code == 0 and "; 3 workers," in out
