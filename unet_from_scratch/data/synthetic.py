"""Synthetic ultrasound nerve images, in the spirit of the Kaggle 2016 nerve set.

The Kaggle "Ultrasound Nerve Segmentation" images are 420 x 580 grayscale B-mode scans of
the neck; the mask outlines the brachial plexus, and 59 % of the training images have no
nerve at all. This module draws look-alikes of any size, quick to make and free to share,
so that a U-Net can be trained out of the box.

How an image is made. Let y be the depth (the row, 0 at the probe) and x the column, both in
pixels, and L = sqrt(H * W) the image's length scale: every size and width below is a fraction
of L (or a position a fraction of H and W), so the picture looks the same at 64 x 64 and at
420 x 580. An *echogenicity map* E(y, x) >= 0 says how strongly the tissue reflects:

    E = tissue background (smooth variation, horizontal muscle striations)
        + skin line + curved fascia bands                          (bright)
        then the nerve pasted in, if there is one                  (bright rim, honeycomb inside)
        then the artery pasted in                                  (dark lumen, thin bright wall)
        times the posterior enhancement under the artery
        times the depth attenuation exp(-alpha * y / H)

The scanner sees E through *speckle*: the interference of many sub-resolution scatterers,
whose envelope is Rayleigh distributed and multiplies the signal,

    I = E * S,    S = (|G * (z_1 + i z_2)| + |G * (z_3 + i z_4)|) / mean,

with z_k standard normal fields: two independent looks averaged (spatial compounding, which
softens the speckle) and G a small Gaussian blur, wider across than down like a scanner's
point-spread function, that makes the grains a few pixels big. Finally the image is
log-compressed, as a scanner displays it, over a dynamic range of D decibels:

    image = clip(1 + 20 log10(g * I) / D, 0, 1)

with a gain g that varies a little from image to image.

What identifies the nerve is its *texture*, not its brightness: the bright rim is no brighter
than the fascia bands, and its dark fascicles are no darker than the artery or the attenuated
depths, so a threshold on intensity (see :func:`.baselines.otsu_baseline`) scores badly while a small
U-Net learns the pattern.

Randomness: image ``i`` of a set with seed ``s`` is drawn from ``SeedSequence([s, i])`` alone,
so it does not depend on how many images are drawn: a bigger set starts with the same images.
Each visual element draws from its own child stream of that sequence, so changing
``empty_fraction`` adds or removes a nerve without changing anything else in the picture.
"""

from collections import namedtuple

import numpy as np
from skimage.filters import gaussian

from ..checks import is_int

# The share of Kaggle training images whose mask is empty (3,312 of 5,635 in the 2016 set).
KAGGLE_EMPTY_FRACTION = 0.59
MIN_SIZE = 16

# The pixel grid of one image: row and column coordinates (broadcastable to (H, W)),
# the size, and the length scale L = sqrt(H * W).
Grid = namedtuple("Grid", "y x height width scale")

# The independent streams of one image, in the order they are spawned from SeedSequence([seed, i]).
STREAMS = ("presence", "tissue", "bands", "artery", "nerve", "speckle", "scanner")


def make_synthetic_ultrasound(n, size=(96, 96), seed=0, empty_fraction=KAGGLE_EMPTY_FRACTION,
                              dtype=np.float32):
    """Draw ``n`` synthetic ultrasound images and their nerve masks.

    Inputs:
        n: number of images, an int >= 0.
        size: ``(H, W)`` or one int for a square image; each side at least 16
            (the Kaggle images are 420 x 580).
        seed: an int >= 0, or a ``numpy.random.Generator`` (one int is drawn from it to serve
            as the seed). Image ``i`` depends only on ``(seed, i)``.
        empty_fraction: the probability that an image has no nerve (mask all zero);
            0.59 as in the Kaggle training set.
        dtype: a floating dtype for both outputs (float32 by default, what training uses).
    Returns:
        images: array of shape (n, H, W), values in [0, 1].
        masks: array of shape (n, H, W) and the same dtype, values 0 and 1 (1 inside the nerve).
    """
    height, width = _check_arguments(n, size, empty_fraction, dtype)
    seed = _seed_from(seed)
    images = np.empty((n, height, width), dtype=dtype)
    masks = np.empty((n, height, width), dtype=dtype)
    for i in range(n):
        images[i], masks[i] = synthetic_ultrasound_image(height, width, seed, i, empty_fraction)
    return images, masks


