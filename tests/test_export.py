"""Export (design §4, §6): OME-TIFF, emitters.h5, ThunderSTORM CSV, job.json, atomicity, skip/force."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
import zarr

from pipeline import exports as export
from pipeline.cli import main as cli_main
from pipeline.config import load_sweep
from pipeline.errors import UserError
from pipeline.exports.tiff import bigtiff_needed
from pipeline.plan import plan_sweep
from pipeline.store import CacheDir, group_names, store_path

from conftest import REPO, run_module

#: 4 small jobs: uint16 and float32 (no noise), non-square ROI, non-default pixel size and interval
SWEEP = """
[sweep]
name = "export_test"
seed = 5

[base.emitters]
num_emitters = 30
frames = 12
area_px = 28.0
intensity_mu = 3000.0
intensity_sigma = 500.0

[base.optics]
psf = "gaussian"
psf_radius_px = 4
pixel_size_nm = 107.0

[base.camera]
roi = [32, 48]
background = 10.0
readout_noise = 2.0
frame_interval_ms = 25.0

[base.render]
chunk_frames = 5

[variables]
"emitters.num_emitters" = [20, 40]
"camera.add_noise" = [true, false]
"""

OME_NS = "{http://www.openmicroscopy.org/Schemas/OME/2016-06}"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A finished (not exported) run of SWEEP; treat as read-only (copy it to modify)."""
    folder = tmp_path_factory.mktemp("export_run")
    sweep = folder / "sweep.toml"
    sweep.write_text(textwrap.dedent(SWEEP))
    out = folder / "out"
    proc = run_module("run", sweep, "--output", out, "--workers", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def copy_run(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("dask-spill", "jobs"))
    return target


@pytest.fixture(scope="module")
def exported(finished_run, tmp_path_factory) -> Path:
    out = copy_run(finished_run, tmp_path_factory.mktemp("exported") / "out")
    assert all(r["status"] == "exported" for r in export.export_sweep(out))
    return out


def jobs_of(out: Path):
    return [export.job_from_group(out, name) for name in group_names(out)]


def cli(*argv) -> tuple[int, str]:
    """``python -m pipeline export ...`` in-process: (exit code, stdout)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli_main([str(a) for a in argv])
    return code, out.getvalue().strip()


def frames_of(out: Path, name: str) -> np.ndarray:
    return zarr.open_array(store_path(out) / name / "frames", mode="r")[:]


def total_localizations(out: Path, job) -> int:
    cache = CacheDir(out)
    return sum(cache.read_entry(job.fingerprint, t0, t1)["localizations"] for t0, t1 in job.chunks)


# ---------------------------------------------------------------------------------------------- Job


def test_job_from_group_recovers_seeds(finished_run):
    planned = {j.name: j for j in plan_sweep(load_sweep(finished_run / "sweep.toml")).jobs}
    jobs = jobs_of(finished_run)
    assert len(jobs) == 4
    for job in jobs:
        ref = planned[job.name]
        assert (job.fingerprint, job.seed_digest, job.sweep_seed) == (ref.fingerprint, ref.seed_digest, 5)
        assert job.config == ref.config and job.varied == ref.varied and job.sample_id is None
    assert {str(j.dtype) for j in jobs} == {"uint16", "float32"}


# ---------------------------------------------------------------------------------------------- TIFF


def test_tiff_reads_back_identical_with_physical_sizes(exported):
    for job in jobs_of(exported):
        path = exported / "jobs" / job.name / "simulation.ome.tiff"
        stored = frames_of(exported, job.name)
        with tifffile.TiffFile(path) as tif:
            assert tif.is_ome and not tif.is_bigtiff
            series = tif.series[0]
            assert series.shape == (12, 32, 48) and series.axes == "TYX"
            assert series.dtype == job.dtype
            data = series.asarray()
            assert tif.pages[0].compression == tifffile.COMPRESSION.NONE
            xml = tif.ome_metadata
        assert data.tobytes() == stored.tobytes()
        pixels = tifffile.xml2dict(xml)["OME"]["Image"]["Pixels"]
        assert tifffile.xml2dict(xml)["OME"]["Image"]["Name"] == job.name
        assert pixels["PhysicalSizeX"] == pytest.approx(0.107) and pixels["PhysicalSizeY"] == pytest.approx(0.107)
        assert pixels["PhysicalSizeXUnit"] == pixels["PhysicalSizeYUnit"] == "µm"
        assert pixels["TimeIncrement"] == pytest.approx(0.025) and pixels["TimeIncrementUnit"] == "s"
        assert (pixels["SizeT"], pixels["SizeY"], pixels["SizeX"]) == (12, 32, 48)
        assert pixels["Type"] == {"uint16": "uint16", "float32": "float"}[str(job.dtype)]
        # the same with the standard library's parser
        image = ET.fromstring(xml.encode()).find(f"{OME_NS}Image")
        assert image.find(f"{OME_NS}Pixels").get("PhysicalSizeY") == "0.107"


def _without_uuid(xml: str) -> str:
    import re

    return re.sub(r'UUID="urn:uuid:[0-9a-f-]+"', "", xml)


def test_streamed_tiff_equals_the_exported_one(finished_run, exported):
    """The run's OME-TIFF (filled by the chunk tasks) is the file `export` writes from the store."""
    for job in jobs_of(finished_run):
        streamed = finished_run / "jobs" / job.name / "simulation.ome.tiff"
        serial = exported / "jobs" / job.name / "simulation.ome.tiff"
        with tifffile.TiffFile(streamed) as a, tifffile.TiffFile(serial) as b:
            assert a.byteorder == b.byteorder == "<" and a.is_bigtiff == b.is_bigtiff
            assert _without_uuid(a.ome_metadata) == _without_uuid(b.ome_metadata)
            assert len(a.pages) == len(b.pages) == job.frames
            assert a.series[0].dataoffset is not None  # contiguous, readable by memory mapping
            assert a.asarray().tobytes() == b.asarray().tobytes() == frames_of(finished_run, job.name).tobytes()
        assert not list(streamed.parent.glob(".*"))  # no temporaries left


def test_stream_of_a_resumed_run_fills_in_reused_chunks(finished_run, tmp_path):
    """Recomputed chunks are streamed by their tasks, reused ones copied from the store at export."""
    out = copy_run(finished_run, tmp_path / "out")
    cache = CacheDir(out)
    job = jobs_of(out)[0]
    t0, t1 = job.chunks[1]
    cache.entry_path(job.fingerprint, t0, t1).unlink()
    # a run killed earlier left its half-filled stream behind
    folder = out / "jobs" / job.name
    folder.mkdir(parents=True)
    leftover = folder / ".simulation.ome.tiff.run-dead00.tmp"
    leftover.write_bytes(b"partial")
    proc = run_module("run", out / "sweep.toml", "--output", out, "--workers", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 chunks to compute" in proc.stdout
    assert sorted(p.name for p in folder.iterdir()) == sorted([*export.FILES, export.MARKER])
    with tifffile.TiffFile(folder / "simulation.ome.tiff") as tif:
        assert tif.asarray().tobytes() == frames_of(out, job.name).tobytes()
    reference = tifffile.imread(finished_run / "jobs" / job.name / "simulation.ome.tiff")
    assert tifffile.imread(folder / "simulation.ome.tiff").tobytes() == reference.tobytes()


def test_stream_write_puts_frames_in_place(tmp_path, finished_run):
    job = jobs_of(finished_run)[0]
    stream = export.start_stream(tmp_path, job, "abc123")
    assert Path(stream.path).name == ".simulation.ome.tiff.run-abc123.tmp"
    frames = frames_of(finished_run, job.name)
    for t0, t1 in reversed(job.chunks):  # any order
        stream.write(t0, frames[t0:t1])
    with pytest.raises(ValueError, match="bytes"):
        stream.write(0, frames[:, :4])
    assert tifffile.imread(stream.path).tobytes() == frames.tobytes()
    Path(stream.path).unlink()
    with pytest.raises(FileNotFoundError):  # the layout must exist: never a file of frames alone
        stream.write(0, frames[:1])


def test_forced_bigtiff_and_zlib(finished_run, tmp_path):
    out = copy_run(finished_run, tmp_path / "out")
    job = jobs_of(out)[1]
    result = export.export_job(out, job, bigtiff=True, compression="zlib")
    assert result["status"] == "exported" and result["bigtiff"] is True
    with tifffile.TiffFile(out / "jobs" / job.name / "simulation.ome.tiff") as tif:
        assert tif.is_bigtiff and tif.is_ome
        assert tif.pages[0].compression == tifffile.COMPRESSION.ADOBE_DEFLATE
        assert tif.asarray().tobytes() == frames_of(out, job.name).tobytes()
    info = json.loads((out / "jobs" / job.name / "job.json").read_text())
    assert info["tiff"] == {"compression": "zlib", "bigtiff": True}
    # other options ⇒ not up to date
    assert export.export_job(out, job)["status"] == "exported"
    assert export.export_job(out, job)["status"] == "skipped"


def test_bigtiff_chosen_when_movie_can_exceed_4gib(finished_run):
    job = jobs_of(finished_run)[0]
    long = dataclasses.replace(job, config=job.config.model_copy(
        update={"emitters": job.config.emitters.model_copy(update={"frames": 2_000_000})}))
    assert long.nbytes > 2**32
    assert bigtiff_needed(long, "none", None) is True
    assert bigtiff_needed(job, "none", None) is False
    assert bigtiff_needed(long, "none", False) is False and bigtiff_needed(job, "zlib", True) is True


_KILL_SCRIPT = """
import sys, time
from pathlib import Path
import pipeline.exports.readback as R
import pipeline.exports.tiff as T
from pipeline.exports import export_job, job_from_group

original = R.iter_frames
def slow(*args, **kwargs):
    for frame in original(*args, **kwargs):
        time.sleep(0.4)
        yield frame
T.iter_frames = slow
out = Path(sys.argv[1])
export_job(out, job_from_group(out, sys.argv[2]))
print("finished")
"""


def test_killed_export_leaves_no_complete_looking_file(finished_run, tmp_path):
    out = copy_run(finished_run, tmp_path / "out")
    job = jobs_of(out)[0]
    folder = out / "jobs" / job.name
    proc = subprocess.Popen([sys.executable, "-c", _KILL_SCRIPT, str(out), job.name], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not list(folder.glob(".simulation.ome.tiff.*.tmp")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the export never started writing"
            time.sleep(0.05)
        time.sleep(0.5)  # a few frames in
        assert proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    left = sorted(p.name for p in folder.iterdir())
    assert all(name.startswith(".") and name.endswith(".tmp") for name in left), left
    assert len(left) == 1
    # a rerun completes and removes the leftover
    result = export.export_job(out, job)
    assert result["status"] == "exported"
    assert sorted(p.name for p in folder.iterdir()) == sorted([*export.FILES, export.MARKER])
    with tifffile.TiffFile(folder / "simulation.ome.tiff") as tif:
        assert tif.asarray().tobytes() == frames_of(out, job.name).tobytes()


# ---------------------------------------------------------------------------------------------- truth


def test_emitters_h5_tables_units_and_photons(exported):
    for job in jobs_of(exported):
        with h5py.File(exported / "jobs" / job.name / "emitters.h5", "r") as f:
            assert f.attrs["fingerprint"] == job.fingerprint and f.attrs["job"] == job.name
            assert json.loads(f.attrs["parameters"]) == job.config.model_dump(mode="json")
            assert json.loads(f.attrs["varied"]) == job.varied
            assert f.attrs["sweep_seed"] == 5 and f.attrs["seed_digest"] == job.seed_digest
            emitters, locs = f["emitters"], f["localizations"]
            assert emitters.dtype.names == ("id", "x_nm", "y_nm", "z_nm", "flux_photons", "t_on", "t_off",
                                            "total_photons", "structure_id", "site_id")
            assert locs.dtype.names == ("frame", "id", "x_nm", "y_nm", "z_nm", "photons", "on_fraction")
            for table in (emitters, locs):
                units = json.loads(table.attrs["units"])
                assert set(units) == set(table.dtype.names)
                assert units["x_nm"] == units["y_nm"] == units["z_nm"] == "nm"
                assert table.attrs["x_nm_units"] == "nm"
            assert json.loads(locs.attrs["units"])["photons"] == "photon"
            assert json.loads(locs.attrs["units"])["frame"] == "frame (0-based)"
            # sized to its content: contiguous, no unlimited chunked table (issue: 3.6 MB for 501 rows);
            # the allowance covers HDF5's overhead, the parameters attribute (it grows with the schema) and
            # the emitters table (content the CSV does not hold)
            assert locs.chunks is None and locs.maxshape == locs.shape
            assert (exported / "jobs" / job.name / "emitters.h5").stat().st_size < \
                1.5 * (exported / "jobs" / job.name / "localizations.csv").stat().st_size + 16384 + \
                len(f.attrs["parameters"]) + emitters.nbytes
            em, lo = emitters[:], locs[:]
        assert len(em) == job.config.emitters.num_emitters
        assert np.array_equal(em["id"], np.arange(len(em)))
        assert len(lo) == total_localizations(exported, job) > 0
        height, width = job.config.camera.roi_shape
        p = job.config.optics.pixel_size_nm
        assert np.all((lo["x_nm"] >= 0) & (lo["x_nm"] < width * p) & (lo["y_nm"] >= 0) & (lo["y_nm"] < height * p))
        assert np.all((lo["frame"] >= 0) & (lo["frame"] < job.frames))
        assert np.all(np.diff(lo["frame"]) >= 0)
        assert np.all((lo["on_fraction"] > 0) & (lo["on_fraction"] <= 1))
        # positions of a localization are its emitter's
        assert np.array_equal(lo["x_nm"], em["x_nm"][lo["id"]]) and np.array_equal(lo["z_nm"], em["z_nm"][lo["id"]])
        summed = np.bincount(lo["id"], weights=lo["photons"], minlength=len(em))
        np.testing.assert_allclose(summed, em["total_photons"], rtol=1e-9, atol=1e-9)


def test_emitters_table_written_block_by_block_is_the_whole_table(finished_run, tmp_path, monkeypatch):
    """The export writes ``emitters`` in blocks (the whole table was a second copy of the sample):
    with blocks of 7 rows, never a whole one, the file holds the table built at once."""
    from pipeline.exports import truth
    from pipeline.scene import build_sample

    out = copy_run(finished_run, tmp_path / "out")
    job = jobs_of(out)[0]
    sample = build_sample(job)
    whole = truth.emitter_table(sample.emitters, sample.events, job.frames, truth.extra_columns(job, sample),
                                sample.labels)
    assert len(whole) % 7 and len(whole) > 7
    built = []
    real = truth.emitter_rows
    monkeypatch.setattr(truth, "EMITTER_BLOCK", 7)
    monkeypatch.setattr(truth, "emitter_rows", lambda *args: built.append(args[3] - args[2]) or real(*args))
    code, text = cli("export", out, "--jobs", job.name, "--force")
    assert code == 0, text
    assert max(built) == 7 and sum(built) == len(whole)
    with h5py.File(out / "jobs" / job.name / "emitters.h5", "r") as f:
        assert f["emitters"][()].tobytes() == whole.tobytes()


def test_csv_thunderstorm(exported):
    for job in jobs_of(exported):
        path = exported / "jobs" / job.name / "localizations.csv"
        lines = path.read_text().splitlines()
        assert lines[0] == '"id","frame","x [nm]","y [nm]","z [nm]","intensity [photon]"'
        rows = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
        assert len(rows) == len(lines) - 1 == total_localizations(exported, job)
        with h5py.File(exported / "jobs" / job.name / "emitters.h5", "r") as f:
            lo = f["localizations"][:]
        assert np.array_equal(rows[:, 1], lo["frame"] + 1)  # 1-based
        assert rows[:, 1].min() >= 1 and rows[:, 1].max() <= job.frames
        assert np.array_equal(rows[:, 0], lo["id"])
        np.testing.assert_allclose(rows[:, 2], lo["x_nm"], atol=5e-4)
        np.testing.assert_allclose(rows[:, 5], lo["photons"], atol=5e-4)


def test_csv_lines_are_savetxt_text():
    from kernels.render import TRUTH_DTYPE
    from pipeline.exports import csv_lines

    rng = np.random.default_rng(4)
    rows = np.zeros(500, TRUTH_DTYPE)
    rows["id"], rows["frame"] = rng.integers(0, 10**6, 500), rng.integers(0, 10**5, 500)
    for name in ("x_nm", "y_nm", "z_nm", "photons"):
        rows[name] = rng.normal(0, 1e4, 500)
    reference = io.StringIO()
    np.savetxt(reference, np.column_stack([rows["id"], rows["frame"] + 1, rows["x_nm"], rows["y_nm"], rows["z_nm"],
                                           rows["photons"]]),
               fmt=("%d", "%d", "%.3f", "%.3f", "%.3f", "%.3f"), delimiter=",")
    assert csv_lines(rows).decode() == reference.getvalue()
    assert csv_lines(rows[:0]) == b""


def test_csv_remade_from_ground_truth_where_a_chunk_lost_its_lines(finished_run, tmp_path):
    out = copy_run(finished_run, tmp_path / "out")
    cache = CacheDir(out)
    job = next(j for j in jobs_of(out) if total_localizations(out, j))
    written = (finished_run / "jobs" / job.name / "localizations.csv").read_bytes()  # by the run, from the chunks' lines
    pieces = [cache.csv_path(job.fingerprint, t0, t1) for t0, t1 in job.chunks]
    assert all(p.is_file() for p in pieces)
    pieces[0].unlink()
    torn = next(p for p in pieces[1:] if p.stat().st_size)
    torn.write_bytes(torn.read_bytes()[: torn.stat().st_size // 2])
    export.export_job(out, job)
    assert (out / "jobs" / job.name / "localizations.csv").read_bytes() == written


def test_lines_an_entry_does_not_vouch_for_are_not_read(finished_run, tmp_path):
    # an entry whose chunk stored no lines (csv_checksum None, as a one-chunk job's) leaves the
    # export to format that chunk, even where an old .csv with the right line count lies there
    out = copy_run(finished_run, tmp_path / "out")
    cache = CacheDir(out)
    job = next(j for j in jobs_of(out) if total_localizations(out, j))
    written = (finished_run / "jobs" / job.name / "localizations.csv").read_bytes()
    (t0, t1) = next(c for c in job.chunks if cache.csv_path(job.fingerprint, *c).stat().st_size)
    entry_path = cache.entry_path(job.fingerprint, t0, t1)
    entry = json.loads(entry_path.read_text())
    entry_path.write_text(json.dumps({**entry, "csv_checksum": None}))
    lines = cache.csv_path(job.fingerprint, t0, t1)
    lines.write_bytes(lines.read_bytes().replace(b",", b",9", 1))  # other numbers, as many lines
    export.export_job(out, job, force=True)
    assert (out / "jobs" / job.name / "localizations.csv").read_bytes() == written


def test_job_json(exported):
    for job in jobs_of(exported):
        folder = exported / "jobs" / job.name
        info = json.loads((folder / "job.json").read_text())
        assert info["fingerprint"] == job.fingerprint and info["job"] == job.name
        assert info["parameters"] == job.config.model_dump(mode="json")
        assert info["varied"] == job.varied
        assert info["seed"] == {"sweep_seed": 5, "seed_digest": job.seed_digest}
        assert info["timings"]["chunk_seconds"] > 0 and info["timings"]["export_seconds"] > 0
        assert {"smlm-sweep", "kernels", "numpy", "zarr", "tifffile"} <= set(info["software"])
        assert info["localizations"] == total_localizations(exported, job)
        marker = json.loads((folder / "export.json").read_text())
        assert marker["fingerprint"] == job.fingerprint
        assert set(marker["files"]) == {"simulation.ome.tiff", "emitters.h5", "localizations.csv", "job.json"}
        assert not list(folder.glob(".*"))  # no temporaries left


# ---------------------------------------------------------------------------------------------- rerun


def test_rerun_skips_force_rewrites(finished_run, tmp_path):
    out = copy_run(finished_run, tmp_path / "out")
    code, text = cli("export", out)
    assert code == 0 and text.count("exported") == 4, text
    name = group_names(out)[0]
    tiff = out / "jobs" / name / "simulation.ome.tiff"
    inode = tiff.stat().st_ino
    code, text = cli("export", out)
    assert code == 0 and text.count("skipped") == 4 and "exported" not in text, text
    assert tiff.stat().st_ino == inode
    code, text = cli("export", out, "--jobs", name, "--force")
    assert code == 0 and text.splitlines() == [line for line in text.splitlines() if line.startswith("exported")]
    assert len(text.splitlines()) == 1 and tiff.stat().st_ino != inode
    # a deleted file ⇒ not complete ⇒ exported again
    (out / "jobs" / name / "localizations.csv").unlink()
    code, text = cli("export", out, "--jobs", "job_000*")
    assert code == 0 and text.count("exported") == 1 and text.count("skipped") == 3, text
    with pytest.raises(UserError, match="matches none"):
        export.export_sweep(out, jobs="nope*")
    assert cli("export", out, "--jobs", "nope*")[0] == 2


def test_export_json_records_what_the_export_was_made_from(exported, tmp_path):
    from pipeline.exports.layout import inputs_digest
    from pipeline.store import file_checksum

    out = copy_run(exported, tmp_path / "out")
    shutil.copytree(exported / "jobs", out / "jobs")
    job = jobs_of(out)[0]
    folder = out / "jobs" / job.name
    marker = json.loads((folder / "export.json").read_text())
    entries = [CacheDir(out).read_entry(job.fingerprint, t0, t1) for t0, t1 in job.chunks]
    assert marker["inputs"] == inputs_digest(entries)
    assert marker["sha256"] == {name: file_checksum(folder / name) for name in ("emitters.h5", "localizations.csv")}
    assert marker["bytes"] == {name: (folder / name).stat().st_size for name in export.FILES}
    assert export.export_job(out, job)["status"] == "skipped"
    # made from other entries (or by a version that did not record them): re-made, not skipped
    for edit in ({"inputs": "sha256:" + "0" * 64}, {"inputs": None}):
        (folder / "export.json").write_text(json.dumps({**marker, **edit}))
        assert export.export_job(out, job)["status"] == "exported"
    assert json.loads((folder / "export.json").read_text())["inputs"] == marker["inputs"]
    # a file of another size than written (truncated) is not a current export either
    (folder / "emitters.h5").write_bytes((folder / "emitters.h5").read_bytes()[:100])
    assert not export.export_is_current(out, job, entries)
    assert export.export_job(out, job)["status"] == "exported"


def test_export_refuses_a_job_whose_store_or_truth_changed_before_touching_it(exported, tmp_path):
    out = copy_run(exported, tmp_path / "out")
    shutil.copytree(exported / "jobs", out / "jobs")
    first, second = jobs_of(out)[:2]
    (store_path(out) / first.name / "frames" / "c" / "1" / "0" / "0").unlink()
    cache = CacheDir(out)
    t0, t1 = second.chunks[0]
    cache.truth_path(second.fingerprint, t0, t1).write_bytes(b"not the rows")
    before = {job.name: (out / "jobs" / job.name / "export.json").read_bytes() for job in (first, second)}
    with pytest.raises(RuntimeError, match=rf"job {first.name}: frames \[5, 10\) are no longer in the store.*run the sweep"):
        export.export_job(out, first, force=True)
    with pytest.raises(RuntimeError, match=rf"job {second.name}: ground truth of frames \[0, 5\).*run the sweep again"):
        export.export_job(out, second, force=True)
    assert before == {job.name: (out / "jobs" / job.name / "export.json").read_bytes() for job in (first, second)}


def test_verify_checks_a_compressed_export_page_by_page(finished_run, tmp_path):
    import pipeline

    out = copy_run(finished_run, tmp_path / "out")
    job = jobs_of(out)[0]
    assert export.export_job(out, job, compression="zlib")["status"] == "exported"
    for other in jobs_of(out)[1:]:
        export.export_job(out, other)
    assert pipeline.verify(out).ok
    path = out / "jobs" / job.name / "simulation.ome.tiff"
    with tifffile.TiffFile(path) as tif:
        position = int(tif.pages[6].dataoffsets[0]) + 40
    data = bytearray(path.read_bytes())
    data[position] ^= 0x55
    path.write_bytes(bytes(data))
    result = pipeline.verify(out)
    assert [p for p in result.problems if "simulation.ome.tiff" in p] == result.problems and len(result.problems) == 1
    assert result.problems[0].startswith(f"{job.name}: simulation.ome.tiff")
    assert not (out / "jobs" / job.name / "export.json").exists()  # the next run re-makes it


def test_unfinished_job_is_refused(finished_run, tmp_path):
    out = copy_run(finished_run, tmp_path / "out")
    job = jobs_of(out)[0]
    t0, t1 = job.chunks[1]
    CacheDir(out).entry_path(job.fingerprint, t0, t1).unlink()
    with pytest.raises(RuntimeError, match=rf"{job.name} is not finished: 1 of 3 chunks have no cache entry "
                                           rf"\(frames \[{t0}, {t1}\)\)"):
        export.export_job(out, job)
    assert not (out / "jobs" / job.name).exists()
    code, text = cli("export", out)
    assert code == 1
    assert f"failed    {job.name}: job {job.name} is not finished" in text
    assert text.count("exported") == 3


def test_export_command_on_a_folder_without_store(tmp_path, capsys):
    with pytest.raises(UserError, match="no sweep.zarr"):
        export.export_sweep(tmp_path)
    assert cli("export", tmp_path)[0] == 2 and "no sweep.zarr" in capsys.readouterr().err
