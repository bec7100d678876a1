"""An optional independent oracle: PyTorch, when it is installed (skipped cleanly otherwise).

It pins down that our layouts and conventions are PyTorch's: weights
(c_out, c_in, kh, kw) for conv and (c_in, c_out, kh, kw) for the transposed
conv, padding semantics, and max pooling's floor.
"""

import numpy as np
import pytest

from unet_from_scratch import ops
from conftest import distinct_values, random_array

torch = pytest.importorskip("torch")


def torch_grads(fn, *arrays):
    tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    y = fn(*tensors)
    dy = np.random.default_rng(5).standard_normal(tuple(y.shape))
    y.backward(torch.tensor(dy))
    return y.detach().numpy(), dy, [t.grad.numpy() for t in tensors]


@pytest.mark.parametrize("stride, padding", [(1, 1), (2, 0), (2, 1), (3, 2)])
def test_conv2d_matches_pytorch(rng, stride, padding):
    x, w, b = random_array(rng, (2, 3, 11, 10)), random_array(rng, (4, 3, 3, 3)), random_array(rng, (4,))
    y_t, dy, grads_t = torch_grads(
        lambda x, w, b: torch.nn.functional.conv2d(x, w, b, stride=stride, padding=padding), x, w, b)
    y, cache = ops.conv2d_forward(x, w, b, stride=stride, padding=padding)
    np.testing.assert_allclose(y, y_t, rtol=1e-10, atol=1e-10)
    for ours, theirs in zip(ops.conv2d_backward(dy, cache), grads_t):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kernel, stride, padding", [(2, 2, 0), (3, 2, 1), (3, 1, 0), (4, 3, 1)])
def test_conv_transpose2d_matches_pytorch(rng, kernel, stride, padding):
    x = random_array(rng, (2, 4, 5, 6))
    w, b = random_array(rng, (4, 3, kernel, kernel)), random_array(rng, (3,))
    y_t, dy, grads_t = torch_grads(
        lambda x, w, b: torch.nn.functional.conv_transpose2d(x, w, b, stride=stride, padding=padding),
        x, w, b)
    y, cache = ops.conv_transpose2d_forward(x, w, b, stride=stride, padding=padding)
    np.testing.assert_allclose(y, y_t, rtol=1e-10, atol=1e-10)
    for ours, theirs in zip(ops.conv_transpose2d_backward(dy, cache), grads_t):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kernel, stride", [(2, 2), (3, 2), (3, 1)])
def test_max_pool2d_matches_pytorch(rng, kernel, stride):
    x = distinct_values(rng, (2, 3, 9, 11))
    y_t, dy, (dx_t,) = torch_grads(
        lambda x: torch.nn.functional.max_pool2d(x, kernel, stride), x)
    y, cache = ops.max_pool2d_forward(x, kernel, stride)
    np.testing.assert_array_equal(y, y_t)
    np.testing.assert_allclose(ops.max_pool2d_backward(dy, cache), dx_t, rtol=1e-12, atol=1e-12)