def synthetic_ultrasound_image(height, width, seed, index, empty_fraction=KAGGLE_EMPTY_FRACTION):
    """Draw image ``index`` of the set with ``seed``: ``(image, mask)``, each float64 (H, W).

    The image lies in [0, 1]; the mask is 1 inside the nerve's oval and 0 elsewhere (all 0
    when this image has no nerve, which happens with probability ``empty_fraction``).
    """
    rng = dict(zip(STREAMS, _streams(seed, index)))
    grid = _grid(height, width)
    echo = tissue_background(grid, rng["tissue"])
    echo += skin_line(grid, rng["bands"]) + fascia_bands(grid, rng["bands"])
    artery = draw_artery(grid, rng["artery"])
    mask = np.zeros((height, width))
    if rng["presence"].random() >= empty_fraction:
        nerve = draw_nerve(grid, artery, rng["nerve"])
        echo = paste_nerve(echo, grid, nerve, rng["nerve"])
        mask = nerve_mask(grid, nerve)
    echo = paste_artery(echo, grid, artery)
    echo *= posterior_enhancement(grid, artery) * depth_attenuation(grid, rng["scanner"])
    signal = echo * speckle(grid, rng["speckle"])
    return log_compress(signal, rng["scanner"]), mask


# --------------------------------------------------------------------------------------------
# The visual elements. Each returns an (H, W) map or the parameters of one structure.
# --------------------------------------------------------------------------------------------

def tissue_background(grid, rng):
    """Echogenicity of the soft tissue: a mid-grey level that drifts slowly over the image,
    modulated by faint horizontal streaks like the striations of a muscle.

    Returns an (H, W) map of values around 0.15 (the bright structures reach about 1).
    """
    shape = (grid.height, grid.width)
    drift = _smooth_noise(rng, shape, 0.12 * grid.scale)
    streaks = _smooth_noise(rng, shape, (0.008 * grid.scale, 0.06 * grid.scale))
    level = rng.uniform(0.12, 0.2)
    return level * np.exp(0.3 * drift + 0.4 * streaks)


def skin_line(grid, rng):
    """The bright layer of skin and subcutaneous fat just under the probe (the top rows).

    Returns an (H, W) map: a band of brightness ~0.8 whose lower edge wavers slightly.
    """
    thickness = rng.uniform(0.03, 0.06) * grid.height
    edge = thickness * (1 + 0.2 * np.sin(2 * np.pi * grid.x / grid.width * rng.uniform(0.5, 1.5)
                                         + rng.uniform(0, 2 * np.pi)))
    return rng.uniform(0.6, 1.0) * _soft_step(edge - grid.y, 0.01 * grid.scale)


def fascia_bands(grid, rng):
    """A few bright, thin, gently curved bands across the image: the fascia between muscles.

    Each band is a Gaussian ridge around the curve
    ``y = y0 + slope * x + amplitude * sin(2 pi x / period + phase)``; its brightness fades
    along the band so that bands start and end inside the image.
    Returns an (H, W) map of values in [0, ~1].
    """
    bands = np.zeros((grid.height, grid.width))
    for _ in range(rng.integers(2, 5)):
        y0 = rng.uniform(0.12, 0.9) * grid.height
        slope = rng.uniform(-0.3, 0.3) * grid.height / grid.width
        amplitude = rng.uniform(0.0, 0.08) * grid.height
        period = rng.uniform(0.7, 2.0) * grid.width
        curve = (y0 + slope * (grid.x - grid.width / 2)
                 + amplitude * np.sin(2 * np.pi * grid.x / period + rng.uniform(0, 2 * np.pi)))
        width = rng.uniform(0.006, 0.014) * grid.scale
        ridge = np.exp(-0.5 * ((grid.y - curve) / width) ** 2)
        bands += rng.uniform(0.5, 1.2) * ridge * _fade_along(grid, rng)
    return bands


def draw_artery(grid, rng):
    """Where the artery is: a dict with centre ``(cy, cx)`` and ``radius``, in pixels.

    The artery sits in the middle band of depths, away from the side edges, with a radius of
    5 to 8 % of L (about 10 to 15 pixels across at 96 x 96).
    """
    radius = rng.uniform(0.05, 0.08) * grid.scale
    cy = rng.uniform(0.3, 0.65) * grid.height
    cx = rng.uniform(0.2, 0.8) * grid.width
    return {"cy": cy, "cx": cx, "radius": radius}


