"""The store's chunk writer: the bytes zarr itself would write, durable, readable by zarr and xarray."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from pipeline.config import load_sweep
from pipeline.plan import plan_sweep
from pipeline.store import FRAMES, prepare_job, store_path, stored_chunks, write_chunk
from pipeline.store.groups import CODEC


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
    zarr.create_array(path, shape=job.shape, chunks=(5, *job.shape[1:]), dtype=job.dtype, compressors=CODEC,
                      fill_value=7, overwrite=True)
    reference = zarr.create_array(tmp_path / "reference.zarr", shape=job.shape, chunks=(5, *job.shape[1:]),
                                  dtype=job.dtype, compressors=CODEC, fill_value=7)
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
