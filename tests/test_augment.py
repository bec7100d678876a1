"""Augmentation's properties: masks stay binary, shapes and dtypes are kept, zero strength is
the identity, a seed fixes the output, image and mask move together, flips and quarter turns
are exactly NumPy's, an elastic field of sigma 0 changes nothing."""

import numpy as np
import pytest
from scipy.ndimage import binary_dilation, binary_erosion

from unet_from_scratch.data.augment import (Augmenter, brightness_contrast, elastic, flip,
                                            random_displacement, rot90, shift_scale)

OFF = dict(flip=False, rotate=False, shift=0, scale=0, brightness=0, contrast=0,
           elastic_sigma=0)
GEOMETRY_ONLY = dict(brightness=0, contrast=0)  # flips, turns, shift, scale, elastic
STRONG = dict(shift=0.1, scale=0.2, elastic_sigma=5.0, brightness=0.2, contrast=0.3)


def squares(n=6, shape=(24, 32), channel_axis=True, rng=None):
    """Images of a bright square on a darker, textured background, and masks of that square
    (0/1, float32); each image's square at its own place. Shape (n, 1, H, W) or (n, H, W)."""
    rng = np.random.default_rng(0) if rng is None else rng
    height, width = shape
    masks = np.zeros((n, height, width), dtype=np.float32)
    for i in range(n):
        y, x = rng.integers(0, height - 8), rng.integers(0, width - 8)
        masks[i, y:y + 8, x:x + 8] = 1
    background = 0.1 + 0.2 * rng.random((n, height, width))
    images = np.where(masks == 1, 0.9, background).astype(np.float32)
    if channel_axis:
        return images[:, None], masks[:, None]
    return images, masks


@pytest.mark.parametrize("channel_axis", [True, False])
@pytest.mark.parametrize("shape", [(24, 32), (20, 20), (17, 9)])
def test_shapes_dtypes_and_binary_masks_are_kept(channel_axis, shape):
    images, masks = squares(shape=shape, channel_axis=channel_axis)
    for mask_dtype in (np.float32, np.uint8, bool):
        out_images, out_masks = Augmenter(**STRONG)(images, masks.astype(mask_dtype),
                                                    np.random.default_rng(1))
        assert out_images.shape == images.shape and out_images.dtype == np.float32
        assert out_masks.shape == masks.shape and out_masks.dtype == mask_dtype
        assert set(np.unique(out_masks.astype(np.float64))) <= {0.0, 1.0}
        assert out_images.min() >= 0 and out_images.max() <= 1
        assert np.isfinite(out_images).all()


def test_the_inputs_are_not_modified():
    images, masks = squares()
    before = images.copy(), masks.copy()
    Augmenter(**STRONG)(images, masks, np.random.default_rng(0))
    np.testing.assert_array_equal(images, before[0])
    np.testing.assert_array_equal(masks, before[1])


@pytest.mark.parametrize("settings", [OFF, dict(probability=0.0), dict(STRONG, probability=0)])
def test_zero_strength_is_exactly_the_identity(settings):
    images, masks = squares()
    out_images, out_masks = Augmenter(**settings)(images, masks, np.random.default_rng(3))
    np.testing.assert_array_equal(out_images, images)
    np.testing.assert_array_equal(out_masks, masks)
    assert out_images is not images and out_masks is not masks  # copies, all the same


def test_same_seed_same_output_different_seeds_differ():
    images, masks = squares()
    augment = Augmenter(**STRONG)
    first = augment(images, masks, np.random.default_rng(7))
    again = augment(images, masks, np.random.default_rng(7))
    from_int = augment(images, masks, 7)
    other = augment(images, masks, np.random.default_rng(8))
    for a, b, c in zip(first, again, from_int):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    assert not np.array_equal(first[0], other[0])
    assert not np.array_equal(first[1], other[1])