def paste_artery(echo, grid, artery):
    """Paint the artery into ``echo``: an almost anechoic (black) round lumen with a thin,
    slightly bright wall. Returns the new (H, W) map."""
    rho = _ellipse_radius(grid, artery["cy"], artery["cx"], artery["radius"], artery["radius"], 0.0)
    edge = 0.006 * grid.scale / artery["radius"]  # edge width in units of the radius
    inside = _soft_step(1 - rho, edge)
    wall = np.exp(-0.5 * ((rho - 1) / edge) ** 2)
    return echo * (1 - inside) + 0.005 * inside + 0.3 * wall


def posterior_enhancement(grid, artery):
    """The brighter column below the artery: sound crosses the blood almost unattenuated,
    so the tissue behind it looks brighter than its neighbours at the same depth.

    Returns an (H, W) factor, 1 away from the artery and up to ~1.4 just below it.
    """
    r = artery["radius"]
    across = np.exp(-0.5 * ((grid.x - artery["cx"]) / r) ** 2)
    below = _soft_step(grid.y - artery["cy"], 0.3 * r) * np.exp(-(grid.y - artery["cy"]) / (6 * r))
    return 1 + 0.4 * across * below


def draw_nerve(grid, artery, rng):
    """Where the nerve is: a dict with centre ``(cy, cx)``, semi-axes ``a >= b``, angle
    ``theta`` (radians) and the fascicles inside.

    The semi-major axis is 8 to 12 % of L (the nerve spans 16 to 24 % of a square image's
    width, 15 to 25 pixels at 96 x 96), the oval's axis ratio 0.6 to 0.9, its major axis
    within 0.5 rad (29 degrees) of horizontal. It lies next
    to the artery, not on it: at a random angle, a small gap away from the artery's wall,
    and wholly inside the image.
    """
    a = rng.uniform(0.08, 0.12) * grid.scale
    b = a * rng.uniform(0.6, 0.9)
    theta = rng.uniform(-0.5, 0.5)
    cy, cx = _place_beside(grid, artery, a, rng)
    nerve = {"cy": cy, "cx": cx, "a": a, "b": b, "theta": theta}
    nerve["fascicles"] = draw_fascicles(nerve, rng)
    return nerve


def draw_fascicles(nerve, rng, tries=100):
    """The fascicles: 5 to 9 small round bundles inside the oval, a list of ``(u, v, r)``.

    ``(u, v)`` is a centre in the nerve's own frame (along the major and minor axes, in
    pixels) and ``r`` a radius of 22 to 32 % of the minor semi-axis. ``tries`` candidates are
    drawn at once; they are accepted in turn if they stay off the rim and do not overlap the
    ones already accepted (so a crowded nerve may end up with fewer).
    """
    a, b = nerve["a"], nerve["b"]
    target = rng.integers(5, 10)
    r = rng.uniform(0.22, 0.32, size=tries) * b
    u = rng.uniform(-1, 1, size=tries) * (a - r)
    v = rng.uniform(-1, 1, size=tries) * (b - r)
    off_rim = (u / (a - 1.3 * r)) ** 2 + (v / (b - 1.3 * r)) ** 2 <= 1
    fascicles = []
    for candidate in zip(u[off_rim], v[off_rim], r[off_rim]):
        if len(fascicles) == target:
            break
        if all(_apart(candidate, other) for other in fascicles):
            fascicles.append(tuple(float(c) for c in candidate))
    return fascicles


def paste_nerve(echo, grid, nerve, rng):
    """Paint the nerve into ``echo``: a bright (hyperechoic) rim, the epineurium, around a
    honeycomb of dark (hypoechoic) fascicles separated by bright septa.

    The oval's inside replaces the tissue; the rim is added on top, centred on the oval's
    boundary. Returns the new (H, W) map.
    """
    frame = _ellipse_frame(grid, nerve["cy"], nerve["cx"], nerve["theta"])
    rho = np.hypot(frame[0] / nerve["a"], frame[1] / nerve["b"])
    edge = 0.01 * grid.scale / nerve["b"]  # edge width in units of the minor semi-axis
    inside = _soft_step(1 - rho, edge)
    septa = rng.uniform(0.4, 0.6)
    interior = septa * (1 - 0.9 * _fascicle_map(frame, nerve["fascicles"], 0.004 * grid.scale))
    rim_width = 0.01 * grid.scale / nerve["b"]
    rim = rng.uniform(0.7, 1.1) * np.exp(-0.5 * ((rho - 1) / rim_width) ** 2)
    return echo * (1 - inside) + interior * inside + rim


