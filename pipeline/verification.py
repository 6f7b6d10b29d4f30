"""``verify``: re-read every stored chunk and every export and check them against what recorded them.

Chunks against their cache entries (frames, ground truth, CSV lines), exports against their
export.json and the entries, the store's metadata files for being readable. Whatever is found
bad is made re-doable at once: a bad chunk loses its entry (the next ``run`` recomputes it), a bad
export its marker (the next ``run`` re-exports it), damaged metadata is rebuilt by the next ``run``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .exports import MARKER, forget_export, job_dir, job_from_group
from .exports.check import export_problems
from .plan import chunk_bounds
from .run.lock import live_holder
from .store import (
    FRAMES, CacheDir, damaged_metadata, holds_chunk, job_groups, require_store, same_frames, store_path, stored_chunks,
)


@dataclass
class VerifyResult:
    """What :func:`verify` checked and found; every problem found has already been made re-doable."""

    checked: int = 0  # chunks with an entry, checked
    exports: int = 0  # exports checked
    unfinished: int = 0  # chunks without an entry while a run is live (not problems)
    live: dict | None = None  # the live run holding the output: only its finished chunks were checked
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _chunk_problem(cache: CacheDir, frames, entry: dict, size: int | None) -> str | None:
    t0, t1 = entry["frames"]
    if not holds_chunk(entry, size):
        return ("chunk file missing from the store" if size is None
                else f"chunk file has {size} bytes, its entry recorded {entry.get('stored_bytes')}")
    try:
        if not same_frames(frames[t0:t1], entry["checksum"]):
            return "bytes differ from the entry's checksum"
    except Exception as exc:  # noqa: BLE001 - a truncated or garbled chunk file fails to decode
        return f"unreadable ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
    if not cache.truth_matches(entry):
        return "ground-truth rows missing or differ from the entry's checksum"
    return None


def _verify_chunks(output: Path, cache: CacheDir, name: str, group, result: VerifyResult) -> list[dict | None]:
    """Check every chunk of one group; returns the entries as read (also those just removed: they still
    say what the chunk's frames are, for checking the export), None where a chunk has none."""
    fingerprint = group.attrs.get("fingerprint")
    frames = group[FRAMES]
    stored = stored_chunks(output, name)
    entries = []
    unit = frames.shards[0] if frames.shards else frames.chunks[0]  # (one entry per shard when sharded)
    for i, (t0, t1) in enumerate(chunk_bounds(frames.shape[0], unit)):
        entry = cache.read_entry(fingerprint, t0, t1)
        entries.append(entry)
        if entry is None:
            if result.live is not None:
                result.unfinished += 1  # the live run may be computing it
            else:
                result.problems.append(f"{name} frames [{t0}, {t1}): no cache entry (not finished)")
            continue
        result.checked += 1
        reason = _chunk_problem(cache, frames, entry, stored.get(i))
        if reason:
            cache.entry_path(fingerprint, t0, t1).unlink(missing_ok=True)
            result.problems.append(f"{name} frames [{t0}, {t1}): {reason}; entry removed, `run` recomputes it")
        elif cache.read_csv_lines(entry) is None and cache.csv_path(fingerprint, t0, t1).exists():
            # derived from the .npy, which is sound: the next export formats the lines again
            cache.csv_path(fingerprint, t0, t1).unlink(missing_ok=True)
            result.problems.append(f"{name} frames [{t0}, {t1}): ground-truth CSV lines differ from the entry's "
                                   "checksum; removed (the next export re-makes them from the ground truth)")
    return entries


def _verify_export(output: Path, name: str, entries: list[dict | None], result: VerifyResult) -> None:
    if not (job_dir(output, name)).is_dir():
        return  # never exported (its unfinished chunks are reported)
    if any(entry is None for entry in entries):
        if (job_dir(output, name) / MARKER).exists():
            forget_export(output, name)
            result.problems.append(f"{name}: export not checkable (chunks without cache entry); "
                                   "export.json removed, `run` re-makes the export")
        return
    try:
        job = job_from_group(output, name)
    except Exception as exc:  # noqa: BLE001 - the group's attributes no longer make a job
        result.problems.append(f"{name}: export not checkable ({exc})")
        return
    result.exports += 1
    problems = export_problems(output, job, entries)
    had_marker = (job_dir(output, name) / MARKER).exists()
    if problems:
        forget_export(output, name)
    then = "export.json removed, `run` re-makes the export" if had_marker else "`run` makes the export"
    for problem in problems:
        result.problems.append(f"{name}: {problem}; {then}")


def verify(output: str | Path) -> VerifyResult:
    """Check every chunk and export of an output folder (design §7).

    A chunk whose bytes do not match (or cannot be read) loses its entry and an export that is not
    what its marker says loses its marker, so that the next ``run`` re-makes exactly those. While
    another run holds the output (``run.lock``), only finished chunks are checked and no export.
    """
    output = Path(output)
    cache = CacheDir(output)
    result = VerifyResult(live=live_holder(output))
    if not store_path(output).is_dir() and cache.chunks.is_dir():  # a sweep output whose store is gone
        if result.live is None:  # (a live run creates it after its cache)
            result.problems.append("sweep.zarr: missing; `run` recreates it and recomputes its chunks")
        return result
    require_store(output)  # a one-line error when this is no sweep output
    damaged = damaged_metadata(output)
    result.problems += [str(damage) for damage in damaged]
    unreadable = {d.group for d in damaged}  # their exports are checked once a run has rebuilt them
    groups = job_groups(output)
    for name, group in groups.items():
        entries = _verify_chunks(output, cache, name, group, result)
        if result.live is None and name not in unreadable:
            _verify_export(output, name, entries, result)
    for name in _exported(output) if result.live is None else ():  # (a live run may be renaming groups)
        if name not in groups and name not in unreadable:
            result.problems.append(f"{name}: exported, but sweep.zarr holds no group of that name (deleted?); "
                                   "`run` recreates it and recomputes its chunks")
    return result


def _exported(output: Path) -> list[str]:
    """Names of the jobs with an export marker (``jobs/<name>/export.json``)."""
    folder = output / "jobs"
    return sorted(p.parent.name for p in folder.glob(f"*/{MARKER}")) if folder.is_dir() else []