def test_each_image_gets_its_own_draws():
    images, masks = squares()
    same = np.repeat(images[:1], 6, axis=0), np.repeat(masks[:1], 6, axis=0)
    out_images, _ = Augmenter(**STRONG)(*same, np.random.default_rng(0))
    assert len({out_images[i].tobytes() for i in range(6)}) == 6


def test_switching_one_transform_off_keeps_the_others_draws():
    """Every image draws the same numbers whatever is on: with and without brightness, the
    geometry (and so the mask) is the same."""
    images, masks = squares()
    with_intensity = Augmenter(**STRONG)(images, masks, np.random.default_rng(5))
    without = Augmenter(**dict(STRONG, brightness=0, contrast=0))(images, masks,
                                                                  np.random.default_rng(5))
    np.testing.assert_array_equal(with_intensity[1], without[1])


@pytest.mark.parametrize("settings", [
    GEOMETRY_ONLY,
    dict(GEOMETRY_ONLY, shift=0.15, scale=0.25),
    dict(GEOMETRY_ONLY, elastic_sigma=4.0, shift=0, scale=0),
    dict(GEOMETRY_ONLY, elastic_sigma=3.0, elastic_grid=5),
])
@pytest.mark.parametrize("shape", [(24, 32), (28, 28)])
def test_image_and_mask_move_together(settings, shape):
    """The bright square is where the mask is: after any geometric augmentation, the image
    thresholded at 0.5 equals the mask except on the mask's boundary (where bilinear and
    nearest-neighbour sampling may round to different sides; near a corner, also diagonally)."""
    images, masks = squares(n=8, shape=shape, rng=np.random.default_rng(11))
    out_images, out_masks = Augmenter(**settings)(images, masks, np.random.default_rng(2))
    moved = 0
    for image, mask, original in zip(out_images[:, 0], out_masks[:, 0] > 0, masks[:, 0]):
        ring = np.ones((3, 3), dtype=bool)  # the 8 neighbours
        boundary = binary_dilation(mask, ring) & ~binary_erosion(mask, ring, border_value=1)
        disagree = (image > 0.5) != mask
        assert not (disagree & ~boundary).any()
        assert disagree.sum() <= 0.25 * boundary.sum()
        assert mask.any()
        moved += not np.array_equal(mask, original > 0)
    assert moved >= 6  # the augmentation did something


@pytest.mark.parametrize("horizontal, vertical, axes", [
    (True, False, (-1,)), (False, True, (-2,)), (True, True, (-2, -1)), (False, False, ())])
def test_flip_is_np_flip(horizontal, vertical, axes):
    images, masks = squares()
    out_images, out_masks = flip(images, masks, horizontal=horizontal, vertical=vertical)
    np.testing.assert_array_equal(out_images, np.flip(images, axes))
    np.testing.assert_array_equal(out_masks, np.flip(masks, axes))


@pytest.mark.parametrize("k", [0, 1, 2, 3, -1, 5])
def test_rot90_is_np_rot90_on_square_images(k):
    images, masks = squares(shape=(20, 20))
    out_images, out_masks = rot90(images, masks, k)
    np.testing.assert_array_equal(out_images, np.rot90(images, k, axes=(-2, -1)))
    np.testing.assert_array_equal(out_masks, np.rot90(masks, k, axes=(-2, -1)))


def test_rot90_on_oblong_images_only_half_turns():
    images, masks = squares(shape=(24, 32))
    out_images, _ = rot90(images, masks, 2)
    np.testing.assert_array_equal(out_images, images[..., ::-1, ::-1])
    with pytest.raises(ValueError, match=r"rot90: a quarter turn \(k=1\) needs square images, "
                                         r"got H x W = 24 x 32"):
        rot90(images, masks, 1)


