"""Prediction: probabilities for images of any size, and the one rule by which an image goes
through a trained model -- used alike by ``predict`` and ``evaluate`` on the command line and
by ``fit``'s validation.

The rule (:func:`predict_at_input_size`): an image whose size differs from the size the
model was trained at (its checkpoint's ``input_size``, the training images' size before any
patches) is resized to that size, predicted whole (:func:`predict`: overlap-tile for a valid
network, mirror padding for a same one), and its probabilities are resized back to the
image's size; a pixel is foreground where its probability is > the threshold.  The network
learnt its structures at one scale, and this keeps them at that scale.

Image values follow one rule too (:func:`unet_from_scratch.checks.check_images`): any finite
floating-point images, NaN and inf refused, integers refused.  A model may carry an input
scaling (``model.input_scaling``, recorded in its checkpoint by ``fit``): when ``fit`` was
asked to standardize, ``predict`` applies the same ``(x - mean) / std`` to what it is given.
"""

import numpy as np

from . import metrics, ops, tiling
from .backend import asnumpy, to_device
from .checks import check_count, check_images
from .data.images import resize
from .progress import ProgressBar, progress_stream

PROGRESS_DELAY = 2.0       # seconds of prediction before a progress bar is drawn


def as_batch_array(array, name, op="fit"):
    """(N, H, W) or (N, 1, H, W) -> (N, 1, H, W), dtype unchanged; refuses anything else."""
    if isinstance(array, (tuple, list)) and array and not np.isscalar(array[0]):
        shapes = {np.shape(item) for item in array}
        if len(shapes) > 1:
            raise ValueError(f"{op}: {name} must be one array (N, H, W) of images of one size, "
                             f"got a list of shapes {sorted(shapes)[:3]}")
    array = np.asarray(array)
    if array.ndim == 3:
        array = array[:, None]
    if array.ndim != 4 or array.shape[1] != 1:
        raise ValueError(f"{op}: {name} must be (N, H, W) or (N, 1, H, W), got shape {array.shape}")
    return array


def as_image_batch(images, name, op):
    """Images as float32 (N, 1, H, W) after the value rule (finite floats only)."""
    images = as_batch_array(images, name, op)
    check_images(op, name, images)
    return images.astype(np.float32, copy=False)


def scale_inputs(model, images):
    """``images`` after the model's recorded input scaling (a standardization by ``fit``), if any."""
    standardize = (getattr(model, "input_scaling", None) or {}).get("standardize")
    if not standardize:
        return images
    mean, std = np.float32(standardize["mean"]), np.float32(standardize["std"])
    return (images - mean) / std


def predict(model, images, batch_size=8, device=None, tile=None, progress=False):
    """Probabilities (N, H, W), a float32 NumPy array at the input's size, for images
    (N, H, W) or (N, 1, H, W) of any size, in evaluation mode.

    Inputs:
        model: a UNet, either padding.
        images: (N, H, W) or (N, 1, H, W), finite floating-point values in the scale the
            model was trained on (its ``input_scaling``, if ``fit`` standardized, is applied
            here); integer arrays are refused -- divide 8-bit images by 255.
        batch_size: how many network inputs (images, or tiles) go through at a time.
        device: where the batches are copied (default: where the model is).
        tile: padding="valid" only: the input tile's size, an int or (height, width),
            rounded down to a size the network takes (default: chosen per image size, at
            most ``tiling.DEFAULT_MAX_TILE`` = 572, the paper's).  Ignored for "same".
        progress: draw a progress bar on stderr (a terminal) when it takes over 2 s
            (padding="same"; overlap-tile prediction draws none).

    padding="valid" (the paper's network, whose output is smaller than its input):
    overlap-tile prediction (``tiling``) -- the image is mirror-padded by the margin the
    network loses, cut into tiles whose outputs tile the image, and the outputs are
    stitched.  Where the mirror-padded image is itself a size the network takes, this
    equals predicting it whole, to float rounding.

    padding="same": each image goes through whole; an image whose size the network does
    not take (it takes multiples of 2**depth) is first mirror-padded after its end (bottom
    and right) to the next size it takes, and the output is cropped back.
    """
    check_count("predict", "batch_size", batch_size)
    images = as_image_batch(images, "images", "predict")
    if len(images) == 0:
        raise ValueError(f"predict: no images (images.shape={images.shape})")
    tiling.check_tile(tile)
    images = scale_inputs(model, images)
    if device is None:
        device = model.device
    model.eval()

    def run(x):
        probabilities, _ = ops.sigmoid_forward(model(to_device(x, device)))
        return asnumpy(probabilities)[:, 0]

    height, width = images.shape[2:]
    if model.config["padding"] == "valid":
        plans = tiling.plan(model, height, width, tile)
        return tiling.overlap_tile(run, images[:, 0], plans, batch_size)
    padding = ((0, 0), (0, 0)) + tiling.same_padding(model, height, width)
    if any(after for _, after in padding):
        images = np.pad(images, padding, mode="reflect")
    bar = ProgressBar(len(images), "predict", progress_stream(progress), delay=PROGRESS_DELAY)
    out = []
    for start in range(0, len(images), batch_size):
        out.append(run(images[start:start + batch_size]))
        bar.update(min(len(images), start + batch_size), min(len(images), start + batch_size))
    bar.close()
    return np.concatenate(out)[:, :height, :width]