def nerve_mask(grid, nerve):
    """The label: 1 where the pixel centre lies inside the nerve's oval, else 0; (H, W) float64."""
    rho = _ellipse_radius(grid, nerve["cy"], nerve["cx"], nerve["a"], nerve["b"], nerve["theta"])
    return (rho <= 1).astype(np.float64)


def depth_attenuation(grid, rng):
    """Sound loses energy on its way down and back: a factor ``exp(-alpha * y / H)`` with
    ``alpha`` between 1.2 and 2.2, so the deepest rows are 3 to 9 times darker than the top."""
    alpha = rng.uniform(1.2, 2.2)
    return np.exp(-alpha * grid.y / grid.height) * np.ones((1, grid.width))


def speckle(grid, rng, looks=2):
    """Multiplicative speckle, normalised to mean 1; (H, W).

    One *look* is the envelope of a blurred complex Gaussian field, which is Rayleigh
    distributed; the scanner averages ``looks`` independent ones (spatial compounding), which
    makes the speckle gamma-like and less harsh. The blur (sigma 0.6 % of L down, 1.2 %
    across, at least 0.5 pixel) sets the grain size, wider across than down, like a
    scanner's point-spread function.
    """
    shape = (grid.height, grid.width)
    sigma = (max(0.006 * grid.scale, 0.5), max(0.012 * grid.scale, 0.5))
    envelope = np.zeros(shape)
    for _ in range(looks):
        real = gaussian(rng.standard_normal(shape), sigma=sigma, mode="wrap")
        imag = gaussian(rng.standard_normal(shape), sigma=sigma, mode="wrap")
        envelope += np.hypot(real, imag)
    return envelope / envelope.mean()


def log_compress(signal, rng, dynamic_range_db=40.0):
    """Display the echo signal as a scanner does: ``clip(1 + 20 log10(g * I) / D, 0, 1)``.

    ``D`` is the dynamic range in decibels: an echo ``D`` dB below ``1 / g`` shows black.
    The gain ``20 log10(g)`` lies between -7 and -3 dB, different for each image, so the
    brightest echoes (about 1) show near white and the soft tissue (about 0.15) mid-grey.
    Returns an (H, W) image in [0, 1].
    """
    gain_db = rng.uniform(-7.0, -3.0)
    decibels = 20 * np.log10(np.maximum(signal, 1e-6)) + gain_db
    return np.clip(1 + decibels / dynamic_range_db, 0.0, 1.0)


# --------------------------------------------------------------------------------------------
# Helpers.
# --------------------------------------------------------------------------------------------

def _check_arguments(n, size, empty_fraction, dtype):
    """Validate the arguments of :func:`make_synthetic_ultrasound`; return ``(H, W)``."""
    op = "make_synthetic_ultrasound"
    if not is_int(n) or n < 0:
        raise ValueError(f"{op}: n must be an int >= 0, got {n!r}")
    sides = (size, size) if is_int(size) else tuple(np.atleast_1d(size))
    if (len(sides) != 2 or not all(is_int(s) for s in sides)
            or min(sides) < MIN_SIZE):
        raise ValueError(f"{op}: size must be an int or a pair (H, W) of ints >= {MIN_SIZE}, "
                         f"got {size!r}")
    if not 0 <= empty_fraction <= 1:
        raise ValueError(f"{op}: empty_fraction must lie in [0, 1], got {empty_fraction!r}")
    if np.dtype(dtype).kind != "f":
        raise TypeError(f"{op}: dtype must be a floating dtype (float32 or float64), "
                        f"got {np.dtype(dtype)}")
    return int(sides[0]), int(sides[1])


