"""Data augmentation on the CPU: the same random geometry for an image and its mask.

The U-Net paper trains on 30 images and leans on augmentation: "shift and rotation invariance
as well as robustness to deformations and gray value variations", above all *elastic
deformations*. This module provides each transform as a small deterministic function and an
:class:`Augmenter` that draws their parameters, per image, from a ``numpy.random.Generator``.

Notation: an image stack ``images`` of shape (..., H, W), e.g. (N, H, W), (N, 1, H, W) or one
(H, W) image, and ``masks`` of the same leading layout (masks may have fewer channels than
images, e.g. images (N, C, H, W) and masks (N, 1, H, W)). Rows y run down (0 at the top),
columns x to the right. The small functions apply *one* transform to every image of the stack
they are given; the :class:`Augmenter` gives each image its own.

Geometry. Flips and 90° rotations move whole pixels (``np.flip``, ``np.rot90``): exact, no
interpolation. Shifts, scaling and elastic deformations are described by a *sampling map*
``p(q)``: output pixel q = (y, x) takes the value of the input at the point p(q), which lies
between pixels in general. Images are interpolated bilinearly (order 1), masks take the
nearest pixel (order 0) so they stay exactly 0/1; both read beyond the border as the mirror
image of the inside (``mode="reflect"``), so nothing is filled with a made-up value and image
and mask stay aligned. ``skimage.transform.warp`` does the sampling, given the map as an
array of coordinates of shape (2, H, W), (row, column) first.

- Shift and scale about the image centre c = ((H-1)/2, (W-1)/2): the content moves by
  t = (t_y, t_x) pixels and grows by the factor s, i.e. input point p goes to output point
  ``q = c + s (p - c) + t``, so ``p(q) = c + (q - t - c) / s``.
- Elastic deformation (the paper's): displacements d(q) = (d_y, d_x) drawn on a coarse
  g x g grid from N(0, sigma^2) pixels, upsampled to (H, W) with bicubic interpolation
  (``skimage.transform.resize``, order 3), so the field is smooth; ``p(q) = q + d(q)``.
  With sigma = 0 the map is the pixel grid itself and the image comes back unchanged.

The Augmenter composes the shift/scale and the elastic field into one map (one interpolation,
so one blur, instead of two): ``p(q) = c + (q + d(q) - t - c) / s``.

Intensity, on images only (masks are left alone): brightness b and contrast k around the
image's mean m,

    image' = clip(k * image + (b r + (1 - k) m), lo, hi)  =  clip(m + k (image - m) + b r, lo, hi)

written the first way so that k = 1, b = 0 returns the image bit for bit; [lo, hi] is
[0, 1] widened to the image's own range, and r = hi - lo, so images in [0, 1] are clipped
to [0, 1] and images in any other range (0..255, standardized) keep theirs.

The images may be in any range (as :func:`unet_from_scratch.train.fit` accepts); the
masks must be 0/1. Dtypes and shapes are kept; the inputs are never modified in place.
"""

import numpy as np
from skimage.transform import resize, warp

from ..checks import (check_finite, check_height_width, check_non_negative, check_number,
                      check_positive, is_int)

MODE = "reflect"


# --------------------------------------------------------------------------------------------
# The transforms, one each. Deterministic: they take the parameters, they draw nothing.
# --------------------------------------------------------------------------------------------

def flip(images, masks, horizontal=True, vertical=False):
    """Mirror images and masks: left-right (``horizontal``) and/or top-bottom (``vertical``).

    Inputs:
        images: array of shape (..., H, W).
        masks: array of shape (..., H, W), the same H and W.
        horizontal: mirror the columns (x -> W - 1 - x), as ``np.flip(a, axis=-1)``.
        vertical: mirror the rows (y -> H - 1 - y), as ``np.flip(a, axis=-2)``.
    Returns:
        ``(images, masks)``, new arrays of the same shapes and dtypes.
    """
    _check_pair("flip", images, masks)
    axes = [axis for axis, on in ((-1, horizontal), (-2, vertical)) if on]
    if not axes:
        return images.copy(), masks.copy()
    return np.flip(images, axes).copy(), np.flip(masks, axes).copy()


