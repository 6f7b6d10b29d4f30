"""The store's chunk writer: the bytes zarr itself would write, durable, readable by zarr and xarray."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import zarr

from conftest import TINY_SWEEP

from pipeline.config import load_sweep
from pipeline.plan import plan_sweep
from pipeline.store import FRAMES, prepare_job, store_path, stored_chunks, write_chunk
from pipeline.store import groups as G
from pipeline.store.documents import frames_layout
from pipeline.store.groups import frames_codec
from pipeline.store.metadata import node_document


def chunk_file(output, job_name: str, chunk_index: int):
    """Where zarr puts chunk (i, 0, 0) of a job's frames (the array's own key encoding)."""
    array = zarr.open_array(store_path(output) / job_name / FRAMES, mode="r")
    return store_path(output) / job_name / FRAMES / array.metadata.encode_chunk_key((chunk_index, 0, 0))


@pytest.mark.parametrize("add_noise", [True, False], ids=["uint16", "float32"])
def test_chunks_are_the_bytes_zarr_writes(tmp_path, write_sweep, add_noise):
    sweep = write_sweep()
    text = sweep.read_text().replace("chunk_frames = 4", "chunk_frames = 5").replace(
        "[base.camera]", f"[base.camera]\nadd_noise = {'true' if add_noise else 'false'}")
    sweep.write_text(text)
    job = plan_sweep(load_sweep(sweep)).jobs[0]
    assert job.frames % job.chunk_frames  # the last chunk is partial
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    for out in (ours, theirs):
        (out / "cache").mkdir(parents=True)
        prepare_job(out, job)
    rng = np.random.default_rng(1)
    movie = (rng.random(job.shape) * 3000).astype(job.dtype)
    reference = zarr.open_array(store_path(theirs) / job.name / FRAMES, mode="r+")
    for i, (t0, t1) in enumerate(job.chunks):
        write_chunk(ours, job.name, t0, movie[t0:t1])
        reference[t0:t1] = movie[t0:t1]
        assert chunk_file(ours, job.name, i).read_bytes() == chunk_file(theirs, job.name, i).read_bytes()
    assert zarr.open_array(store_path(ours) / job.name / FRAMES, mode="r")[:].tobytes() == movie.tobytes()
    assert not list((store_path(ours) / job.name).rglob("*.tmp"))


def test_arrays_with_other_codecs_are_written_by_zarr(tmp_path, write_sweep):
    """A store made with other codecs (an older layout, or by hand) still gets correct chunks."""
    job = plan_sweep(load_sweep(write_sweep())).jobs[0]
    (tmp_path / "cache").mkdir()
    prepare_job(tmp_path, job)
    path = store_path(tmp_path) / job.name / FRAMES
    zarr.create_array(path, shape=job.shape, chunks=(job.chunk_frames, *job.shape[1:]), dtype=job.dtype,
                      compressors=None, fill_value=0, overwrite=True)
    movie = np.arange(np.prod(job.shape), dtype=np.uint64).reshape(job.shape).astype(job.dtype)
    for t0, t1 in job.chunks:
        write_chunk(tmp_path, job.name, t0, movie[t0:t1])
    assert zarr.open_array(path, mode="r")[:].tobytes() == movie.tobytes()


def test_last_chunk_is_padded_with_the_arrays_fill_value(tmp_path, write_sweep):
    job = plan_sweep(load_sweep(write_sweep())).jobs[0]
    (tmp_path / "cache").mkdir()
    prepare_job(tmp_path, job)
    path = store_path(tmp_path) / job.name / FRAMES
    zarr.create_array(path, shape=job.shape, chunks=(5, *job.shape[1:]), dtype=job.dtype, compressors=frames_codec(),
                      fill_value=7, overwrite=True)
    reference = zarr.create_array(tmp_path / "reference.zarr", shape=job.shape, chunks=(5, *job.shape[1:]),
                                  dtype=job.dtype, compressors=frames_codec(), fill_value=7)
    movie = (np.random.default_rng(2).random(job.shape) * 3000).astype(job.dtype)
    write_chunk(tmp_path, job.name, 10, movie[10:12])
    reference[10:12] = movie[10:12]
    assert chunk_file(tmp_path, job.name, 2).read_bytes() == (tmp_path / "reference.zarr" / "c" / "2" / "0" / "0").read_bytes()


def test_stored_chunks_lists_every_chunk_file_with_its_size(tmp_path, write_sweep):
    job = plan_sweep(load_sweep(write_sweep())).jobs[0]
    (tmp_path / "cache").mkdir()
    assert stored_chunks(tmp_path, job.name) == {}  # no store, no group: nothing stored
    prepare_job(tmp_path, job)
    assert stored_chunks(tmp_path, job.name) == {}
    movie = (np.random.default_rng(3).random(job.shape) * 3000).astype(job.dtype)
    sizes = {i: write_chunk(tmp_path, job.name, t0, movie[t0:t1]) for i, (t0, t1) in enumerate(job.chunks)}
    assert sizes == {i: chunk_file(tmp_path, job.name, i).stat().st_size for i in sizes}
    (chunk_file(tmp_path, job.name, 1).parent / ".0.1234.tmp").write_bytes(b"left by a killed write")
    chunk_file(tmp_path, job.name, 2).unlink()
    assert stored_chunks(tmp_path, job.name) == {0: sizes[0], 1: sizes[1]}


@pytest.mark.parametrize("changes", [
    {},  # uint16 frames in chunks of 4
    {"frames = 12": "frames = 20", "chunk_frames = 4": "chunk_frames = 5\nshard_frames = 10"},  # in shards
    {"readout_noise = 2.0": "readout_noise = 2.0\nadd_noise = false"},  # float32 frames
    {"frames = 12": "frames = 1", "chunk_frames = 4": "chunk_frames = 1"},  # t = [0.0]: zarr stores no chunk of it
    # the longest coordinate written without zarr (zarr's chunk guess keeps it whole)
    {"frames = 12": "frames = 16384", "chunk_frames = 4": "chunk_frames = 4096"},
])
def test_new_group_documents_are_the_bytes_zarr_writes(write_sweep, changes):
    text = TINY_SWEEP
    for old, new in changes.items():
        assert old in text
        text = text.replace(old, new)
    job = plan_sweep(load_sweep(write_sweep(text))).jobs[0]
    ours = G._documents(job)
    assert ours is not None and ours == G._zarr_files(job)
    # and the layout read back from our frames document is the array zarr opens from it
    layout = frames_layout(json.loads(ours["frames/zarr.json"]))
    assert (layout.shape, layout.dtype, layout.chunk_frames, layout.shard_frames) == (
        job.shape, job.dtype, job.chunk_frames, job.shard_frames or 0)


def test_a_coordinate_zarr_would_split_is_left_to_zarr(write_sweep):
    job = plan_sweep(load_sweep(write_sweep(TINY_SWEEP.replace("frames = 12", "frames = 16385")))).jobs[0]
    assert G._documents(job) is None and G._template_files(G._template_key(job), job) == G._zarr_files(job)


def test_a_frames_document_of_another_layout_is_written_through_zarr(tmp_path, write_sweep):
    """Chunk keys with "." (or another codec) are not the layout write_chunk encodes itself: zarr writes them."""
    job = plan_sweep(load_sweep(write_sweep())).jobs[0]
    (tmp_path / "cache").mkdir()
    prepare_job(tmp_path, job)
    path = store_path(tmp_path) / job.name / FRAMES
    zarr.create_array(path, shape=job.shape, chunks=(4, *job.shape[1:]), dtype=job.dtype, compressors=frames_codec(),
                      chunk_key_encoding={"name": "default", "separator": "."}, fill_value=0, overwrite=True)
    assert frames_layout(node_document(path, "array")[0]) is None
    movie = (np.random.default_rng(3).random(job.shape) * 3000).astype(job.dtype)
    assert write_chunk(tmp_path, job.name, 4, movie[4:8]) == (path / "c.1.0.0").stat().st_size > 0
    assert zarr.open_array(path, mode="r")[4:8].tobytes() == movie[4:8].tobytes()


def test_a_new_store_is_prepared_written_and_consolidated_without_importing_zarr(tmp_path, write_sweep):
    """zarr's import (0.3-0.5 s) is off the path to a fresh run's first chunk, in the run process
    (imports, prepare) and in the workers (new groups, chunks); the store is still zarr's to read."""
    import subprocess
    import sys

    path = write_sweep(TINY_SWEEP.replace("frames = 12", "frames = 4"))  # (one chunk: a deferred group)
    code = f"""
import sys
from pathlib import Path
import pipeline.run, pipeline.run.graph
from pipeline.config import load_sweep
from pipeline.plan import plan_sweep
from pipeline.run.execute import _prepare
from pipeline.run.status import JobStatus, RunStatus
from pipeline.store import consolidate, write_chunk, write_new_group
from conftest import reference_movie
plan = plan_sweep(load_sweep({str(path)!r}))
out = Path({str(tmp_path / "out")!r}); out.mkdir()
status = RunStatus(sweep=plan.name, output=str(out), jobs={{j.name: JobStatus(j.name, j.fingerprint, 1) for j in plan.jobs}})
work = _prepare(plan, out, True, status, print)
for job in plan.jobs:
    write_new_group(out, job)
    write_chunk(out, job.name, 0, reference_movie(job)[0])
consolidate(out)
print(sorted(work.new_groups) == sorted(j.name for j in plan.jobs), "zarr" in sys.modules)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).parent)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[-2:] == ["True", "False"]
    job = plan_sweep(load_sweep(path)).jobs[0]
    from conftest import reference_movie

    tree = zarr.open_group(tmp_path / "out" / "sweep.zarr", mode="r")  # (the consolidated view)
    assert tree[job.name][FRAMES][:].tobytes() == reference_movie(job)[0].tobytes()


def _store_of(out, jobs):
    """Groups and chunks of ``jobs`` in ``out``; each job's movie by fingerprint."""
    (out / "cache").mkdir(parents=True, exist_ok=True)
    movies = {}
    for job in jobs:
        prepare_job(out, job)
        movies[job.fingerprint] = (np.arange(np.prod(job.shape)) % 991).astype(job.dtype).reshape(job.shape)
        for t0, t1 in job.chunks:
            write_chunk(out, job.name, t0, movies[job.fingerprint][t0:t1])
    return movies


