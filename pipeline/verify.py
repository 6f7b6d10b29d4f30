"""``verify``: re-read every stored chunk and check it against its cache entry's checksum."""

from __future__ import annotations

from pathlib import Path

from .cache import CacheDir, bytes_checksum, checksum
from .plan import chunk_bounds
from .store import FRAMES, group_names, job_groups


def verify_output(output: Path) -> tuple[int, list[str]]:
    """Check every chunk; returns (chunks checked, problems).

    A chunk whose bytes do not match (or cannot be read) loses its entry, so that the next
    ``run`` recomputes it.
    """
    output = Path(output)
    group_names(output)  # a one-line error when this is no sweep output
    cache = CacheDir(output)
    checked, problems = 0, []
    for name, group in job_groups(output).items():
        fingerprint = group.attrs.get("fingerprint")
        frames = group[FRAMES]
        for t0, t1 in chunk_bounds(frames.shape[0], frames.chunks[0]):
            checked += 1
            entry = cache.read_entry(fingerprint, t0, t1)
            if entry is None:
                problems.append(f"{name} frames [{t0}, {t1}): no cache entry (not finished)")
                continue
            try:
                ok = checksum(frames[t0:t1]) == entry["checksum"]
                reason = "bytes differ from the entry's checksum"
            except Exception as exc:  # a truncated or garbled chunk file fails to decode
                ok, reason = False, f"unreadable ({type(exc).__name__}: {exc})"
            if ok:
                truth = cache.truth_path(fingerprint, t0, t1).read_bytes()
                ok = bytes_checksum(truth) == entry.get("truth_checksum")
                reason = "ground-truth rows differ from the entry's checksum"
            if not ok:
                cache.entry_path(fingerprint, t0, t1).unlink(missing_ok=True)
                problems.append(f"{name} frames [{t0}, {t1}): {reason}; entry removed, `run` recomputes it")
    return checked, problems


def verify_command(args) -> int:
    checked, problems = verify_output(Path(args.output))
    for line in problems:
        print(line)
    print(f"verified {checked} chunks: {checked - len(problems)} ok, {len(problems)} with problems")
    return 1 if problems else 0