def rot90(images, masks, k=1):
    """Rotate images and masks by ``k`` quarter turns counter-clockwise, as ``np.rot90``.

    A quarter turn swaps H and W, so ``k`` must be even unless the images are square.

    Inputs:
        images: array of shape (..., H, W).
        masks: array of shape (..., H, W), the same H and W.
        k: an int; any odd k needs H == W.
    Returns:
        ``(images, masks)``, new arrays of the same shapes and dtypes.
    """
    op = "rot90"
    _check_pair(op, images, masks)
    if not is_int(k):
        raise TypeError(f"{op}: k must be an int, got {type(k).__name__}")
    height, width = images.shape[-2:]
    if k % 2 and height != width:
        raise ValueError(f"{op}: a quarter turn (k={k}) needs square images, got H x W = "
                         f"{height} x {width}; use an even k (a half turn)")
    return (np.rot90(images, k, axes=(-2, -1)).copy(), np.rot90(masks, k, axes=(-2, -1)).copy())


def shift_scale(images, masks, shift=(0.0, 0.0), scale=1.0):
    """Move images and masks by ``shift`` pixels and scale them by ``scale`` about the centre.

    Input point p goes to ``c + scale (p - c) + shift`` (c the image centre); the border is
    filled by reflection. Images are interpolated bilinearly, masks by nearest neighbour.

    Inputs:
        images: array of shape (..., H, W), float.
        masks: array of shape (..., H, W), 0/1.
        shift: ``(t_y, t_x)`` in pixels (down, right), any real numbers.
        scale: a number > 0; > 1 zooms in.
    Returns:
        ``(images, masks)``, new arrays of the same shapes and dtypes (copies, unchanged,
        for shift 0 and scale 1).
    """
    op = "shift_scale"
    _check_pair(op, images, masks)
    shift = _check_shift(op, shift)
    scale = check_positive(op, "scale", scale)
    if shift == (0.0, 0.0) and scale == 1.0:
        return images.copy(), masks.copy()
    points = _pixel_grid(images.shape[-2:])
    return _resample(images, masks, _inverse_shift_scale(points, shift, scale))


def elastic(images, masks, displacement):
    """Deform images and masks along a displacement field: output pixel q reads the input
    at q + d(q) (images bilinearly, masks by nearest neighbour, border by reflection).

    Inputs:
        images: array of shape (..., H, W), float.
        masks: array of shape (..., H, W), 0/1.
        displacement: array of shape (2, H, W), ``(d_y, d_x)`` in pixels, e.g. from
            :func:`random_displacement`. All zero gives back the inputs unchanged.
    Returns:
        ``(images, masks)``, new arrays of the same shapes and dtypes.
    """
    op = "elastic"
    _check_pair(op, images, masks)
    displacement = np.asarray(displacement)
    if displacement.shape != (2,) + images.shape[-2:] or displacement.dtype.kind not in "iuf":
        raise ValueError(f"{op}: displacement must be a real array of shape (2, H, W) = "
                         f"{(2,) + images.shape[-2:]}, got shape {displacement.shape} and "
                         f"dtype {displacement.dtype}")
    return _resample(images, masks, _pixel_grid(images.shape[-2:]) + displacement)


def random_displacement(shape, sigma, grid=3, rng=0):
    """The paper's smooth random displacement field.

    Displacements are drawn on a coarse ``grid`` x ``grid`` lattice, each component from
    N(0, sigma^2) pixels, and upsampled to (H, W) by bicubic interpolation
    (``skimage.transform.resize``, order 3; the lattice's values sit at the centres of
    ``grid`` x ``grid`` equal cells covering the image).

    Inputs:
        shape: ``(H, W)``.
        sigma: the standard deviation in pixels, a number >= 0 (the paper: 10 pixels on its
            572 x 572 tiles, with a 3 x 3 grid); 0 gives a zero field.
        grid: the lattice's points per side, an int >= 2.
        rng: a ``numpy.random.Generator`` or an int seed. Draws 2 * grid * grid normals.
    Returns:
        float64 array of shape (2, H, W): ``(d_y, d_x)`` at every pixel.
    """
    op = "random_displacement"
    height, width = check_height_width(op, "shape", shape)
    sigma = check_non_negative(op, "sigma", sigma)
    _check_grid(op, grid)
    coarse = _generator(op, rng).standard_normal((2, grid, grid)) * sigma
    return np.stack([resize(component, (height, width), order=3, mode="edge",
                            preserve_range=True, anti_aliasing=False) for component in coarse])


