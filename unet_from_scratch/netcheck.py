"""The whole U-Net's gradient, checked through the loss and printed layer by layer.

A small U-Net in float64 computes the training objective,

    L(x, theta) = dice+bce(UNet(x; theta), t)      t: fixed random binary targets

and its backward pass gives ``dL/dx`` and ``dL/dtheta_k`` for every parameter tensor
``theta_k``.  For each of them, :func:`gradcheck.module_check` draws a random unit
direction ``d`` and compares

    analytic = sum(dL/dtheta_k * d)                                  (from backward)
    numeric  = (L(theta_k + eps d) - L(theta_k - eps d)) / (2 eps)   (two forward passes)

so the whole network costs two forward passes per parameter tensor, not per value.
A wrong backward anywhere shows up in every parameter *below* it -- the gradient flows
from the loss down to the input -- which is why the report lists the parameters
layer by layer, in the order of the forward pass.

This module sits with the command line (it builds a ``UNet``, which ``gradcheck``, a
layer below the model, may not import); ``unet-scratch gradcheck`` prints its report.
"""

import time
from dataclasses import dataclass

import numpy as np

from .gradcheck import DEFAULT_RTOL, MODULE_ATOL, MODULE_EPS, module_check
from .losses import LOSSES
from .model import UNet

DEFAULT_SIZE = 32


@dataclass
class NetworkCheck:
    """The outcome of :func:`check_unet`: the network checked, the input's and targets'
    shapes, the loss's name and value, the :class:`GradCheckReport` (entries "x", one per
    parameter in ``named_parameters()`` order, and "(all)") and the seconds it took."""
    model: UNet
    input_shape: tuple
    target_shape: tuple
    loss_name: str
    loss_value: float
    report: object
    seconds: float

    @property
    def passed(self):
        return self.report.passed


def smallest_fitting_size(model, at_least=DEFAULT_SIZE):
    """The smallest input height/width >= ``at_least`` that the model accepts
    (``at_least`` itself with padding "same"; 44 for depth 2 and 92 for depth 3 with "valid")."""
    size = at_least
    while True:
        try:
            model.output_size(size, size)
            return size
        except ValueError:
            size += 1


def check_unet(depth=2, padding="same", batch_norm=False, base_channels=4, size=None,
               loss="dice+bce", seed=0, eps=MODULE_EPS, rtol=DEFAULT_RTOL, atol=MODULE_ATOL):
    """Directional gradient check of a float64 ``UNet`` through a loss.

    Inputs:
        depth, padding, batch_norm, base_channels: the UNet's options (dropout is off:
            a random mask is not a function of the input).
        size: the input's height and width; default the smallest that fits and is >= 32.
        loss: a name in ``losses.LOSSES``.
        seed: seeds the weights, the input (standard normal, 1 x 1 x size x size), the
            binary targets (30 % foreground) and the directions.
        eps, rtol, atol: as for :func:`gradcheck.module_check`.
    Returns:
        A :class:`NetworkCheck`.
    """
    model = UNet(base_channels=base_channels, depth=depth, padding=padding,
                 batch_norm=batch_norm, seed=seed).to(dtype=np.float64)
    size = smallest_fitting_size(model) if size is None else size
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1, 1, size, size))
    targets = (rng.random((1, 1) + model.output_size(size, size)) < 0.3).astype(np.float64)
    loss_forward, loss_backward = LOSSES[loss]
    loss_pair = (lambda logits: loss_forward(logits, targets),
                 lambda dloss, cache: loss_backward(dloss, cache)[0])   # targets get no gradient

    start = time.perf_counter()
    report = module_check(model, x, loss=loss_pair, eps=eps, rtol=rtol, atol=atol, seed=seed)
    seconds = time.perf_counter() - start
    loss_value = float(loss_forward(model.forward(x), targets)[0])
    return NetworkCheck(model, x.shape, targets.shape, loss, loss_value, report, seconds)


