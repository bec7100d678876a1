"""Modules: layers with an explicit ``forward`` and ``backward``.

A :class:`Module` holds :class:`Parameter` objects (``.data`` and ``.grad``, arrays
of the same shape), *buffers* (state that is saved but not trained, such as batch
norm's running statistics) and child modules, registered in the order they are
assigned -- as in PyTorch, so ``named_parameters()`` and ``state_dict()`` list
them in the same order and with the same dotted names as the equivalent PyTorch
module.

``forward(x)`` computes the output and keeps what the backward pass needs;
``backward(dy)`` returns ``dx`` and *adds* each parameter's gradient to its
``.grad`` (so call ``zero_grad()`` before each step).  One forward, then one
backward: a module remembers only its last forward pass.
"""

import numpy as np

from . import ops
from .backend import device_of, get_array_module, to_device


class Parameter:
    """A trainable array and its gradient.

    Attributes:
        data: the values (NumPy or CuPy array, float32 for training, float64 for checks).
        grad: an array of ``data``'s shape, dtype and device, accumulated by ``backward``.
    """

    def __init__(self, data):
        self.data = data
        self.grad = get_array_module(data).zeros_like(data)

    @property
    def shape(self):
        return self.data.shape

    def __repr__(self):
        return f"Parameter(shape={tuple(self.data.shape)}, dtype={self.data.dtype})"


class Module:
    """Base class: registration of parameters, buffers and children; state; modes."""

    def __init__(self):
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def register_buffer(self, name, array):
        """Keep ``array`` as state that is saved with the model but not trained."""
        self._buffers[name] = array
        object.__setattr__(self, name, array)

    # --- the two passes ---

    def forward(self, x):
        raise NotImplementedError(f"{type(self).__name__}.forward is not written")

    def backward(self, dy):
        raise NotImplementedError(f"{type(self).__name__}.backward is not written")

    def __call__(self, x):
        return self.forward(x)

    def _forward_cache(self, name="_cache"):
        """What the last ``forward`` kept for ``backward``; a ValueError before any forward."""
        cache = getattr(self, name, None)
        if cache is None:
            raise ValueError(f"{type(self).__name__}.backward: call forward first (there is no "
                             f"forward pass to go back through)")
        return cache

    # --- parameters and state ---

    def named_parameters(self, prefix=""):
        """Yield ``(dotted_name, Parameter)``: own parameters first, then each child's, in
        registration order (``"encoders.0.0.weight"``)."""
        for name, parameter in self._parameters.items():
            yield prefix + name, parameter
        for child_name, child in self._modules.items():
            yield from child.named_parameters(f"{prefix}{child_name}.")

    def parameters(self):
        return [parameter for _, parameter in self.named_parameters()]

    def num_parameters(self):
        return sum(int(np.prod(p.shape)) for p in self.parameters())

    def zero_grad(self):
        for parameter in self.parameters():
            parameter.grad[...] = 0

    def state_dict(self):
        """``{dotted_name: array}`` in PyTorch's order: per module its parameters, then its
        buffers, then its children.  The arrays are the module's own (not copies)."""
        state = {}
        self._collect_state("", state)
        return state

    def _collect_state(self, prefix, state):
        for name, parameter in self._parameters.items():
            state[prefix + name] = parameter.data
        for name, buffer in self._buffers.items():
            state[prefix + name] = buffer
        for child_name, child in self._modules.items():
            child._collect_state(f"{prefix}{child_name}.", state)

    def load_state_dict(self, state, strict=True):
        """Copy the arrays of ``state`` into this module's parameters and buffers, in place.

        With ``strict`` every key must match: missing and unexpected keys are named in a
        ``ValueError``.  Shapes must match exactly (``ValueError``).  Values are converted to
        each target's dtype and device.
        """
        own = self.state_dict()
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            raise ValueError(f"load_state_dict: the state does not fit {type(self).__name__}: "
                           f"missing keys {missing}, unexpected keys {unexpected}")
        for name, target in own.items():
            if name not in state:
                continue
            value = state[name]
            if tuple(value.shape) != tuple(target.shape):
                raise ValueError(f"load_state_dict: {name} has shape {tuple(value.shape)} in the "
                                 f"state but {tuple(target.shape)} in the model")
            target[...] = get_array_module(target).asarray(value, dtype=target.dtype)

    # --- modes, devices, dtypes ---

    def train(self, mode=True):
        object.__setattr__(self, "training", mode)
        for child in self._modules.values():
            child.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def to(self, device=None, dtype=None):
        """Move parameters and buffers to ``device`` ("cpu"/"cuda") and/or cast the floating
        ones to ``dtype`` (e.g. float64 for a gradient check).  Returns self."""
        for module in self.modules():
            for parameter in module._parameters.values():
                parameter.data = _convert(parameter.data, device, dtype)
                parameter.grad = _convert(parameter.grad, device, dtype)
            for name, buffer in list(module._buffers.items()):
                module.register_buffer(name, _convert(buffer, device, dtype))
        return self

    @property
    def device(self):
        """Where the parameters live, "cpu" or "cuda" (that of the first parameter; "cpu" for
        a module without any)."""
        parameters = self.parameters()
        return device_of(parameters[0].data) if parameters else "cpu"

    @property
    def dtype(self):
        """The dtype of the parameters (that of the first; float32 for a module without any)."""
        parameters = self.parameters()
        return parameters[0].data.dtype if parameters else np.dtype(np.float32)

    def modules(self):
        """This module and all its descendants, depth first."""
        yield self
        for child in self._modules.values():
            yield from child.modules()

    def named_modules(self, prefix=""):
        """``(dotted_name, module)`` for this module (named ``prefix``, "" by default) and all
        its descendants, depth first: ``("encoders.0.0", Conv2d)``, as in PyTorch."""
        yield prefix, self
        for child_name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{child_name}" if prefix else child_name)


