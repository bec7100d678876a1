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


def _real(text):
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None


def positive_float(text):
    """argparse type: a finite number > 0 (a step, a learning rate)."""
    value = _real(text)
    if not 0 < value < float("inf"):             # NaN fails too
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def non_negative_float(text):
    """argparse type: a finite number >= 0 (a tolerance)."""
    value = _real(text)
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def probability(text):
    """argparse type: a number in [0, 1] (a threshold on probabilities)."""
    value = _real(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1], got {text}")
    return value


def open_fraction(text):
    """argparse type: a number strictly between 0 and 1 (a validation share)."""
    value = _real(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be a number between 0 and 1 (both excluded: "
                                         f"each split needs images), got {text}")
    return value


def given_options(parser, argv):
    """The ``dest`` names of the options ``argv`` gives explicitly (not left at a default):
    ``argv`` parsed again with every default suppressed."""
    parsers = [parser]                    # a fresh parser: this one is changed for good
    while parsers:
        current = parsers.pop()
        for action in current._actions:
            action.default = argparse.SUPPRESS
            if isinstance(action, argparse._SubParsersAction):
                parsers.extend(action.choices.values())
        current._defaults = {}
    return set(vars(parser.parse_args(argv)))