def test_a_rerun_and_an_extension_keep_their_groups_without_zarr(tmp_path, write_sweep, monkeypatch):
    """Groups written by this version are kept, renamed (the sweep was extended: indices moved) and
    given their job's attributes from their documents: zarr opening each group (and the root, whose
    consolidated document grows with the jobs) made a re-run of 10^3 jobs take 99 s instead of 2."""
    from pipeline.store import consolidate, fingerprint_index, kept_group

    path = write_sweep()
    first = plan_sweep(load_sweep(path)).jobs
    out = tmp_path / "out"
    movie = _store_of(out, first)
    consolidate(out)
    opened = []
    real = zarr.open_group
    monkeypatch.setattr(zarr, "open_group", lambda *a, **k: opened.append(a) or real(*a, **k))
    monkeypatch.setattr(zarr, "create_group", lambda *a, **k: opened.append(a) or pytest.fail("created"))
    index = fingerprint_index(out)
    for job in first:  # a re-run: every group as it is
        assert kept_group(out, job, index) == job.name
        assert prepare_job(out, job, index) == G.Prepared()
    extended = plan_sweep(load_sweep(write_sweep(path.read_text().replace("[20, 40]", "[10, 20, 30, 40]")))).jobs
    kept = {job.fingerprint: job for job in extended if job.fingerprint in movie}
    assert len(kept) == 2 and all(job.name not in [j.name for j in first if j.fingerprint == job.fingerprint]
                                  for job in kept.values())  # (both kept jobs have new names)
    index = fingerprint_index(out)
    moved = {job.name: prepare_job(out, job, index) for job in extended}
    assert opened == []
    monkeypatch.undo()
    for fingerprint, job in kept.items():
        assert moved[job.name].moved_from is not None
        group = zarr.open_group(store_path(out) / job.name, mode="r")
        assert group.attrs["job"] == job.name and group.attrs["varied"] == job.varied
        assert group[FRAMES][:].tobytes() == movie[fingerprint].tobytes()