def brightness_contrast(images, brightness=0.0, contrast=1.0):
    """Change the brightness and contrast of images (not masks), then clip:
    ``clip(m + contrast * (image - m) + brightness * r, lo, hi)`` with m each (H, W) image's
    mean, [lo, hi] = [min(0, image.min()), max(1, image.max())] and r = hi - lo.

    Inputs:
        images: array of shape (..., H, W), float, any range ([0, 1] is clipped to [0, 1]).
        brightness: a number b; b r is added to every pixel (0: unchanged).
        contrast: a factor k >= 0 on the distances from the mean (1: unchanged).
    Returns:
        new array of the same shape and dtype (equal to ``images`` bit for bit when b = 0 and
        k = 1 and the images lie in [0, 1]).
    """
    op = "brightness_contrast"
    images = _check_images(op, images)
    brightness = check_finite(op, "brightness", brightness)
    contrast = check_non_negative(op, "contrast", contrast)
    dtype = images.dtype
    mean = images.mean(axis=(-2, -1), keepdims=True, dtype=np.float64)
    low = np.minimum(0, images.min(axis=(-2, -1), keepdims=True)).astype(dtype)
    high = np.maximum(1, images.max(axis=(-2, -1), keepdims=True)).astype(dtype)
    # k * image + (b r + (1 - k) m): with k = 1 and b = 0 this is image * 1 + 0, exact.
    span = high.astype(np.float64) - low.astype(np.float64)
    offset = (brightness * span + (1.0 - contrast) * mean).astype(dtype)
    out = images * dtype.type(contrast) + offset
    return np.clip(out, low, high, out=out)


# --------------------------------------------------------------------------------------------
# The random pipeline.
# --------------------------------------------------------------------------------------------