def format_network_check(check):
    """The report as text: a header, one line per checked tensor grouped under its layer
    (dotted name, shape, analytic and numeric directional derivative, relative error,
    verdict), notes on anything unusual, and a one-line summary."""
    report, model = check.report, check.model
    layers = dict(model.named_modules())
    width = max(len(e.name) for e in report.entries) + 2
    lines = [
        f"whole-network directional gradient check through the {check.loss_name} loss (float64)",
        f"  model   UNet({', '.join(f'{k}={v!r}' for k, v in model.config.items())}), "
        f"{model.num_parameters():,} parameters",
        f"  input   x {check.input_shape}, binary targets {check.target_shape}, "
        f"loss {check.loss_value:.6f}",
        f"  check   eps={report.eps:g}, rtol={report.rtol:g}, atol={report.atol:g}, "
        f"rounding floor={report.rounding_floor:.1e}, seed={report.seed}",
        "  Per tensor, along a random unit direction d: analytic = sum(dL/dp * d) from backward,",
        "  numeric = (L(p + eps d) - L(p - eps d)) / (2 eps); pass when rel err <= rtol,",
        "  or pass* when |analytic - numeric| <= atol + rounding floor (a gradient of ~0).",
        "",
        f"  {'tensor':<{width}}{'shape':<16}{'analytic':>18}{'numeric':>18}{'rel err':>10}  ok",
    ]
    previous_layer = None
    notes = []
    for entry in report.entries:
        layer = _layer_of(entry.name)
        if layer != previous_layer:
            lines.append(_layer_heading(layer, layers))
            previous_layer = layer
        lines.append(f"  {entry.name:<{width}}{str(entry.shape):<16}{entry.analytic:>18.10g}"
                     f"{entry.numeric:>18.10g}{entry.max_rel_error:>10.1e}  "
                     f"{_verdict(entry, report)}")
        note = _note(entry)
        if note:
            notes.append(f"  {entry.name}: {note}")
    if notes:
        lines += ["",
                  "notes: \"direction k of n\": the first k - 1 directions failed -- a ReLU or "
                  "max-pool kink",
                  "  within eps of the point, or a wrong gradient; one-sided differences that "
                  "agree rule out a kink."] + notes

    parameters = [e for e in report.entries if e.name not in ("x", "(all)")]
    failed = [e.name for e in report.entries if not e.passed]
    failed_layers = list(dict.fromkeys(_layer_of(name) for name in failed))
    checked = (f"{len(report.entries)} checks: {len(parameters)} parameter tensors with "
               f"{model.num_parameters():,} values, the input, and all at once")
    if failed:
        lines.append(f"\nnetwork check FAILED: {len(failed)} of {checked} ({check.seconds:.1f} s)"
                     f"\n  failing layers (a wrong backward fails every layer below it): "
                     f"{', '.join(failed_layers)}")
    else:
        lines.append(f"\nnetwork check passed: all {checked} ({check.seconds:.1f} s)")
    return "\n".join(lines)


def _layer_of(name):
    """The layer a tensor belongs to: "encoders.0.0" for "encoders.0.0.weight"; the input
    and the joint check stand alone."""
    return name if name in ("x", "(all)") else name.rsplit(".", 1)[0]


def _layer_heading(layer, layers):
    if layer == "x":
        return "input"
    if layer == "(all)":
        return "every parameter and the input at once"
    return f"{layer}  ({type(layers[layer]).__name__})"


def _verdict(entry, report):
    if not entry.passed:
        return "FAIL"
    return "pass" if entry.max_rel_error <= report.rtol else "pass*"


def _note(entry):
    """What ``directional_check`` added to an entry's detail beyond the two numbers: that a
    fresh direction was needed (a kink), or on failure the one-sided differences."""
    numbers = f"analytic {entry.analytic:.10g}, numeric {entry.numeric:.10g}"
    return entry.detail.removeprefix(numbers).lstrip(" ;")