def test_a_damaged_copy_of_a_group_never_hides_the_intact_one(tmp_path, write_sweep):
    """Copies with one fingerprint (a group copied by hand): the intact one is kept, whichever the
    index names; the preflight counts the job's own group first."""
    import shutil

    from pipeline.store import fingerprint_index, kept_group

    path = write_sweep()
    job = plan_sweep(load_sweep(path)).jobs[0]
    out = tmp_path / "out"
    movies = _store_of(out, [job])
    copy = store_path(out) / f"{job.name}~zz"  # (sorts after the job's own group: the index names it)
    shutil.copytree(store_path(out) / job.name, copy)
    assert fingerprint_index(out)[job.fingerprint] == copy.name
    assert kept_group(out, job, fingerprint_index(out)) == job.name
    frames = json.loads((copy / FRAMES / "zarr.json").read_text())
    frames["codecs"][1]["configuration"]["cname"] = "no-such-codec"  # valid JSON, not readable by zarr
    (copy / FRAMES / "zarr.json").write_text(json.dumps(frames))
    extended = plan_sweep(load_sweep(write_sweep(path.read_text().replace("[20, 40]", "[10, 20, 40]")))).jobs
    moved = next(j for j in extended if j.fingerprint == job.fingerprint)
    assert moved.name != job.name
    assert kept_group(out, moved, fingerprint_index(out)) == job.name
    prepare_job(out, moved, fingerprint_index(out))
    frames = zarr.open_array(store_path(out) / moved.name / FRAMES, mode="r")
    assert frames[:].tobytes() == movies[job.fingerprint].tobytes()


