"""The checker of lesson 11's overlap-tile exercise, in the manner of :mod:`.exercises_network`
(:mod:`unet_from_scratch.exercises` re-exports it): the student's tile plan is compared with
:func:`tiling.plan_axis`, the common mistakes are named, and on the first visible case the
prediction of a small valid U-Net, tiled with the student's plan, must equal its whole-image
prediction."""

import numpy as np

from .. import tiling
from ..model import UNet
from . import hidden as grading_cases
from .grading import ExerciseError, call_student, describe, report_passed


def _plan(length, tile_in, margin, period, stride=None, pad=None):
    """A plan computed by hand (``stride``: the tiles' stride, by default tile_out rounded down
    to the period; ``pad``: the padding before, by default margin // 2), the padding after
    reaching the last tile's end; the mistakes below are built on it (without tiling.py, so
    that the tests can plant them as a student's function)."""
    tile_out = tile_in - margin
    stride = stride or tile_out - tile_out % period
    starts = stride * np.arange(1 + max(0, -(-(length - tile_out) // stride)))
    pad = margin // 2 if pad is None else pad
    return starts, pad, pad + int(starts[-1]) + tile_out - length


def plan_full_margin(length, tile_in, margin, period):
    """The wrong plan that pads by the whole margin on each side instead of half of it."""
    return _plan(length, tile_in, margin, period, pad=margin)


def plan_flush_last_tile(length, tile_in, margin, period):
    """The wrong plan that moves the last tile back so that it ends with the image (no extra
    padding after): its start is then, in general, not a multiple of the period."""
    starts, before, _ = _plan(length, tile_in, margin, period)
    starts = starts.copy()
    starts[-1] = max(0, length - (tile_in - margin))
    return starts, before, before + max(0, int(starts[-1]) + tile_in - margin - length)


def plan_stride_not_rounded(length, tile_in, margin, period):
    """The wrong plan whose stride is the whole output tile, not rounded down to the period."""
    return _plan(length, tile_in, margin, period, stride=tile_in - margin)


def plan_no_extra_padding(length, tile_in, margin, period):
    """The wrong plan that pads by half the margin after the image too, forgetting that the
    last tile's output reaches past the image's end."""
    starts, before, _ = _plan(length, tile_in, margin, period)
    return starts, before, before


def _expected(length, tile_in, margin, period):
    axis = tiling.plan_axis(tiling.Geometry(None, period, margin), length, tile_in)
    return np.asarray(axis.starts), axis.pad_before, axis.pad_after


MISTAKES = {
    "padded by the whole margin on each side; the network loses HALF the margin at each end, "
    "so pad_before = margin // 2": plan_full_margin,
    "moved the last tile back to end with the image: every tile must start on a multiple of "
    "the period 2**depth, or its pooling grid no longer lines up with the whole image's; let "
    "the last tile reach past the image and pad more after it instead": plan_flush_last_tile,
    "stepped by the whole output tile: the stride is tile_out rounded DOWN to a multiple of "
    "the period, so that every tile starts on a multiple of it": plan_stride_not_rounded,
    "padded by half the margin after the image too: the last tile's output reaches past the "
    "image's end (to starts[-1] + tile_out), so pad_after = margin // 2 + that excess":
        plan_no_extra_padding,
}


def _same(got, expected):
    starts, before, after = got
    return (np.shape(starts) == np.shape(expected[0]) and np.array_equal(starts, expected[0])
            and before == expected[1] and after == expected[2])


def _stitched_agrees(plan, length, tile_in, margin, depth):
    """Does the overlap-tile prediction of a small valid U-Net on a square image of ``length``,
    tiled by ``plan`` (starts, pad_before, pad_after) along both axes, equal its prediction of
    the whole mirror-padded image?"""
    model = UNet(base_channels=2, depth=depth, padding="valid", seed=3).to(dtype=np.float64)
    starts, before, after = plan
    image = np.random.default_rng(length).random((1, length, length))
    axis = tiling.AxisPlan(tile_in, tile_in - margin, np.asarray(starts), before, after)
    padded = np.pad(image, ((0, 0), (before, after), (before, after)), mode="reflect")
    whole = model.forward(padded[:, None])[0, 0, :length, :length]
    stitched = tiling.overlap_tile(lambda x: model.forward(x)[:, 0], image, (axis, axis), 16)[0]
    return np.allclose(stitched, whole, rtol=1e-6, atol=1e-7)


def check_tile_plan(tile_plan, hidden=False):
    """Lesson 11.  ``tile_plan(length, tile_in, margin, period) -> (starts, pad_before,
    pad_after)``: overlap-tile prediction along one axis of ``length`` pixels, with input tiles
    of ``tile_in`` whose outputs are ``tile_out = tile_in - margin``.  The stride is tile_out
    rounded down to a multiple of ``period``; the tiles start at 0, stride, 2 stride, ... as
    few as cover the image; the image is mirror-padded by margin // 2 before it and by
    margin // 2 + (starts[-1] + tile_out - length) after it (as tiling.plan_axis does)."""
    check = "check_tile_plan"
    cases = grading_cases.tile_plan() if hidden else [
        ("depth 1 (margin 16, period 2): 52 pixels, tiles of 36", 52, 36, 16, 2, 1),
        ("depth 2 (margin 40, period 4): 100 pixels, tiles of 60", 100, 60, 40, 4, None),
        ("one tile covers the image: 20 pixels, tiles of 60 (depth 2)", 20, 60, 40, 4, None),
        ("an output tile (30) that is no multiple of the period 4", 95, 70, 40, 4, None)]
    for name, length, tile_in, margin, period, depth in cases:
        got = call_student(check, tile_plan, name, length, tile_in, margin, period)
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            raise ExerciseError(f"{check}: return (starts, pad_before, pad_after); for {name} your "
                                f"function returned {describe(got)}")
        expected = _expected(length, tile_in, margin, period)
        if _same(got, expected):
            if depth is not None and not _stitched_agrees(got, length, tile_in, margin, depth):
                raise ExerciseError(f"{check}: for {name} the stitched tiles differ from the "
                                    f"whole-image prediction")
            continue
        for description, mistake in MISTAKES.items():
            if _same(got, mistake(length, tile_in, margin, period)):
                raise ExerciseError(f"{check}: for {name}, your plan is wrong: it looks like you "
                                    f"{description}.")
        starts, before, after = expected
        raise ExerciseError(f"{check}: for {name} the plan is starts {list(map(int, starts))}, "
                            f"pad_before {before}, pad_after {after}; yours is starts "
                            f"{list(np.asarray(got[0]).tolist())}, pad_before {got[1]!r}, pad_after "
                            f"{got[2]!r}")
    report_passed(check, f"{len(cases)} plans agree with tiling.plan_axis"
                         + ("" if hidden else ", and the stitched tiles equal the whole-image "
                                               "prediction"), hidden)
