"""Image files in and out: one greyscale image or one binary mask per file (PNG, TIF, JPG, ...).

What ``predict`` on the command line needs: read a scan as a float32 (H, W) image in [0, 1],
bring it to the network's size and the probabilities back (:func:`resize`), and write the
predicted mask as an 8-bit PNG of 0 and 255.

How pixel values become [0, 1] (:func:`read_image`), by the file's dtype:

    bool                  False -> 0, True -> 1
    uint8, uint16, ...    divided by the dtype's largest value (255, 65535, ...), so an 8-bit
                          and a 16-bit copy of one scan read the same
    signed integers       likewise, divided by the dtype's largest value; negative values refused
    float                 kept as they are when they lie in [0, 1]; otherwise the file has no
                          natural full scale, and the image is stretched so that its minimum
                          becomes 0 and its maximum 1 (a constant image becomes all 0)

Colour is turned into grey with ``skimage.color.rgb2gray`` (the ITU-R BT.709 luminance
``0.2125 R + 0.7154 G + 0.0721 B``); an alpha channel is dropped, not blended.

One file holds one image. A multi-page TIF or an animated GIF is refused: beware that
``skimage.io.imread`` alone would read a 3- or 4-page TIF stack as one RGB(A) image, which is
why TIF files are opened with ``tifffile`` first to count their pages.

Every error is a ``ValueError`` that names the function and the file.
"""

import os
import warnings

import numpy as np
import tifffile
from skimage.color import rgb2gray
from skimage.io import imread, imsave
from skimage.transform import resize as skimage_resize

from ..checks import is_int

TIF_EXTENSIONS = (".tif", ".tiff")
LOSSLESS_MASK_EXTENSIONS = (".png", ".tif", ".tiff")
MASK_FOREGROUND_VALUES = (1, 255, 65535)


def read_image(path):
    """Read one greyscale (or colour) image file as a float32 (H, W) array in [0, 1].

    Inputs:
        path: a file name (str or ``os.PathLike``) of any format scikit-image reads
            (PNG, TIF, JPG, BMP, ...).
    Returns:
        image: float32 array of shape (H, W), values in [0, 1] (see the module's docstring for
        how each dtype is scaled; colour becomes grey, alpha is dropped).
    Raises:
        ValueError: the file does not exist, cannot be read as an image, holds a stack of
        images, or has an unexpected shape or values.
    """
    pixels = _read_pixels("read_image", path)
    image = to_unit_range("read_image", path, pixels)
    if image.ndim == 3:
        image = rgb2gray(image[..., :3]) if image.shape[-1] >= 3 else image[..., 0]
    return np.ascontiguousarray(image, dtype=np.float32)


def read_mask(path):
    """Read one binary mask file as a float32 (H, W) array of 0 and 1.

    The file's values must be 0 (background) and one foreground value: 1, 255 or 65535 (or
    False/True), as masks are saved by hand, by :func:`write_mask` or by the Kaggle set.
    Nothing is thresholded: a mask with any other value (a JPG's compression noise, a
    probability map, labels 1, 2, 3) is refused, and the message lists a few of them.
    A colour file is accepted when its colour channels are equal (grey stored as RGB);
    an alpha channel is dropped.

    Inputs:
        path: a file name (str or ``os.PathLike``).
    Returns:
        mask: float32 array of shape (H, W), values 0 and 1.
    """
    op = "read_mask"
    pixels = _read_pixels(op, path)
    if pixels.ndim == 3:
        colours = pixels[..., :3] if pixels.shape[-1] >= 3 else pixels[..., :1]
        if not (colours == colours[..., :1]).all():
            raise ValueError(f"read_mask: {path}: a colour mask (shape {pixels.shape} with "
                             f"channels that differ); expected a greyscale mask of 0 and "
                             f"255 (or 0 and 1)")
        pixels = colours[..., 0]
    if pixels.dtype == bool:
        return pixels.astype(np.float32)
    values = np.unique(pixels)
    foreground = values.max() if values.size else 0
    offending = values[~np.isin(values, (0, foreground))]
    if foreground not in (0,) + MASK_FOREGROUND_VALUES:
        offending = np.append(offending, foreground)
    if offending.size:
        raise ValueError(f"{op}: {path}: not a binary mask: expected 0 and one of the values "
                         f"{', '.join(map(str, MASK_FOREGROUND_VALUES))}, got "
                         f"{values.size} distinct values including "
                         f"{_some_values(offending)}")
    return (pixels > 0).astype(np.float32)


