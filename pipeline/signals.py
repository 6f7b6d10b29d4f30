"""Signals that stop a run: SIGINT (Ctrl-C), SIGTERM (scancel, a job's time limit, ``timeout``,
``docker stop``) and SIGHUP (the terminal went away) — design §10.

All three stop a run the same way: the handler raises :class:`Interrupt` in the main thread. It is a
KeyboardInterrupt, so the cleanup that Ctrl-C always had (``except KeyboardInterrupt``: futures
cancelled, status "interrupted", cluster closed, lock released) runs for every signal, and it
carries the signal, so that the CLI exits with 128 + its number.

A second signal while the run stops ends ``python -m pipeline`` at once (:func:`install`); the
callbacks of :func:`at_forced_exit` record that in status.json and release the lock first. Inside a
notebook or pytest, :func:`handling` puts the handler in place only for the run and a second signal
raises again instead.

This module is imported before anything heavy: a signal during the imports must not be lost either.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupt(KeyboardInterrupt):
    """Raised by a stopping signal; ``signum`` and ``name`` say which."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


def describe(exc: BaseException) -> tuple[str, int]:
    """(name, number) of the signal behind a KeyboardInterrupt (a plain one comes from SIGINT)."""
    if isinstance(exc, Interrupt):
        return exc.name, exc.signum
    return "SIGINT", signal.SIGINT


@dataclass
class _State:
    first: int | None = None  # the signal that started stopping
    pending: bool = False  # it came while deferred and is still to be raised
    deferring: int = 0
    exit_at_second: bool = False
    at_exit: list[Callable[[str], None]] = field(default_factory=list)


_state = _State()


def _forced_exit(signum: int) -> None:
    first = _state.first if _state.first is not None else signum
    name = signal.Signals(first).name
    for callback in reversed(_state.at_exit):
        with contextlib.suppress(Exception):
            callback(name)
    what = f"{name} again" if signum == first else f"{name}, then by {signal.Signals(signum).name}"
    # os.write: print() could be the very call this handler interrupted (a reentrant write fails)
    os.write(2, f"interrupted by {what}: stopped at once; run again to resume\n".encode())
    os._exit(128 + first)  # the workers follow: they exit when the run process is gone


def _handle(signum: int, frame) -> None:
    if _state.first is not None:  # a second signal while stopping
        if _state.exit_at_second:
            _forced_exit(signum)
        raise Interrupt(signum)
    _state.first = signum
    if _state.deferring:
        _state.pending = True
        return
    raise Interrupt(signum)


def _install() -> dict[int, object]:
    previous = {}
    for signum in SIGNALS:
        current = signal.getsignal(signum)
        # SIGINT even when ignored: a shell script starts `cmd &` with SIGINT ignored, and the run
        # must still stop on it; SIGTERM or SIGHUP ignored on purpose (nohup: SIGHUP) stay ignored
        if current is signal.SIG_IGN and signum != signal.SIGINT:
            continue
        previous[signum] = signal.signal(signum, _handle)
    return previous


def install() -> None:
    """For the whole process (``python -m pipeline``): a second signal while stopping exits at once."""
    _state.exit_at_second = True
    _install()


def installed() -> bool:
    return signal.getsignal(signal.SIGINT) is _handle


@contextlib.contextmanager
def handling() -> Iterator[None]:
    """The handler for the duration of a run, the previous handlers back afterwards.

    Nothing changes when the process installed it already (the CLI), or outside the main thread
    (signal handlers can only be set there; such a caller keeps Python's own Ctrl-C).
    """
    if installed() or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = _install()
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        _state.first, _state.pending = None, False


def check() -> None:
    """Raise the stopping signal that came already if its :class:`Interrupt` did not get through.

    A signal during the imports raises wherever the main thread is, and a library's ``except
    BaseException`` (or bare ``except``) around an optional import can swallow it; the handler
    has recorded it all the same, so the run stops here instead of going on as if nothing came.
    """
    if _state.first is not None and not _state.deferring:
        raise Interrupt(_state.first)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """A signal inside the block is raised when the block ends (a second one still acts at once).

    For code that must not be cut in the middle, such as starting a cluster: interrupted there,
    LocalCluster would leave its workers behind, with nothing holding it to close them.
    """
    _state.deferring += 1
    try:
        yield
    finally:
        _state.deferring -= 1
    if not _state.deferring and _state.pending:
        _state.pending = False
        raise Interrupt(_state.first)


@contextlib.contextmanager
def at_forced_exit(callback: Callable[[str], None]) -> Iterator[None]:
    """Call ``callback(first signal's name)`` if a second signal ends the process inside the block."""
    _state.at_exit.append(callback)
    try:
        yield
    finally:
        _state.at_exit.remove(callback)
