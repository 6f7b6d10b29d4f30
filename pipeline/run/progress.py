"""Progress of a run: a tqdm bar on a terminal or in a notebook, plain periodic lines otherwise.

The rate (and the ETA from it) counts from the first finished chunk, not from the launch: cluster
start-up and the scenes built before the first chunk would make the first ETAs far too long.
"""

from __future__ import annotations

import sys
import time


def _interactive(stream) -> bool:
    """A terminal, or a Jupyter kernel (whose stdout is no tty but shows a widget)."""
    return stream.isatty() or "ipykernel" in sys.modules


class Progress:
    def __init__(self, chunks: int, frames: int, stream=None, interval: float | None = None, enabled: bool = True):
        self.chunks, self.frames = chunks, frames
        self.enabled = enabled and chunks > 0  # (a run that only exports has nothing to count)
        self.stream = stream or sys.stdout
        self.interval = interval if interval is not None else 5.0
        self.start = time.monotonic()
        self._last = 0.0
        self._first: tuple[float, int] | None = None  # (time, frames) at the first finished chunk
        self.done_chunks = self.done_frames = self.failed = 0
        self._bar = None
        if self.enabled and _interactive(self.stream):
            from tqdm.auto import tqdm

            self._bar = tqdm(total=chunks, unit="chunk", file=self.stream, dynamic_ncols=True)

    def update(self, chunks: int = 0, frames: int = 0, failed: int = 0, force: bool = False) -> None:
        self.done_chunks += chunks
        self.done_frames += frames
        self.failed += failed
        now = time.monotonic()
        if self._first is None and self.done_chunks:
            self._first = (now, self.done_frames)
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(chunks + failed)
            self._bar.set_postfix_str(self._text(now), refresh=False)
        elif force or now - self._last >= self.interval:
            self._last = now
            self.stream.write(f"progress: {self.done_chunks}/{self.chunks} chunks, {self._text(now)}\n")
            self.stream.flush()

    def rate(self, now: float) -> float | None:
        """Frames per second since the first finished chunk (None before a second one)."""
        if self._first is None or now <= self._first[0] or self.done_frames == self._first[1]:
            return None
        return (self.done_frames - self._first[1]) / (now - self._first[0])

    def _text(self, now: float) -> str:
        rate = self.rate(now)
        eta = f"{(self.frames - self.done_frames) / rate:.0f}s" if rate else "?"
        speed = f"{rate:.1f} frames/s" if rate else "? frames/s"
        failed = f", {self.failed} failed" if self.failed else ""
        return (f"{self.done_frames}/{self.frames} frames{failed}, {speed}, elapsed {now - self.start:.0f}s, "
                f"ETA {eta}")

    def close(self) -> None:
        self.update(force=True)
        if self._bar is not None:
            self._bar.close()