def write_mask(path, mask):
    """Write a binary mask as an 8-bit greyscale PNG (or TIF) of 0 and 255.

    Inputs:
        path: the file to write; its folder is created if missing. The extension must be
            lossless: .png (or .tif, .tiff); a JPG would blur the mask's edges into other values.
        mask: array of shape (H, W), bool or numbers with the values 0 and 1 only (threshold a
            probability map first, e.g. ``probabilities > 0.5``).
    Returns:
        path, as given.
    """
    op = "write_mask"
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.size == 0:
        raise ValueError(f"{op}: mask must be a non-empty 2-D array (H, W), "
                         f"got mask.shape={mask.shape}")
    if mask.dtype.kind not in "biuf":
        raise TypeError(f"{op}: mask must have a bool or numeric dtype, got {mask.dtype}")
    extension = os.path.splitext(os.fspath(path))[1].lower()
    if extension not in LOSSLESS_MASK_EXTENSIONS:
        raise ValueError(f"{op}: {path}: a mask needs a lossless format, one of "
                         f"{', '.join(LOSSLESS_MASK_EXTENSIONS)}; got "
                         f"{extension or 'no extension'!r}")
    if mask.dtype != bool:
        values = np.unique(mask)
        offending = values[~np.isin(values, (0, 1))]
        if offending.size:
            raise ValueError(f"{op}: mask must hold only 0 and 1 (or be bool), got values "
                             f"{_some_values(offending)}; threshold probabilities first, "
                             f"e.g. write_mask(path, probabilities > 0.5)")
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    imsave(path, (mask > 0).astype(np.uint8) * 255, check_contrast=False)
    return path


def resize(image, shape, order=1):
    """Resize an image (or a stack of them) to ``shape`` = (H', W'): ``skimage.transform.resize``.

    Inputs:
        image: array of shape (H, W) or (N, H, W), any real dtype (bool becomes 0/1).
        shape: the new size (H', W'), two ints >= 1.
        order: the spline order, 0 (nearest neighbour, for masks) to 5; 1 (bilinear) by default.
    Returns:
        float32 array of shape (H', W') or (N, H', W'). Values keep their range
        (``preserve_range``): no rescaling by dtype. When a side shrinks and ``order > 0``,
        the image is first blurred with a Gaussian (``anti_aliasing``) so that fine speckle
        does not alias into false texture. Resizing a mask with ``order=1`` gives fractions
        at its edge: use ``order=0``, or threshold the result at 0.5.
    """
    op = "resize"
    image = np.asarray(image)
    if image.ndim not in (2, 3) or image.size == 0:
        raise ValueError(f"{op}: image must be a non-empty (H, W) or (N, H, W) array, "
                         f"got image.shape={image.shape}")
    if image.dtype.kind not in "biuf":
        raise TypeError(f"{op}: image must have a bool or numeric dtype, got {image.dtype}")
    shape = tuple(shape) if np.ndim(shape) == 1 else (shape,)
    if len(shape) != 2 or not all(is_int(s) and s >= 1 for s in shape):
        raise ValueError(f"{op}: shape must be a pair (H, W) of ints >= 1, got {shape!r}")
    if not is_int(order) or not 0 <= order <= 5:
        raise ValueError(f"{op}: order must be an int from 0 to 5, got {order!r}")
    output_shape = image.shape[:-2] + tuple(int(s) for s in shape)
    shrinking = any(new < old for new, old in zip(shape, image.shape[-2:]))
    resized = skimage_resize(image.astype(np.float32), output_shape, order=order,
                             mode="edge", preserve_range=True,
                             anti_aliasing=bool(shrinking and order > 0))
    return resized.astype(np.float32, copy=False)


# --------------------------------------------------------------------------------------------
# Helpers.
# --------------------------------------------------------------------------------------------