def _seed_from(seed):
    """An int seed from an int >= 0 or a ``numpy.random.Generator`` (one draw)."""
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(2**63))
    if not is_int(seed) or seed < 0:
        raise ValueError(f"make_synthetic_ultrasound: seed must be an int >= 0 or a "
                         f"numpy.random.Generator, got {seed!r}")
    return int(seed)


def _streams(seed, index):
    """One independent generator per visual element (see ``STREAMS``), from ``(seed, index)``."""
    children = np.random.SeedSequence([seed, index]).spawn(len(STREAMS))
    return [np.random.default_rng(child) for child in children]


def _grid(height, width):
    """Pixel-centre coordinates: y of shape (H, 1), x of shape (1, W), and L = sqrt(H W)."""
    y = np.arange(height, dtype=np.float64)[:, None]
    x = np.arange(width, dtype=np.float64)[None, :]
    return Grid(y, x, height, width, float(np.sqrt(height * width)))


def _smooth_noise(rng, shape, sigma):
    """White noise blurred with a Gaussian of ``sigma`` (pixels, one or per axis), rescaled
    to standard deviation 1: a random field whose blobs are about ``sigma`` big. The kernel
    is cut at 2.5 sigma (not 4): a random field needs no exact Gaussian, and the wide blurs
    are what takes the time in a 420 x 580 image."""
    field = gaussian(rng.standard_normal(shape), sigma=sigma, mode="reflect", truncate=2.5)
    return field / max(field.std(), 1e-12)


def _soft_step(t, width):
    """A smooth step from 0 (t << 0) to 1 (t >> 0) over about ``width``: the logistic
    function, so that edges are anti-aliased instead of jagged."""
    return 0.5 * (1 + np.tanh(t / (2 * width)))


def _fade_along(grid, rng):
    """A factor along x that rises and falls smoothly, so a band starts and ends inside the
    image (or runs off one side). (1, W)."""
    start, stop = np.sort(rng.uniform(-0.3, 1.3, size=2)) * grid.width
    ramp = 0.05 * grid.width
    return _soft_step(grid.x - start, ramp) * _soft_step(stop - grid.x, ramp)


def _ellipse_frame(grid, cy, cx, theta):
    """Coordinates ``(u, v)`` of every pixel in the frame of an oval centred at ``(cy, cx)``
    whose major axis is turned by ``theta`` from the x axis."""
    dy, dx = grid.y - cy, grid.x - cx
    u = dx * np.cos(theta) + dy * np.sin(theta)
    v = -dx * np.sin(theta) + dy * np.cos(theta)
    return u, v


def _ellipse_radius(grid, cy, cx, a, b, theta):
    """The oval's normalised radius ``rho = sqrt((u/a)^2 + (v/b)^2)``: 1 on its boundary."""
    u, v = _ellipse_frame(grid, cy, cx, theta)
    return np.hypot(u / a, v / b)


def _apart(circle, other):
    """Whether two circles ``(u, v, r)`` keep a gap of 10 % of their radii between them."""
    (u1, v1, r1), (u2, v2, r2) = circle, other
    return np.hypot(u1 - u2, v1 - v2) >= 1.1 * (r1 + r2)


def _fascicle_map(frame, fascicles, edge):
    """1 inside the fascicles and 0 between them (soft edges of width ``edge`` pixels)."""
    u, v = frame
    dark = np.zeros(np.broadcast_shapes(u.shape, v.shape))
    for fu, fv, r in fascicles:
        dark = np.maximum(dark, _soft_step(r - np.hypot(u - fu, v - fv), edge))
    return dark


def _place_beside(grid, artery, a, rng):
    """A centre for an oval of semi-major axis ``a`` next to the artery and inside the image.

    Tries random directions around the artery; the first centre that keeps the oval inside
    the image wins. If none does (a tiny image), the last one is clipped into the image.
    """
    distance = artery["radius"] + a + rng.uniform(0.01, 0.04) * grid.scale
    margin = 1.05 * a
    for _ in range(20):
        angle = rng.uniform(0, 2 * np.pi)
        cy = artery["cy"] + distance * np.sin(angle)
        cx = artery["cx"] + distance * np.cos(angle)
        if margin <= cy <= grid.height - margin and margin <= cx <= grid.width - margin:
            return cy, cx
    return (float(np.clip(cy, margin, grid.height - margin)),
            float(np.clip(cx, margin, grid.width - margin)))
