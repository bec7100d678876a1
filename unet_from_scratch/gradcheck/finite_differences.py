"""Finite-difference gradient checks: does a backward pass compute the gradient of its forward?

Both checks work on an op pair in the package's convention,

    y, cache = forward(*inputs)
    grads = backward(dy, cache)      # one gradient per input, in order (None for a None input)

and compare the backward's *vector-Jacobian product* with central differences
of the scalar

    L(inputs) = sum(y * dy)          dy: a fixed random upstream gradient (1 when y is a scalar)

whose exact gradient with respect to each input is what ``backward(dy, cache)``
must return.  Central differences,

    dL/dx[i] ~ (L(x + eps e_i) - L(x - eps e_i)) / (2 eps),

have an error of order eps^2 (truncation) plus the rounding of L divided by eps,
which is why the inputs are copied to **float64** first: in float32 the rounding
term alone is about 1e-7 |L| / eps, larger than any useful tolerance.

* :func:`elementwise_check` perturbs every element of every input: 2 forward
  passes per element -- exact and thorough, for small ops.
* :func:`directional_check` perturbs all of one input (or all inputs) at once
  along a random direction ``d`` and compares ``sum(grad * d)`` with a 1-D
  central difference: 2 forward passes per input, so a whole network can be
  checked in seconds.

The comparison, for an analytic value ``a`` and a numeric one ``n``:

    relative error = |a - n| / max(1e-8, |a| + |n|)
    passed         when  relative error <= rtol  or  |a - n| <= atol + rounding floor

The *rounding floor* is ``2.2e-16 * sum(|y * dy|) / eps``: the size of the
float64 rounding error of L, magnified by the division by eps.  Below it a
difference between ``a`` and ``n`` is noise, not a bug; it matters only for
gradients that are (nearly) zero -- a ReLU's negative side, a saturated
sigmoid -- whose relative error is meaningless.  ``atol`` (0 by default) adds
an allowance of the caller's own.

The checks return a :class:`GradCheckReport`; raising is the caller's choice
(``report.raise_if_failed()``).
"""

import inspect
from dataclasses import dataclass, field

import numpy as np

from ..backend import asnumpy, get_array_module, is_array

DEFAULT_EPS = 1e-5
DEFAULT_RTOL = 1e-6
DEFAULT_ATOL = 0.0
FLOAT64_EPS = float(np.finfo(np.float64).eps)


@dataclass
class GradCheckEntry:
    """The outcome of the check for one input (or parameter).

    ``analytic`` and ``numeric`` hold what was compared (arrays of the input's shape
    for the elementwise check, two numbers for the directional one) and ``direction``
    the direction moved along (directional check only), for a closer look at a failure.
    """
    name: str
    shape: tuple
    max_abs_error: float
    max_rel_error: float
    passed: bool
    detail: str = ""     # where the worst element was, or the two directional numbers
    analytic: object = field(default=None, repr=False)
    numeric: object = field(default=None, repr=False)
    direction: object = field(default=None, repr=False)


@dataclass
class GradCheckReport:
    """The outcome of a gradient check: one :class:`GradCheckEntry` per input."""
    method: str
    eps: float
    rtol: float
    atol: float
    seed: int
    rounding_floor: float
    entries: list = field(default_factory=list)

    @property
    def passed(self):
        return all(entry.passed for entry in self.entries)

    def __getitem__(self, name):
        for entry in self.entries:
            if entry.name == name:
                return entry
        raise KeyError(name)

    def raise_if_failed(self):
        """Raise ``AssertionError`` when any entry failed, carrying the whole report and, for each
        failed entry, the numbers compared (and the direction moved along), summarised by NumPy
        when large."""
        if self.passed:
            return
        lines = ["gradient check failed", repr(self)]
        for e in self.entries:
            if not e.passed:
                lines.append(f"{e.name}: analytic\n{_show(e.analytic)}\n{e.name}: numeric\n"
                             f"{_show(e.numeric)}")
                if e.direction is not None:
                    lines.append(f"{e.name}: direction\n{_show(e.direction)}")
        raise AssertionError("\n".join(lines))

    def __repr__(self):
        verdict = "PASSED" if self.passed else "FAILED"
        lines = [f"{self.method} gradient check in float64 (eps={self.eps:g}, rtol={self.rtol:g}, "
                 f"atol={self.atol:g}, rounding floor={self.rounding_floor:.1e}, seed={self.seed}): "
                 f"{verdict}"]
        width = max([len("input")] + [len(e.name) for e in self.entries])
        lines.append(f"  {'input':<{width}}  {'shape':<18} {'max abs err':>11} {'max rel err':>11}  ok")
        for e in self.entries:
            ok = "yes" if e.passed else "NO"
            lines.append(f"  {e.name:<{width}}  {str(e.shape):<18} {e.max_abs_error:11.2e} "
                         f"{e.max_rel_error:11.2e}  {ok:<3}  {e.detail}".rstrip())
        return "\n".join(lines)

    __str__ = __repr__


