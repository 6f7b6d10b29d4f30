"""Errors a user can act on: printed as one line, exit code 2, no traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """A mistake in the user's input (sweep file, input file, command line).

    The message is one line that names the file, the key or dataset, the bad
    value and what is allowed. The CLI prints it to stderr and exits with 2.
    """

    exit_code = 2

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


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
