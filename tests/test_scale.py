"""Many small jobs and long sharded jobs (issue: scale): shards, batches, fast group files, status saves."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings

import pytest
import zarr

from conftest import TINY_SWEEP, computed_chunks, reference_movie, run_module, status_of, stored_movie
from pipeline.config import load_sweep
from pipeline.plan import plan_sweep
from pipeline.plan.jobs import auto_layout
from pipeline.run.execute import BATCH_MAX, batch_sizes
from pipeline.run.status import JobStatus, RunStatus, SaveSchedule, read_status
from pipeline.store import groups as G
from pipeline.store.chunks import encode_shard
from pipeline.store.documents import frames_layout

# one job of 50 frames: chunks of 5, shards of 20 (the last shard, [40, 50), is partial)
SHARDED = (TINY_SWEEP.replace("frames = 12", "frames = 50")
           .replace("chunk_frames = 4", "chunk_frames = 5\nshard_frames = 20")
           .replace('"emitters.num_emitters" = [20, 40]', '"emitters.num_emitters" = [30]'))
UNSHARDED = SHARDED.replace("shard_frames = 20", "shard_frames = 0")


def _job(path):
    (job,) = plan_sweep(load_sweep(path)).jobs
    return job


def _tiff(output, job):
    import tifffile

    return tifffile.imread(output / "jobs" / job.name / "simulation.ome.tiff")


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sharded")
    outputs = {}
    for name, text in (("sharded", SHARDED), ("unsharded", UNSHARDED)):
        path = folder / f"{name}.toml"
        path.write_text(text)
        proc = run_module("run", path, "--output", folder / name, cwd=folder)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        outputs[name] = (path, folder / name)
    return outputs


def test_sharded_pixels_are_the_unsharded_ones(sharded):
    (spath, sout), (upath, uout) = sharded["sharded"], sharded["unsharded"]
    sjob, ujob = _job(spath), _job(upath)
    assert sjob.fingerprint == ujob.fingerprint  # the layout is no part of the job's identity
    frames, truth = stored_movie(sout, sjob.name)
    expected, expected_truth = reference_movie(sjob)
    assert frames.tobytes() == expected.tobytes() and truth.tobytes() == expected_truth.tobytes()
    assert frames.tobytes() == stored_movie(uout, ujob.name)[0].tobytes()
    assert _tiff(sout, sjob).tobytes() == _tiff(uout, ujob).tobytes() == expected.tobytes()
    array = zarr.open_array(sout / "sweep.zarr" / sjob.name / "frames", mode="r")
    assert array.shards == (20, 32, 32) and array.chunks == (5, 32, 32)
    # one file, one cache entry and one ground-truth file per shard
    assert sorted(p.name for p in (sout / "sweep.zarr" / sjob.name / "frames" / "c").iterdir()) == ["0", "1", "2"]
    assert len(list((sout / "cache" / "chunks").glob("*.json"))) == 3
    assert len(list((sout / "cache" / "truth" / sjob.fingerprint).glob("*.npy"))) == 3
    assert [j["chunks_total"] for j in status_of(sout)["jobs"]] == [3]


def test_shard_files_are_the_bytes_zarr_writes(sharded, tmp_path):
    spath, sout = sharded["sharded"]
    job = _job(spath)
    frames = stored_movie(sout, job.name)[0]
    ours = zarr.open_array(sout / "sweep.zarr" / job.name / "frames", mode="r")
    theirs = zarr.create_array(tmp_path / "z", shape=ours.shape, chunks=ours.chunks, shards=ours.shards,
                               dtype=ours.dtype, compressors=G.frames_codec(), fill_value=0)
    theirs[:] = frames
    for i in range(3):
        assert (sout / "sweep.zarr" / job.name / f"frames/c/{i}/0/0").read_bytes() == (tmp_path / f"z/c/{i}/0/0").read_bytes()
    # and the encoder alone, on a last shard that leaves inner chunks out
    blosc = frames_layout(json.loads((tmp_path / "z" / "zarr.json").read_text())).blosc
    assert encode_shard(frames[40:], 5, 4, 0, blosc) == (tmp_path / "z/c/2/0/0").read_bytes()


def test_verify_finds_a_damaged_shard_and_run_recomputes_only_it(sharded, tmp_path, cli):
    import shutil

    spath, sout = sharded["sharded"]
    job = _job(spath)
    out = tmp_path / "copy"
    shutil.copytree(sout, out)
    shard = out / "sweep.zarr" / job.name / "frames/c/1/0/0"
    data = bytearray(shard.read_bytes())
    data[40] ^= 0xFF  # inside the first inner chunk's compressed bytes: same size
    shard.write_bytes(bytes(data))
    code, out_text, err_text = cli("verify", out)
    assert code == 1 and "[20, 40)" in out_text, out_text + err_text
    proc = run_module("run", spath, "--output", out, cwd=spath.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert computed_chunks(out) == 1
    assert stored_movie(out, job.name)[0].tobytes() == reference_movie(job)[0].tobytes()
    assert cli("verify", out)[0] == 0


@pytest.mark.slow
def test_resume_after_sigkill_mid_shard_recomputes_only_unfinished_shards(tmp_path, cli):
    # 6 shards of 10 one-frame chunks of a Zernike PSF: slow enough to be killed between shards
    text = (SHARDED.replace('psf = "gaussian"', 'psf = "zernike"\nzernike = { 6 = 40.0 }')
            .replace("frames = 50", "frames = 60").replace("chunk_frames = 5", "chunk_frames = 1")
            .replace("shard_frames = 20", "shard_frames = 10"))
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    output = tmp_path / "out"
    entries = output / "cache" / "chunks"
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "run", str(path), "--output", str(output)],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 180
    while (not entries.is_dir() or len(list(entries.glob("*.json"))) < 2) and proc.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)  # the run and its workers, mid-shard
    proc.wait()
    done = len(list(entries.glob("*.json")))
    assert 2 <= done < 6, "the run was not killed mid-job"
    proc = run_module("run", path, "--output", output, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert computed_chunks(output) == 6 - done
    job = _job(path)
    frames, truth = stored_movie(output, job.name)
    expected, expected_truth = reference_movie(job)
    assert frames.tobytes() == expected.tobytes() and truth.tobytes() == expected_truth.tobytes()
    assert cli("verify", output)[0] == 0


def test_shards_must_hold_whole_chunks(write_sweep):
    from pipeline.errors import UserError

    with pytest.raises(UserError, match="shard_frames = 20 must be a multiple of render.chunk_frames = 6"):
        plan_sweep(load_sweep(write_sweep(SHARDED.replace("chunk_frames = 5", "chunk_frames = 6"))))


def test_automatic_layout_only_without_chunk_frames(write_sweep):
    text = TINY_SWEEP.replace("chunk_frames = 4", "mode = \"direct\"").replace("frames = 12", "frames = 2000")
    plan = plan_sweep(load_sweep(write_sweep(text)))
    # 32x32 uint16 = 2 KiB a frame: 512 frames make 1 MiB
    assert {(j.chunk_frames, j.shard_frames) for j in plan.jobs} == {(512, 0)}
    assert any("render.chunk_frames not set" in note for note in plan.notes)
    kept = plan_sweep(load_sweep(write_sweep(text.replace('mode = "direct"', "chunk_frames = 10"))))
    assert {(j.chunk_frames, j.shard_frames) for j in kept.jobs} == {(10, 0)} and not kept.notes
    assert [j.fingerprint for j in plan.jobs] == [j.fingerprint for j in kept.jobs]  # bytes unchanged


def test_auto_layout_rule():
    from pipeline.config import JobConfig

    def layout(frames, side):
        return auto_layout(JobConfig.model_validate({"emitters": {"frames": frames}, "camera": {"roi_size": side}}))

    assert layout(500, 1200) == (10, 0)  # big frames keep the former default
    assert layout(50, 32) == (50, 0)  # never longer than the movie
    assert layout(10**6, 64) == (128, 128 * 31)  # 7813 chunks of 1 MiB -> 253 shards
    chunk, shard = layout(10**6, 64)
    assert -(-10**6 // shard) <= 256 and shard % chunk == 0
    # big frames: no shard over 64 MiB of frames (a worker holds a whole shard)
    assert layout(10**5, 1200) == (10, 20)  # 10**4 chunks of 27.5 MiB -> shards of 2 (55 MiB)
    assert layout(3000, 1200) == (10, 20)
    assert layout(10**5, 2048) == (10, 0)  # one chunk of 80 MiB is already past it: no shards


def test_plan_counts_the_whole_shard_a_worker_holds(write_sweep, cli):
    # 3000 frames of 256² px in one shard: 375 MiB of frames held by one task; a chunk is 1.2 MiB
    text = ("[cluster]\nmemory_limit = \"600MiB\"\nworkers = 1\n[base.emitters]\nnum_emitters = 200\nframes = 3000\n"
            "[base.camera]\nroi_size = 256\n[base.render]\nchunk_frames = 10\nshard_frames = 3000\n")
    code, out, err = cli("plan", write_sweep(text))
    assert code == 2 and "more than 90 % of the worker memory limit" in err, out + err


def test_batches_of_small_jobs():
    assert batch_sizes(0, 2) == []
    assert batch_sizes(5, 2) == [1] * 5
    sizes = batch_sizes(10**4, 2)
    assert sum(sizes) == 10**4 and max(sizes) <= BATCH_MAX and max(sizes) - min(sizes) <= 1
    assert len(batch_sizes(100, 2)) == 16  # 8 per worker


def test_small_jobs_run_in_batches_and_fail_alone(tmp_path, write_sweep, cli, tiny_run):
    text = (TINY_SWEEP.replace("chunk_frames = 4", "chunk_frames = 12")
            .replace("[20, 40]", "[10, 20, 30, 40, 50, 60]"))
    path = write_sweep(text)
    proc = run_module("run", path, "--output", tmp_path / "out", cwd=tmp_path, env={"SMLM_SWEEP_FAULT": "job_0002_*"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    jobs = {j["name"]: j for j in status_of(tmp_path / "out")["jobs"]}
    bad = jobs.pop("job_0002_num_emitters_30")
    assert bad["state"] == "failed" and bad["error"]["type"] == "InjectedFault"
    assert "commit_chunk" in bad["error"]["traceback"]
    assert all(j["state"] == "done" and j["exported"] and j["chunks_computed"] == 1 for j in jobs.values())
    for job in plan_sweep(load_sweep(path)).jobs:
        if job.name != bad["name"]:
            assert stored_movie(tmp_path / "out", job.name)[0].tobytes() == reference_movie(job)[0].tobytes()
    # one-chunk jobs store no CSV lines in the cache: their exports format the rows, to the bytes
    # that tiny_run's exports of the same jobs (3 chunks each) concatenated from their chunks' lines
    assert not list((tmp_path / "out" / "cache" / "truth").rglob("*.csv"))
    for mine, theirs in (("job_0001_num_emitters_20", "job_0000_num_emitters_20"),
                         ("job_0003_num_emitters_40", "job_0001_num_emitters_40")):
        csv = (tmp_path / "out" / "jobs" / mine / "localizations.csv").read_bytes()
        assert csv.count(b"\n") > 1 and csv == (tiny_run / "jobs" / theirs / "localizations.csv").read_bytes()
    proc = run_module("run", path, "--output", tmp_path / "out", cwd=tmp_path)
    assert proc.returncode == 0 and computed_chunks(tmp_path / "out") == 1
    assert cli("verify", tmp_path / "out")[0] == 0


def test_new_groups_are_the_files_zarr_writes(tmp_path, write_sweep):
    text = TINY_SWEEP.replace("[20, 40]", "[20, 40, 60]")
    jobs = plan_sweep(load_sweep(write_sweep(text))).jobs
    fast, slow = tmp_path / "fast", tmp_path / "slow"
    for out in (fast, slow):
        out.mkdir()
        G.prepare_job(out, jobs[0], {})  # (the first creates the store)
    for job in jobs[1:]:
        assert G._write_new_group(fast, job)
    original = G._write_new_group
    try:
        G._write_new_group = lambda output, job: False
        for job in jobs[1:]:
            G.prepare_job(slow, job, {})
    finally:
        G._write_new_group = original
    files = sorted(p.relative_to(slow) for p in slow.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(fast) for p in fast.rglob("*") if p.is_file())
    for rel in files:
        if rel.name == "zarr.json" and rel.parent.parent.name == "sweep.zarr":  # a group: zarr indents it
            assert json.loads((fast / rel).read_text()) == json.loads((slow / rel).read_text())
        else:
            assert (fast / rel).read_bytes() == (slow / rel).read_bytes(), rel
    # the consolidated metadata is zarr's
    document = json.loads(G._consolidated_document(fast))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zarr.consolidate_metadata(fast / "sweep.zarr")
    assert document == json.loads((fast / "sweep.zarr" / "zarr.json").read_text())
    # a stray folder in a group (no metadata file, or a folder named zarr.json) is no node of it
    group = fast / "sweep.zarr" / jobs[1].name
    (group / "notes").mkdir()
    (group / "odd" / "zarr.json").mkdir(parents=True)
    assert json.loads(G._consolidated_document(fast)) == document


def test_status_saves_encode_again_exactly_the_records_that_changed(tmp_path):
    jobs = {f"job_{i:04d}": JobStatus(f"job_{i:04d}", f"{i:032x}", chunks_total=2) for i in (3, 1, 2)}
    status = RunStatus(sweep="s", output=str(tmp_path), jobs=jobs,
                       others=[{"name": "job_0000", "state": "done", "chunks_total": 1, "chunks_done": 1,
                                "chunks_computed": 1, "chunks_reused": 0, "seconds": 0.5, "error": None}])
    status.save()
    first = (tmp_path / "status.json").read_bytes()
    jobs["job_0002"].chunks_done, jobs["job_0002"].seconds = 1, 0.25
    try:
        raise OSError("disk on fire")
    except OSError as exc:
        jobs["job_0003"].fail(exc)
    status.state = "failed"
    status.save()
    data, problem = read_status(tmp_path)
    assert problem is None and data["state"] == "failed"
    records = {j["name"]: j for j in data["jobs"]}
    assert [j["name"] for j in data["jobs"]] == ["job_0000", "job_0001", "job_0002", "job_0003"]
    assert records["job_0002"]["chunks_done"] == 1 and records["job_0002"]["seconds"] == 0.25
    assert records["job_0003"]["state"] == "failed" and records["job_0003"]["error"]["message"] == "disk on fire"
    assert records["job_0001"] == {**vars(jobs["job_0001"]), "in_run": True}
    assert records["job_0000"]["in_run"] is False
    # the file is what encoding the whole status afresh gives
    cached = (tmp_path / "status.json").read_bytes()
    assert cached != first
    RunStatus(**{k: v for k, v in vars(status).items() if k != "_lines"}).save()
    assert (tmp_path / "status.json").read_bytes() == cached
    # records changed in place, and other records of the same count, are seen too
    jobs["job_0003"].error["message"] = "disk cooled down"
    status.others = [{**status.others[0], "name": "job_0009", "state": "failed"}]
    status.save()
    records = {j["name"]: j for j in read_status(tmp_path)[0]["jobs"]}
    assert records["job_0003"]["error"]["message"] == "disk cooled down"
    assert "job_0000" not in records and records["job_0009"]["state"] == "failed"


def test_status_saves_are_spaced_by_their_cost():
    now = [0.0]
    schedule = SaveSchedule(interval_s=0.5, cost_factor=20.0, clock=lambda: now[0])

    class Slow:  # a status whose save takes 0.1 s of the (fake) clock
        saves = 0

        def save(self):
            Slow.saves += 1
            now[0] += 0.1

    status = Slow()
    for _ in range(10**4):  # 10^4 chunks finishing 1 ms apart
        now[0] += 0.001
        if schedule.due():
            schedule.save(status)
    # 10 s of chunks + 0.1 s per save, saves >= 2 s apart: far fewer saves than chunks
    assert 2 <= Slow.saves <= 1 + now[0] / 2.0
    fast = SaveSchedule(interval_s=0.5, cost_factor=20.0, clock=lambda: now[0])
    assert fast.due()
