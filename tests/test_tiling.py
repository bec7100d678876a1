"""Overlap-tile prediction: tile geometry, tiles equal the whole image, any image size."""

import numpy as np
import pytest

from unet_from_scratch import metrics, ops, tiling, train
from unet_from_scratch.data.synthetic import make_synthetic_ultrasound
from unet_from_scratch.model import UNet


def random_images(n, height, width, seed=0):
    return np.random.default_rng(seed).random((n, height, width)).astype(np.float32)


def whole_image_prediction(model, images, margin):
    """The definition: mirror-pad by half the margin, one forward pass, sigmoid."""
    half = margin // 2
    x = np.pad(images, ((0, 0), (half, half), (half, half)), mode="reflect")[:, None]
    model.eval()
    probabilities, _ = ops.sigmoid_forward(model(x))
    return probabilities[:, 0]


# --- geometry ------------------------------------------------------------------------------

@pytest.mark.parametrize("depth, geometry", [(1, (18, 2, 16)), (2, (44, 4, 40)),
                                             (3, (92, 8, 88)), (4, (188, 16, 184))])
def test_network_geometry_matches_the_model(depth, geometry):
    model = UNet(base_channels=1, depth=depth, padding="valid")
    assert tiling.network_geometry(model) == geometry
    first, period, margin = geometry
    for length in (first, first + period, first + 5 * period):
        assert model.output_size(length, length) == (length - margin,) * 2
    assert model.output_length(first + 1) is None
    assert tiling.network_geometry(UNet(base_channels=1, depth=depth)) == (
        2 ** depth, 2 ** depth, 0)


def test_tile_starts_cover_the_image_and_the_last_tile_is_flush():
    for length in range(1, 120):
        for tile_out, stride in ((4, 4), (12, 8), (20, 16), (52, 48)):
            starts = tiling.tile_starts(length, tile_out, stride)
            assert starts[0] == 0 and np.all(np.diff(starts) == stride)
            assert starts[-1] + tile_out >= length                    # the image is covered
            assert len(starts) == 1 or starts[-2] + tile_out < length  # no tile too many
    with pytest.raises(ValueError, match="stride must be in"):
        tiling.tile_starts(10, 4, 8)


def test_the_chosen_tiles_are_sizes_the_network_takes_at_multiples_of_the_period():
    model = UNet(base_channels=1, depth=3, padding="valid")
    geometry = tiling.network_geometry(model)
    for length in (1, 5, 28, 37, 50, 101, 420, 580, 1000):
        for tile in (None, 100, 150, 300):
            rows = tiling.plan_axis(geometry, length, tiling.choose_tile(geometry, length, tile))
            assert model.output_length(rows.tile_in) == rows.tile_out
            assert np.all(rows.starts % geometry.period == 0)     # pooling grids line up
            assert rows.pad_before == geometry.margin // 2
            # the padded image holds exactly the last tile's input
            assert rows.pad_before + length + rows.pad_after == rows.starts[-1] + rows.tile_in
            if tile is not None:
                assert rows.tile_in <= max(tile, tiling.smallest_tile(geometry))
            else:
                assert rows.tile_in <= tiling.DEFAULT_MAX_TILE


def test_without_a_tile_a_small_image_is_one_tile_and_a_large_one_balanced_tiles():
    geometry = tiling.network_geometry(UNet(base_channels=1, depth=4, padding="valid"))
    assert tiling.choose_tile(geometry, 300) == 492               # one tile: output 308 >= 300
    rows = tiling.plan_axis(geometry, 512, tiling.choose_tile(geometry, 512))
    assert len(rows.starts) == 2 and rows.tile_in == 444          # not 572 + a mostly empty one
    assert tiling.choose_tile(geometry, 512, tile=572) == 572
    assert tiling.choose_tile(geometry, 100, tile=572) == 284     # no bigger than needed


# --- tiles equal the whole image -------------------------------------------------------------

@pytest.mark.parametrize("depth, size, tile", [
    (2, (52, 36), 48),            # output tiles of 8 = two periods
    (2, (52, 36), (56, 44)),      # different tiles along the two axes
    (3, (28, 44), 100),           # output tiles of 12, stride 8: neighbours overlap by 4
])
def test_overlap_tile_equals_the_whole_image_prediction(depth, size, tile):
    """The key property: a valid network has no border effects, so where the mirror-padded
    image is a size the network takes, small tiles give the whole-image prediction."""
    model = UNet(base_channels=2, depth=depth, padding="valid", seed=3)
    geometry = tiling.network_geometry(model)
    images = random_images(3, *size)
    whole = whole_image_prediction(model, images, geometry.margin)
    assert whole.shape == images.shape
    plans = tiling.plan(model, *size, tile)
    assert all(len(p.starts) >= 3 for p in plans)
    tiled = train.predict(model, images, batch_size=4, tile=tile)
    assert tiled.shape == images.shape and tiled.dtype == np.float32
    np.testing.assert_allclose(tiled, whole, rtol=1e-5, atol=1e-6)
    # without a tile the one tile is the whole image
    np.testing.assert_allclose(train.predict(model, images), whole, rtol=1e-5, atol=1e-6)


