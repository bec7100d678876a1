"""Segmentation losses on logits: soft Dice, binary cross-entropy, and their weighted sum.

Each loss is a pair in the package's convention,

    loss, cache = <name>_forward(logits, targets, ...)
    dlogits, dtargets = <name>_backward(dloss, cache)     # dtargets is always None

Notation: ``x`` the logits and ``t`` the targets, both of shape ``(N, ...)`` -- usually
``(N, C, H, W)`` -- with the batch on axis 0; ``p = sigmoid(x)``; ``M`` the number of
elements of ``x``.

* The targets have the logits' shape, dtype and device, and values in [0, 1] (hard
  masks of 0 and 1, or soft labels).
* ``loss`` is a 0-d array of the logits' dtype on the logits' device: float32 stays
  float32, and copying it to the host (``float(loss)``) is the caller's choice.  The range
  of NumPy targets is checked; that of CuPy targets is not, since reading their min and
  max back would make the host wait for the GPU at every step (``fit`` checks its masks on
  the host before they are copied to the device).
* ``dloss`` is a Python number (usually 1.0) or a 0-d array of the loss's dtype.
* ``dlogits`` has the logits' shape and dtype.  The targets get no gradient: ``None``.

The sigmoid is applied inside (stably, by :func:`ops.sigmoid_forward`), so the network's
last layer gives raw logits.  ``LOSSES`` maps the names "dice", "bce" and "dice+bce" to
their ``(forward, backward)`` pairs, for a command-line ``--loss`` option.
"""

from . import backend
from .backend import get_array_module, is_array, is_cupy_array
from .checks import (check_array, check_non_negative, check_number, check_positive,
                     check_same_dtype_and_device, check_same_shape_batch)
from .cuda import kernels
from .ops import sigmoid_backward, sigmoid_forward

REDUCTIONS = ("image", "batch")


# --- soft Dice ---------------------------------------------------------------------------

def dice_loss_forward(logits, targets, smooth=1.0, reduction="image"):
    """Soft Dice loss of the probabilities ``p = sigmoid(logits)`` against ``targets``.

    Per group ``g`` of elements (an image, or the whole batch -- see ``reduction``):

        I_g = sum_g p * t                     (the soft intersection)
        S_g = sum_g p + sum_g t
        dice_g = (2 I_g + s) / (S_g + s)
        loss = 1 - mean_g dice_g

    Inputs:
        logits: float array of shape (N, ...), e.g. (N, C, H, W).
        targets: array of the same shape, dtype and device, values in [0, 1].
        smooth: ``s`` > 0, added to numerator and denominator.  It keeps the Dice of an
            empty target defined (an image with no nerve scores 1 when ``p`` is near 0,
            not 0/0), and with the default 1.0 the loss of such an image,
            ``1 - 1 / (sum p + 1)``, still pushes every ``p`` down.
        reduction: "image" (default): sums run over each image's C, H, W and the loss is
            1 minus the mean of the N per-image Dice scores -- as the Kaggle metric scores
            each image on its own, so a small nerve counts as much as a large one.
            "batch": one sum over the whole batch, ``loss = 1 - dice``.
    Returns:
        loss: 0-d array of the logits' dtype, in [0, 1); cache: for the backward pass.
    """
    op = "dice_loss_forward"
    _check_logits_and_targets(op, logits, targets)
    smooth = _check_dice_options(op, smooth, reduction)
    p, sigmoid_cache = sigmoid_forward(logits)
    loss, dice_cache = _soft_dice(p, targets, smooth, reduction)
    return loss, (dice_cache, sigmoid_cache)


def dice_loss_backward(dloss, cache):
    """Gradient of :func:`dice_loss_forward` with respect to the logits.

    With ``G`` groups (N images, or 1 for the whole batch), for an element of group g:

        d dice_g / d p = (2 t (S_g + s) - (2 I_g + s)) / (S_g + s)^2 = (2 t - dice_g) / (S_g + s)
        dL / d p       = -dloss / G * (2 t - dice_g) / (S_g + s)
        dL / d x       = dL / d p * p (1 - p)                 (the sigmoid's backward)

    Returns:
        (dlogits, None): dlogits of the logits' shape and dtype; no gradient for the targets.
    """
    dice_cache, sigmoid_cache = cache
    dloss = _check_dloss("dice_loss_backward", dloss, sigmoid_cache.output)
    return sigmoid_backward(_soft_dice_grad(dloss, dice_cache), sigmoid_cache), None


