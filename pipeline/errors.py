"""Errors a user can act on: printed as one line, no traceback (exit 2: bad input; 1: a run stopped by its environment)."""

from __future__ import annotations

import contextlib
import difflib
import errno
import os
from collections.abc import Iterable, Iterator


class UserError(Exception):
    """A mistake in the user's input (sweep file, input file, command line).

    The message is one line that names the file, the key or dataset, the bad
    value and what is allowed. The CLI prints it to stderr and exits with 2.
    """

    exit_code = 2

    def __init__(self, message: str):
        # one line; spaces inside a line are kept (a bad value such as 's    0' is shown as it is)
        super().__init__(" ".join(line.strip() for line in str(message).splitlines() if line.strip()))


class InputFileError(UserError):
    """An input file (zmap, sCMOS maps, positions) that is missing or malformed."""

    def __init__(self, path, found: str, expected: str):
        super().__init__(f"{path}: found {found}; expected {expected}")


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``choices``, or ``""``."""
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


class RunInterrupted(Exception):
    """A run stopped by SIGINT (Ctrl-C), SIGTERM or SIGHUP; finished chunks are kept and a new run resumes.

    ``exit_code`` is what the CLI exits with: 128 + the signal number (130 for SIGINT).
    """

    def __init__(self, signal_name: str = "SIGINT", signal_number: int = 2):
        self.signal_name, self.signal_number, self.exit_code = signal_name, signal_number, 128 + signal_number
        super().__init__(f"interrupted by {signal_name}: finished chunks are kept; run again to resume")

    @classmethod
    def of(cls, exc: BaseException) -> RunInterrupted:
        """The interruption behind a KeyboardInterrupt (:class:`pipeline.signals.Interrupt` names its signal)."""
        from .signals import describe

        return cls(*describe(exc))


#: errnos of a file system that has no room left for what is written (ENOSPC, and a user's quota)
_FULL = {errno.ENOSPC, errno.EDQUOT}


def is_disk_full(exc: BaseException | None) -> bool:
    """Whether ``exc`` or an exception it was raised from is a full disk.

    Libraries wrap it: zarr's stores re-raise, h5py raises a RuntimeError whose message holds the
    C library's ``strerror`` — so the message counts too.
    """
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in _FULL:
            return True
        if any(os.strerror(code) in str(exc) for code in _FULL):
            return True
        exc = exc.__cause__ if exc.__cause__ is not None else None if exc.__suppress_context__ else exc.__context__
    return False


class DiskFull(OSError):
    """A write refused for want of space, naming the folder it went to (``filename``).

    An OSError with errno ENOSPC, so it pickles from a worker to the run like any OSError.
    """

    def __str__(self) -> str:
        return f"no space left on device in {self.filename}"


@contextlib.contextmanager
def naming_full_disk(folder) -> Iterator[None]:
    """Turn a full disk met inside (however a library wrapped it) into :class:`DiskFull` naming ``folder``."""
    try:
        yield
    except DiskFull:
        raise
    except Exception as exc:
        if not is_disk_full(exc):
            raise
        raise DiskFull(errno.ENOSPC, os.strerror(errno.ENOSPC), str(folder)) from exc


class RunAborted(Exception):
    """A run stopped by its environment (a full disk, an unwritable file): one line, exit code 1.

    What is finished is kept; the message says what to do before running again, which resumes.
    """

    exit_code = 1

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))
