"""Every backward pass -- fast and loop reference -- against central differences in float64."""

import pytest

from unet_from_scratch import ops, reference
from unet_from_scratch.gradcheck import OP_CASES, case_functions, directional_check, elementwise_check
from conftest import distinct_values, random_array

IMPLEMENTATIONS = {"fast": ops, "reference": reference}


def check(forward, backward, inputs, names):
    report = elementwise_check(forward, backward, inputs, names, rtol=1e-6)
    report.raise_if_failed()
    return report


def check_convolution_gradients(rng, m, op, x_shape, c_out, kernel, stride, padding):
    """Elementwise check of ``op`` ("conv2d" or "conv_transpose2d") from module ``m``."""
    k_h, k_w = (kernel, kernel) if isinstance(kernel, int) else kernel
    c_in = x_shape[1]
    w_shape = (c_in, c_out, k_h, k_w) if op == "conv_transpose2d" else (c_out, c_in, k_h, k_w)
    forward = getattr(m, f"{op}_forward")
    check(lambda x, w, b: forward(x, w, b, stride=stride, padding=padding),
          getattr(m, f"{op}_backward"),
          [random_array(rng, x_shape), random_array(rng, w_shape), random_array(rng, (c_out,))],
          ["x", "w", "b"])


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("stride, padding, kernel", [(1, 0, 3), (1, 1, 3), (2, 1, 3), (2, 0, (2, 3)),
                                                     (3, 2, 4)])
def test_conv2d_gradients(rng, impl, stride, padding, kernel):
    check_convolution_gradients(rng, IMPLEMENTATIONS[impl], "conv2d", (2, 2, 7, 6), 3,
                                kernel, stride, padding)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("padding", [0, 1, 2])
def test_conv2d_gradients_where_dx_is_a_convolution_of_dy(rng, impl, padding):
    """Stride 1 and fewer output than input channels: ops computes dx as the convolution of
    dy with the flipped kernel, not with col2im."""
    check_convolution_gradients(rng, IMPLEMENTATIONS[impl], "conv2d", (2, 3, 7, 6), 2,
                                3, 1, padding)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("stride, padding, kernel", [(2, 0, 2), (1, 0, 3), (2, 1, 3), (3, 1, (2, 4))])
def test_conv_transpose2d_gradients(rng, impl, stride, padding, kernel):
    check_convolution_gradients(rng, IMPLEMENTATIONS[impl], "conv_transpose2d", (2, 3, 4, 5), 2,
                                kernel, stride, padding)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("kernel, stride", [(2, 2), (3, 2), (3, 1), ((2, 3), (1, 2)), (2, 3)])
def test_max_pool2d_gradients(rng, impl, kernel, stride):
    m = IMPLEMENTATIONS[impl]
    x = distinct_values(rng, (2, 2, 7, 8))
    check(lambda x: m.max_pool2d_forward(x, kernel, stride), m.max_pool2d_backward, [x], ["x"])


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("case", OP_CASES, ids=[case.title for case in OP_CASES])
def test_every_case_of_the_gradcheck_table(rng, impl, case):
    """The cases ``unet-scratch gradcheck`` prints, on the fast ops and on the loops alike."""
    forward, backward = case_functions(case, IMPLEMENTATIONS[impl])
    check(forward, backward, case.draw(rng), case.names)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_concat_of_three_and_an_uneven_crop(rng, impl):
    m = IMPLEMENTATIONS[impl]
    a, b, c = (random_array(rng, (2, k, 4, 5)) for k in (1, 3, 2))
    check(m.concat_forward, m.concat_backward, [a, b, c], ["a", "b", "c"])
    check(lambda x: m.center_crop_forward(x, (3, 2)), m.center_crop_backward,
          [random_array(rng, (2, 2, 6, 5))], ["x"])


def test_small_conv_pipeline_directional(rng):
    """conv -> relu -> pool -> up-conv -> concat with a crop of the input: the U-Net's pieces chained."""
    x = random_array(rng, (2, 1, 10, 10))
    w1, b1 = random_array(rng, (4, 1, 3, 3)), random_array(rng, (4,))
    w2, b2 = random_array(rng, (4, 2, 2, 2)), random_array(rng, (2,))

    def forward(x, w1, b1, w2, b2):
        h, c1 = ops.conv2d_forward(x, w1, b1)                       # (2, 4, 8, 8)
        r, c2 = ops.relu_forward(h)
        p, c3 = ops.max_pool2d_forward(r, 2)                       # (2, 4, 4, 4)
        u, c4 = ops.conv_transpose2d_forward(p, w2, b2, stride=2)  # (2, 2, 8, 8)
        s, c5 = ops.center_crop_forward(x, (8, 8))                 # (2, 1, 8, 8)
        y, c6 = ops.concat_forward(u, s)
        return y, (c1, c2, c3, c4, c5, c6)

    def backward(dy, cache):
        c1, c2, c3, c4, c5, c6 = cache
        du, ds = ops.concat_backward(dy, c6)
        dx_skip = ops.center_crop_backward(ds, c5)
        dp, dw2, db2 = ops.conv_transpose2d_backward(du, c4)
        dr = ops.max_pool2d_backward(dp, c3)
        dh = ops.relu_backward(dr, c2)
        dx, dw1, db1 = ops.conv2d_backward(dh, c1)
        return dx + dx_skip, dw1, db1, dw2, db2

    report = directional_check(forward, backward, [x, w1, b1, w2, b2], rtol=1e-6)
    assert [e.name for e in report.entries] == ["x", "w1", "b1", "w2", "b2", "(all)"]
    report.raise_if_failed()