def input_size_of(meta):
    """The (H, W) a checkpoint's model was trained at (before any patches), or None when
    its meta does not say: ``input_size``, else the command line's ``run["input_size"]``,
    else ``image_size`` (checkpoints written before ``input_size`` was kept)."""
    run = meta.get("run") if isinstance(meta.get("run"), dict) else {}
    size = meta.get("input_size") or run.get("input_size") or meta.get("image_size")
    return tuple(int(s) for s in size) if size else None


def predict_at_input_size(model, images, input_size, batch_size=8, device=None, progress=False,
                          label="predict"):
    """Probabilities for each of ``images`` (a list of (H_i, W_i) arrays, or (N, H, W)) at
    its own size, by the module's rule: resized to ``input_size`` (H, W) -- unless it is
    that size already, or ``input_size`` is None -- predicted, and resized back.
    Returns a list of float32 (H_i, W_i) arrays (or an (N, H, W) array for an array)."""
    as_array = isinstance(images, np.ndarray)
    images = list(images)
    bar = ProgressBar(len(images), label, progress_stream(progress), delay=PROGRESS_DELAY)
    results = [None] * len(images)
    for start in range(0, len(images), batch_size):
        chunk = range(start, min(len(images), start + batch_size))
        for size, members in _group_by_size(images, chunk, input_size).items():
            batch = np.stack([_resized(images[i], size) for i in members])
            probabilities = predict(model, batch, batch_size, device)
            for i, p in zip(members, probabilities):
                results[i] = _resized(p, images[i].shape)
        bar.update(chunk.stop, chunk.stop)
    bar.close()
    return np.stack(results) if as_array else results


def _group_by_size(images, indices, input_size):
    """{network input size: [image indices]} for the images at ``indices``."""
    groups = {}
    for i in indices:
        check_images("predict", f"image {i}", np.asarray(images[i]))
        size = tuple(input_size) if input_size else tuple(np.shape(images[i])[-2:])
        groups.setdefault(size, []).append(i)
    return groups


def _resized(image, size):
    image = np.asarray(image, np.float32)
    return image if image.shape[-2:] == tuple(size) else resize(image, tuple(size))


def evaluate_dice(model, images, masks, batch_size=8, device=None, input_size=None,
                  progress=False):
    """Mean per-image Dice (Kaggle convention) of the thresholded predictions, at the
    images' full size, by :func:`predict_at_input_size`'s rule (with ``input_size`` None,
    each image goes through at its own size); a progress bar when it takes over 2 s."""
    images = as_image_batch(images, "images", "evaluate_dice")[:, 0]
    masks = as_batch_array(masks, "masks", "evaluate_dice")[:, 0]
    if masks.shape != images.shape:
        raise ValueError(f"evaluate_dice: masks must match the images, got masks of shape "
                         f"{masks.shape} for images of shape {images.shape}")
    probabilities = predict_at_input_size(model, images, input_size, batch_size, device,
                                          progress, "validation")
    return float(metrics.mean_dice(probabilities, masks))