def test_flips_and_turns_alone_give_exact_symmetries():
    """With only flips and rotations on, each output is one of the 8 (square) or 4 (oblong)
    symmetries of its input, exactly, and the mask went the same way as the image."""
    for shape, count in (((16, 16), 8), ((12, 18), 4)):
        images, masks = squares(n=40, shape=shape, channel_axis=False,
                                rng=np.random.default_rng(4))
        out_images, out_masks = Augmenter(**dict(OFF, flip=True, rotate=True))(
            images, masks, np.random.default_rng(0))
        seen = set()
        for image, mask, new_image, new_mask in zip(images, masks, out_images, out_masks):
            found = [(f, k) for f in (False, True) for k in range(4)
                     if (k % 2 == 0 or shape[0] == shape[1])
                     and np.array_equal(np.rot90(np.flip(image, -1) if f else image, k),
                                        new_image)]
            assert found, "not a symmetry of the input"
            f, k = found[0]
            np.testing.assert_array_equal(np.rot90(np.flip(mask, -1) if f else mask, k),
                                          new_mask)
            seen.add(found[0])
        assert len(seen) == count


def test_elastic_with_sigma_zero_is_the_identity():
    images, masks = squares()
    field = random_displacement(images.shape[-2:], 0.0, 3, np.random.default_rng(0))
    assert field.shape == (2, 24, 32) and not field.any()
    out_images, out_masks = elastic(images, masks, field)
    np.testing.assert_array_equal(out_images, images)
    np.testing.assert_array_equal(out_masks, masks)


def test_elastic_field_is_smooth_with_the_requested_spread():
    rng = np.random.default_rng(0)
    fields = np.stack([random_displacement((64, 64), 5.0, 3, rng) for _ in range(200)])
    # The lattice values are N(0, 25); the upsampled field at the centre pixel, which sits
    # on the middle lattice point, keeps that spread (bicubic passes through its points).
    assert 4.0 < fields[:, :, 32, 32].std() < 6.0
    # Smooth: neighbouring pixels move alike, a small fraction of sigma apart.
    steps = np.abs(np.concatenate([np.diff(fields, axis=-1).ravel(),
                                   np.diff(fields, axis=-2).ravel()]))
    assert steps.mean() < 0.05 * 5.0 and steps.max() < 0.5 * 5.0
    same = random_displacement((64, 64), 5.0, 3, 42), random_displacement((64, 64), 5.0, 3, 42)
    np.testing.assert_array_equal(*same)


def test_a_constant_displacement_is_a_shift():
    images, masks = squares(shape=(20, 24))
    field = np.zeros((2, 20, 24))
    field[1] = -2  # read two columns to the left: the content moves right by 2
    out_images, out_masks = elastic(images, masks, field)
    np.testing.assert_array_equal(out_images[..., 2:], images[..., :-2])
    np.testing.assert_array_equal(out_masks[..., 2:], masks[..., :-2])
    shifted = shift_scale(images, masks, shift=(0, 2))
    np.testing.assert_array_equal(shifted[0], out_images)
    np.testing.assert_array_equal(shifted[1], out_masks)


def test_shift_scale_moves_and_grows_the_square():
    images, masks = squares(n=1, shape=(40, 40), channel_axis=False)
    masks[:] = 0
    masks[0, 16:24, 16:24] = 1  # an 8 x 8 square around the centre (19.5, 19.5)
    _, grown = shift_scale(images, masks, scale=1.5)
    assert grown.sum() == 12 * 12
    _, moved = shift_scale(images, masks, shift=(3, -5))
    np.testing.assert_array_equal(np.argwhere(moved[0]).min(axis=0), [19, 11])
    out_images, out_masks = shift_scale(images, masks)  # no change
    np.testing.assert_array_equal(out_images, images)
    np.testing.assert_array_equal(out_masks, masks)


def test_brightness_and_contrast_touch_images_only_and_clip():
    images, masks = squares()
    np.testing.assert_array_equal(brightness_contrast(images), images)
    brighter = brightness_contrast(images, brightness=0.05)
    np.testing.assert_allclose(brighter, np.clip(images + 0.05, 0, 1), atol=1e-6)
    flat = brightness_contrast(images, contrast=0.0)  # every pixel becomes its image's mean
    np.testing.assert_allclose(flat, np.broadcast_to(images.mean(axis=(-2, -1), keepdims=True),
                                                     images.shape), atol=1e-6)
    saturated = brightness_contrast(images, brightness=0.5, contrast=3.0)
    assert saturated.dtype == np.float32 and saturated.min() >= 0 and saturated.max() == 1
    # In the pipeline the masks are untouched by intensity changes.
    _, out_masks = Augmenter(**dict(OFF, brightness=0.3, contrast=0.3))(
        images, masks, np.random.default_rng(0))
    np.testing.assert_array_equal(out_masks, masks)