def _convert(array, device, dtype):
    if device is not None:
        array = to_device(array, device)
    if dtype is not None and np.issubdtype(array.dtype, np.floating):
        array = array.astype(dtype)
    return array


def _rng(seed_or_rng):
    """A ``numpy.random.Generator`` from a seed or a generator (weights are always drawn with NumPy)."""
    return np.random.default_rng(seed_or_rng)


def he_normal(rng, shape, fan_in):
    """He (Kaiming) initialisation: normal with standard deviation sqrt(2 / fan_in), float32."""
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)


# --- layers --------------------------------------------------------------------------------

class _ConvBase(Module):
    """What a convolution and a transposed convolution share: a He-initialised ``weight``,
    an optional ``bias`` of zeros, and passes that call an op pair with the layer's stride
    and padding.  The two layers differ only in that pair and in the weight's layout (and
    so its fan-in); registration order -- weight, then bias -- is PyTorch's.
    """

    def __init__(self, op_forward, op_backward, weight_shape, fan_in, out_channels, stride,
                 padding, bias, rng):
        super().__init__()
        self._op_forward, self._op_backward = op_forward, op_backward
        self.stride, self.padding = stride, padding
        self.weight = Parameter(he_normal(_rng(rng), weight_shape, fan_in))
        self.bias = Parameter(np.zeros(out_channels, np.float32)) if bias else None

    def forward(self, x):
        b = None if self.bias is None else self.bias.data
        y, self._cache = self._op_forward(x, self.weight.data, b, self.stride, self.padding)
        return y

    def backward(self, dy):
        dx, dw, db = self._op_backward(dy, self._forward_cache())
        self.weight.grad += dw
        if self.bias is not None:
            self.bias.grad += db
        return dx


