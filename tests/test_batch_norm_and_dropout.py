"""Batch normalisation and dropout: fast ops against their loops, gradients, PyTorch's semantics."""

import numpy as np
import pytest

from unet_from_scratch import ops, reference
from unet_from_scratch.gradcheck import directional_check, elementwise_check
from conftest import assert_close, random_array

DTYPES = [np.float32, np.float64]


def bn_inputs(rng, dtype, shape=(3, 2, 4, 5)):
    x = random_array(rng, shape, dtype) * 2 + 1
    c = shape[1]
    return (x, random_array(rng, (c,), dtype), random_array(rng, (c,), dtype),
            random_array(rng, (c,), dtype) * 0.1, np.abs(random_array(rng, (c,), dtype)) + 0.5)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_matches_loops(rng, dtype, training):
    x, gamma, beta, rm, rv = bn_inputs(rng, dtype)
    rm_ref, rv_ref = rm.copy(), rv.copy()
    y, cache = ops.batch_norm2d_forward(x, gamma, beta, rm, rv, training=training, momentum=0.2)
    y_ref, cache_ref = reference.batch_norm2d_forward(x, gamma, beta, rm_ref, rv_ref,
                                                      training=training, momentum=0.2)
    assert_close(y, y_ref, dtype)
    assert_close(rm, rm_ref, dtype)
    assert_close(rv, rv_ref, dtype)
    dy = random_array(rng, y.shape, dtype)
    for grad, grad_ref in zip(ops.batch_norm2d_backward(dy, cache),
                              reference.batch_norm2d_backward(dy, cache_ref)):
        assert_close(grad, grad_ref, dtype)


@pytest.mark.parametrize("impl", [ops, reference])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradients(rng, impl, training):
    x, gamma, beta, rm, rv = bn_inputs(rng, np.float64)
    forward = lambda x, gamma, beta: impl.batch_norm2d_forward(   # noqa: E731
        x, gamma, beta, rm.copy(), rv.copy(), training=training)
    elementwise_check(forward, impl.batch_norm2d_backward, [x, gamma, beta]).raise_if_failed()
    directional_check(forward, impl.batch_norm2d_backward, [x, gamma, beta]).raise_if_failed()


def test_batch_norm_training_output_is_normalised(rng):
    x, gamma, beta, _, _ = bn_inputs(rng, np.float64, (4, 3, 6, 6))
    y, _ = ops.batch_norm2d_forward(x, np.ones(3), np.zeros(3))
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, rtol=1e-4)     # var / (var + eps)


def test_batch_norm_running_statistics_follow_pytorch(rng):
    """momentum weighs the new value; the running variance is the unbiased one."""
    x = random_array(rng, (2, 1, 3, 3))
    rm, rv = np.zeros(1), np.ones(1)
    ops.batch_norm2d_forward(x, np.ones(1), np.zeros(1), rm, rv, momentum=0.1)
    np.testing.assert_allclose(rm, 0.1 * x.mean())
    np.testing.assert_allclose(rv, 0.9 + 0.1 * x.var(ddof=1))


def test_batch_norm_matches_pytorch(rng):
    torch = pytest.importorskip("torch")
    x, gamma, beta, rm, rv = bn_inputs(rng, np.float64)
    bn = torch.nn.BatchNorm2d(2, momentum=0.1, eps=1e-5).double()
    with torch.no_grad():
        bn.weight.copy_(torch.tensor(gamma))
        bn.bias.copy_(torch.tensor(beta))
        bn.running_mean.copy_(torch.tensor(rm))
        bn.running_var.copy_(torch.tensor(rv))
    for training in (True, False):
        bn.train(training)
        xt = torch.tensor(x, requires_grad=True)
        yt = bn(xt)
        dy = random_array(rng, x.shape)
        yt.backward(torch.tensor(dy))
        y, cache = ops.batch_norm2d_forward(x, gamma, beta, rm, rv, training=training)
        np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(ops.batch_norm2d_backward(dy, cache)[0], xt.grad.numpy(),
                                   rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(rm, bn.running_mean.numpy(), rtol=1e-12)
        np.testing.assert_allclose(rv, bn.running_var.numpy(), rtol=1e-12)


def test_batch_norm_bad_input():
    x = np.zeros((2, 3, 4, 4), np.float32)
    g = np.ones(3, np.float32)
    with pytest.raises(ValueError, match=r"batch_norm2d_forward: gamma must have shape \(3,\) for x "
                                         r"with 3 channels, got gamma.shape=\(2,\)"):
        ops.batch_norm2d_forward(x, g[:2], g)
    with pytest.raises(ValueError, match="evaluation .* needs running_mean and running_var"):
        ops.batch_norm2d_forward(x, g, g, training=False)
    with pytest.raises(ValueError, match="training needs more than one value per channel"):
        ops.batch_norm2d_forward(x[:1, :, :1, :1], g, g)
    with pytest.raises(TypeError, match="beta has dtype float64 but x has dtype float32"):
        ops.batch_norm2d_forward(x, g, g.astype(np.float64))


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_matches_loops_and_keeps_expectation(rng, dtype):
    x = random_array(rng, (4, 3, 5, 5), dtype)
    y, cache = ops.dropout_forward(x, 0.3, rng=7)
    y_ref, cache_ref = reference.dropout_forward(x, 0.3, rng=7)
    assert_close(y, y_ref, dtype)
    dy = random_array(rng, x.shape, dtype)
    assert_close(ops.dropout_backward(dy, cache), reference.dropout_backward(dy, cache_ref), dtype)
    dropped = (y == 0).mean()
    assert 0.2 < dropped < 0.4
    big = np.ones((200, 200), dtype)
    assert abs(ops.dropout_forward(big, 0.5, rng=1)[0].mean() - 1) < 0.02


def test_dropout_gradient_and_identity_in_eval(rng):
    x = random_array(rng, (2, 3, 4, 4))
    elementwise_check(lambda x: ops.dropout_forward(x, 0.5, rng=3), ops.dropout_backward,
                      [x]).raise_if_failed()
    y, cache = ops.dropout_forward(x, 0.5, rng=3, training=False)
    np.testing.assert_array_equal(y, x)
    assert not np.shares_memory(y, x)
    np.testing.assert_array_equal(ops.dropout_backward(x, cache), x)
    with pytest.raises(ValueError, match=r"dropout_forward: p must be in \[0, 1\), got 1"):
        ops.dropout_forward(x, 1, rng=0)
