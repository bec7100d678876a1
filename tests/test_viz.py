"""Figures: each function writes a PNG that reads back with the expected size, leaves the
user's matplotlib backend and pyplot alone, and refuses bad input naming itself."""

import matplotlib
import matplotlib.image
import numpy as np
import pytest

from unet_from_scratch import viz
from unet_from_scratch.viz import (plot_augmentations, plot_examples, plot_history,
                                  plot_predictions)


@pytest.fixture
def batch(rng):
    """Six small images (N, H, W) = (6, 24, 32): three with a square "nerve", three without,
    and probabilities that find the first two nerves and invent one in an empty image."""
    images = rng.random((6, 24, 32)).astype(np.float32)
    masks = np.zeros_like(images)
    masks[[0, 2, 4], 8:16, 10:20] = 1
    probabilities = np.zeros_like(images)
    probabilities[[0, 2], 8:16, 10:20] = 0.9
    probabilities[1, 0:6, 0:6] = 0.8  # touches the border
    return images, masks, probabilities


@pytest.fixture
def drawn(monkeypatch):
    """The figures drawn, in a list, instead of being rendered and written (which is slow)."""
    figures = []
    monkeypatch.setattr(viz, "_save", lambda fig, path, dpi=None: figures.append(fig) or path)
    return figures


def history(epochs=5):
    return {"epoch": list(range(1, epochs + 1)),
            "loss": [1 / e for e in range(1, epochs + 1)],
            "val_dice": [0.5 + 0.05 * e for e in range(epochs)],
            "seconds": [0.1] * epochs}


def read_png(path):
    """The written file as an (H, W, channels) array; it must exist and not be empty."""
    assert path.stat().st_size > 1000
    return matplotlib.image.imread(path)


def test_plot_history_writes_a_png_of_the_stated_size(tmp_path):
    path = tmp_path / "figures" / "history.png"  # the folder does not exist yet
    assert plot_history(history(), path, baseline_dice=0.3, title="run 1") == path
    assert read_png(path).shape[:2] == (350, 900)


def test_plot_history_with_one_epoch_and_no_baseline(tmp_path, drawn):
    plot_history(history(1), tmp_path / "h.png")
    dice_ax = drawn[0].axes[1]
    assert [line.get_label() for line in dice_ax.get_lines()][0] == "U-Net (best 0.500, epoch 1)"
    assert not any(line.get_label().startswith("Otsu") for line in dice_ax.get_lines())


def test_plot_history_draws_the_baseline_with_its_label(tmp_path, drawn):
    plot_history(history(), tmp_path / "h.png", baseline_dice=0.25)
    dice_ax = drawn[0].axes[1]
    labels = [line.get_label() for line in dice_ax.get_lines()]
    baseline = [line for line in dice_ax.get_lines() if line.get_label().startswith(
        "Otsu threshold baseline")]
    assert len(baseline) == 1, labels
    assert baseline[0].get_linestyle() == "--"
    assert tuple(baseline[0].get_ydata()) == (0.25, 0.25)


def test_plot_predictions_writes_a_grid(tmp_path, batch):
    images, masks, probabilities = batch
    path = plot_predictions(images, masks, probabilities, tmp_path / "p.png", n=4)
    height, width = read_png(path).shape[:2]
    # One row of four panels 2.1 inches wide at 80 dpi: 672 pixels; less tall than wide.
    assert width == 672 and 150 < height < 400


def test_plot_predictions_shows_both_empty_and_non_empty_masks(batch):
    images, masks, _ = batch
    has_nerve = masks.any(axis=(1, 2))
    np.testing.assert_array_equal(viz._choose(has_nerve, 4), [0, 1, 2, 3])
    np.testing.assert_array_equal(viz._choose(has_nerve, 2), [0, 1])
    np.testing.assert_array_equal(viz._choose(np.array([0, 0, 0, 1, 1], bool), 3), [0, 3, 4])
    np.testing.assert_array_equal(viz._choose(np.array([1, 1, 1, 1, 0], bool), 3), [0, 1, 4])
    np.testing.assert_array_equal(viz._choose(np.array([0, 0, 0, 0, 0], bool), 3), [0, 1, 2])
    np.testing.assert_array_equal(viz._choose(has_nerve, 8), np.arange(6))


