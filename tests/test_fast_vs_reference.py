"""Every fast op gives the numbers of its loop definition, forward and backward.

The loops in ``unet_from_scratch.reference`` are written independently of the
fast kernels (no im2col, no matrix products), so agreement here is evidence,
not a tautology.  Shapes cover batch 1 and > 1, odd sizes, strides that do not
divide, non-square kernels and non-contiguous inputs.
"""

import importlib

import numpy as np
import pytest

from unet_from_scratch import ops, reference
from conftest import assert_close, distinct_values, random_array

DTYPES = [np.float32, np.float64]

# (n, c_in, c_out, h, w, kernel, stride, padding)
CONV_CASES = [
    (1, 1, 1, 5, 5, 3, 1, 0),
    (2, 3, 4, 7, 6, 3, 1, 1),
    (3, 2, 5, 8, 9, 3, 2, 1),
    (2, 3, 2, 9, 7, (2, 3), (2, 1), (0, 1)),
    (1, 4, 3, 6, 6, 1, 1, 0),
    (2, 2, 3, 7, 7, 5, 3, 2),
    (1, 2, 2, 4, 5, 4, 1, 2),
]

# (n, c_in, c_out, h, w, kernel, stride, padding)
CONV_TRANSPOSE_CASES = [
    (1, 1, 1, 3, 3, 2, 2, 0),
    (2, 4, 3, 5, 4, 2, 2, 0),
    (2, 3, 2, 4, 5, 3, 2, 1),
    (1, 2, 3, 3, 4, 3, 1, 0),
    (3, 2, 2, 3, 3, (3, 2), (1, 3), (1, 0)),
    (1, 3, 2, 4, 4, 4, 3, 2),
]

# (n, c, h, w, kernel, stride)
POOL_CASES = [
    (1, 1, 4, 4, 2, 2),
    (2, 3, 7, 9, 2, 2),       # odd sizes: last row/column dropped
    (2, 2, 8, 8, 3, 2),       # overlapping windows
    (1, 2, 7, 6, 3, 1),       # heavily overlapping
    (3, 2, 9, 10, (2, 3), (1, 2)),
    (1, 1, 5, 5, 5, None),    # one window; stride defaults to the kernel
    (2, 2, 9, 8, 2, 3),       # stride larger than the kernel: some pixels are in no window
]


def _weights(rng, case, dtype, transposed):
    n, c_in, c_out, h, w, kernel, _, _ = case
    k_h, k_w = (kernel, kernel) if isinstance(kernel, int) else kernel
    shape = (c_in, c_out, k_h, k_w) if transposed else (c_out, c_in, k_h, k_w)
    return (random_array(rng, (n, c_in, h, w), dtype), random_array(rng, shape, dtype),
            random_array(rng, (c_out,), dtype))