def test_a_shift_by_the_period_moves_the_output_exactly_and_a_shift_by_one_does_not():
    """Why tiles start at multiples of 2**depth: the max pools' grid must line up."""
    model = UNet(base_channels=2, depth=2, padding="valid", seed=1).eval()
    x = random_images(1, 44, 52)[:, None]
    out = model(x)[0, 0]                                   # 4 x 12
    for shift, equal in ((4, True), (8, True), (1, False), (2, False)):
        shifted = model(x[:, :, :, shift:shift + 48])[0, 0]      # 4 x 8
        close = np.allclose(shifted, out[:, shift:shift + 8], rtol=1e-5, atol=1e-6)
        assert close == equal, shift


# --- any size, either padding --------------------------------------------------------------

@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("size", [(50, 70), (37, 101), (3, 5)])
def test_any_image_size_gives_probabilities_at_the_input_size(padding, size):
    model = UNet(base_channels=2, depth=2, padding=padding, seed=0)
    images = random_images(3, *size)
    probabilities = train.predict(model, images, batch_size=2, tile=48)
    assert probabilities.shape == images.shape and probabilities.dtype == np.float32
    assert probabilities.min() >= 0 and probabilities.max() <= 1
    one = train.predict(model, images[1:2, None], tile=48)               # batch of 1
    assert one.shape == (1, *size)
    np.testing.assert_allclose(one[0], probabilities[1], rtol=1e-5, atol=1e-6)


def test_same_padding_runs_a_fitting_image_whole_and_pads_another_after_its_end():
    model = UNet(base_channels=2, depth=2, seed=0).eval()
    images = random_images(2, 48, 36)
    direct, _ = ops.sigmoid_forward(model(images[:, None]))
    np.testing.assert_array_equal(train.predict(model, images), direct[:, 0])
    odd = images[:, :45, :33]
    padded = np.pad(odd, ((0, 0), (0, 3), (0, 3)), mode="reflect")[:, None]
    expected, _ = ops.sigmoid_forward(model(padded))
    np.testing.assert_allclose(train.predict(model, odd), expected[:, 0, :45, :33],
                               rtol=1e-5, atol=1e-6)


def test_tiles_from_all_images_share_the_batches(monkeypatch):
    """The loops run over batches of tiles: one forward pass per batch, never per pixel."""
    model = UNet(base_channels=2, depth=2, padding="valid", seed=0)
    calls = []
    forward = model.forward
    monkeypatch.setattr(model, "forward", lambda x: calls.append(x.shape) or forward(x))
    probabilities = train.predict(model, random_images(3, 50, 70), batch_size=5, tile=60)
    rows, cols = tiling.plan(model, 50, 70, 60)
    assert (len(rows.starts), len(cols.starts)) == (3, 4)          # 12 tiles per image
    assert [shape[0] for shape in calls] == [5] * 7 + [1]          # 36 tiles, batches of 5
    assert all(shape[2:] == (60, 60) for shape in calls)
    assert probabilities.shape == (3, 50, 70)


def test_bad_tiles_are_refused():
    model = UNet(base_channels=2, depth=2, padding="valid")
    images = random_images(1, 20, 20)
    with pytest.raises(ValueError, match=r"predict: tile 40 is smaller than the smallest input "
                                         r"tile this network takes .* 44"):
        train.predict(model, images, tile=40)
    for tile in ((48,), (48, 48, 48), 48.0, "48", (48, True)):
        for network in (model, UNet(base_channels=2, depth=2)):    # "same" ignores a good one
            with pytest.raises(ValueError, match=r"predict: tile must be an int or a pair"):
                train.predict(network, images, tile=tile)


# --- training and scoring a valid network ----------------------------------------------------

def test_a_valid_network_trains_on_cropped_masks_and_is_scored_at_full_size():
    model = UNet(base_channels=4, depth=2, padding="valid", seed=0)
    train_set = make_synthetic_ultrasound(8, 60, seed=1)          # output 20 x 20
    val_images, val_masks = make_synthetic_ultrasound(3, 50, seed=2)   # not a size it takes
    lines = []
    history = train.fit(model, train_set, (val_images, val_masks), epochs=2, batch_size=4,
                        progress=False, log=lines.append)
    assert history["epoch"] == [1, 2] and all(np.isfinite(history["loss"]))
    probabilities = train.predict(model, val_images)
    assert probabilities.shape == val_masks.shape == (3, 50, 50)
    dice = metrics.mean_dice(probabilities, val_masks)
    assert history["val_dice"][-1] == pytest.approx(dice)
    assert train.evaluate_dice(model, val_images, val_masks) == pytest.approx(dice)
    with pytest.raises(ValueError, match=r"evaluate_dice: masks must match the images"):
        train.evaluate_dice(model, val_images, val_masks[:, 5:])