def test_plot_predictions_titles_carry_each_images_dice(tmp_path, batch, drawn):
    images, masks, probabilities = batch
    plot_predictions(images, masks, probabilities, tmp_path / "p.png", n=6)
    titles = [ax.get_title() for ax in drawn[0].axes]
    # Image 0: perfect; 1: a nerve invented in an empty image; 3, 5: both empty; 4: missed.
    assert titles[0].startswith("#0: Dice 1.00") and "nerve, predicted" in titles[0]
    assert titles[1].startswith("#1: Dice 0.00") and "no nerve, predicted" in titles[1]
    assert titles[3].startswith("#3: Dice 1.00") and "none predicted" in titles[3]
    assert titles[4].startswith("#4: Dice 0.00") and "nerve, none predicted" in titles[4]


def test_plot_predictions_takes_precomputed_dice(tmp_path, batch, drawn):
    images, masks, probabilities = batch
    plot_predictions(images, masks, probabilities, tmp_path / "p.png", dice=np.linspace(0, 1, 6))
    assert drawn[0].axes[5].get_title().startswith("#5: Dice 1.00")
    assert drawn[0].axes[1].get_title().startswith("#1: Dice 0.20")
    with pytest.raises(ValueError, match=r"plot_predictions: dice must have one value per "
                                         r"image, shape \(6,\), got dice.shape=\(5,\)"):
        plot_predictions(images, masks, probabilities, tmp_path / "p.png", dice=np.zeros(5))


def test_plot_examples_writes_two_rows_of_four(tmp_path, batch):
    images, masks, _ = batch
    images = np.concatenate([images, images])
    masks = np.concatenate([masks, masks])
    path = plot_examples(images, masks, tmp_path / "e.png", n=8, columns=4)
    height, width = read_png(path).shape[:2]
    assert width == 4 * 168 and 2 * 120 < height < 2 * 200


def test_plot_examples_labels_the_empty_images(tmp_path, batch, drawn):
    images, masks, _ = batch
    plot_examples(images, masks, tmp_path / "e.png", n=3, columns=4)
    titles = [ax.get_title() for ax in drawn[0].axes]
    assert titles == ["0: nerve (10.4% of the image)", "1: no nerve",
                      "2: nerve (10.4% of the image)"]


def test_figures_leave_backend_and_pyplot_alone(tmp_path, batch, monkeypatch):
    from matplotlib._pylab_helpers import Gcf  # pyplot's list of open figures

    backend, open_figures = matplotlib.rcParams["backend"], Gcf.get_num_fig_managers()
    plot_history(history(), tmp_path / "h.png")  # rendered and written
    monkeypatch.setattr(viz, "_save", lambda fig, path, dpi=None: path)  # the others: drawn only
    images, masks, probabilities = batch
    plot_examples(images, masks, tmp_path / "e.png")
    plot_predictions(images, masks, probabilities, tmp_path / "p.png")
    assert matplotlib.rcParams["backend"] == backend
    assert Gcf.get_num_fig_managers() == open_figures


