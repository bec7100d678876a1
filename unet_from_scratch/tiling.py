"""Overlap-tile prediction: how the paper segments an image of any size with a valid U-Net.

Notation, along one axis (the width is handled the same way, independently):

    H             the image's length (height)
    m             the margin: the valid network maps an input of T_in pixels to an output
                  of T_out = T_in - m pixels (m = 16, 40, 88, 184 for depth 1, 2, 3, 4),
                  so m/2 pixels are lost on each side
    P = 2**depth  the period: the network takes the input lengths first + k P only (every
                  pooling needs an even length), and it is translation-equivariant only for
                  shifts by multiples of P -- a shift by one pixel moves the max-pool grid
    S             the stride between tiles: T_out rounded down to a multiple of P
    n             the number of tiles, starting at 0, S, 2 S, ..., (n - 1) S

The image is mirror-padded (``np.pad(mode="reflect")``, as the paper does) by m/2 before
it and by m/2 + (E - H) after it, where E = (n - 1) S + T_out >= H is the extent the
tiles' outputs cover.  The tile starting at s reads the padded input [s, s + T_in) and
predicts the output pixels [s, s + T_out) of the image (in the image's coordinates); the
outputs are written into an E x E' canvas and the canvas is cropped to H x W.

Why the tiles agree with the whole image: a valid convolution has no border, so an output
pixel depends only on the m + 1 input pixels around it; and because every tile starts at a
multiple of P, each tile's pooling grid lines up with the whole image's.  So wherever the
mirror-padded image is a size the network takes, the tiles give the whole-image prediction
(to float rounding: the matrix products sum in another order).  Neighbouring tiles overlap
by T_out - S < P pixels, which they predict alike.

A ``padding="same"`` network has zero padding at every border, so tiles would not agree;
it predicts each image whole, mirror-padded after its end (bottom, right) up to the next
size the network takes, and the output is cropped back (:func:`same_padding`).
"""

from collections import namedtuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .model import fitting_sizes

# The largest input tile chosen when the caller gives none: the paper's 572.  A tile's
# activations, not the image, bound the memory (``batch_size`` tiles at a time).
DEFAULT_MAX_TILE = 572

Geometry = namedtuple("Geometry", "first period margin")
Geometry.__doc__ = """The sizes a network takes along one axis: the input lengths
``first + k * period`` (k = 0, 1, ...), each giving ``input - margin`` output pixels
(margin 0 for padding="same")."""

AxisPlan = namedtuple("AxisPlan", "tile_in tile_out starts pad_before pad_after")
AxisPlan.__doc__ = """Overlap-tile geometry along one axis: input and output tile lengths,
the tiles' starts (image coordinates), and the mirror padding before and after the image."""


def network_geometry(model):
    """The :class:`Geometry` of a UNet (the same along both axes)."""
    first, period = fitting_sizes(model.config["depth"], model.config["padding"])
    return Geometry(first, period, first - model.output_length(first))


