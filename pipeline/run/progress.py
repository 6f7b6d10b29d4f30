"""Progress of a run: a bar on a terminal, plain periodic lines otherwise."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, chunks: int, frames: int, stream=None, interval: float | None = None, enabled: bool = True):
        self.chunks, self.frames, self.enabled = chunks, frames, enabled
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.interval = interval if interval is not None else (0.2 if self.tty else 5.0)
        self.start = time.monotonic()
        self._last = 0.0
        self.done_chunks = self.done_frames = self.failed = 0

    def update(self, chunks: int = 0, frames: int = 0, failed: int = 0, force: bool = False) -> None:
        self.done_chunks += chunks
        self.done_frames += frames
        self.failed += failed
        now = time.monotonic()
        if self.enabled and (force or now - self._last >= self.interval):
            self._last = now
            self._print(now - self.start)

    def _print(self, elapsed: float) -> None:
        rate = self.done_frames / elapsed if elapsed > 0 else 0.0
        left = self.frames - self.done_frames
        eta = f"{left / rate:.0f}s" if rate > 0 else "?"
        failed = f", {self.failed} failed" if self.failed else ""
        text = (f"{self.done_chunks}/{self.chunks} chunks{failed}, {self.done_frames}/{self.frames} frames, "
                f"{rate:.1f} frames/s, elapsed {elapsed:.0f}s, ETA {eta}")
        if self.tty:
            width = 30
            filled = int(width * self.done_chunks / max(self.chunks, 1))
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {text}\033[K")
        else:
            self.stream.write(f"progress: {text}\n")
        self.stream.flush()

    def close(self) -> None:
        self.update(force=True)
        if self.tty and self.enabled:
            self.stream.write("\n")
            self.stream.flush()
