"""The argument types of the command line, and its one kind of error.

Both the commands of ``cli/`` and the benchmarks' options (``bench/command.py``) take their
types from here, so that every count means the same thing everywhere.
"""

import argparse


class UsageError(ValueError):
    """A mistake in a command's arguments or files, reported as one line without a traceback."""


def positive_int(text):
    """argparse type: an int >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an int >= 1, got {value}")
    return value


def non_negative_int(text):
    """argparse type: an int >= 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an int >= 0, got {value}")
    return value
