"""Figures: the training curves, predictions next to the truth, examples of a data set and of
its augmentation.

Every function draws on a ``matplotlib.figure.Figure`` of its own, rendered by the Agg canvas
and written to a file, so importing this module neither changes the user's matplotlib backend
nor opens a window, and no figure is left registered with ``pyplot`` (there is nothing to
close; the figure is freed when the function returns). The file's format follows its
extension: ``.png`` for the figures of the README and the lessons.

Colours, the same in every figure: the true mask's outline in green, the predicted mask's in
red. An outline is the contour at level 0.5 of the 0/1 mask, drawn around the pixel centres
(so it runs half a pixel inside the mask's square pixels); a mask that touches the image's
border is closed along the border.
"""

import os

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .backend import asnumpy
from .checks import check_count, is_int, is_real
from .metrics import dice_per_image

TRUE_COLOUR = "#22dd22"
PREDICTED_COLOUR = "red"
BASELINE_LABEL = "Otsu threshold baseline"
PANEL_INCHES = 2.1  # width of one image panel
DPI = 80


def plot_history(history, path, baseline_dice=None, title=None):
    """Plot the training curves of :func:`unet_from_scratch.train.fit` and save them.

    Two panels side by side: the training loss per epoch, and the validation Dice per epoch
    (Kaggle convention, mean over images) with the best epoch marked. With ``baseline_dice``,
    a dashed horizontal line shows the score of the threshold baseline
    (:func:`unet_from_scratch.data.otsu_baseline`), labelled "Otsu threshold baseline".

    Inputs:
        history: dict of equal-length lists with at least the keys "epoch", "loss" and
            "val_dice" (other keys, such as "seconds", are ignored); at least one epoch.
        path: the file to write (its folder is created if missing).
        baseline_dice: None, or the baseline's mean Dice, a number in [0, 1].
        title: None, or a title above both panels.
    Returns:
        path, as given. The figure is 9 x 3.5 inches at 100 dpi: a 900 x 350 pixel PNG.
    """
    epochs, loss, val_dice = _check_history(history)
    if baseline_dice is not None and not (is_real(baseline_dice) and 0 <= baseline_dice <= 1):
        raise ValueError(f"plot_history: baseline_dice must be None or a number in [0, 1], "
                         f"got {baseline_dice!r}")
    fig = _figure((9, 3.5))
    loss_ax, dice_ax = fig.subplots(1, 2)

    loss_ax.plot(epochs, loss, marker="o", markersize=3, color="tab:blue")
    loss_ax.set(xlabel="epoch", ylabel="training loss", title="Training loss")

    best = int(np.argmax(val_dice))
    dice_ax.plot(epochs, val_dice, marker="o", markersize=3, color="tab:orange",
                 label=f"U-Net (best {val_dice[best]:.3f}, epoch {epochs[best]:g})")
    dice_ax.plot([epochs[best]], [val_dice[best]], marker="*", markersize=11,
                 color="tab:orange", linestyle="none")
    if baseline_dice is not None:
        dice_ax.axhline(baseline_dice, color="grey", linestyle="--", linewidth=1.2,
                        label=f"{BASELINE_LABEL} ({baseline_dice:.3f})")
    dice_ax.set(xlabel="epoch", ylabel="mean Dice", title="Validation Dice", ylim=(0, 1.02))
    dice_ax.legend(loc="lower right", fontsize=8)

    for ax in (loss_ax, dice_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    if title is not None:
        fig.suptitle(str(title))
    return _save(fig, path, dpi=100)


def plot_predictions(images, masks, probabilities, path, n=8, threshold=0.5, dice=None,
                     structure="nerve"):
    """Show up to ``n`` images with the true mask (green) and the prediction (red) outlined.

    Each panel is titled with the image's index in the set and its Dice (Kaggle convention:
    1 when prediction and truth are both empty). Which images: all of them when there are at
    most ``n``; otherwise half of the panels (rounded up) go to the first images with a nerve
    and the rest to the first images without one, so the figure shows both kinds of error
    (a missed or misshapen nerve, and a nerve predicted where there is none); if one kind runs
    short the other fills in. The panels keep the set's order.

    Inputs:
        images: array of shape (N, H, W), grey values (shown from 0 to 1 when they lie there).
        masks: the true masks, shape (N, H, W), 0 and 1 (or bool).
        probabilities: the network's output after the sigmoid, shape (N, H, W).
        path: the file to write (its folder is created if missing).
        n: the most images to show, an int >= 1; four per row.
        threshold: the prediction is ``probabilities > threshold``.
        dice: None (computed with :func:`unet_from_scratch.metrics.dice_per_image`), or the
            per-image Dice already computed, shape (N,).
        structure: what the masks mark, for the titles ("nerve", "membrane", ...).
    Returns:
        path, as given.
    """
    op = "plot_predictions"
    images, masks, probabilities = _check_stack(op, images=images, masks=masks,
                                                probabilities=probabilities)
    check_count(op, "n", n)
    if not is_real(threshold) or not np.isfinite(threshold):
        raise ValueError(f"{op}: threshold must be a finite number, got {threshold!r}")
    if dice is None:
        dice = dice_per_image(probabilities, masks, threshold)
    dice = np.asarray(asnumpy(dice), dtype=np.float64)
    if dice.shape != (len(images),):
        raise ValueError(f"{op}: dice must have one value per image, shape ({len(images)},), "
                         f"got dice.shape={dice.shape}")
    predicted = probabilities > threshold
    has_nerve = masks.any(axis=(1, 2))
    chosen = _choose(has_nerve, n)
    fig, axes = _image_grid(images.shape, len(chosen), columns=4, title_lines=2)
    low, high = _grey_range(images)
    for ax, i in zip(axes, chosen):
        ax.imshow(images[i], cmap="gray", vmin=low, vmax=high)
        # The truth drawn wider and first, so that a perfect prediction shows both colours.
        _outline(ax, masks[i], TRUE_COLOUR, linewidth=2.2)
        _outline(ax, predicted[i], PREDICTED_COLOUR, linewidth=0.9)
        truth = structure if has_nerve[i] else f"no {structure}"
        guess = "predicted" if predicted[i].any() else "none predicted"
        ax.set_title(f"#{i}: Dice {dice[i]:.2f}\n{truth}, {guess}", fontsize=8)
    fig.suptitle(f"green: true {structure} outline    red: predicted (p > {threshold:g})    "
                 f"mean Dice of these {len(chosen)}: {dice[chosen].mean():.3f}", fontsize=9)
    return _save(fig, path)


def plot_examples(images, masks, path, n=8, columns=4):
    """Show the first ``n`` images of a set with the true mask outlined (green).

    Made for the README: how ultrasound-like the synthetic images look and what the nerve
    looks like. Each panel is titled with its index and the share of the image the nerve
    covers, or "no nerve" when the mask is empty.

    Inputs:
        images: array of shape (N, H, W), grey values (shown from 0 to 1 when they lie there).
        masks: array of shape (N, H, W), 0 and 1 (or bool).
        path: the file to write (its folder is created if missing).
        n: the most images to show, an int >= 1.
        columns: panels per row, an int >= 1.
    Returns:
        path, as given. Each panel is 2.1 inches wide at 80 dpi (168 pixels).
    """
    op = "plot_examples"
    images, masks = _check_stack(op, images=images, masks=masks)
    check_count(op, "n", n)
    check_count(op, "columns", columns)
    count = min(n, len(images))
    fig, axes = _image_grid(images.shape, count, columns)
    low, high = _grey_range(images)
    for i, ax in enumerate(axes):
        ax.imshow(images[i], cmap="gray", vmin=low, vmax=high)
        if masks[i].any():
            _outline(ax, masks[i], TRUE_COLOUR)
            ax.set_title(f"{i}: nerve ({masks[i].mean():.1%} of the image)", fontsize=8)
        else:
            ax.set_title(f"{i}: no nerve", fontsize=8)
    return _save(fig, path)


def plot_augmentations(image, mask, augment, path, n=8, seed=0, columns=4):
    """Show one image and ``n - 1`` augmented versions of it, each with its mask outlined.

    The first panel is the original; the others are the rows of one batch of ``n - 1``
    copies passed once through ``augment`` (which draws for each image separately, as
    :class:`unet_from_scratch.data.augment.Augmenter` does), with the generator
    ``numpy.random.default_rng(seed)``, so the figure is reproducible. The outline (green) is
    the *augmented* mask, so the figure shows whether image and mask moved together.

    Inputs:
        image: array of shape (H, W) (or (1, H, W)), grey values (shown from 0 to 1 when they
            lie there).
        mask: array of the same shape, 0 and 1.
        augment: ``augment(images, masks, rng) -> (images, masks)`` on (N, 1, H, W) float32
            batches, e.g. ``Augmenter()``.
        path: the file to write (its folder is created if missing).
        n: panels in all, an int >= 1 (1 shows the original only).
        seed: an int >= 0 seeding ``augment``'s generator.
        columns: panels per row, an int >= 1.
    Returns:
        path, as given.
    """
    op = "plot_augmentations"
    if not callable(augment):
        raise TypeError(f"{op}: augment must be callable as augment(images, masks, rng), "
                        f"got {type(augment).__name__}")
    check_count(op, "n", n)
    check_count(op, "columns", columns)
    if not is_int(seed) or seed < 0:
        raise ValueError(f"{op}: seed must be an int >= 0, got {seed!r}")
    image, mask = (np.asarray(asnumpy(a)) for a in (image, mask))
    image, mask = (a[0] if a.ndim == 3 and a.shape[0] == 1 else a for a in (image, mask))
    for name, a in (("image", image), ("mask", mask)):
        if a.ndim != 2:
            raise ValueError(f"{op}: {name} must be one image (H, W) or (1, H, W), got "
                             f"{name}.shape={a.shape}")
    image, mask = _check_stack(op, image=image[None], mask=mask[None])
    images, masks = image.astype(np.float32), mask.astype(np.float32)
    if n > 1:
        batch = (np.repeat(images[:, None], n - 1, axis=0),
                 np.repeat(masks[:, None], n - 1, axis=0))
        new_images, new_masks = augment(*batch, np.random.default_rng(seed))
        if np.shape(new_images) != batch[0].shape or np.shape(new_masks) != batch[1].shape:
            raise ValueError(f"{op}: augment must return images and masks of the shape it was "
                             f"given, {batch[0].shape}, got {np.shape(new_images)} and "
                             f"{np.shape(new_masks)}")
        images = np.concatenate([images, np.asarray(new_images)[:, 0]])
        masks = np.concatenate([masks, np.asarray(new_masks)[:, 0]])
    fig, axes = _image_grid(images.shape, n, columns)
    low, high = _grey_range(images)
    for i, ax in enumerate(axes):
        ax.imshow(images[i], cmap="gray", vmin=low, vmax=high)
        _outline(ax, masks[i], TRUE_COLOUR)
        ax.set_title("original" if i == 0 else f"augmented {i}", fontsize=8)
    return _save(fig, path)


# --------------------------------------------------------------------------------------------
# Helpers.
# --------------------------------------------------------------------------------------------

def _figure(size_inches):
    """A Figure with an Agg canvas of its own, outside pyplot (no backend change, no window)."""
    fig = Figure(figsize=size_inches, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path, dpi=DPI):
    """Write the figure to ``path`` (creating its folder) and return ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    fig.clear()
    return path


def _image_grid(shape, count, columns, title_lines=1):
    """A figure with ``count`` image panels, ``columns`` per row, axes hidden; returns
    ``(fig, axes)`` with the ``count`` axes in reading order (unused cells are removed)."""
    columns = min(columns, count)
    rows = -(-count // columns)
    aspect = shape[1] / shape[2]
    height = PANEL_INCHES * aspect + 0.15 + 0.15 * title_lines
    fig = _figure((PANEL_INCHES * columns, height * rows + (0.3 if title_lines > 1 else 0)))
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes:
        ax.set_axis_off()
    for ax in axes[count:]:
        ax.remove()
    return fig, axes[:count]


def _outline(ax, mask, colour, linewidth=1.0):
    """Draw the contour at 0.5 of a 0/1 (H, W) mask, closed along the image border.

    The mask is padded with a ring of zeros (placed at x = -1 and x = W, y likewise) so a
    mask touching the border still gets a closed outline; an empty mask draws nothing (and
    so triggers no "no contour levels" warning)."""
    mask = np.asarray(mask, dtype=np.float64)
    if not mask.any():
        return
    height, width = mask.shape
    padded = np.pad(mask, 1)
    ax.contour(np.arange(-1, width + 1), np.arange(-1, height + 1), padded, levels=[0.5],
               colors=colour, linewidths=linewidth)
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)


def _choose(has_nerve, n):
    """Indices of at most ``n`` images, sorted: all of them if there are at most ``n``, else
    ``ceil(n / 2)`` of the first with a nerve and the rest from the first without one (one
    kind fills in for the other when it runs short)."""
    if len(has_nerve) <= n:
        return np.arange(len(has_nerve))
    with_nerve, without = np.flatnonzero(has_nerve), np.flatnonzero(~has_nerve)
    take = min(len(with_nerve), max(-(-n // 2), n - len(without)))
    return np.sort(np.concatenate([with_nerve[:take], without[:n - take]]))


def _grey_range(images):
    """``(vmin, vmax)`` for imshow: (0, 1) when the images lie in [0, 1], else the set's
    own range, the same for every panel so their brightness can be compared."""
    low, high = float(images.min()), float(images.max())
    if low >= 0 and high <= 1:
        return 0.0, 1.0
    return low, high if high > low else low + 1


def _check_stack(op, **arrays):
    """Each array as NumPy, 3-D (N, H, W), non-empty, real, and all of one shape."""
    checked = []
    for name, a in arrays.items():
        a = np.asarray(asnumpy(a))
        if a.dtype.kind not in "biuf":
            raise TypeError(f"{op}: {name} must have a bool or numeric dtype, got {a.dtype}")
        if a.ndim != 3 or a.size == 0:
            raise ValueError(f"{op}: {name} must be a non-empty 3-D array (N, H, W), "
                             f"got {name}.shape={a.shape}")
        checked.append(a)
    shapes = {name: a.shape for name, a in zip(arrays, checked)}
    if len(set(shapes.values())) > 1:
        given = ", ".join(f"{name}.shape={shape}" for name, shape in shapes.items())
        raise ValueError(f"{op}: {', '.join(arrays)} must have the same shape, got {given}")
    return checked


def _check_history(history):
    """``(epoch, loss, val_dice)`` as float arrays from a history dict of equal-length lists."""
    op = "plot_history"
    if not isinstance(history, dict):
        raise TypeError(f"{op}: history must be a dict of lists (as returned by fit), "
                        f"got {type(history).__name__}")
    missing = [key for key in ("epoch", "loss", "val_dice") if key not in history]
    if missing:
        raise ValueError(f"{op}: history lacks the keys {missing}; expected 'epoch', 'loss' "
                         f"and 'val_dice', got the keys {sorted(history)}")
    try:
        columns = {key: np.asarray(history[key], dtype=np.float64).ravel()
                   for key in ("epoch", "loss", "val_dice")}
    except (TypeError, ValueError) as error:
        raise ValueError(f"{op}: history's 'epoch', 'loss' and 'val_dice' must be lists of "
                         f"numbers ({error})") from error
    lengths = {key: len(values) for key, values in columns.items()}
    if len(set(lengths.values())) > 1 or lengths["epoch"] == 0:
        raise ValueError(f"{op}: history's 'epoch', 'loss' and 'val_dice' must be non-empty "
                         f"lists of one length, got lengths {lengths}")
    return columns["epoch"], columns["loss"], columns["val_dice"]
