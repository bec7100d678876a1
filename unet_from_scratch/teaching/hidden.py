"""The grading-time cases of the checkers: other shapes, strides, paddings and seeds than the
visible ones, ties in pooling, empty and full masks.

A lesson's checker cell runs the visible cases, ``check_conv2d_forward(my_conv2d)``; the
same cell of the instructor version also runs ``check_conv2d_forward(my_conv2d, hidden=True)``
between nbgrader's ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` markers, which the
student versions leave out and ``nbgrader autograde`` puts back.  Each function here returns
the cases of one checker in the form its visible cases take; the checker compares with the
package's implementation and names the mistakes as it does for the visible ones.  A few
milliseconds each: the loop references run on small arrays.
"""

import numpy as np


def dice():
    """(name, pred, target) pairs of binary masks."""
    rng = np.random.default_rng(100)
    ring = np.zeros((12, 10))
    ring[2:9, 3:8] = 1
    ring[4:7, 4:7] = 0
    return [("an empty target and a non-empty prediction (grading case)", ring, np.zeros((12, 10))),
            ("a full prediction (grading case)", np.ones((12, 10)), ring),
            ("disjoint masks (grading case)", ring, np.roll(ring, 5, axis=0) * (1 - ring)),
            ("both empty, 3 x 17 (grading case)", np.zeros((3, 17)), np.zeros((3, 17))),
            ("random masks 31 x 23 (grading case)", (rng.random((31, 23)) < 0.2) * 1.0,
             (rng.random((31, 23)) < 0.6) * 1.0)]


def draw_conv_cases(shapes, seed, label=""):
    """(name, x, w, b, stride, padding) for each (x shape, w shape, stride, padding) of
    ``shapes``, drawn in order from ``default_rng(seed)``, float64; ``label`` ends each name."""
    rng = np.random.default_rng(seed)
    cases = []
    for x_shape, w_shape, stride, padding in shapes:
        name = f"x {x_shape}, w {w_shape}, stride {stride}, padding {padding}{label}"
        cases.append((name, rng.standard_normal(x_shape), rng.standard_normal(w_shape),
                      rng.standard_normal(w_shape[:1]), stride, padding))
    return cases


def conv():
    """(name, x, w, b, stride, padding) for the convolution checkers."""
    return draw_conv_cases((((3, 2, 9, 8), (2, 2, 3, 3), 3, 2),
                            ((1, 3, 5, 9), (5, 3, 2, 4), 2, 0),
                            ((2, 1, 7, 7), (1, 1, 5, 5), 1, 2),
                            ((1, 4, 6, 5), (3, 4, 1, 3), 2, 1)), seed=101, label=" (grading case)")


def numerical_gradient():
    """(name, shape, seed, eps)."""
    return [("a 3-D array (grading case)", (2, 3, 2), 30, 1e-5),
            ("one element, eps 1e-4 (grading case)", (1,), 31, 1e-4),
            ("a 4 x 1 column, eps 1e-6 (grading case)", (4, 1), 32, 1e-6)]


def max_pool():
    """(name, x) with ties in many forms: 2 x 2 windows, stride 2."""
    rng = np.random.default_rng(102)
    quad = np.array([[[[3.0, 3.0, 0.0, 7.0, -1.0, -1.0],
                       [3.0, 3.0, 7.0, 7.0, -1.0, -1.0]]]])
    late = np.array([[[[0.0, 4.0, 1.0, 0.0], [4.0, 4.0, 1.0, 1.0]]]])
    return [("four-way and three-way ties, negative values (grading case)", quad),
            ("the first maximum at the second and third positions (grading case)", late),
            ("a constant image: every window a tie (grading case)", np.zeros((2, 2, 4, 6))),
            ("small integers, many ties, odd size 7 x 5 (grading case)",
             rng.integers(0, 3, (2, 3, 7, 5)).astype(float))]


def conv_transpose():
    """(name, x_shape, w_shape, stride), drawn from one seed."""
    return [("2 x 2 kernel, stride 3: gaps between the windows (grading case)", (1, 2, 3, 4), (2, 3, 2, 2), 3),
            ("4 x 4 kernel, stride 2 (grading case)", (2, 1, 3, 2), (1, 2, 4, 4), 2),
            ("1 x 1 kernel, stride 2 (grading case)", (1, 3, 4, 3), (3, 2, 1, 1), 2),
            ("3 x 3 kernel, stride 3, one channel (grading case)", (3, 1, 2, 5), (1, 1, 3, 3), 3)]


def center_crop():
    """(name, x, (height, width))."""
    x = np.random.default_rng(103).standard_normal((1, 2, 8, 11))
    return [("8 x 11 -> 1 x 1 (grading case)", x, (1, 1)),
            ("8 x 11 -> 7 x 2, odd margins (grading case)", x, (7, 2)),
            ("8 x 11 -> 8 x 4, no crop in height (grading case)", x, (8, 4))]


def skip_backward():
    """(name, encoder shape, cropped size, decoder channels), drawn from one seed."""
    return [("encoder (3, 1, 7, 7) cropped to 3 x 3, one channel (grading case)", (3, 1, 7, 7), (3, 3), 1),
            ("encoder (1, 4, 10, 5) cropped to 1 x 4 (grading case)", (1, 4, 10, 5), (1, 4), 2),
            ("encoder (2, 2, 8, 9) cropped to 8 x 2, more decoder channels (grading case)",
             (2, 2, 8, 9), (8, 2), 5)]


