"""What every exercise checker shares: calling the student's function, comparing its answer
with the expected one (and with the answers common mistakes give), and reporting.

A checker raises :class:`ExerciseError` with a message that names the exercise, the case and
what is wrong, or prints one line starting with a check mark.
"""

import numpy as np

from .delegation import Watch

TICK = "\u2713"


class ExerciseError(AssertionError):
    """An exercise's function gave a wrong result; the message says what is wrong."""


def call_student(check, function, case, *args):
    """``function(*args)``, with an exception turned into an ExerciseError that says which
    exercise and which case raised it.  While it runs, the package's own implementation of
    what the exercise asks for may not be called (:mod:`.delegation`): if it is, that is the
    error, whatever the function returned."""
    watch = Watch(check)
    outcome = None
    with watch.watching():
        try:
            result = function(*args)
        except Exception as error:              # NotImplementedError included
            outcome = error
    if watch.used is not None:
        raise ExerciseError(watch.message(check, case)) from None
    if isinstance(outcome, NotImplementedError):
        raise ExerciseError(f"{check}: your function still raises NotImplementedError: the "
                            f"exercise is not done yet. Replace the `raise NotImplementedError` "
                            f"line with your code.") from None
    if outcome is not None:
        raise ExerciseError(f"{check}: your function raised {type(outcome).__name__} for {case}: "
                            f"{outcome}") from outcome
    return result


def compare(check, case, what, got, expected, mistakes, shape_hint="", rtol=1e-6, atol=1e-9):
    """Raise an ExerciseError unless ``got`` is an array of ``expected``'s shape and values;
    ``mistakes`` maps a description of a common mistake to the array that mistake gives (or
    to a list of arrays, when the mistake can be made in several ways)."""
    if not hasattr(got, "shape"):
        raise ExerciseError(f"{check}: for {case}, {what} should be a NumPy array of shape "
                            f"{expected.shape}; your function returned {describe(got)}")
    if got.shape != expected.shape:
        hint = f" ({shape_hint})" if shape_hint else ""
        raise ExerciseError(f"{check}: for {case}, {what} should have shape {expected.shape}, "
                            f"yours has shape {got.shape}{hint}")
    got = np.asarray(got, dtype=float)
    if np.allclose(got, expected, rtol=rtol, atol=atol):
        return
    for description, wrongs in mistakes.items():
        if any(wrong.shape == got.shape and np.allclose(got, wrong, rtol=rtol, atol=atol)
               for wrong in (wrongs if isinstance(wrongs, list) else [wrongs])):
            raise ExerciseError(f"{check}: for {case}, {what} has the right shape but wrong "
                                f"values: it looks like you {description}.")
    error = np.abs(got - expected)
    worst = np.unravel_index(np.nanargmax(np.where(np.isnan(error), np.inf, error)), error.shape)
    wrong_count = int(np.sum(~np.isclose(got, expected, rtol=rtol, atol=atol)))
    raise ExerciseError(f"{check}: for {case}, {what} has the right shape {got.shape} but "
                        f"{wrong_count} of its {got.size} values are wrong; the largest error is "
                        f"at index {tuple(int(i) for i in worst)}: expected {expected[worst]:.10g}, "
                        f"got {got[worst]:.10g} (error {error[worst]:.2e})")


def report_passed(check, what, hidden=False):
    """Print the check mark line of a passed check (of its grading cases, with ``hidden``)."""
    print(f"{TICK} {check}: {'grading cases: ' if hidden else ''}{what}")


def as_number(check, case, value):
    """``value`` as a float, or an ExerciseError saying that a number was expected."""
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ExerciseError(f"{check}: for {case} your function should return a number, it "
                            f"returned {describe(value)}") from None


def describe(value):
    """A short description of what a student's function returned, for a message."""
    if hasattr(value, "shape"):
        return f"an array of shape {value.shape}"
    return f"{type(value).__name__} {value!r}"[:120]
