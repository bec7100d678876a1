"""The gradient checker itself: right on functions with known gradients, and it must catch wrong ones."""

import numpy as np
import pytest

from unet_from_scratch import ops
from unet_from_scratch.gradcheck import directional_check, elementwise_check
from conftest import random_array

CHECKS = [elementwise_check, directional_check]


def product_forward(a, b):
    """y = a * b elementwise; dL/da = dy * b, dL/db = dy * a."""
    return a * b, (a, b)


def product_backward(dy, cache):
    a, b = cache
    return dy * b, dy * a


def cube_sum_forward(x):
    """A scalar output, like a loss: L = sum(x^3), dL/dx = 3 x^2."""
    return float((x ** 3).sum()), x


def cube_sum_backward(dloss, cache):
    return dloss * 3 * cache ** 2


@pytest.mark.parametrize("check", CHECKS)
def test_passes_on_known_gradients(rng, check):
    a, b = random_array(rng, (3, 4)), random_array(rng, (3, 4))
    report = check(product_forward, product_backward, [a, b])
    assert report.passed
    assert [e.name for e in report.entries][:2] == ["a", "b"]      # names from the signature
    assert all(e.max_rel_error < 1e-8 for e in report.entries)

    report = check(cube_sum_forward, cube_sum_backward, [random_array(rng, (5,))])
    assert report.passed


def test_elementwise_numbers_are_the_known_derivative(rng):
    """Half the known gradient is off by exactly 100 %: the report must say so."""
    x = np.array([1.0, 2.0, -3.0])
    report = elementwise_check(cube_sum_forward, lambda dl, x: dl * 1.5 * x ** 2, [x])
    assert not report.passed
    # analytic 1.5 x^2 vs numeric 3 x^2: relative error |1.5 - 3| / 4.5 = 1/3 everywhere
    assert report["x"].max_rel_error == pytest.approx(1 / 3, rel=1e-6)
    assert report["x"].max_abs_error == pytest.approx(1.5 * 9, rel=1e-6)


def wrong_conv2d_backward(dy, cache):
    """A classic bug: the weight gradient with the kernel flipped."""
    dx, dw, db = ops.conv2d_backward(dy, cache)
    return dx, dw[:, :, ::-1, ::-1], db


def leaky_relu_backward(dy, cache):
    """A bug: lets the gradient through everywhere, as if ReLU were the identity."""
    return dy


@pytest.mark.parametrize("check", CHECKS)
def test_fails_on_wrong_backward(rng, check):
    x, w, b = (random_array(rng, (2, 2, 5, 5)), random_array(rng, (3, 2, 3, 3)),
               random_array(rng, (3,)))
    report = check(ops.conv2d_forward, wrong_conv2d_backward, [x, w, b])
    assert not report.passed
    if check is elementwise_check:
        assert report["x"].passed and report["b"].passed and not report["w"].passed
    else:
        assert not report["w"].passed and not report["(all)"].passed
    with pytest.raises(AssertionError, match="FAILED") as failure:
        report.raise_if_failed()
    message = str(failure.value)
    assert "w: analytic" in message and "w: numeric" in message
    assert "x: analytic" not in message                  # only failed entries are spelled out
    if check is directional_check:
        assert "w: direction" in message

    report = check(ops.relu_forward, leaky_relu_backward, [random_array(rng, (2, 3, 4, 4))])
    assert not report.passed


def test_tolerances_decide(rng):
    """A gradient 0.1 % too large fails at rtol=1e-6 and passes at rtol=1e-2."""
    a, b = random_array(rng, (3, 3)), random_array(rng, (3, 3))

    def slightly_wrong(dy, cache):
        da, db = product_backward(dy, cache)
        return da * 1.001, db

    assert not elementwise_check(product_forward, slightly_wrong, [a, b], rtol=1e-6).passed
    assert elementwise_check(product_forward, slightly_wrong, [a, b], rtol=1e-2).passed


def test_small_gradients_are_checked_relatively(rng):
    """Gradients of order 1e-4, 0.005 % wrong, are far above the rounding floor: caught."""
    a, b = random_array(rng, (3, 4)), random_array(rng, (3, 4)) * 1e-4

    def slightly_wrong(dy, cache):
        da, db = product_backward(dy, cache)
        return da * (1 + 5e-5), db

    report = elementwise_check(product_forward, slightly_wrong, [a, b])
    assert report.rounding_floor < 1e-12
    assert not report["a"].passed and report["b"].passed
    assert report["a"].max_rel_error == pytest.approx(2.5e-5, rel=1e-3)


def test_exact_zero_gradients_pass_and_the_arrays_are_kept(rng):
    """ReLU on negative inputs: analytic and numeric gradients are both exactly 0."""
    x = -np.abs(random_array(rng, (2, 3))) - 0.1
    report = elementwise_check(ops.relu_forward, ops.relu_backward, [x])
    assert report.passed
    np.testing.assert_array_equal(report["x"].analytic, 0.0)
    np.testing.assert_array_equal(report["x"].numeric, 0.0)


def test_inputs_are_not_modified_and_float32_is_checked_in_float64(rng):
    x = random_array(rng, (2, 1, 4, 4), np.float32)
    w = random_array(rng, (2, 1, 3, 3), np.float32)
    x_before, w_before = x.copy(), w.copy()
    report = elementwise_check(ops.conv2d_forward, ops.conv2d_backward, [x, w, None])
    assert report.passed, report
    assert [e.name for e in report.entries] == ["x", "w"]          # a None input is skipped
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(w, w_before)
    assert x.dtype == np.float32


def test_directional_per_input_and_joint(rng):
    a, b = random_array(rng, (3, 4)), random_array(rng, (3, 4))
    report = directional_check(product_forward, product_backward, [a, b], per_input=False)
    assert [e.name for e in report.entries] == ["(all)"]
    entry = report.entries[0]
    assert "analytic" in entry.detail and "numeric" in entry.detail
    # the direction is kept and has unit length over everything it moved
    norm = sum(float((d ** 2).sum()) for d in entry.direction.values()) ** 0.5
    assert norm == pytest.approx(1.0)
    assert entry.analytic == pytest.approx(sum(float((g * entry.direction[k]).sum())
                                               for k, g in enumerate(product_backward(
                                                   np.random.default_rng(0).standard_normal(a.shape),
                                                   (a, b)))))


def test_report_is_readable(rng):
    a, b = random_array(rng, (3, 4)), random_array(rng, (3, 4))
    text = repr(elementwise_check(product_forward, product_backward, [a, b], names=["left", "right"]))
    assert text.splitlines()[0].startswith("elementwise gradient check in float64")
    assert "rounding floor=" in text and "seed=0" in text
    assert "PASSED" in text and "left" in text and "right" in text and "(3, 4)" in text


def test_bad_backward_output_is_reported(rng):
    x = random_array(rng, (2, 3))
    with pytest.raises(ValueError, match=r"gradient of x, expected shape \(2, 3\)"):
        elementwise_check(lambda x: (x * 2, None), lambda dy, c: dy[:, :2], [x])
    with pytest.raises(ValueError, match="backward returned 1 gradients for 2 inputs"):
        elementwise_check(product_forward, lambda dy, c: dy, [x, x])
    with pytest.raises(TypeError, match="bind options such as stride with a lambda"):
        elementwise_check(ops.max_pool2d_forward, ops.max_pool2d_backward, [x, 2])