class Conv2d(_ConvBase):
    """2-D convolution; weight (c_out, c_in, k, k) He-initialised, bias zeros.  See ops.conv2d."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True, rng=0):
        k_h, k_w = (kernel_size, kernel_size) if np.isscalar(kernel_size) else kernel_size
        super().__init__(ops.conv2d_forward, ops.conv2d_backward,
                         weight_shape=(out_channels, in_channels, k_h, k_w),
                         fan_in=in_channels * k_h * k_w, out_channels=out_channels,
                         stride=stride, padding=padding, bias=bias, rng=rng)


class ConvTranspose2d(_ConvBase):
    """Transposed convolution (up-convolution); weight (c_in, c_out, k, k).  See ops.conv_transpose2d.

    He initialisation with fan_in = c_in k_h k_w / (s_h s_w): the number of products that
    make each output value (with kernel 2 and stride 2, exactly c_in).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True,
                 rng=0):
        k_h, k_w = (kernel_size, kernel_size) if np.isscalar(kernel_size) else kernel_size
        s_h, s_w = (stride, stride) if np.isscalar(stride) else stride
        super().__init__(ops.conv_transpose2d_forward, ops.conv_transpose2d_backward,
                         weight_shape=(in_channels, out_channels, k_h, k_w),
                         fan_in=max(1, in_channels * k_h * k_w // (s_h * s_w)),
                         out_channels=out_channels, stride=stride, padding=padding, bias=bias,
                         rng=rng)


class MaxPool2d(Module):
    """Max pooling (no parameters).  See ops.max_pool2d."""

    def __init__(self, kernel_size=2, stride=None):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride

    def forward(self, x):
        y, self._cache = ops.max_pool2d_forward(x, self.kernel_size, self.stride)
        return y

    def backward(self, dy):
        return ops.max_pool2d_backward(dy, self._forward_cache())


class ReLU(Module):
    def forward(self, x):
        y, self._cache = ops.relu_forward(x)
        return y

    def backward(self, dy):
        return ops.relu_backward(dy, self._forward_cache())


class BatchNorm2d(Module):
    """Batch normalisation with learned scale ``weight`` (ones) and shift ``bias`` (zeros).

    Training uses the batch's statistics and updates ``running_mean`` / ``running_var``
    (PyTorch's momentum semantics); evaluation uses the running ones.  See ops.batch_norm2d.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = Parameter(np.ones(num_features, np.float32))
        self.bias = Parameter(np.zeros(num_features, np.float32))
        self.register_buffer("running_mean", np.zeros(num_features, np.float32))
        self.register_buffer("running_var", np.ones(num_features, np.float32))
        self.register_buffer("num_batches_tracked", np.zeros((), np.int64))

    def forward(self, x):
        y, self._cache = ops.batch_norm2d_forward(
            x, self.weight.data, self.bias.data, self.running_mean, self.running_var,
            training=self.training, momentum=self.momentum, eps=self.eps)
        if self.training:
            self.num_batches_tracked += 1
        return y

    def backward(self, dy):
        dx, dgamma, dbeta = ops.batch_norm2d_backward(dy, self._forward_cache())
        self.weight.grad += dgamma
        self.bias.grad += dbeta
        return dx


class Dropout(Module):
    """Zero values with probability ``p`` in training (identity in evaluation).  See ops.dropout."""

    def __init__(self, p=0.5, rng=0):
        super().__init__()
        self.p = p
        self.rng = _rng(rng)

    def forward(self, x):
        y, self._cache = ops.dropout_forward(x, self.p, self.rng, training=self.training)
        return y

    def backward(self, dy):
        return ops.dropout_backward(dy, self._forward_cache())


class ModuleList(Module):
    """A list of modules, registered as "0", "1", ... (no forward of its own)."""

    def __init__(self, modules=()):
        super().__init__()
        for module in modules:
            self.append(module)

    def append(self, module):
        setattr(self, str(len(self._modules)), module)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        return list(self._modules.values())[index]

    def __len__(self):
        return len(self._modules)


class Sequential(ModuleList):
    """Children applied in order; backward runs them in reverse.  Named "0", "1", ...

    A :class:`ModuleList` (same registration, iteration and indexing) with passes of its own.
    """

    def __init__(self, *layers):
        super().__init__(layers)

    def forward(self, x):
        for layer in self:
            x = layer(x)
        return x

    def backward(self, dy):
        for layer in reversed(list(self)):
            dy = layer.backward(dy)
        return dy