def check_convolution_matches_loops(rng, op, case, dtype):
    """``op`` ("conv2d" or "conv_transpose2d"), forward and backward, against its loops."""
    x, w, b = _weights(rng, case, dtype, transposed=(op == "conv_transpose2d"))
    options = {"stride": case[6], "padding": case[7]}
    y, cache = getattr(ops, f"{op}_forward")(x, w, b, **options)
    y_ref, cache_ref = getattr(reference, f"{op}_forward")(x, w, b, **options)
    assert y.shape == y_ref.shape
    assert_close(y, y_ref, dtype)

    dy = random_array(rng, y.shape, dtype)
    for grad, grad_ref in zip(getattr(ops, f"{op}_backward")(dy, cache),
                              getattr(reference, f"{op}_backward")(dy, cache_ref)):
        assert_close(grad, grad_ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_matches_loops(rng, case, dtype):
    check_convolution_matches_loops(rng, "conv2d", case, dtype)


def test_conv2d_without_bias_matches_loops(rng):
    x, w, _ = _weights(rng, CONV_CASES[1], np.float64, transposed=False)
    y, cache = ops.conv2d_forward(x, w, None, padding=1)
    y_ref, cache_ref = reference.conv2d_forward(x, w, None, padding=1)
    assert_close(y, y_ref, np.float64)
    dx, dw, db = ops.conv2d_backward(y, cache)
    dx_ref, dw_ref, _ = reference.conv2d_backward(y, cache_ref)
    assert db is None
    assert_close(dx, dx_ref, np.float64)
    assert_close(dw, dw_ref, np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_TRANSPOSE_CASES)
def test_conv_transpose2d_matches_loops(rng, case, dtype):
    check_convolution_matches_loops(rng, "conv_transpose2d", case, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOL_CASES)
def test_max_pool2d_matches_loops(rng, case, dtype):
    n, c, h, w, kernel, stride = case
    x = distinct_values(rng, (n, c, h, w), dtype)
    y, cache = ops.max_pool2d_forward(x, kernel, stride)
    y_ref, cache_ref = reference.max_pool2d_forward(x, kernel, stride)
    assert y.dtype == dtype
    assert_close(y, y_ref, dtype)
    dy = random_array(rng, y.shape, dtype)
    assert_close(ops.max_pool2d_backward(dy, cache),
                 reference.max_pool2d_backward(dy, cache_ref), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_elementwise_ops_match_loops(rng, dtype):
    x = random_array(rng, (2, 3, 4, 5), dtype) * 4
    x[0, 0, 0, :3] = [0.0, 200.0, -200.0]          # the kink and saturated values
    dy = random_array(rng, x.shape, dtype)
    for name in ["relu", "sigmoid"]:
        y, cache = getattr(ops, f"{name}_forward")(x)
        y_ref, cache_ref = getattr(reference, f"{name}_forward")(x)
        assert y.dtype == dtype
        assert_close(y, y_ref, dtype)
        assert_close(getattr(ops, f"{name}_backward")(dy, cache),
                     getattr(reference, f"{name}_backward")(dy, cache_ref), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bias_add_matches_loops(rng, dtype):
    x, b = random_array(rng, (2, 3, 4, 5), dtype), random_array(rng, (3,), dtype)
    y, cache = ops.bias_add_forward(x, b)
    assert_close(y, reference.bias_add_forward(x, b)[0], dtype)
    dy = random_array(rng, y.shape, dtype)
    for grad, grad_ref in zip(ops.bias_add_backward(dy, cache),
                              reference.bias_add_backward(dy, None)):
        assert_close(grad, grad_ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_concat_and_center_crop_match_loops(rng, dtype):
    a, b = random_array(rng, (2, 3, 5, 6), dtype), random_array(rng, (2, 1, 5, 6), dtype)
    y, cache = ops.concat_forward(a, b)
    y_ref, cache_ref = reference.concat_forward(a, b)
    assert_close(y, y_ref, dtype)
    for grad, grad_ref in zip(ops.concat_backward(y * 2, cache),
                              reference.concat_backward(y * 2, cache_ref)):
        assert_close(grad, grad_ref, dtype)

    y, cache = ops.center_crop_forward(a, (2, 3))
    y_ref, cache_ref = reference.center_crop_forward(a, (2, 3))
    assert_close(y, y_ref, dtype)
    assert_close(ops.center_crop_backward(y, cache), reference.center_crop_backward(y, cache_ref),
                 dtype)


def test_non_contiguous_inputs(rng):
    """Views with odd strides (a transposed image, every other pixel) give the same numbers."""
    big = random_array(rng, (2, 3, 14, 11))
    x = big[:, :, ::2, :].transpose(0, 1, 3, 2)          # (2, 3, 11, 7), not contiguous
    assert not x.flags.c_contiguous
    w_full = random_array(rng, (4, 3, 3, 6))
    w = w_full[:, :, :, ::2]                             # (4, 3, 3, 3), not contiguous
    b = random_array(rng, (8,))[::2]

    y, cache = ops.conv2d_forward(x, w, b, stride=2, padding=1)
    y_ref, cache_ref = reference.conv2d_forward(x.copy(), w.copy(), b.copy(), stride=2, padding=1)
    assert_close(y, y_ref, np.float64)
    dy = random_array(rng, y.shape + (2,))[..., 0]        # a non-contiguous upstream gradient
    for grad, grad_ref in zip(ops.conv2d_backward(dy, cache),
                              reference.conv2d_backward(dy.copy(), cache_ref)):
        assert_close(grad, grad_ref, np.float64)

    wt = random_array(rng, (3, 2, 2, 4))[:, :, :, ::2]
    y, cache = ops.conv_transpose2d_forward(x, wt, None, stride=2)
    y_ref, cache_ref = reference.conv_transpose2d_forward(x.copy(), wt.copy(), None, stride=2)
    assert_close(y, y_ref, np.float64)
    dy = random_array(rng, y.shape[::-1]).transpose(3, 2, 1, 0)
    for grad, grad_ref in zip(ops.conv_transpose2d_backward(dy, cache),
                              reference.conv_transpose2d_backward(dy.copy(), cache_ref)):
        if grad_ref is not None:
            assert_close(grad, grad_ref, np.float64)

    xd = distinct_values(rng, (2, 3, 11, 14))[:, :, :, ::2]
    y, cache = ops.max_pool2d_forward(xd, 3, 2)
    y_ref, cache_ref = reference.max_pool2d_forward(xd.copy(), 3, 2)
    assert_close(y, y_ref, np.float64)
    dy = random_array(rng, y.shape[::-1]).transpose(3, 2, 1, 0)
    assert_close(ops.max_pool2d_backward(dy, cache), reference.max_pool2d_backward(dy, cache_ref),
                 np.float64)


def random_conv_cases(count, seed):
    """Seeded random configurations: sizes 1-9, kernels 1-4 (not always square), strides 1-3,
    paddings 0-2, batch 1-3 -- only those where the kernel fits in the padded input."""
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        n, c_in, c_out = rng.integers(1, 4, size=3)
        h, w = rng.integers(1, 10, size=2)
        k_h, k_w = rng.integers(1, 5, size=2)
        s_h, s_w = rng.integers(1, 4, size=2)
        p_h, p_w = rng.integers(0, 3, size=2)
        if k_h <= h + 2 * p_h and k_w <= w + 2 * p_w:
            cases.append(tuple(int(v) for v in (n, c_in, c_out, h, w)) +
                         ((int(k_h), int(k_w)), (int(s_h), int(s_w)), (int(p_h), int(p_w))))
    return cases


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", random_conv_cases(12, seed=2024))
def test_conv2d_random_shapes_match_loops(rng, case, dtype):
    check_convolution_matches_loops(rng, "conv2d", case, dtype)


# the random cases whose transposed output, (h - 1) s - 2 p + k, is at least 1x1
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", [c for c in random_conv_cases(40, seed=7)
                                  if (c[3] - 1) * c[6][0] - 2 * c[7][0] + c[5][0] >= 1
                                  and (c[4] - 1) * c[6][1] - 2 * c[7][1] + c[5][1] >= 1][:12])
def test_conv_transpose2d_random_shapes_match_loops(rng, case, dtype):
    check_convolution_matches_loops(rng, "conv_transpose2d", case, dtype)


def test_convolutions_chunked_one_image_at_a_time(rng, monkeypatch):
    """With a tiny chunk budget every image is unfolded on its own: the same numbers."""
    im2col_module = importlib.import_module("unet_from_scratch.ops.im2col")
    monkeypatch.setattr(im2col_module, "CHUNK_BYTES", 1)
    assert len(im2col_module.image_chunks(3, 1000)) == 3
    check_convolution_matches_loops(rng, "conv2d", CONV_CASES[2], np.float64)          # batch 3
    check_convolution_matches_loops(rng, "conv_transpose2d", CONV_TRANSPOSE_CASES[4], np.float64)


def test_convolutions_with_a_smaller_last_chunk(rng, monkeypatch):
    """Chunks of 2 + 1 images: a last chunk smaller than the others gives the same numbers."""
    conv2d_module = importlib.import_module("unet_from_scratch.ops.conv2d")
    monkeypatch.setattr(conv2d_module, "image_chunks",
                        lambda n, bytes_per_image, xp, parts: [slice(0, 2), slice(2, n)])
    check_convolution_matches_loops(rng, "conv2d", CONV_CASES[2], np.float64)          # batch 3
    check_convolution_matches_loops(rng, "conv_transpose2d", CONV_TRANSPOSE_CASES[4], np.float64)


def test_image_chunks_cover_the_batch_exactly():
    """At most 4 images of CHUNK_BYTES // 4 per chunk: 10 images in 3 chunks of 3 or 4; for
    2 threads, 4 chunks; never more chunks than images."""
    from unet_from_scratch.ops.im2col import CHUNK_BYTES, image_chunks
    assert image_chunks(10, CHUNK_BYTES // 4) == [slice(0, 3), slice(3, 6), slice(6, 10)]
    assert image_chunks(10, CHUNK_BYTES // 4, parts=2) == [slice(0, 2), slice(2, 5), slice(5, 7),
                                                           slice(7, 10)]
    assert image_chunks(2, 10 * CHUNK_BYTES) == [slice(0, 1), slice(1, 2)]
    assert image_chunks(5, 1) == [slice(0, 5)]
    assert image_chunks(5, 1, parts=2) == [slice(0, 2), slice(2, 5)]
    assert image_chunks(1, 1, parts=4) == [slice(0, 1)]
    assert image_chunks(0, 1, parts=2) == []


@pytest.mark.parametrize("parts", [1, 2, 3, 4])
def test_image_chunks_are_balanced_within_the_budget(parts):
    from unet_from_scratch.ops.im2col import CHUNK_BYTES, image_chunks
    for n in range(1, 40):
        for bytes_per_image in (1, CHUNK_BYTES // 7, CHUNK_BYTES // 3, CHUNK_BYTES, 3 * CHUNK_BYTES):
            chunks = image_chunks(n, bytes_per_image, parts=parts)
            sizes = [chunk.stop - chunk.start for chunk in chunks]
            assert chunks[0].start == 0 and chunks[-1].stop == n, (n, bytes_per_image)
            assert all(a.stop == b.start for a, b in zip(chunks, chunks[1:]))
            assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1
            assert max(sizes) == 1 or max(sizes) * bytes_per_image <= CHUNK_BYTES
            assert len(chunks) % parts == 0 or len(chunks) == n


def test_image_chunks_are_larger_for_gpu_arrays():
    """Any array module other than NumPy (CuPy) gets GPU_CHUNK_BYTES per chunk."""
    from unet_from_scratch.ops.im2col import CHUNK_BYTES, GPU_CHUNK_BYTES, image_chunks
    assert GPU_CHUNK_BYTES > CHUNK_BYTES
    not_numpy = object()
    assert image_chunks(32, 2 * CHUNK_BYTES, np) == [slice(i, i + 1) for i in range(32)]
    assert image_chunks(32, 2 * CHUNK_BYTES, not_numpy) == [slice(0, 32)]
    assert image_chunks(4, GPU_CHUNK_BYTES // 2, not_numpy) == [slice(0, 2), slice(2, 4)]


def test_max_pool_ties_in_overlapping_windows_match_loops():
    """Plateaus of equal values seen by several overlapping windows: both tiers send each
    window's gradient to its first maximum in row-major order."""
    x = np.array([[[[1, 3, 3, 3, 0],
                    [3, 3, 2, 3, 3],
                    [0, 3, 3, 1, 3],
                    [2, 2, 0, 3, 3],
                    [2, 2, 2, 0, 1]]]], dtype=np.float64)
    dy = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    y, cache = ops.max_pool2d_forward(x, 3, 1)
    y_ref, cache_ref = reference.max_pool2d_forward(x, 3, 1)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(ops.max_pool2d_backward(dy, cache),
                                  reference.max_pool2d_backward(dy, cache_ref))