def _soft_dice(p, targets, smooth, reduction):
    """``1 - mean_g dice_g`` of probabilities ``p``, a 0-d array of p's dtype, and a cache.

    On the GPU path "kernels" the three sums per group come from one CUDA kernel
    (``cuda/elementwise.cu``) that adds chunks of each group, then one small sum.
    """
    groups = p.shape[0] if reduction == "image" else 1
    p_g, t_g = p.reshape(groups, -1), targets.reshape(groups, -1)
    if backend.compute_path(p) == "kernels":
        intersection, sum_p, sum_t = kernels.dice_partial_sums(p_g, t_g)
    else:
        intersection, sum_p, sum_t = (p_g * t_g).sum(axis=1), p_g.sum(axis=1), t_g.sum(axis=1)
    denominator = sum_p + sum_t + smooth                # S_g + s, shape (groups,)
    dice = (2 * intersection + smooth) / denominator    # dice_g, shape (groups,)
    loss = get_array_module(p).asarray(1 - dice.mean(), dtype=p.dtype)
    return loss, (t_g, dice, denominator, p.shape)


def _soft_dice_grad(dloss, cache):
    """``dL/dp`` of :func:`_soft_dice`, of p's shape."""
    t_g, dice, denominator, shape = cache
    groups = t_g.shape[0]
    dp = (2 * t_g - dice[:, None]) / denominator[:, None] * (-dloss / groups)
    return dp.reshape(shape)


# --- binary cross-entropy ----------------------------------------------------------------

def bce_with_logits_forward(logits, targets):
    """Binary cross-entropy of ``sigmoid(logits)`` against ``targets``, averaged over all elements.

    Per element, ``-[t log p + (1 - t) log(1 - p)]`` with ``p = sigmoid(x)`` equals

        l = max(x, 0) - x t + log(1 + exp(-|x|))

    which never overflows (``exp(-|x|)`` is at most 1) and never takes the log of 0, so
    logits of +-1000 give a finite loss, in float32 as in float64.  ``loss = (1/M) sum l``.

    Inputs:
        logits: float array of shape (N, ...), e.g. (N, C, H, W).
        targets: array of the same shape, dtype and device, values in [0, 1].
    Returns:
        loss: 0-d array of the logits' dtype; cache: for the backward pass.
    """
    _check_logits_and_targets("bce_with_logits_forward", logits, targets)
    p, _ = sigmoid_forward(logits)
    return _bce(logits, targets), (p, targets)


def bce_with_logits_backward(dloss, cache):
    """Gradient of :func:`bce_with_logits_forward`: ``dL/dx = dloss * (sigmoid(x) - t) / M``.

    Returns:
        (dlogits, None): dlogits of the logits' shape and dtype; no gradient for the targets.
    """
    p, targets = cache
    dloss = _check_dloss("bce_with_logits_backward", dloss, p)
    return _bce_grad(dloss, p, targets), None


def _bce(logits, targets):
    """The mean of the stable per-element form, a 0-d array of the logits' dtype."""
    xp = get_array_module(logits)
    per_element = xp.maximum(logits, 0) - logits * targets + xp.log1p(xp.exp(-xp.abs(logits)))
    return xp.asarray(per_element.mean(), dtype=logits.dtype)


def _bce_grad(dloss, p, targets):
    """``dL/dx = dloss * (p - t) / M``."""
    return (p - targets) * (dloss / p.size)


# --- the weighted sum --------------------------------------------------------------------