def fitting_length(geometry, length, round_up=True):
    """The smallest input length the network takes that is >= ``length`` (``round_up``), or
    the largest that is <= ``length`` (None when there is none)."""
    first, period, _ = geometry
    if round_up:
        return first + max(0, -(-(length - first) // period)) * period
    if length < first:
        return None
    return first + (length - first) // period * period


def smallest_tile(geometry):
    """The smallest input tile for overlap-tile prediction: its output must hold at least
    ``period`` pixels, or the stride (a multiple of the period) would be 0."""
    return fitting_length(geometry, geometry.period + geometry.margin)


def tile_starts(length, tile_out, stride):
    """Starts ``0, stride, 2 stride, ...`` of as few tiles of ``tile_out`` output pixels as
    cover ``length`` pixels; the last tile ends at or past ``length`` (flush with the padded
    extent ``starts[-1] + tile_out``)."""
    if not 1 <= stride <= tile_out:
        raise ValueError(f"tile_starts: the stride must be in [1, tile_out={tile_out}], "
                         f"got {stride}")
    count = 1 + max(0, -(-(length - tile_out) // stride))
    return stride * np.arange(count)


def _stride(geometry, tile_out):
    return tile_out - tile_out % geometry.period


def choose_tile(geometry, length, tile=None, max_tile=DEFAULT_MAX_TILE):
    """The input tile length for an image of ``length`` pixels along one axis.

    With ``tile`` given: the largest input length the network takes that is <= ``tile``,
    but no larger than one tile covering the whole image needs.  Without: among the input
    lengths up to ``max_tile``, the one that spends the least work, n(T_in) * T_in (fewest
    pixels fed to the network), ties going to the smaller tile -- for a small image, the
    one tile that covers it; for a large one, tiles of balanced size rather than full tiles
    and a nearly empty last one.
    """
    smallest = smallest_tile(geometry)
    whole = max(smallest, fitting_length(geometry, length + geometry.margin))   # one tile
    if tile is not None:
        if tile < smallest:
            raise ValueError(f"predict: tile {tile} is smaller than the smallest input tile "
                             f"this network takes for overlap-tile prediction, {smallest} "
                             f"(its output must hold at least {geometry.period} pixels)")
        return min(fitting_length(geometry, tile, round_up=False), whole)
    largest = min(whole, max(smallest, fitting_length(geometry, max_tile, round_up=False) or 0))
    candidates = range(smallest, largest + 1, geometry.period)

    def work(tile_in):
        tile_out = tile_in - geometry.margin
        return len(tile_starts(length, tile_out, _stride(geometry, tile_out))) * tile_in

    return min(candidates, key=lambda tile_in: (work(tile_in), tile_in))


def plan_axis(geometry, length, tile_in):
    """The :class:`AxisPlan` for an image of ``length`` pixels and input tiles of ``tile_in``."""
    tile_out = tile_in - geometry.margin
    starts = tile_starts(length, tile_out, _stride(geometry, tile_out))
    extent = int(starts[-1]) + tile_out
    half = geometry.margin // 2
    return AxisPlan(tile_in, tile_out, starts, half, half + extent - length)


def check_tile(tile):
    """``tile`` as a pair of ints (height, width), or (None, None) for None; anything else
    is refused with a ValueError."""
    if tile is None:
        return None, None
    pair = (tile, tile) if np.ndim(tile) == 0 else tuple(tile)
    if len(pair) != 2 or not all(isinstance(t, (int, np.integer)) and not isinstance(t, bool)
                                 for t in pair):
        raise ValueError(f"predict: tile must be an int or a pair of ints (height, width), "
                         f"got {tile!r}")
    return tuple(int(t) for t in pair)


def plan(model, height, width, tile=None, max_tile=DEFAULT_MAX_TILE):
    """The two :class:`AxisPlan` (height, width) of overlap-tile prediction with a valid
    ``model`` on images of ``height`` x ``width``; ``tile`` is an int or a pair (input
    tile lengths, see :func:`choose_tile`)."""
    geometry = network_geometry(model)
    tiles = check_tile(tile)
    return tuple(plan_axis(geometry, length, choose_tile(geometry, length, t, max_tile))
                 for length, t in zip((height, width), tiles))


def overlap_tile(run, images, plans, batch_size):
    """Stitched outputs (N, H, W) of ``run`` over the tiles of ``images`` (N, H, W).

    ``run(x)`` maps a float32 batch of tiles (b, 1, T_in, T_in') to outputs
    (b, T_out, T_out') as a NumPy array; at most ``batch_size`` tiles go in at a time,
    taken from all images alike.  The loops run over batches and tiles, never over pixels.
    """
    rows, cols = plans
    n, height, width = images.shape
    padded = np.pad(images, ((0, 0), (rows.pad_before, rows.pad_after),
                             (cols.pad_before, cols.pad_after)), mode="reflect")
    # every window of the tiles' size, as a view: windows[i, y, x] is the tile at (y, x)
    windows = sliding_window_view(padded, (rows.tile_in, cols.tile_in), axis=(1, 2))
    image, y, x = (a.ravel() for a in np.meshgrid(np.arange(n), rows.starts, cols.starts,
                                                  indexing="ij"))
    canvas = np.empty((n, rows.starts[-1] + rows.tile_out, cols.starts[-1] + cols.tile_out),
                      np.float32)
    for start in range(0, len(image), batch_size):
        batch = slice(start, start + batch_size)
        tiles = windows[image[batch], y[batch], x[batch]]        # a copy of this batch only
        outputs = run(np.ascontiguousarray(tiles[:, None]))
        for k, (i, top, left) in enumerate(zip(image[batch], y[batch], x[batch])):
            canvas[i, top:top + rows.tile_out, left:left + cols.tile_out] = outputs[k]
    return canvas[:, :height, :width]


def same_padding(model, height, width):
    """((0, extra rows), (0, extra columns)): the mirror padding that brings an image to the
    next size a ``padding="same"`` model takes (none when it already fits)."""
    geometry = network_geometry(model)
    return tuple((0, fitting_length(geometry, length) - length) for length in (height, width))

