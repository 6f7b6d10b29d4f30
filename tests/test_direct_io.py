"""pipeline.direct_io: large writes past the page cache give the same bytes, and do go past it."""

from __future__ import annotations

import ctypes
import filecmp
import mmap
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import reference_movie, run_module, stored_movie
from pipeline import direct_io
from pipeline.config import load_sweep
from pipeline.plan import plan_sweep

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux") or not hasattr(os, "O_DIRECT"),
                                reason="O_DIRECT and mincore are Linux's")


def cached_pages(path: Path) -> tuple[int, int]:
    """(pages of ``path`` in the page cache, pages in all), by mincore(2) on a mapping of the file.

    A private writable mapping only to get its address from ctypes; nothing is written or read,
    so no page is faulted in and the pages it reports are the page cache's."""
    size = path.stat().st_size
    pages = -(-size // mmap.PAGESIZE)
    vec = (ctypes.c_ubyte * pages)()
    libc = ctypes.CDLL(None, use_errno=True)
    with open(path, "rb") as f, mmap.mmap(f.fileno(), size, flags=mmap.MAP_PRIVATE,
                                          prot=mmap.PROT_READ | mmap.PROT_WRITE) as view:
        anchor = ctypes.c_char.from_buffer(view)
        try:
            if libc.mincore(ctypes.c_void_p(ctypes.addressof(anchor)), ctypes.c_size_t(size), vec) != 0:
                raise OSError(ctypes.get_errno(), "mincore")
        finally:
            del anchor  # (the mapping cannot close while a ctypes view holds it)
    return sum(b & 1 for b in vec), pages


def bypasses_page_cache(folder: Path) -> bool:
    """Whether this file system keeps direct writes out of the page cache (tmpfs, for one, is the
    page cache; some refuse O_DIRECT)."""
    probe = folder / "probe.bin"
    direct_io.write_file(probe, bytes(2 * direct_io.MIN_DIRECT_BYTES))
    try:
        return cached_pages(probe)[0] == 0
    finally:
        probe.unlink()


@pytest.mark.parametrize("position, length", [
    (0, 100),                                   # small: one buffered write
    (0, direct_io.MIN_DIRECT_BYTES),            # aligned, one block-multiple
    (5, 3 * direct_io.MIN_DIRECT_BYTES + 77),   # unaligned head and tail
    (4096 * 3 - 1, 9 << 20),                    # more than one staging buffer
])
def test_pwrite_all_writes_exactly_the_bytes(tmp_path, position, length):
    data = np.random.default_rng(length).integers(0, 256, length, dtype=np.uint8)
    path = tmp_path / "f.bin"
    prefix = np.random.default_rng(1).integers(0, 256, position + length + 9000, dtype=np.uint8)
    path.write_bytes(prefix.tobytes())  # what lies around the range must stay
    fd = os.open(path, os.O_WRONLY)
    try:
        direct_io.pwrite_all(fd, str(path), data, position)
    finally:
        os.close(fd)
    want = prefix.copy()
    want[position:position + length] = data
    assert path.read_bytes() == want.tobytes()


@linux_only
@pytest.mark.parametrize("enabled", ["1", "0"])
def test_large_writes_bypass_the_page_cache_unless_turned_off(tmp_path, monkeypatch, enabled):
    monkeypatch.setenv("SMLM_SWEEP_DIRECT_IO", enabled)
    data = np.random.default_rng(0).integers(0, 256, 16 << 20, dtype=np.uint8)
    path = tmp_path / "f.bin"
    direct_io.write_file(path, data[: (16 << 20) - 123])  # an unaligned tail
    if enabled == "1" and not bypasses_page_cache(tmp_path):
        pytest.skip("direct writes stay in this file system's page cache, or it refuses them")
    resident, pages = cached_pages(path)
    assert path.read_bytes() == data[: (16 << 20) - 123].tobytes()
    if enabled == "1":
        assert resident <= 2  # at most the buffered tail's page (and none of the 4096 direct ones)
    else:
        assert resident == pages


def test_a_run_stores_the_same_bytes_with_and_without_direct_io(tmp_path):
    # chunks of 20 frames of 256 x 256 px: the encoded chunks and the OME-TIFF writes exceed MIN_DIRECT_BYTES
    text = ("[sweep]\nname = \"direct\"\nseed = 4\n[cluster]\nworkers = 1\n"
            "[base.emitters]\nnum_emitters = 200\nframes = 40\narea_px = 256.0\n"
            "[base.camera]\nroi_size = 256\n[base.render]\nchunk_frames = 20\n")
    (tmp_path / "sweep.toml").write_text(text)
    outputs = {}
    bypass = sys.platform.startswith("linux") and hasattr(os, "O_DIRECT") and bypasses_page_cache(tmp_path)
    for enabled in ("1", "0"):
        out = tmp_path / f"out{enabled}"
        proc = run_module("run", tmp_path / "sweep.toml", "--output", out, env={"SMLM_SWEEP_DIRECT_IO": enabled})
        assert proc.returncode == 0, proc.stdout + proc.stderr
        outputs[enabled] = out
        if bypass:  # the chunk files went past the page cache (or through it)
            resident = [cached_pages(f) for f in sorted((out / "sweep.zarr").rglob("c/*/*/*"))]
            if enabled == "1":
                assert all(cached <= 2 for cached, _ in resident), resident
            else:
                assert all(cached == pages for cached, pages in resident), resident
    job = plan_sweep(load_sweep(tmp_path / "sweep.toml")).jobs[0]
    frames, _ = stored_movie(outputs["1"], job.name)
    np.testing.assert_array_equal(frames, reference_movie(job)[0])
    chunk_files = sorted(p.relative_to(outputs["1"]) for p in (outputs["1"] / "sweep.zarr").rglob("c/*/*/*"))
    assert chunk_files and max((outputs["1"] / p).stat().st_size for p in chunk_files) > direct_io.MIN_DIRECT_BYTES
    for rel in chunk_files:
        assert filecmp.cmp(outputs["1"] / rel, outputs["0"] / rel, shallow=False), rel
    # the OME-TIFFs, streamed by the chunk tasks, differ only in the UUID that tifffile draws per file
    tiffs = [(out / "jobs" / job.name / "simulation.ome.tiff").read_bytes() for out in outputs.values()]
    assert len(tiffs[0]) > 2 * direct_io.MIN_DIRECT_BYTES
    without_uuid = [re.sub(rb"urn:uuid:[0-9a-f-]{36}", b"", t) for t in tiffs]
    assert without_uuid[0] == without_uuid[1]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX's")
def test_a_forked_child_stages_its_writes_in_its_own_buffer():
    parent = direct_io._bounce()
    parent[:5] = b"hello"
    pid = os.fork()
    if pid == 0:  # the child: stage other bytes in "its" buffer, then leave at once
        direct_io._bounce()[:5] = b"CHILD"
        os._exit(0)
    os.waitpid(pid, 0)
    assert parent[:5] == b"hello"