def dice_bce_loss_forward(logits, targets, dice_weight=0.5, bce_weight=0.5, smooth=1.0,
                          reduction="image"):
    """``dice_weight * dice_loss + bce_weight * bce_with_logits``.

    BCE gives every pixel a gradient from the first step; Dice keeps a small foreground
    from drowning in the background.  ``smooth`` and ``reduction`` are those of
    :func:`dice_loss_forward`; the weights are >= 0 and not both 0.  The sigmoid is
    computed once and shared by the two terms.

    Inputs and returns: as for :func:`dice_loss_forward`.
    """
    op = "dice_bce_loss_forward"
    _check_logits_and_targets(op, logits, targets)
    smooth = _check_dice_options(op, smooth, reduction)
    dice_weight = check_non_negative(op, "dice_weight", dice_weight)
    bce_weight = check_non_negative(op, "bce_weight", bce_weight)
    if dice_weight == 0 and bce_weight == 0:
        raise ValueError(f"{op}: dice_weight and bce_weight are both 0; the loss would be 0")
    p, sigmoid_cache = sigmoid_forward(logits)
    dice, dice_cache = _soft_dice(p, targets, smooth, reduction)
    bce = _bce(logits, targets)
    loss = get_array_module(logits).asarray(dice_weight * dice + bce_weight * bce,
                                            dtype=logits.dtype)
    return loss, (dice_weight, dice_cache, bce_weight, targets, sigmoid_cache)


def dice_bce_loss_backward(dloss, cache):
    """Gradient of :func:`dice_bce_loss_forward`: the weighted sum of the two gradients,

        dL/dx = dice_weight * (dL_dice/dp) p (1 - p) + bce_weight * dloss * (p - t) / M

    Returns:
        (dlogits, None): dlogits of the logits' shape and dtype; no gradient for the targets.
    """
    dice_weight, dice_cache, bce_weight, targets, sigmoid_cache = cache
    p = sigmoid_cache.output
    dloss = _check_dloss("dice_bce_loss_backward", dloss, p)
    d_dice = sigmoid_backward(dice_weight * _soft_dice_grad(dloss, dice_cache), sigmoid_cache)
    return d_dice + bce_weight * _bce_grad(dloss, p, targets), None


LOSSES = {
    "dice": (dice_loss_forward, dice_loss_backward),
    "bce": (bce_with_logits_forward, bce_with_logits_backward),
    "dice+bce": (dice_bce_loss_forward, dice_bce_loss_backward),
}


# --- checks ------------------------------------------------------------------------------

def _check_logits_and_targets(op, logits, targets):
    """Float arrays of one shape, dtype and device, batch first, and (NumPy) targets in [0, 1]."""
    check_array(op, "logits", logits)
    check_array(op, "targets", targets)
    check_same_dtype_and_device(op, logits, "logits", targets=targets)
    check_same_shape_batch(op, logits, "logits", targets, "targets",
                           layout="(N, ...) such as (N, C, H, W)")
    if is_cupy_array(targets):          # no host-device round trip per step (module docstring)
        return
    low, high = float(targets.min()), float(targets.max())
    if not (0 <= low and high <= 1):    # written so that a NaN fails too
        raise ValueError(f"{op}: targets must lie in [0, 1], got values from {low} to {high}")


def _check_dice_options(op, smooth, reduction):
    """Return ``smooth`` as a Python float after checking it and ``reduction``."""
    smooth = check_positive(op, "smooth", smooth)
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return smooth


def _check_dloss(op, dloss, like):
    """``dloss`` as something to multiply ``like`` by without changing its dtype or device:
    a Python float, or the given 0-d array of ``like``'s dtype on ``like``'s device."""
    if not is_array(dloss):
        return check_number(op, "dloss", dloss)
    if dloss.ndim != 0:
        raise ValueError(f"{op}: dloss must be a number or a 0-d array (the loss is a scalar), "
                         f"got dloss.shape={tuple(dloss.shape)}")
    if dloss.dtype != like.dtype:
        raise TypeError(f"{op}: dloss has dtype {dloss.dtype} but the forward pass ran in "
                        f"{like.dtype}; pass a Python float or cast it explicitly")
    if get_array_module(dloss) is not get_array_module(like):
        raise TypeError(f"{op}: dloss must be on the forward pass's device, got dloss on "
                        f"{get_array_module(dloss).__name__} and the logits on "
                        f"{get_array_module(like).__name__}")
    return dloss