def test_works_as_fits_augment_hook():
    from unet_from_scratch.model import UNet
    from unet_from_scratch.train import fit

    images, masks = squares(n=4, shape=(16, 16))
    model = UNet(in_channels=1, out_channels=1, base_channels=2, depth=1)
    history = fit(model, (images, masks), (images[:2], masks[:2]), epochs=1, batch_size=2,
                  augment=Augmenter(), progress=False, log=lambda *args: None)
    assert len(history["loss"]) == 1 and np.isfinite(history["loss"][0])


def test_bad_input_is_refused_naming_the_function():
    images, masks = squares()
    rng = np.random.default_rng(0)
    augment = Augmenter()
    with pytest.raises(ValueError, match=r"Augmenter: masks must be 0 and 1, got other values "
                                         r"such as \[255.0\]"):
        augment(images, masks * 255, rng)
    with pytest.raises(ValueError, match=r"Augmenter: images and masks must have the same "
                                         r"layout .* got images.shape=\(6, 1, 24, 32\), "
                                         r"masks.shape=\(6, 24, 32\)"):
        augment(images, masks[:, 0], rng)
    with pytest.raises(ValueError, match=r"Augmenter: images must have shape \(N, H, W\) or "
                                         r"\(N, C, H, W\), got images.shape=\(24, 32\)"):
        augment(images[0, 0], masks[0, 0], rng)
    with pytest.raises(TypeError, match=r"Augmenter: images must have a float dtype, got uint8"):
        augment((images * 255).astype(np.uint8), masks, rng)
    with pytest.raises(TypeError, match=r"Augmenter: rng must be a numpy.random.Generator or "
                                        r"an int seed >= 0, got None"):
        augment(images, masks, None)
    with pytest.raises(TypeError, match=r"Augmenter: images must be a NumPy array"):
        augment(images.tolist(), masks, rng)
    with pytest.raises(ValueError, match=r"Augmenter: shift must be a number in \[0, 1\), "
                                         r"got 1.5"):
        Augmenter(shift=1.5)
    with pytest.raises(ValueError, match=r"Augmenter: elastic_sigma must be a finite number >= 0, got -1.0"):
        Augmenter(elastic_sigma=-1)
    with pytest.raises(ValueError, match=r"Augmenter: the elastic grid must be an int >= 2, "
                                         r"got 1"):
        Augmenter(elastic_grid=1)
    with pytest.raises(TypeError, match=r"Augmenter: flip must be True or False, got 1"):
        Augmenter(flip=1)
    with pytest.raises(ValueError, match=r"elastic: displacement must be a real array of shape "
                                         r"\(2, H, W\) = \(2, 24, 32\), got shape \(24, 32\)"):
        elastic(images, masks, np.zeros((24, 32)))
    with pytest.raises(ValueError, match=r"shift_scale: scale must be a finite number > 0, got 0.0"):
        shift_scale(images, masks, scale=0)


def test_arrays_in_any_memory_layout():
    images, masks = squares(shape=(20, 20), channel_axis=False)
    transposed = images.transpose(0, 2, 1), masks.transpose(0, 2, 1)  # not C-contiguous
    out = shift_scale(*transposed, shift=(0, 2))
    expected = shift_scale(*(np.ascontiguousarray(a) for a in transposed), shift=(0, 2))
    np.testing.assert_array_equal(out[0], expected[0])
    np.testing.assert_array_equal(out[1], expected[1])
    assert out[0].any() and out[1].any()