class Augmenter:
    """Random augmentation of a batch, each image with its own draws; the hook of ``fit``.

    ``augment = Augmenter(...)`` then ``images, masks = augment(images, masks, rng)``, or
    ``fit(..., augment=Augmenter())``. Per image, in this order:

    1. with probability 1 - ``probability`` the image and mask are passed through unchanged;
    2. ``flip``: mirror left-right with probability 1/2;
    3. ``rotate``: a random multiple of 90° (square images) or of 180° (others), uniformly;
       with ``flip`` this covers all 8 (square) or 4 (others) symmetries of the rectangle;
    4. shift by ``U(-shift, shift) * H`` rows and ``U(-shift, shift) * W`` columns, scale by
       ``1 + U(-scale, scale)``, and deform elastically (``elastic_sigma`` pixels on an
       ``elastic_grid`` x ``elastic_grid`` lattice): one combined sampling map, one
       interpolation;
    5. images only: brightness ``b ~ U(-brightness, brightness)``, contrast
       ``k ~ 1 + U(-contrast, contrast)``, clipped to [0, 1].

    Each image draws the same numbers in the same order whatever is switched on (switching
    one transform off does not change the others' draws), so a run is reproducible from the
    generator's seed. With every strength zero (``flip=False, rotate=False, shift=0, scale=0,
    brightness=0, contrast=0, elastic_sigma=0``) or ``probability=0`` the output equals the
    input exactly.

    On ultrasound, depth runs downwards (the probe is at the top), so rotations make images
    no scanner would produce; ``rotate=False`` keeps to left-right mirrors. On EM slices every
    orientation is as good as another.

    Inputs (all keywords):
        flip: bool.
        rotate: bool.
        shift: the largest shift as a fraction of the side, a number in [0, 1).
        scale: the largest relative change of size, a number in [0, 1).
        brightness: the largest brightness offset, a number >= 0 (a share of the images' range).
        contrast: the largest relative change of contrast, a number in [0, 1].
        elastic_sigma: the elastic displacements' standard deviation in pixels, >= 0
            (the paper uses 10 pixels on 572 x 572 tiles; 4 suits 96 x 128 images).
        elastic_grid: points per side of the elastic lattice, an int >= 2.
        probability: the chance that an image is augmented at all, in [0, 1].
    """

    def __init__(self, *, flip=True, rotate=True, shift=0.05, scale=0.1, brightness=0.1,
                 contrast=0.1, elastic_sigma=4.0, elastic_grid=3, probability=1.0):
        op = "Augmenter"
        for name, value in (("flip", flip), ("rotate", rotate)):
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{op}: {name} must be True or False, got {value!r}")
        self.flip, self.rotate = bool(flip), bool(rotate)
        self.shift = _check_fraction(op, "shift", shift, upper_open=True)
        self.scale = _check_fraction(op, "scale", scale, upper_open=True)
        self.brightness = check_non_negative(op, "brightness", brightness)
        self.contrast = _check_fraction(op, "contrast", contrast)
        self.elastic_sigma = check_non_negative(op, "elastic_sigma", elastic_sigma)
        self.elastic_grid = _check_grid(op, elastic_grid)
        self.probability = _check_fraction(op, "probability", probability)

    def __repr__(self):
        fields = ("flip", "rotate", "shift", "scale", "brightness", "contrast", "elastic_sigma",
                  "elastic_grid", "probability")
        return "Augmenter(" + ", ".join(f"{name}={getattr(self, name)!r}"
                                        for name in fields) + ")"

    def __call__(self, images, masks, rng):
        """Augment a batch.

        Inputs:
            images: array of shape (N, H, W) or (N, C, H, W), float, any range.
            masks: array of shape (N, H, W) or (N, C', H, W) (the same N, H, W as images,
                the same number of axes), values 0 and 1.
            rng: a ``numpy.random.Generator`` (as ``fit`` passes) or an int seed.
        Returns:
            ``(images, masks)``: new arrays of the same shapes and dtypes; masks still 0/1.
        """
        op = "Augmenter"
        _check_pair(op, images, masks, batch=True)
        rng = _generator(op, rng)
        out_images, out_masks = images.copy(), masks.copy()
        for i in range(len(images)):
            out_images[i], out_masks[i] = self._one(images[i], masks[i], rng)
        return out_images, out_masks

    def _one(self, image, mask, rng):
        """One image (..., H, W) and its mask: draw everything, then apply what is on."""
        height, width = image.shape[-2:]
        square = height == width
        skip, mirror, turn, shift_y, shift_x, grow, bright, contrast = rng.random(8)
        field = random_displacement((height, width), self.elastic_sigma, self.elastic_grid, rng)

        if skip >= self.probability:
            return image, mask
        if self.flip and mirror < 0.5:
            image, mask = flip(image, mask)
        if self.rotate:
            k = int(turn * 4) if square else 2 * int(turn * 2)
            if k:
                image, mask = rot90(image, mask, k)
        shift = ((2 * shift_y - 1) * self.shift * height, (2 * shift_x - 1) * self.shift * width)
        scale = 1 + (2 * grow - 1) * self.scale
        if shift != (0.0, 0.0) or scale != 1.0 or self.elastic_sigma > 0:
            points = _pixel_grid((height, width)) + field
            image, mask = _resample(image, mask, _inverse_shift_scale(points, shift, scale))
        if self.brightness > 0 or self.contrast > 0:
            image = brightness_contrast(image, (2 * bright - 1) * self.brightness,
                                        1 + (2 * contrast - 1) * self.contrast)
        return image, mask


# --------------------------------------------------------------------------------------------
# Sampling.
# --------------------------------------------------------------------------------------------

def _pixel_grid(shape):
    """The identity map: float64 array (2, H, W) of each pixel's (row, column)."""
    return np.stack(np.meshgrid(np.arange(shape[0], dtype=np.float64),
                                np.arange(shape[1], dtype=np.float64), indexing="ij"))


def _inverse_shift_scale(points, shift, scale):
    """Where the output points ``q`` (2, H, W) read the input: ``c + (q - t - c) / s``."""
    height, width = points.shape[1:]
    centre = np.array([(height - 1) / 2, (width - 1) / 2])[:, None, None]
    offset = np.array(shift, dtype=np.float64)[:, None, None]
    return centre + (points - offset - centre) / scale


