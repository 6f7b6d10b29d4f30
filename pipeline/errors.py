"""Errors a user can act on: printed as one line, exit code 2, no traceback."""

from __future__ import annotations


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
        self.path = str(path)
        super().__init__(f"{path}: found {found}; expected {expected}")
