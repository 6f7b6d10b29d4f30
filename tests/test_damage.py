"""Damage matrix (issue: nothing silently wrong): every artefact of a finished output, damaged in turn,
is repaired by what the README's "When things go wrong" says, with no chunk recomputed needlessly.

One clean run is made once; each case copies it, damages one thing, runs the commands of its row
(the CLI in-process, on one shared cluster) and then checks that every output file is bitwise what
the clean run wrote (stored frames, the TIFF's pixels, both HDF5 tables, the CSV), that the last
`run` computed exactly the damaged chunks (status.json, per job) and that `verify` finds nothing.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import traceback
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
import zarr

from conftest import TINY_SWEEP, status_of

pytestmark = pytest.mark.slow

J0, J1 = "job_0000_num_emitters_20", "job_0001_num_emitters_40"  # 3 chunks of 4 frames each, 32x32 pixels


# ------------------------------------------------------------------------------------------ damages


def _flip(path: Path, position: int) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= 0x55
    path.write_bytes(bytes(data))


def _truncate(path: Path, keep: float = 0.5) -> None:
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * keep)])


def _chunk(out: Path, job: str, index: int) -> Path:
    return out / "sweep.zarr" / job / "frames" / "c" / str(index) / "0" / "0"


def _fingerprint(out: Path, job: str) -> str:
    return json.loads((out / "sweep.zarr" / job / "zarr.json").read_text())["attributes"]["fingerprint"]


def _truth(out: Path, job: str, t0: int, suffix: str) -> Path:
    return out / "cache" / "truth" / _fingerprint(out, job) / f"{t0:09d}-{t0 + 4:09d}{suffix}"


def _entry(out: Path, job: str, t0: int) -> Path:
    key = hashlib.sha256(f"{_fingerprint(out, job)}:{t0}:{t0 + 3}".encode()).hexdigest()[:32]
    return out / "cache" / "chunks" / f"{key}.json"


def _change_a_digit(path: Path) -> None:
    """Change one digit of the second line: same size, same line count, another value."""
    data = bytearray(path.read_bytes())
    start = data.index(b"\n") + 1
    position = next(i for i in range(start, len(data)) if chr(data[i]).isdigit())
    data[position] = ord(str((int(chr(data[position])) + 1) % 10))
    path.write_bytes(bytes(data))


def _tiff_pixels_offset(path: Path) -> int:
    with tifffile.TiffFile(path) as tif:
        return int(tif.pages[0].dataoffsets[0])


def flip_chunk(job, index):
    return lambda out: _flip(_chunk(out, job, index), _chunk(out, job, index).stat().st_size // 2)


def truncate_chunk(job, index):
    return lambda out: _truncate(_chunk(out, job, index), 0.3)


def delete_chunk(job, index):
    return lambda out: _chunk(out, job, index).unlink()


def delete_group(job):
    return lambda out: shutil.rmtree(out / "sweep.zarr" / job)


def delete_store(out):
    shutil.rmtree(out / "sweep.zarr")


def garble_entry(job, t0):
    return lambda out: _entry(out, job, t0).write_text('{"key": "trunc')


def flip_truth(job, t0):
    # a byte of the last row's values: the file still loads, with other numbers
    return lambda out: _flip(_truth(out, job, t0, ".npy"), _truth(out, job, t0, ".npy").stat().st_size - 3)


def change_truth_lines(job, t0):
    return lambda out: _change_a_digit(_truth(out, job, t0, ".csv"))


def truncate_export(job, name):
    return lambda out: _truncate(out / "jobs" / job / name)


def flip_tiff_pixels(job):
    def damage(out):
        path = out / "jobs" / job / "simulation.ome.tiff"
        _flip(path, _tiff_pixels_offset(path) + 5 * 32 * 32 * 2 + 77)  # a pixel of frame 5 (chunk 1)
    return damage


def change_csv(job):
    return lambda out: _change_a_digit(out / "jobs" / job / "localizations.csv")


def write(relative, text):
    return lambda out: (out / relative).write_text(text)


# ------------------------------------------------------------------------------------------ matrix


@dataclass(frozen=True)
class Case:
    name: str
    damage: Callable[[Path], None]
    commands: tuple[tuple[str, int], ...]  # (command, expected exit code); `run` last
    computed: dict[str, int] = field(default_factory=dict)  # chunks the last run recomputes, per job

    def __str__(self) -> str:
        return self.name


VERIFY_RUN = (("verify", 1), ("run", 0))
RUN = (("run", 0),)

CASES = [
    Case("zarr chunk bit-flipped", flip_chunk(J1, 1), VERIFY_RUN, {J1: 1}),
    Case("zarr chunk truncated", truncate_chunk(J0, 2), RUN, {J0: 1}),
    Case("zarr chunk deleted", delete_chunk(J0, 1), RUN, {J0: 1}),
    Case("one job's group deleted", delete_group(J1), VERIFY_RUN, {J1: 3}),
    Case("whole store deleted", delete_store, VERIFY_RUN, {J0: 3, J1: 3}),
    Case("cache entry garbled", garble_entry(J0, 4), RUN, {J0: 1}),
    Case("truth .npy bit-flipped, run", flip_truth(J1, 0), RUN, {J1: 1}),
    Case("truth .npy bit-flipped, export --force", flip_truth(J1, 0), (("export --force", 1), ("run", 0)), {J1: 1}),
    Case("truth .npy bit-flipped, verify", flip_truth(J1, 4), VERIFY_RUN, {J1: 1}),
    Case("truth CSV lines changed", change_truth_lines(J1, 0), (("verify", 1), ("export --force", 0), ("run", 0))),
    Case("OME-TIFF truncated", truncate_export(J0, "simulation.ome.tiff"), RUN),
    Case("OME-TIFF pixels bit-flipped", flip_tiff_pixels(J1), VERIFY_RUN),
    Case("emitters.h5 truncated", truncate_export(J1, "emitters.h5"), RUN),
    Case("localizations.csv changed", change_csv(J0), VERIFY_RUN),
    Case("export.json garbage", write(f"jobs/{J0}/export.json", "garbage"), RUN),
    Case("status.json garbage", write("status.json", "{garbage"), (("status", 2), ("run", 0), ("status", 0))),
    Case("status.json a list", write("status.json", "[1, 2]"), (("status", 2), ("run", 0), ("status", 0))),
    Case("status.json jobs not a list", write("status.json", '{"jobs": 5}'), (("status", 2), ("run", 0))),
    Case("store zarr.json garbled", write("sweep.zarr/zarr.json", '{"zarr_fo'), VERIFY_RUN),
    Case("group zarr.json garbled", write(f"sweep.zarr/{J0}/zarr.json", "[]"), VERIFY_RUN),
    Case("frames zarr.json garbled", write(f"sweep.zarr/{J1}/frames/zarr.json", '{"zarr_format": 3'), VERIFY_RUN),
    Case("coordinate zarr.json garbled", write(f"sweep.zarr/{J0}/x/zarr.json", "{}"), RUN),
]


# ------------------------------------------------------------------------------------------ running


@pytest.fixture(scope="module")
def scheduler():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        yield cluster.scheduler_address


def command(line: str, out: Path, sweep: Path, scheduler: str) -> tuple[int, str]:
    """One CLI command in-process: (exit code, what it printed); a traceback is exit code -1."""
    from pipeline.cli import main

    verb, *options = line.split()
    argv = [verb, str(sweep), "--output", str(out), "--scheduler", scheduler] if verb == "run" else [verb, str(out)]
    text = io.StringIO()
    with redirect_stdout(text), redirect_stderr(text):
        try:
            code = main(argv + options)
        except Exception:  # noqa: BLE001 - a traceback is the failure this test looks for
            code = -1
            traceback.print_exc()
    return code, text.getvalue()


def _sha(data) -> str:
    return hashlib.sha256(np.ascontiguousarray(data).tobytes() if isinstance(data, np.ndarray) else data).hexdigest()


def outputs(out: Path) -> dict[str, str]:
    """sha256 of everything a user reads: stored frames, TIFF pixels, both HDF5 tables, the CSV."""
    readers = {
        "frames": lambda job: zarr.open_array(out / "sweep.zarr" / job / "frames", mode="r")[:],
        "tiff pixels": lambda job: tifffile.imread(out / "jobs" / job / "simulation.ome.tiff"),
        "emitters": lambda job: h5py.File(out / "jobs" / job / "emitters.h5", "r")["emitters"][()],
        "localizations": lambda job: h5py.File(out / "jobs" / job / "emitters.h5", "r")["localizations"][()],
        "csv": lambda job: (out / "jobs" / job / "localizations.csv").read_bytes(),
    }
    digests = {}
    for job in (J0, J1):
        for what, read in readers.items():
            try:
                digests[f"{job} {what}"] = _sha(read(job))
            except Exception as exc:  # noqa: BLE001 - unreadable counts as different
                digests[f"{job} {what}"] = f"unreadable: {type(exc).__name__}"
    return digests


@pytest.fixture(scope="module")
def clean(tmp_path_factory, scheduler):
    folder = tmp_path_factory.mktemp("damage")
    sweep = folder / "sweep.toml"
    sweep.write_text(TINY_SWEEP)
    out = folder / "clean"
    code, text = command("run", out, sweep, scheduler)
    assert code == 0, text
    return sweep, out, outputs(out)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_damage_is_repaired(case, clean, scheduler, tmp_path):
    sweep, source, expected = clean
    out = tmp_path / "out"
    shutil.copytree(source, out, ignore=shutil.ignore_patterns("dask-spill"))
    case.damage(out)
    log = []
    for line, code in case.commands:
        got, text = command(line, out, sweep, scheduler)
        log.append(f"$ {line} -> {got}\n{text}")
        assert "Traceback" not in text, "\n".join(log)
        assert got == code, "\n".join(log)
    assert outputs(out) == expected, "\n".join(log)
    computed = {job["name"]: job["chunks_computed"] for job in status_of(out)["jobs"]}
    assert computed == {J0: case.computed.get(J0, 0), J1: case.computed.get(J1, 0)}, "\n".join(log)
    code, text = command("verify", out, sweep, scheduler)
    assert code == 0, "\n".join(log) + text


# ------------------------------------------------------------------------------------------ readers


METADATA = {"store": "sweep.zarr/zarr.json", "group": f"sweep.zarr/{J0}/zarr.json",
            "frames": f"sweep.zarr/{J1}/frames/zarr.json", "coordinate": f"sweep.zarr/{J1}/t/zarr.json"}
#: exit codes: status prints the table and the damage; export fails the job (1) or, without a root, refuses (2)
READERS = {"status": {"store": 0, "group": 0, "frames": 0, "coordinate": 0},
           "verify": {"store": 1, "group": 1, "frames": 1, "coordinate": 1},
           "export": {"store": 2, "group": 1, "frames": 1, "coordinate": 1},
           "preview": {"store": 2, "group": 2, "frames": 2, "coordinate": 2}}


@pytest.mark.parametrize("where", METADATA)
def test_damaged_metadata_is_one_line_naming_the_file(where, clean, scheduler, tmp_path):
    sweep, source, _ = clean
    out = tmp_path / "out"
    shutil.copytree(source, out, ignore=shutil.ignore_patterns("dask-spill"))
    (out / METADATA[where]).write_text('{"zarr_fo')
    for reader, codes in READERS.items():
        code, text = command(reader, out, sweep, scheduler)
        assert "Traceback" not in text, text
        assert code == codes[where], (reader, text)
        naming = [line for line in text.splitlines() if METADATA[where] in line]
        assert len(naming) == 1 and "rebuilds it" in naming[0], (reader, text)


def test_verify_on_a_live_output_checks_finished_chunks_only(clean, scheduler, tmp_path):
    import subprocess
    import sys

    sweep, source, _ = clean
    out = tmp_path / "out"
    shutil.copytree(source, out, ignore=shutil.ignore_patterns("dask-spill"))
    _entry(out, J0, 8).unlink()  # not finished yet, as far as the live run is concerned
    flip_chunk(J1, 1)(out)  # finished and damaged
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pipeline.run.lock import RunLock; l = RunLock(sys.argv[1]); l.acquire(); "
        "print('held', flush=True); time.sleep(120)"), str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        code, text = command("verify", out, sweep, scheduler)
        assert code == 1, text
        assert text.splitlines()[0].startswith(f"live: a run holds this output (pid {holder.pid}"), text
        assert "no cache entry" not in text and "export.json" not in text, text
        assert f"{J1} frames [4, 8): bytes differ" in text and "verified 5 chunks and 0 exports" in text, text
        code, text = command("run", out, sweep, scheduler)  # verify did not take the lock
        assert code == 2 and "in use by a live run" in text, text
    finally:
        holder.kill()
        holder.wait()
    code, text = command("verify", out, sweep, scheduler)  # the lock file is left, but nobody holds it
    assert code == 1 and "live" not in text and f"{J0} frames [8, 12): no cache entry" in text, text


def test_disk_preflight_counts_chunks_by_the_same_rule(clean, tmp_path, monkeypatch):
    import pipeline.run.preflight as preflight
    from pipeline.config import load_sweep
    from pipeline.errors import UserError
    from pipeline.plan import plan_sweep
    from pipeline.store import CacheDir

    sweep, source, _ = clean
    out = tmp_path / "out"
    shutil.copytree(source, out, ignore=shutil.ignore_patterns("dask-spill"))
    plan = plan_sweep(load_sweep(sweep))
    monkeypatch.setattr(preflight.shutil, "disk_usage", lambda _: shutil._ntuple_diskusage(0, 0, 0))
    preflight.check_disk(plan, out, CacheDir(out), resume=True, force=False)  # all done: needs nothing
    delete_chunk(J0, 1)(out)
    with pytest.raises(UserError, match=r"needs up to 16\.0 KiB"):  # one chunk: 4 frames, store + TIFF
        preflight.check_disk(plan, out, CacheDir(out), resume=True, force=False)