def elementwise_check(forward, backward, inputs, names=None, *, eps=DEFAULT_EPS,
                      rtol=DEFAULT_RTOL, atol=DEFAULT_ATOL, seed=0):
    """Check every element of every input's gradient against central differences.

    Inputs:
        forward: ``forward(*inputs) -> (y, cache)``; bind options (stride, ...) with a lambda.
        backward: ``backward(dy, cache) -> grads`` (a tuple, or one array for one input).
        inputs: sequence of float arrays (NumPy or CuPy), or None for an absent input
            such as a bias; they are copied to float64 and never modified.
        names: one name per input; default: the forward's parameter names.
        eps, rtol, atol: step and tolerances (see the module docstring).
        seed: seeds the random upstream gradient ``dy``.
    Returns:
        A :class:`GradCheckReport` with, per input, the largest absolute and relative
        error and the element where the error mattered most.
    Cost: 2 forward passes per input element -- keep inputs small.
    """
    inputs, names, dy, analytic, floor = _prepare(forward, backward, inputs, names, seed, eps)
    report = GradCheckReport("elementwise", eps, rtol, atol, seed, floor)
    for k, x in enumerate(inputs):
        if x is None:
            continue
        numeric = get_array_module(x).zeros_like(x)
        flat_x, flat_numeric = x.reshape(-1), numeric.reshape(-1)   # views: x is contiguous
        for i in range(flat_x.size):
            original = flat_x[i].copy()
            flat_x[i] = original + eps
            plus = _objective(forward, inputs, dy)
            flat_x[i] = original - eps
            minus = _objective(forward, inputs, dy)
            flat_x[i] = original
            flat_numeric[i] = (plus - minus) / (2 * eps)
        report.entries.append(_compare_arrays(names[k], asnumpy(analytic[k]), asnumpy(numeric),
                                              rtol, atol + floor))
    return report


def directional_check(forward, backward, inputs, names=None, *, eps=DEFAULT_EPS,
                      rtol=DEFAULT_RTOL, atol=DEFAULT_ATOL, seed=0, per_input=True, retries=0):
    """Check gradients along random directions: ``sum(grad * d)`` against a 1-D central difference.

    Inputs: as for :func:`elementwise_check`, plus
        per_input: also check each input along its own direction (2 forward passes each);
            the last entry, ``(all)``, always moves every input at once.
        retries: how many fresh directions to try when a direction fails.  A network of
            ReLUs and max poolings has kinks; when one lies within eps of the point along
            the chosen direction, the central difference straddles it and is off, although
            the gradient is right.  A wrong gradient fails in every direction, a kink only
            in the one that met it.
    Returns:
        A :class:`GradCheckReport`; each entry's ``detail`` gives both numbers, the
        analytic ``sum(grad * d)`` and the numeric derivative (and how many directions
        were tried), and its ``direction`` the direction of the last try.
    The directions are drawn from a standard normal with generator seed ``seed + 1``
    (the report prints the seed, so a failing direction can be drawn again) and
    scaled to unit length over everything they move.
    """
    inputs, names, dy, analytic, floor = _prepare(forward, backward, inputs, names, seed, eps)
    rng = np.random.default_rng(seed + 1)
    report = GradCheckReport("directional", eps, rtol, atol, seed, floor)
    present = [k for k, x in enumerate(inputs) if x is not None]
    groups = [([k], names[k]) for k in present] if per_input else []
    groups.append((present, "(all)"))
    for members, name in groups:
        for attempt in range(1 + retries):
            step = _random_direction(rng, inputs, members)
            predicted = sum(float((analytic[k] * step[k]).sum()) for k in members)
            measured = _directional_derivative(forward, inputs, dy, step, eps)
            shape = inputs[members[0]].shape if len(members) == 1 else ()
            entry = _compare_numbers(name, shape, predicted, measured, rtol, atol + floor)
            entry.direction = step[members[0]] if len(members) == 1 else step
            if entry.passed:
                break
        if attempt:
            entry.detail += f" (direction {attempt + 1} of {1 + retries})"
        if not entry.passed:
            entry.detail += _one_sided_hint(forward, inputs, dy, step, eps)
        report.entries.append(entry)
    return report


