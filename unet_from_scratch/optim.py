"""Optimizers: SGD (with momentum) and Adam, with PyTorch's semantics.

An optimizer holds a list of :class:`~unet_from_scratch.nn.Parameter` objects (``.data``
and ``.grad``) and, per parameter, the state its update rule needs.  ``step()`` reads
each ``p.grad`` and updates ``p.data`` *in place*, so the arrays the model holds are the
ones that change; ``zero_grad()`` sets every ``p.grad`` to zero.

Both rules give the same numbers as ``torch.optim.SGD`` and ``torch.optim.Adam``
(not ``AdamW``: the weight decay is added to the gradient, L2-style).  Notation, per
parameter:

    p        the parameter (``p.data``)          g    its gradient (``p.grad``)
    lr       the learning rate                   wd   the weight decay
    t        the number of steps taken, counting this one (1, 2, 3, ...)

The state follows the parameters: same dtype (float32 stays float32), same device
(NumPy or CuPy arrays, via ``xp = get_array_module(p.data)``).  Hyperparameters are
kept as Python numbers, which NumPy and CuPy treat as "weak" scalars, so they never
promote a float32 array to float64.  A step moves no data between host and device.
On the GPU path "kernels" Adam's update of each parameter is one CUDA kernel
(``cuda/optim.cu``) instead of a dozen array operations; it updates the parameter in
place, so a parameter that is not C-contiguous is refused there rather than sent down
another path.

``state_dict()`` format
-----------------------
A flat mapping ``str -> Python scalar or array``, so that ``np.savez(path, **state)``
writes it (after ``asnumpy`` on a GPU) and ``np.load(path, allow_pickle=False)`` reads
it back (scalars come back as 0-d arrays, which ``load_state_dict`` accepts)::

    "type"            "SGD" or "Adam"
    "step"            t, the number of steps taken so far (int)
    "num_params"      n, the number of parameters (int)
    hyperparameters   SGD:  "lr", "momentum", "weight_decay" (float), "nesterov" (bool)
                      Adam: "lr", "beta1", "beta2", "eps", "weight_decay" (float)
    "<buffer>.<i>"    the state of parameter i, i = 0 .. n-1 in the order of ``params``:
                      SGD:  "momentum_buffer.i"  (b; present only when momentum != 0)
                      Adam: "exp_avg.i" (m) and "exp_avg_sq.i" (v)

The buffer names are PyTorch's.  The arrays are copies (a snapshot), on the
parameters' device.  ``load_state_dict`` restores the step count, the hyperparameters
(as PyTorch does) and the buffers, after checking that the type, the number of
parameters and every shape match.
"""

import math

import numpy as np

from . import backend
from .backend import get_array_module
from .checks import check_non_negative, check_number, check_positive
from .cuda import kernels
from .ops import threads
from .ops.threads import balanced_groups, run_in_threads


