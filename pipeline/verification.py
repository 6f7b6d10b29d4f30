"""``verify``: re-read every stored chunk and check it against its cache entry's checksum."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .plan import chunk_bounds
from .store import FRAMES, CacheDir, checksum, group_names, job_groups


@dataclass
class VerifyResult:
    """What :func:`verify` checked and found; every problem found has already been made re-computable."""

    checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(output: str | Path) -> VerifyResult:
    """Check every chunk of an output folder against its cache entry (frames and ground truth).

    A chunk whose bytes do not match (or cannot be read) loses its entry, so that the next
    ``run`` recomputes it.
    """
    output = Path(output)
    group_names(output)  # a one-line error when this is no sweep output
    cache = CacheDir(output)
    result = VerifyResult()
    for name, group in job_groups(output).items():
        fingerprint = group.attrs.get("fingerprint")
        frames = group[FRAMES]
        for t0, t1 in chunk_bounds(frames.shape[0], frames.chunks[0]):
            result.checked += 1
            entry = cache.read_entry(fingerprint, t0, t1)
            if entry is None:
                result.problems.append(f"{name} frames [{t0}, {t1}): no cache entry (not finished)")
                continue
            try:
                ok = checksum(frames[t0:t1]) == entry["checksum"]
                reason = "bytes differ from the entry's checksum"
            except Exception as exc:  # a truncated or garbled chunk file fails to decode
                ok, reason = False, f"unreadable ({type(exc).__name__}: {exc})"
            if ok:
                ok = cache.truth_matches(entry)
                reason = "ground-truth rows missing or differ from the entry's checksum"
            if not ok:
                cache.entry_path(fingerprint, t0, t1).unlink(missing_ok=True)
                result.problems.append(f"{name} frames [{t0}, {t1}): {reason}; entry removed, `run` recomputes it")
    return result