MODULE_ATOL = 1e-8
MODULE_EPS = 1e-6


def module_check(module, x, loss=None, *, method="directional", eps=MODULE_EPS, rtol=DEFAULT_RTOL,
                 atol=MODULE_ATOL, seed=0, retries=2):
    """Check a Module's ``backward`` for its input and every parameter, one entry each.

    Inputs:
        module: anything with ``forward(x)``, ``backward(dy)`` and ``named_parameters()`` --
            a layer or a whole U-Net -- already in float64 (``module.to(dtype=numpy.float64)``,
            which converts batch norm's statistics too).  Its parameters are replaced by
            copies during the check and restored afterwards.  Put it in the mode you want
            checked (dropout must be off: a random mask is not a function of the input).
        x: the input batch.
        loss: optional pair ``(loss_forward, loss_backward)`` with
            ``loss_forward(y) -> (value, cache)`` and ``loss_backward(dvalue, cache) -> dy``
            (bind the targets with a lambda); without it the objective is ``sum(y * dy)``.
        method: "directional" (2 forward passes per parameter: fast) or "elementwise".
        eps: 1e-6 by default, smaller than for single ops: a network has thousands of ReLU
            and pooling kinks, and the smaller the step, the rarer one within reach.
        retries: fresh directions for a directional entry that fails (see
            :func:`directional_check`); ignored by the elementwise check.
        atol: 1e-8 by default, not 0: through many layers (batch norm divides by small
            standard deviations) rounding grows beyond the output-based rounding floor, and
            a gradient that is exactly zero -- a bias followed by batch norm -- measures as
            about 1e-10.  Real errors are orders of magnitude larger.
    Returns:
        A :class:`GradCheckReport` with entries "x" and the parameters' dotted names.
    """
    named = list(module.named_parameters())
    not_float64 = [name for name, p in named if p.data.dtype != np.float64]
    if not_float64:
        raise TypeError(f"module_check: the module must be in float64, but {not_float64[0]} is "
                        f"{dict(named)[not_float64[0]].data.dtype}; convert it first with "
                        f"module.to(dtype=numpy.float64)")
    originals = [(p, p.data, p.grad) for _, p in named]

    def forward(x, *values):
        for (_, parameter), value in zip(named, values):
            parameter.data = value
        y = module.forward(x)
        if loss is None:
            return y, None
        value, loss_cache = loss[0](y)
        return value, loss_cache

    def backward(d_out, loss_cache):
        for _, parameter in named:
            parameter.grad = get_array_module(parameter.data).zeros_like(parameter.data)
        dy = d_out if loss is None else loss[1](d_out, loss_cache)
        dx = module.backward(dy)
        return (dx,) + tuple(parameter.grad for _, parameter in named)

    options = dict(eps=eps, rtol=rtol, atol=atol, seed=seed)
    if method == "directional":
        check, options["retries"] = directional_check, retries
    else:
        check = elementwise_check
    try:
        return check(forward, backward, [x] + [p.data for _, p in named],
                     ["x"] + [name for name, _ in named], **options)
    finally:
        for parameter, data, grad in originals:
            parameter.data, parameter.grad = data, grad


# --- the pieces ----------------------------------------------------------------------------

def _prepare(forward, backward, inputs, names, seed, eps):
    """float64 copies of the inputs, their names, a random dy, the analytic gradients and the
    rounding floor of the numeric derivatives."""
    inputs = [_as_float64(x) for x in inputs]
    names = list(names) if names is not None else _default_names(forward, len(inputs))
    if len(names) != len(inputs):
        raise ValueError(f"gradcheck: got {len(names)} names for {len(inputs)} inputs")
    y, cache = forward(*inputs)
    dy = _random_upstream(y, seed)
    floor = FLOAT64_EPS * _objective_magnitude(y, dy) / eps
    grads = backward(dy, cache)
    grads = list(grads) if isinstance(grads, (tuple, list)) else [grads]
    if len(grads) != len(inputs):
        raise ValueError(f"gradcheck: backward returned {len(grads)} gradients for "
                         f"{len(inputs)} inputs ({', '.join(names)})")
    for name, x, g in zip(names, inputs, grads):
        if x is not None and (g is None or tuple(g.shape) != tuple(x.shape)):
            given = "None" if g is None else f"shape {tuple(g.shape)}"
            raise ValueError(f"gradcheck: backward returned {given} as the gradient of {name}, "
                             f"expected shape {tuple(x.shape)}")
    return inputs, names, dy, grads, floor