def _read_pixels(op, path):
    """The file's pixels as stored: (H, W) or (H, W, C) with C in 2..4, any dtype.

    Refuses a missing file, an unreadable one, and a stack (a multi-page TIF, an animated GIF).
    """
    if not os.path.exists(path):
        raise ValueError(f"{op}: {path}: no such file")
    if os.path.isdir(path):
        raise ValueError(f"{op}: {path}: is a folder, not an image file")
    pages = 1
    try:
        if os.path.splitext(os.fspath(path))[1].lower() in TIF_EXTENSIONS:
            pixels, pages = _read_tif(path)
        else:
            with warnings.catch_warnings():
                # on a file it cannot place, imageio tries every plugin, and its legacy
                # DICOM plugin announces its own deprecation: noise for our user
                warnings.filterwarnings("ignore", "The legacy `DICOM` plugin",
                                        DeprecationWarning)
                pixels = imread(path)
    except Exception as error:  # PIL, imageio and tifffile raise many kinds of errors
        reason = str(error).splitlines()[0] if str(error) else "no reason given"
        raise ValueError(f"{op}: {path}: cannot read it as an image (corrupt, truncated or "
                         f"not an image file): {type(error).__name__}: {reason}") from error
    if pages > 1:
        raise ValueError(f"{op}: {path}: a TIF stack of {pages} pages; {op} reads one 2-D "
                         f"image per file")
    pixels = np.asarray(pixels)
    # Some readers (GIF) put a frame axis first even for one frame.
    if pixels.ndim == 4 or (pixels.ndim == 3 and pixels.shape[-1] not in (2, 3, 4)):
        if pixels.shape[0] > 1:
            raise ValueError(f"{op}: {path}: holds a stack of {pixels.shape[0]} images "
                             f"(shape {pixels.shape}); {op} reads one 2-D image per file")
        pixels = pixels[0]
    if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[-1] not in (2, 3, 4)):
        raise ValueError(f"{op}: {path}: expected a 2-D image, grey (H, W) or colour "
                         f"(H, W, 3 or 4), got pixels of shape {pixels.shape}")
    if pixels.size == 0:
        raise ValueError(f"{op}: {path}: the image is empty (shape {pixels.shape})")
    if pixels.dtype.kind not in "biuf":
        raise ValueError(f"{op}: {path}: unsupported pixel type {pixels.dtype}")
    return pixels


def _read_tif(path):
    """A TIF's pixels (None for a stack) and its number of pages. Colour stored plane by plane
    (planar configuration "separate", axes S, Y, X) is moved to (H, W, C)."""
    with tifffile.TiffFile(path) as tif:
        pages = len(tif.pages)
        series = tif.series[0]
        pixels = series.asarray() if pages == 1 else None
        axes = series.axes
    if pixels is not None and axes.startswith("S") and pixels.ndim == 3:
        pixels = np.moveaxis(pixels, 0, -1)
    return pixels, pages


def to_unit_range(op, path, pixels):
    """Scale stored pixel values to float64 in [0, 1], by dtype (see the module docstring)."""
    if pixels.dtype == bool:
        return pixels.astype(np.float64)
    if pixels.dtype.kind in "iu":
        if pixels.min() < 0:
            raise ValueError(f"{op}: {path}: negative pixel values (min {pixels.min()}) in a "
                             f"{pixels.dtype} image; expected values from 0 to "
                             f"{np.iinfo(pixels.dtype).max}")
        return pixels / float(np.iinfo(pixels.dtype).max)
    pixels = pixels.astype(np.float64)
    if not np.isfinite(pixels).all():
        raise ValueError(f"{op}: {path}: the image holds NaN or infinite values")
    low, high = pixels.min(), pixels.max()
    if low >= 0 and high <= 1:
        return pixels
    if high == low:
        return np.zeros_like(pixels)
    return (pixels - low) / (high - low)


def _some_values(values, count=5):
    """The first ``count`` values as text, with how many more there are."""
    shown = ", ".join(f"{v:g}" if isinstance(v, float) else str(v)
                      for v in values[:count].tolist())
    return shown + (f" (and {values.size - count} more)" if values.size > count else "")