class Optimizer:
    """Base class: the parameter list, the step count, ``zero_grad`` and the state dict.

    A subclass lists its hyperparameters in ``HYPERPARAMETERS`` (attribute names, also the
    state-dict keys), checks them in ``_check_hyperparameters`` and names the per-parameter
    buffers it keeps in ``_buffer_names()``; the buffers live in ``self.state[name][i]``.
    """

    HYPERPARAMETERS = ()

    def __init__(self, params, **hyperparameters):
        self.params = _parameter_list(params, type(self).__name__)
        self._set_hyperparameters(hyperparameters)
        self.t = 0
        self.state = self._zero_state()

    # --- to be written by each optimizer ---

    def step(self):
        raise NotImplementedError(f"{type(self).__name__}.step is not written")

    def _check_hyperparameters(self, h):
        """Check and normalise the dict ``h`` (values already Python numbers); raise ValueError."""

    def _buffer_names(self):
        return ()

    # --- shared ---

    def zero_grad(self):
        """Set every parameter's ``.grad`` to zero, in place."""
        for p in self.params:
            p.grad[...] = 0

    def hyperparameters(self):
        """``{name: value}`` of the hyperparameters, as Python numbers."""
        return {name: getattr(self, name) for name in self.HYPERPARAMETERS}

    def state_dict(self):
        """The flat state described in the module docstring (arrays are copies)."""
        state = {"type": type(self).__name__, "step": self.t, "num_params": len(self.params)}
        state.update(self.hyperparameters())
        for name in self._buffer_names():
            for i, buffer in enumerate(self.state[name]):
                state[f"{name}.{i}"] = buffer.copy()
        return state

    def load_state_dict(self, state):
        """Restore a ``state_dict()`` (plain values or 0-d arrays, e.g. from ``np.load``).

        Everything is checked before anything changes, so a failed load leaves the
        optimizer as it was.  Buffers are copied into this optimizer's own arrays, converted
        to each parameter's dtype and device.

        Raises:
            ValueError: the state is of another optimizer type, has another number of
                parameters, misses or has unexpected keys, has bad hyperparameters, or a
                buffer's shape differs from its parameter's.
        """
        owner = f"{type(self).__name__}.load_state_dict"
        state = dict(state)
        if "type" not in state:
            raise ValueError(f"{owner}: the state has no 'type' key; is it an optimizer's "
                             f"state_dict()? (keys: {sorted(state)[:8]})")
        kind = str(_scalar(state["type"]))
        if kind != type(self).__name__:
            raise ValueError(f"{owner}: the state is of a {kind} optimizer, not "
                             f"{type(self).__name__}")
        if "num_params" not in state:
            raise ValueError(f"{owner}: the state has no 'num_params' key")
        n = int(_scalar(state["num_params"]))
        if n != len(self.params):
            raise ValueError(f"{owner}: the state holds {n} parameters but this optimizer has "
                             f"{len(self.params)}")

        hyperparameters = {}
        for name in self.HYPERPARAMETERS:
            if name not in state:
                raise ValueError(f"{owner}: the state has no hyperparameter {name!r}")
            hyperparameters[name] = _scalar(state[name])
        # Check the hyperparameters on a scratch copy: self changes only once all is well.
        scratch = object.__new__(type(self))
        scratch._set_hyperparameters(hyperparameters)
        buffer_names = scratch._buffer_names()

        expected = {"type", "num_params", "step", *self.HYPERPARAMETERS}
        expected |= {f"{name}.{i}" for name in buffer_names for i in range(n)}
        missing = sorted(expected - set(state))
        unexpected = sorted(set(state) - expected)
        if missing or unexpected:
            raise ValueError(f"{owner}: the state does not fit: missing keys {missing}, "
                             f"unexpected keys {unexpected}")
        t = int(_scalar(state["step"]))
        if t < 0:
            raise ValueError(f"{owner}: step must be >= 0, got {t}")
        for name in buffer_names:
            for i, p in enumerate(self.params):
                shape = tuple(np.shape(state[f"{name}.{i}"]))
                if shape != tuple(p.data.shape):
                    raise ValueError(f"{owner}: parameter {i} has shape {tuple(p.data.shape)} "
                                     f"but the state's {name}.{i} has shape {shape}")

        self._set_hyperparameters(hyperparameters)
        self.t = t
        self.state = self._zero_state()
        for name in buffer_names:
            for i, buffer in enumerate(self.state[name]):
                buffer[...] = get_array_module(buffer).asarray(state[f"{name}.{i}"],
                                                               dtype=buffer.dtype)

    def __repr__(self):
        settings = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({len(self.params)} parameters, {settings}, step={self.t})"

    # --- helpers ---

    def _set_hyperparameters(self, hyperparameters):
        h = dict(hyperparameters)
        self._check_hyperparameters(h)
        for name in self.HYPERPARAMETERS:
            setattr(self, name, h[name])

    def _zero_state(self):
        """Zero buffers of each parameter's shape, dtype and device, per buffer name."""
        return {name: [get_array_module(p.data).zeros(p.data.shape, p.data.dtype)   # C order
                       for p in self.params]
                for name in self._buffer_names()}


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, as ``torch.optim.SGD`` (no dampening).

    Per parameter and step, with b the momentum buffer (zero before the first step):

        d = g + wd * p
        b = momentum * b + d                 (on the first step b = d)
        d = d + momentum * b    if nesterov, else    d = b
        p = p - lr * d

    With ``momentum=0`` it is plain gradient descent, ``p = p - lr * (g + wd * p)``, and
    keeps no buffer.  PyTorch creates b on the first step as a copy of d; starting from
    zero gives exactly the same numbers (``momentum * 0 + d == d``).

    Args:
        params: an iterable of Parameters, e.g. ``model.parameters()``.
        lr: the learning rate, > 0.
        momentum: >= 0.
        weight_decay: wd, >= 0 (L2 penalty ``wd/2 * |p|^2`` added to the loss).
        nesterov: Nesterov momentum (needs ``momentum > 0``).
    """

    HYPERPARAMETERS = ("lr", "momentum", "weight_decay", "nesterov")

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, lr=lr, momentum=momentum, weight_decay=weight_decay,
                         nesterov=nesterov)

    def _check_hyperparameters(self, h):
        name = type(self).__name__
        h["lr"] = check_positive(name, "lr", _scalar(h["lr"]))
        h["momentum"] = check_non_negative(name, "momentum", _scalar(h["momentum"]))
        h["weight_decay"] = check_non_negative(name, "weight_decay", _scalar(h["weight_decay"]))
        nesterov = _scalar(h["nesterov"])
        if nesterov not in (True, False) or not isinstance(nesterov, (bool, int)):
            raise TypeError(f"{name}: nesterov must be True or False, got {nesterov!r}")
        h["nesterov"] = bool(nesterov)
        if h["nesterov"] and h["momentum"] == 0:
            raise ValueError(f"{name}: nesterov=True needs momentum > 0, got momentum=0")

    def _buffer_names(self):
        return ("momentum_buffer",) if self.momentum != 0 else ()

    def step(self):
        """One update of every parameter from its ``.grad`` (in place)."""
        self.t += 1
        lr, momentum, wd = self.lr, self.momentum, self.weight_decay
        buffers = self.state.get("momentum_buffer", [None] * len(self.params))
        for p, b in zip(self.params, buffers):
            d = p.grad
            if wd != 0:
                d = d + wd * p.data               # a new array: p.grad stays untouched
            if momentum != 0:
                b *= momentum
                b += d
                d = d + momentum * b if self.nesterov else b
            p.data -= lr * d


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam`` (weight decay added to the gradient; not AdamW).

    Per parameter and step t = 1, 2, ..., with m and v zero before the first step:

        g  = g + wd * p
        m  = beta1 * m + (1 - beta1) * g              first moment (exp_avg)
        v  = beta2 * v + (1 - beta2) * g^2            second moment (exp_avg_sq)
        m^ = m / (1 - beta1^t)                        bias corrections: m and v start at
        v^ = v / (1 - beta2^t)                        zero, so early averages are too small
        p  = p - lr * m^ / (sqrt(v^) + eps)

    The code evaluates the last line in PyTorch's order,
    ``p - (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)``: the same
    value up to rounding.

    Args:
        params: an iterable of Parameters, e.g. ``model.parameters()``.
        lr: the learning rate, > 0.
        betas: (beta1, beta2), each in [0, 1).
        eps: > 0, keeps the division finite where v^ is zero.
        weight_decay: wd, >= 0.
    """

    HYPERPARAMETERS = ("lr", "beta1", "beta2", "eps", "weight_decay")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        try:
            beta1, beta2 = betas
        except (TypeError, ValueError):
            raise ValueError(f"Adam: betas must be a pair (beta1, beta2), got {betas!r}") from None
        super().__init__(params, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                         weight_decay=weight_decay)

    @property
    def betas(self):
        return (self.beta1, self.beta2)

    def _check_hyperparameters(self, h):
        name = type(self).__name__
        h["lr"] = check_positive(name, "lr", _scalar(h["lr"]))
        for beta in ("beta1", "beta2"):
            value = check_number(name, beta, _scalar(h[beta]))
            if not 0 <= value < 1:
                raise ValueError(f"{name}: betas must lie in [0, 1), got {beta}={value!r}")
            h[beta] = value
        h["eps"] = check_positive(name, "eps", _scalar(h["eps"]))
        h["weight_decay"] = check_non_negative(name, "weight_decay", _scalar(h["weight_decay"]))

    def _buffer_names(self):
        return ("exp_avg", "exp_avg_sq")

    def step(self):
        """One update of every parameter from its ``.grad`` (in place)."""
        paths = [backend.compute_path(p.data) for p in self.params]
        for i, (p, path) in enumerate(zip(self.params, paths)):
            if path == "kernels":                # refused before anything is updated
                _check_contiguous(i, p.data)
        self.t += 1
        lr, beta1, beta2, eps, wd = self.lr, self.beta1, self.beta2, self.eps, self.weight_decay
        bias1 = 1 - beta1 ** self.t              # Python floats: no array is promoted
        bias2 = 1 - beta2 ** self.t
        step_size = lr / bias1
        on_cpu = []
        for p, m, v, path in zip(self.params, self.state["exp_avg"], self.state["exp_avg_sq"],
                                 paths):
            if path == "kernels":
                # on the GPU: the whole update below in one kernel (cuda/optim.cu)
                kernels.adam_update(p.data, p.grad, m, v, step_size, beta1, beta2, eps,
                                    math.sqrt(bias2), wd)
            elif path == "cupy":
                self._update(p, m, v, step_size, bias2)
            else:
                on_cpu.append((p, m, v))

        def update_group(group):
            for p, m, v in group:
                self._update(p, m, v, step_size, bias2)

        # NumPy's arithmetic on large arrays runs without the GIL: the CPU's parameters are
        # updated in groups of about equal size, one group per core
        groups = balanced_groups(on_cpu, [p.data.size for p, _, _ in on_cpu], threads.THREADS)
        run_in_threads(update_group, [(group,) for group in groups])

    def _update(self, p, m, v, step_size, bias2):
        """Adam's update of one parameter ``p`` with its moments ``m`` and ``v``, in place."""
        beta1, beta2, eps, wd = self.beta1, self.beta2, self.eps, self.weight_decay
        xp = get_array_module(p.data)
        g = p.grad
        if wd != 0:
            g = g + wd * p.data               # a new array: p.grad stays untouched
        m *= beta1
        m += (1 - beta1) * g
        v *= beta2
        v += (1 - beta2) * (g * g)
        denominator = xp.sqrt(v)
        denominator /= math.sqrt(bias2)
        denominator += eps
        p.data -= step_size * (m / denominator)