def unet_backward():
    """(name, depth, padding, input shape)."""
    return [("depth 2, padding 'same', 3 images 8 x 12 (grading case)", 2, "same", (3, 1, 8, 12)),
            ("depth 1, padding 'valid', 2 images 20 x 24 (grading case)", 1, "valid", (2, 1, 20, 24))]


def unet_output_size():
    """(size, depth) pairs that fit the valid U-Net."""
    return [(20, 1), (64, 1), (76, 2), (100, 3), (252, 4), (444, 5)]


def soft_dice():
    """(name, shape, fraction of targets that are 1, logit scale), drawn from one seed."""
    return [("all targets 1 (grading case)", (2, 1, 5, 4), 1.0, 2.0),
            ("one image 3 x 3 (grading case)", (1, 1, 3, 3), 0.5, 1.0),
            ("empty targets, large logits (grading case)", (4, 1, 6, 6), 0.0, 6.0)]


def adam():
    """(name, shape, steps, lr, beta1, beta2, eps), drawn from one seed."""
    return [("lr 0.1, betas (0.5, 0.9), eps 1e-6 (grading case)", (7,), 5, 0.1, 0.5, 0.9, 1e-6),
            ("lr 1e-3, betas (0.8, 0.99), eps 1e-4 (grading case)", (2, 2, 3), 4, 1e-3, 0.8, 0.99, 1e-4)]


def contributing_windows():
    """(kernel, stride, padding, height)."""
    return [(4, 2, 1, 8), (1, 1, 0, 4), (3, 3, 0, 9), (7, 4, 3, 13), (2, 1, 1, 5)]


def rle():
    """(name, mask) of uint8 binary masks."""
    rng = np.random.default_rng(104)
    across = np.zeros((4, 3), np.uint8)
    across[2:, 0] = 1
    across[:2, 1] = 1                   # one run from the bottom of column 0 into column 1
    last = np.zeros((5, 6), np.uint8)
    last[-1, -1] = 1
    return [("a run that continues into the next column (grading case)", across),
            ("only the last pixel (grading case)", last),
            ("an empty 4 x 7 mask (grading case)", np.zeros((4, 7), np.uint8)),
            ("one row (grading case)", np.array([[1, 1, 0, 1, 0, 0, 1]], np.uint8)),
            ("a random mask 20 x 30 (grading case)", (rng.random((20, 30)) < 0.5).astype(np.uint8))]


def tile_plan():
    """(name, length, tile_in, margin, period, None): no stitching in the grading cases."""
    return [("depth 3 (margin 88, period 8): 300 pixels, tiles of 188 (grading case)", 300, 188, 88, 8, None),
            ("depth 4, the paper's 572 -> 388, on 512 pixels (grading case)", 512, 572, 184, 16, None),
            ("the image exactly one output tile long (grading case)", 20, 36, 16, 2, None),
            ("an output tile (18) that is no multiple of the period 4 (grading case)", 61, 58, 40, 4, None),
            ("depth 1, many tiles: 97 pixels, tiles of 24 (grading case)", 97, 24, 16, 2, None)]


def he_normal_init():
    """(name, shape): conv weights (c_O, c_I, k_h, k_w) large enough for a standard deviation
    within a few per cent, other kernel sizes than the visible 3 x 3."""
    return [("a 5 x 5 kernel, w (16, 64, 5, 5) (grading case)", (16, 64, 5, 5)),
            ("a 1 x 1 kernel, w (96, 128, 1, 1) (grading case)", (96, 128, 1, 1)),
            ("a 7 x 3 kernel, w (8, 40, 7, 3) (grading case)", (8, 40, 7, 3))]


def batch_norm_forward():
    """(name, x shape, training, momentum, eps), drawn from one seed."""
    return [("training, one image (1, 2, 3, 4), momentum 0.9 (grading case)", (1, 2, 3, 4), True, 0.9, 1e-5),
            ("training, 1 x 1 maps (6, 3, 1, 1), momentum 0.01, eps 1e-2 (grading case)",
             (6, 3, 1, 1), True, 0.01, 1e-2),
            ("training, one channel (3, 1, 5, 2), momentum 1 (grading case)", (3, 1, 5, 2), True, 1.0, 1e-5),
            ("evaluation, (2, 4, 3, 3), eps 0.5 (grading case)", (2, 4, 3, 3), False, 0.9, 0.5)]


def batch_norm_backward():
    """(name, x shape, eps), drawn from one seed."""
    return [("one image (1, 3, 4, 5) (grading case)", (1, 3, 4, 5), 1e-5),
            ("1 x 1 maps (7, 2, 1, 1), eps 0.1 (grading case)", (7, 2, 1, 1), 0.1),
            ("one channel (2, 1, 6, 3) (grading case)", (2, 1, 6, 3), 1e-3)]


def dropout():
    """(name, x shape, p, training), drawn from one seed."""
    return [("p 0 in training: nothing dropped (grading case)", (2, 3, 4, 4), 0.0, True),
            ("p 0.9, x (3, 2, 6, 5) (grading case)", (3, 2, 6, 5), 0.9, True),
            ("p 0.05 on a 2-D x (9, 11) (grading case)", (9, 11), 0.05, True),
            ("evaluation, p 0.8 (grading case)", (4, 2, 3, 3), 0.8, False)]
