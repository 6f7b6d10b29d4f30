"""The progress line: its rate counts from the first finished chunk; a bar where someone watches."""

from __future__ import annotations

import io

from pipeline.run import progress as P


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_the_rate_ignores_the_time_before_the_first_chunk(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(P.time, "monotonic", clock)
    out = io.StringIO()
    bar = P.Progress(chunks=10, frames=100, stream=out, interval=0.0)
    clock.now += 60.0  # cluster start-up and scenes: no frame yet
    bar.update(chunks=1, frames=10)
    assert "ETA ?" in out.getvalue().splitlines()[-1]  # one point is no rate
    clock.now += 2.0
    bar.update(chunks=1, frames=10)
    line = out.getvalue().splitlines()[-1]
    # 10 frames in 2 s since the first chunk: 5 frames/s, 80 frames left -> 16 s (not 80 / (20 / 62) = 248 s)
    assert line == "progress: 2/10 chunks, 20/100 frames, 5.0 frames/s, elapsed 62s, ETA 16s"


def test_nothing_to_count_prints_nothing():
    out = io.StringIO()
    bar = P.Progress(chunks=0, frames=0, stream=out)
    bar.close()
    assert out.getvalue() == ""


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_terminal_gets_a_bar():
    out = Terminal()
    bar = P.Progress(chunks=4, frames=40, stream=out)
    for _ in range(4):
        bar.update(chunks=1, frames=10)
    bar.close()
    text = out.getvalue()
    assert "4/4" in text and "chunk" in text and "progress:" not in text


def test_a_notebook_gets_a_bar_too(monkeypatch):
    """A Jupyter kernel's stdout is no terminal; the run still shows tqdm's bar there (tqdm.auto)."""
    import sys
    import types

    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    out = io.StringIO()
    bar = P.Progress(chunks=2, frames=20, stream=out)
    assert bar._bar is not None
    bar.update(chunks=2, frames=20)
    bar.close()
    assert "progress:" not in out.getvalue()