def _as_float64(x):
    if x is None:
        return None
    if not is_array(x):
        raise TypeError(f"gradcheck: inputs must be NumPy/CuPy arrays or None, got "
                        f"{type(x).__name__}; bind options such as stride with a lambda")
    xp = get_array_module(x)
    return xp.array(x, dtype=xp.float64, copy=True, order="C")


def _default_names(forward, count):
    try:
        params = list(inspect.signature(forward).parameters.values())
    except (TypeError, ValueError):
        params = []
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if len(params) >= count and all(p.kind in positional for p in params[:count]):
        return [p.name for p in params[:count]]
    return [f"inputs[{k}]" for k in range(count)]


def _random_upstream(y, seed):
    """A fixed random dy of y's shape, or 1.0 when the forward returns a scalar (a loss)."""
    if not is_array(y) or y.ndim == 0:
        return 1.0
    xp = get_array_module(y)
    return xp.asarray(np.random.default_rng(seed).standard_normal(y.shape))


def _objective(forward, inputs, dy):
    """L = sum(y * dy), a Python float."""
    y, _ = forward(*inputs)
    if not is_array(y) or y.ndim == 0:
        return float(y) * dy
    return float((y * dy).sum())


def _objective_magnitude(y, dy):
    """sum(|y * dy|): the scale of L's terms, which sets the size of its rounding error."""
    if not is_array(y) or y.ndim == 0:
        return abs(float(y) * dy)
    return float(abs(y * dy).sum())


def _one_sided_hint(forward, inputs, dy, step, eps):
    """The forward and backward one-sided differences; far apart, they betray a kink (a ReLU
    or a max switching) within eps of the point rather than a wrong gradient."""
    at = _objective(forward, inputs, dy)
    plus = _objective(forward, [x if k not in step else x + eps * step[k]
                                for k, x in enumerate(inputs)], dy)
    minus = _objective(forward, [x if k not in step else x - eps * step[k]
                                 for k, x in enumerate(inputs)], dy)
    return f"; one-sided: forward {(plus - at) / eps:.10g}, backward {(at - minus) / eps:.10g}"


def _random_direction(rng, inputs, members):
    """A standard-normal direction for the inputs in ``members``, of unit length overall."""
    direction = {k: get_array_module(inputs[k]).asarray(rng.standard_normal(inputs[k].shape))
                 for k in members}
    norm = sum(float((d ** 2).sum()) for d in direction.values()) ** 0.5
    return {k: d / norm for k, d in direction.items()}


def _directional_derivative(forward, inputs, dy, step, eps):
    """(L(x + eps d) - L(x - eps d)) / (2 eps), moving the inputs in ``step`` along their d."""
    def moved(sign):
        return [x if k not in step else x + sign * eps * step[k] for k, x in enumerate(inputs)]
    return (_objective(forward, moved(+1), dy) - _objective(forward, moved(-1), dy)) / (2 * eps)


def _show(value):
    """An array (or a dict of them, or a number) as text, summarised when large."""
    if isinstance(value, dict):
        return "\n".join(f"[{k}] {_show(v)}" for k, v in value.items())
    return np.array2string(np.asarray(asnumpy(value)), precision=6, threshold=50)


def _relative_error(analytic, numeric):
    return np.abs(analytic - numeric) / np.maximum(1e-8, np.abs(analytic) + np.abs(numeric))


def _compare_arrays(name, analytic, numeric, rtol, atol):
    abs_error = np.abs(analytic - numeric)
    rel_error = _relative_error(analytic, numeric)
    passed = bool(np.all((abs_error <= atol) | (rel_error <= rtol)))
    detail = ""
    if analytic.size:
        # The element that matters most: the largest relative error among those above the
        # absolute allowance, or simply the largest absolute error when all are below it.
        above_floor = np.where(abs_error > atol, rel_error, 0.0)
        score = above_floor if above_floor.any() else abs_error
        worst = np.unravel_index(int(np.argmax(score)), analytic.shape)
        detail = (f"worst at {name}[{', '.join(map(str, worst))}]: analytic {analytic[worst]:.6g}, "
                  f"numeric {numeric[worst]:.6g}")
    return GradCheckEntry(name, tuple(analytic.shape), float(abs_error.max(initial=0.0)),
                          float(rel_error.max(initial=0.0)), passed, detail, analytic, numeric)


def _compare_numbers(name, shape, analytic, numeric, rtol, atol):
    abs_error = abs(analytic - numeric)
    rel_error = float(_relative_error(analytic, numeric))
    passed = abs_error <= atol or rel_error <= rtol
    detail = f"analytic {analytic:.10g}, numeric {numeric:.10g}"
    return GradCheckEntry(name, tuple(shape), abs_error, rel_error, passed, detail, analytic, numeric)