# --- checks --------------------------------------------------------------------------------

def _parameter_list(params, owner):
    if isinstance(params, dict) or hasattr(params, "data"):
        raise TypeError(f"{owner}: params must be an iterable of Parameters (e.g. "
                        f"model.parameters()), got {type(params).__name__}")
    try:
        params = list(params)
    except TypeError:
        raise TypeError(f"{owner}: params must be an iterable of Parameters (e.g. "
                        f"model.parameters()), got {type(params).__name__}") from None
    if not params:
        raise ValueError(f"{owner}: params is empty; give at least one Parameter "
                         f"(e.g. model.parameters())")
    for i, p in enumerate(params):
        if not (hasattr(p, "data") and hasattr(p, "grad")):
            raise TypeError(f"{owner}: params[{i}] is a {type(p).__name__}, not a Parameter "
                            f"with .data and .grad")
    return params


def _scalar(value):
    """A 0-d array (as ``np.load`` returns scalars) -> the Python value; others unchanged."""
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        return value.item()
    return value


def _check_contiguous(index, data):
    """The Adam kernel updates a parameter in place through its first element's address."""
    if not data.flags.c_contiguous:
        raise ValueError(f"Adam.step: parameter {index} (shape {tuple(data.shape)}) is not "
                         f"C-contiguous, and the CUDA kernel updates it in place; store it as "
                         f"a contiguous array (xp.ascontiguousarray) or use the 'cupy' GPU path")
