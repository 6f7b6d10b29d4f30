"""``python -m pipeline``: the command line as a program."""

import sys

from .signals import install

install()  # first of all: from here on SIGINT, SIGTERM and SIGHUP stop the program cleanly, whenever they come

try:
    from .cli import program
except KeyboardInterrupt as exc:  # within the milliseconds the CLI module takes to import
    from .errors import RunInterrupted

    stop = RunInterrupted.of(exc)
    print(stop, file=sys.stderr)
    sys.exit(stop.exit_code)

sys.exit(program())