def _resample(images, masks, coords):
    """Sample every (H, W) image at ``coords`` (2, H, W) bilinearly, every mask by nearest
    neighbour, reflecting at the border; dtypes and shapes kept."""
    # C-ordered outputs, so that the reshapes below are views and the writes land in them.
    out_images = np.empty(images.shape, dtype=images.dtype)
    out_masks = np.empty(masks.shape, dtype=masks.dtype)
    for source, target, order in ((images, out_images, 1), (masks, out_masks, 0)):
        height, width = source.shape[-2:]
        flat_in = source.reshape(-1, height, width)
        flat_out = target.reshape(-1, height, width)
        for j in range(len(flat_in)):
            flat_out[j] = warp(flat_in[j].astype(np.float64), coords, order=order, mode=MODE,
                               preserve_range=True, clip=False)
    return out_images, out_masks


# --------------------------------------------------------------------------------------------
# Checks.
# --------------------------------------------------------------------------------------------

def _check_images(op, images):
    if not isinstance(images, np.ndarray):
        raise TypeError(f"{op}: images must be a NumPy array (augmentation runs on the CPU), "
                        f"got {type(images).__name__}")
    if images.dtype.kind != "f":
        raise TypeError(f"{op}: images must have a float dtype, got {images.dtype}")
    if images.ndim < 2 or images.size == 0:
        raise ValueError(f"{op}: images must be a non-empty array (..., H, W), got "
                         f"images.shape={images.shape}")
    return images


def _check_pair(op, images, masks, batch=False):
    """Float images (..., H, W) and 0/1 masks with the same H, W (and, for a batch, the same
    number of axes, 3 or 4, and the same N)."""
    _check_images(op, images)
    if not isinstance(masks, np.ndarray):
        raise TypeError(f"{op}: masks must be a NumPy array (augmentation runs on the CPU), "
                        f"got {type(masks).__name__}")
    if masks.dtype.kind not in "biuf":
        raise TypeError(f"{op}: masks must have a bool or numeric dtype, got {masks.dtype}")
    layout = "(N, H, W) or (N, C, H, W)" if batch else "(..., H, W)"
    if batch and images.ndim not in (3, 4):
        raise ValueError(f"{op}: images must have shape {layout}, got images.shape="
                         f"{images.shape}")
    same = masks.ndim == images.ndim and masks.shape[-2:] == images.shape[-2:] and (
        masks.shape[:1] == images.shape[:1] if batch else
        masks.shape[:-3] == images.shape[:-3])
    if not same:
        raise ValueError(f"{op}: images and masks must have the same layout {layout} with the "
                         f"same N, H and W, got images.shape={images.shape}, "
                         f"masks.shape={masks.shape}")
    if masks.dtype.kind != "b" and not ((masks == 0) | (masks == 1)).all():
        values = np.unique(masks[(masks != 0) & (masks != 1)])[:3]
        raise ValueError(f"{op}: masks must be 0 and 1, got other values such as "
                         f"{values.tolist()}")


def _check_fraction(op, name, value, upper_open=False):
    value = check_number(op, name, value)
    if not (0 <= value < 1 if upper_open else 0 <= value <= 1):
        interval = "[0, 1)" if upper_open else "[0, 1]"
        raise ValueError(f"{op}: {name} must be a number in {interval}, got {value!r}")
    return value


def _check_shift(op, shift):
    try:
        values = tuple(check_finite(op, "shift", v) for v in shift)
    except TypeError:
        values = ()
    if len(values) != 2:
        raise ValueError(f"{op}: shift must be (t_y, t_x), two numbers of pixels, got {shift!r}")
    return values


def _check_grid(op, grid):
    if not is_int(grid) or grid < 2:
        raise ValueError(f"{op}: the elastic grid must be an int >= 2, got {grid!r}")
    return int(grid)


def _generator(op, rng):
    """A Generator as given, or one made from an int seed."""
    if isinstance(rng, np.random.Generator):
        return rng
    if is_int(rng) and rng >= 0:
        return np.random.default_rng(rng)
    raise TypeError(f"{op}: rng must be a numpy.random.Generator or an int seed >= 0, "
                    f"got {rng!r}")