def test_bad_input_is_refused_naming_the_function(tmp_path, batch):
    images, masks, probabilities = batch
    path = tmp_path / "x.png"
    with pytest.raises(ValueError, match=r"plot_predictions: images, masks, probabilities must "
                                         r"have the same shape, got .*masks.shape=\(6, 24, 31\)"):
        plot_predictions(images, masks[..., :31], probabilities, path)
    with pytest.raises(ValueError, match=r"plot_examples: images must be a non-empty 3-D array "
                                         r"\(N, H, W\), got images.shape=\(24, 32\)"):
        plot_examples(images[0], masks[0], path)
    with pytest.raises(ValueError, match=r"plot_examples: masks must be a non-empty 3-D"):
        plot_examples(images, masks[:, None], path)
    with pytest.raises(ValueError, match=r"plot_examples: n must be an int >= 1, got 0"):
        plot_examples(images, masks, path, n=0)
    with pytest.raises(ValueError, match=r"plot_examples: columns must be an int >= 1"):
        plot_examples(images, masks, path, columns=2.5)
    with pytest.raises(ValueError, match=r"plot_predictions: threshold must be a finite"):
        plot_predictions(images, masks, probabilities, path, threshold=float("nan"))
    with pytest.raises(ValueError, match=r"plot_history: history lacks the keys \['val_dice'\]"):
        plot_history({"epoch": [1], "loss": [0.5]}, path)
    with pytest.raises(ValueError, match=r"plot_history: .*one length, got lengths"):
        plot_history({"epoch": [1, 2], "loss": [0.5], "val_dice": [0.1, 0.2]}, path)
    with pytest.raises(ValueError, match=r"plot_history: baseline_dice must be None or a "
                                         r"number in \[0, 1\], got 1.5"):
        plot_history(history(), path, baseline_dice=1.5)
    with pytest.raises(TypeError, match=r"plot_history: history must be a dict"):
        plot_history([1, 2, 3], path)
    assert not path.exists()


def test_plot_augmentations_shows_the_original_and_augmented_copies(tmp_path, batch, drawn):
    from unet_from_scratch.data.augment import Augmenter

    images, masks, _ = batch
    calls = []

    def augment(images, masks, rng):
        calls.append((images.shape, masks.shape, images.dtype))
        return Augmenter(rotate=False)(images, masks, rng)

    plot_augmentations(images[0], masks[0], augment, tmp_path / "a.png", n=6, seed=3)
    assert calls == [((5, 1, 24, 32), (5, 1, 24, 32), np.float32)]  # one batch of n - 1
    axes = drawn[0].axes
    assert [ax.get_title() for ax in axes] == ["original"] + [f"augmented {i}"
                                                             for i in range(1, 6)]
    shown = [ax.get_images()[0].get_array() for ax in axes]
    np.testing.assert_array_equal(shown[0], images[0])
    assert all(not np.array_equal(shown[0], other) for other in shown[1:])
    assert all(ax.collections for ax in axes)  # every panel has its mask's outline
    # Reproducible from the seed.
    plot_augmentations(images[0][None], masks[0][None], augment, tmp_path / "a.png", n=6,
                       seed=3)
    again = [ax.get_images()[0].get_array() for ax in drawn[1].axes]
    for a, b in zip(shown, again):
        np.testing.assert_array_equal(a, b)


def test_plot_augmentations_writes_a_png_and_refuses_bad_input(tmp_path, batch):
    from unet_from_scratch.data.augment import Augmenter

    images, masks, _ = batch
    path = plot_augmentations(images[0], masks[0], Augmenter(rotate=False),
                              tmp_path / "a.png", n=8)
    height, width = read_png(path).shape[:2]
    assert width == 4 * 168 and 2 * 120 < height < 2 * 200
    bad = tmp_path / "bad.png"
    with pytest.raises(TypeError, match=r"plot_augmentations: augment must be callable"):
        plot_augmentations(images[0], masks[0], None, bad)
    with pytest.raises(ValueError, match=r"plot_augmentations: image must be one image "
                                         r"\(H, W\) or \(1, H, W\), got image.shape=\(6, 24, 32\)"):
        plot_augmentations(images, masks, Augmenter(), bad)
    with pytest.raises(ValueError, match=r"plot_augmentations: augment must return images and "
                                         r"masks of the shape it was given"):
        plot_augmentations(images[0], masks[0], lambda i, m, rng: (i[:1], m[:1]), bad)
    with pytest.raises(ValueError, match=r"plot_augmentations: n must be an int >= 1, got 0"):
        plot_augmentations(images[0], masks[0], Augmenter(), bad, n=0)
    assert not bad.exists()