def test_another_jobs_group_with_an_odd_fingerprint_is_moved_aside_not_deleted(tmp_path, write_sweep):
    jobs = plan_sweep(load_sweep(write_sweep())).jobs
    out = tmp_path / "out"
    _store_of(out, jobs[:1])
    document = store_path(out) / jobs[0].name / "zarr.json"
    group = json.loads(document.read_text())
    group["attributes"]["fingerprint"] = 12345  # (not this version's text: still another job's group)
    document.write_text(json.dumps(group))
    prepare_job(out, jobs[0])
    aside = store_path(out) / f"{jobs[0].name}~12345"
    assert zarr.open_array(aside / FRAMES, mode="r")[:].any()  # its chunks are still there
    assert zarr.open_group(store_path(out) / jobs[0].name, mode="r").attrs["fingerprint"] == jobs[0].fingerprint


def test_a_group_holds_the_documents_of_its_job_until_one_changes(tmp_path, write_sweep):
    """Readers skip zarr only for a group whose documents are byte for byte those written for the job."""
    jobs = plan_sweep(load_sweep(write_sweep(TINY_SWEEP.replace("[20, 40]", "[20, 40, 60]")))).jobs
    for job in jobs:
        prepare_job(tmp_path, job, {})
    assert [G.holds_documents_of(tmp_path, job) for job in jobs] == [True] * len(jobs)
    assert not G.holds_documents_of(tmp_path, _renamed(jobs[1], jobs[0].name))
    t = store_path(tmp_path) / jobs[0].name / "t" / "zarr.json"
    t.write_text(json.dumps(json.loads(t.read_text())))  # the same document, other bytes: zarr must judge it
    assert not G.holds_documents_of(tmp_path, jobs[0]) and G.holds_documents_of(tmp_path, jobs[1])
    (store_path(tmp_path) / jobs[1].name / FRAMES / "zarr.json").unlink()
    assert not G.holds_documents_of(tmp_path, jobs[1])


def _renamed(job, name):
    """The job under another job's name (whose group holds another fingerprint)."""
    import dataclasses

    return dataclasses.replace(job, name=name)
