"""The shared validators of ``unet_from_scratch.checks``: what each accepts, what it returns,
and the one-line message for what it refuses."""

import numpy as np
import pytest

from unet_from_scratch import checks


@pytest.mark.parametrize("value, expected", [
    (3, True), (np.int64(3), True), (np.uint8(0), True), (-2, True),
    (True, False), (np.bool_(True), False), (3.0, False), ("3", False), (None, False),
])
def test_is_int(value, expected):
    assert checks.is_int(value) is expected


@pytest.mark.parametrize("value, expected", [
    (3, True), (2.5, True), (np.float32(1), True), (float("nan"), True),
    (True, False), ("1", False), (None, False), (np.zeros(1), False),
])
def test_is_real(value, expected):
    assert checks.is_real(value) is expected


def test_check_int_returns_a_plain_int_and_names_the_option():
    assert type(checks.check_int("UNet", "depth", np.int32(4))) is int
    with pytest.raises(TypeError, match=r"^UNet: depth must be an int, got 2.5$"):
        checks.check_int("UNet", "depth", 2.5)
    with pytest.raises(ValueError, match=r"^UNet: seed must be an int >= 0, got -1$"):
        checks.check_int("UNet", "seed", -1, minimum=0)


@pytest.mark.parametrize("value", [0, -1, 2.5, True, "3", None])
def test_check_count_refuses_anything_but_an_int_of_at_least_1(value):
    with pytest.raises(ValueError, match=rf"^fit: epochs must be an int >= 1, got {value!r}$"):
        checks.check_count("fit", "epochs", value)


def test_check_count_accepts_numpy_ints():
    assert checks.check_count("fit", "epochs", np.int64(3)) == 3


@pytest.mark.parametrize("check, bad, message", [
    (checks.check_positive, 0, "must be a finite number > 0, got 0.0"),
    (checks.check_positive, -1e-3, "must be a finite number > 0, got -0.001"),
    (checks.check_positive, float("inf"), "must be a finite number > 0, got inf"),
    (checks.check_positive, float("nan"), "must be a finite number > 0, got nan"),
    (checks.check_non_negative, -0.5, "must be a finite number >= 0, got -0.5"),
    (checks.check_non_negative, float("nan"), "must be a finite number >= 0, got nan"),
    (checks.check_finite, float("inf"), "must be a finite number, got inf"),
])
def test_number_checks_refuse_values_out_of_bounds(check, bad, message):
    with pytest.raises(ValueError, match=rf"^Adam: lr {message}$"):
        check("Adam", "lr", bad)


@pytest.mark.parametrize("check", [checks.check_number, checks.check_finite, checks.check_positive,
                                   checks.check_non_negative])
def test_number_checks_refuse_other_types_and_return_python_floats(check):
    with pytest.raises(TypeError, match=r"^SGD: lr must be a real number, got str$"):
        check("SGD", "lr", "0.1")
    with pytest.raises(TypeError, match=r"got bool$"):
        check("SGD", "lr", True)
    value = check("SGD", "lr", np.float32(0.5))
    assert type(value) is float and value == 0.5
    assert check("SGD", "lr", 0 if check is checks.check_non_negative else 1) in (0.0, 1.0)


def test_check_non_negative_accepts_zero():
    assert checks.check_non_negative("Adam", "weight_decay", 0) == 0.0


@pytest.mark.parametrize("value", [(0, 4), (4,), [4, 5, 6], 4, (4.0, 5), (True, 5), "45"])
def test_check_height_width_refuses_anything_but_two_ints_of_at_least_1(value):
    with pytest.raises(ValueError, match=r"^resize: shape must be \(H, W\), two ints >= 1, got "):
        checks.check_height_width("resize", "shape", value)


def test_check_height_width_returns_a_tuple_of_ints():
    assert checks.check_height_width("resize", "shape", [np.int64(3), 4]) == (3, 4)


def test_images_beyond_float32_are_refused_before_they_become_inf():
    with pytest.raises(ValueError, match=r"^predict: images hold values beyond float32's range"):
        checks.check_images("predict", "images", np.full((1, 4, 4), 1e39))
    checks.check_images("predict", "images", np.full((1, 4, 4), 1e30))      # fits in float32


def test_fitting_sizes_is_computed_not_searched():
    """The smallest size of a deep network at once (a search would take minutes), and the same
    answer as a search for shallow ones."""
    from unet_from_scratch.model import fitting_sizes, output_length
    for depth in range(1, 6):
        for padding in ("same", "valid"):
            first = next(s for s in range(1, 10_000) if output_length(s, depth, padding))
            assert fitting_sizes(depth, padding) == (first, 2 ** depth)
    assert fitting_sizes(40, "same") == (2 ** 40, 2 ** 40)
