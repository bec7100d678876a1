"""fit, predict and checkpoints: learning, saving, resuming, interruption and bad input."""

import io
import os

import numpy as np
import pytest

from unet_from_scratch import losses, metrics, optim, train
from unet_from_scratch.data.synthetic import make_synthetic_ultrasound
from unet_from_scratch.model import UNet


def small_data(n, size=32, seed=1):
    return make_synthetic_ultrasound(n, size, seed=seed)


def quiet_fit(model, train_set, val_set, **options):
    lines = []
    history = train.fit(model, train_set, val_set, progress=False, log=lines.append, **options)
    return history, lines


def assert_same_state(a, b):
    state_a, state_b = a.state_dict(), b.state_dict()
    assert list(state_a) == list(state_b)
    for name in state_a:
        np.testing.assert_array_equal(state_a[name], state_b[name], err_msg=name)


# --- learning ------------------------------------------------------------------------------

def test_overfits_a_tiny_batch():
    """Four images with a nerve, 150 Adam steps: the network must learn them by heart."""
    images, masks = make_synthetic_ultrasound(4, 32, seed=5, empty_fraction=0.0)
    x, t = images[:, None], masks[:, None]
    model = UNet(base_channels=8, depth=2, seed=0)
    optimizer = optim.Adam(model.parameters(), lr=1e-2)
    forward, backward = losses.LOSSES["dice+bce"]
    first = train.train_step(model, optimizer, forward, backward, x, t)
    for _ in range(149):
        last = train.train_step(model, optimizer, forward, backward, x, t)
    probabilities = train.predict(model, images)
    assert last < 0.2 * first
    assert metrics.mean_dice(probabilities, masks) > 0.95


def test_fit_reports_each_epoch_and_returns_the_history():
    model = UNet(base_channels=4, depth=2, seed=0)
    history, lines = quiet_fit(model, small_data(16), small_data(4, seed=2), epochs=2,
                               batch_size=8)
    assert history["epoch"] == [1, 2]
    assert len(history["loss"]) == len(history["val_dice"]) == len(history["seconds"]) == 2
    assert all(0 <= d <= 1 for d in history["val_dice"])
    assert lines[0].startswith("epoch   1/2  loss ") and "val Dice" in lines[0]


def test_progress_bar_shows_loss_and_images_per_second():
    stream = io.StringIO()
    bar = train.ProgressBar(4, "epoch 1/3", stream)
    bar.update(2, 16, 0.5)
    assert "epoch 1/3 [" in stream.getvalue() and "2/4 loss 0.5000" in stream.getvalue()
    assert "img/s" in stream.getvalue()


def test_predict_gives_probabilities_at_the_input_size():
    model = UNet(base_channels=4, depth=2, seed=0)
    images, _ = small_data(3)
    probabilities = train.predict(model, images, batch_size=2)
    assert probabilities.shape == images.shape and probabilities.dtype == np.float32
    assert probabilities.min() >= 0 and probabilities.max() <= 1
    # batch 2 vs 3: BLAS may sum in another order, so equal to rounding only
    np.testing.assert_allclose(probabilities, train.predict(model, images[:, None]), rtol=1e-5)


def test_fit_trains_the_valid_network_on_cropped_masks():
    model = UNet(base_channels=4, depth=2, padding="valid", seed=0)
    history, _ = quiet_fit(model, small_data(8, size=44), small_data(2, size=44, seed=2),
                           epochs=1, batch_size=4)
    assert np.isfinite(history["loss"][0])


# --- checkpoints ---------------------------------------------------------------------------

def test_checkpoint_round_trip(tmp_path):
    model = UNet(base_channels=4, depth=2, batch_norm=True, seed=7)
    optimizer = optim.Adam(model.parameters(), lr=3e-3)
    images, masks = small_data(4)
    forward, backward = losses.LOSSES["dice"]
    train.train_step(model, optimizer, forward, backward, images[:, None], masks[:, None])
    path = str(tmp_path / "model.npz")
    train.save_checkpoint(path, model, optimizer, {"epoch": 3, "note": "round trip"})

    with np.load(path, allow_pickle=False) as data:      # nothing in it needs pickle
        assert "config" in data.files and "meta" in data.files
    loaded, optimizer_state, meta = train.load_checkpoint(path)
    assert meta == {"epoch": 3, "note": "round trip"}
    assert loaded.config == model.config
    assert_same_state(loaded, model)
    again = optim.Adam(loaded.parameters(), lr=1.0)
    again.load_state_dict(optimizer_state)
    assert again.lr == 3e-3 and again.t == optimizer.t == 1
    for name, value in optimizer.state_dict().items():
        np.testing.assert_array_equal(again.state_dict()[name], value, err_msg=name)
    model.eval()
    np.testing.assert_array_equal(train.predict(loaded, images), train.predict(model, images))
    assert os.listdir(tmp_path) == ["model.npz"]          # no temporary file left behind


def test_fit_keeps_the_best_and_the_last_checkpoint(tmp_path, monkeypatch):
    scores = iter([0.5, 0.7, 0.6])                  # epoch 2 is the best, epoch 3 the last
    monkeypatch.setattr(train, "evaluate_dice", lambda *args: next(scores))
    path = str(tmp_path / "best.npz")
    model = UNet(base_channels=4, depth=2, seed=0)
    history, lines = quiet_fit(model, small_data(16), small_data(4, seed=2), epochs=3,
                               batch_size=8, checkpoint=path)
    assert history["val_dice"] == [0.5, 0.7, 0.6]
    assert ["(best)" in line for line in lines] == [True, True, False]
    best_model, _, best = train.load_checkpoint(path)
    last_model, _, last = train.load_checkpoint(train.last_checkpoint_path(path))
    assert best["epoch"] == 2 and best["best_val_dice"] == 0.7
    assert last["epoch"] == 3 and last["history"] == history and last["best_val_dice"] == 0.7
    assert best["image_size"] == [32, 32]
    assert_same_state(last_model, model)
    assert not np.array_equal(best_model.head.weight.data, model.head.weight.data)
    assert sorted(os.listdir(tmp_path)) == ["best.last.npz", "best.npz"]


def test_numpy_numbers_as_options_still_give_a_json_checkpoint(tmp_path):
    path = str(tmp_path / "run.npz")
    model = UNet(base_channels=np.int64(4), depth=np.int32(2), seed=np.int64(1))
    quiet_fit(model, small_data(8), small_data(2), epochs=1, batch_size=np.int64(8),
              lr=np.float32(1e-3), seed=np.int64(2), checkpoint=path)
    loaded, _, meta = train.load_checkpoint(path)
    assert loaded.config == model.config and meta["seed"] == 2 and meta["batch_size"] == 8


class Interrupt:
    """An augmentation hook that presses Ctrl-C at the given epoch's first batch."""

    def __init__(self, at_call):
        self.calls, self.at_call = 0, at_call

    def __call__(self, images, masks, rng):
        self.calls += 1
        if self.calls == self.at_call:
            raise KeyboardInterrupt
        return images, masks


def test_ctrl_c_keeps_the_last_good_checkpoint_and_resume_continues_exactly(tmp_path):
    train_set, val_set = small_data(16), small_data(4, seed=2)
    options = dict(epochs=3, batch_size=8, lr=2e-3, seed=4)
    straight = UNet(base_channels=4, depth=2, seed=0)
    straight_history, _ = quiet_fit(straight, train_set, val_set, **options)

    path = str(tmp_path / "run.npz")
    interrupted = UNet(base_channels=4, depth=2, seed=0)
    with pytest.raises(KeyboardInterrupt):      # two batches per epoch: call 4 is epoch 2
        quiet_fit(interrupted, train_set, val_set, checkpoint=path, augment=Interrupt(4),
                  **options)
    last = train.last_checkpoint_path(path)
    assert train.load_checkpoint(last)[2]["epoch"] == 1
    assert not [f for f in os.listdir(tmp_path) if "tmp" in f]

    resumed = UNet(base_channels=4, depth=2, seed=0)
    history, lines = quiet_fit(resumed, train_set, val_set, checkpoint=path, resume=last,
                               **options)
    assert lines[0].startswith(f"resumed from {last} after epoch 1")
    assert history["loss"] == straight_history["loss"]
    assert history["val_dice"] == straight_history["val_dice"]
    assert_same_state(resumed, straight)


def test_an_interrupted_save_leaves_the_old_checkpoint_intact(tmp_path, monkeypatch):
    model = UNet(base_channels=2, depth=1, seed=0)
    path = str(tmp_path / "model.npz")
    train.save_checkpoint(path, model, None, {"epoch": 1})

    def savez_then_ctrl_c(file, **arrays):
        file.write(b"PK\x03\x04 half a zip file")
        raise KeyboardInterrupt

    monkeypatch.setattr(train.np, "savez", savez_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        train.save_checkpoint(path, model, None, {"epoch": 2})
    monkeypatch.undo()
    assert train.load_checkpoint(path)[2] == {"epoch": 1}
    assert os.listdir(tmp_path) == ["model.npz"]


# --- bad input -----------------------------------------------------------------------------

def test_resume_from_a_different_architecture_is_refused(tmp_path):
    path = str(tmp_path / "wide.npz")
    train.save_checkpoint(path, UNet(base_channels=8, depth=2), None,
                          {"epoch": 1, "best_val_dice": 0.5, "history": {}})
    with pytest.raises(ValueError, match=r"cannot resume from .*wide.npz: it holds a different "
                                         r"U-Net \(base_channels=8 there but 4 here\)"):
        quiet_fit(UNet(base_channels=4, depth=2), small_data(8), small_data(2), epochs=1,
                  resume=path)


def test_unreadable_or_missing_checkpoints_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"load_checkpoint: .*nothing.npz: no such file"):
        train.load_checkpoint(str(tmp_path / "nothing.npz"))
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match=r"garbage.npz is not a readable unet_from_scratch "
                                         r"checkpoint"):
        train.load_checkpoint(str(garbage))
    np.savez(tmp_path / "other.npz", weights=np.zeros(3))
    with pytest.raises(ValueError, match="other.npz is not a readable"):
        train.load_checkpoint(str(tmp_path / "other.npz"))
    real = tmp_path / "real.npz"
    train.save_checkpoint(str(real), UNet(base_channels=2, depth=1), None, {"epoch": 1})
    data = real.read_bytes()
    for name, content in [("half.npz", data[:len(data) // 2]), ("empty.npz", b"")]:
        (tmp_path / name).write_bytes(content)          # a copy cut short, or nothing at all
        with pytest.raises(ValueError, match=f"{name} is not a readable unet_from_scratch"):
            train.load_checkpoint(str(tmp_path / name))
    with pytest.raises(ValueError, match=r"cannot resume from .*real.npz: it was not written by "
                                         r"fit \(its meta lacks \['best_val_dice', 'history'\]"):
        quiet_fit(UNet(base_channels=2, depth=1), small_data(4), small_data(2), epochs=2,
                  resume=str(real))


def test_a_checkpoint_whose_weights_do_not_fit_its_config_is_refused(tmp_path):
    path = str(tmp_path / "tampered.npz")
    model = UNet(base_channels=4, depth=2)
    model.config["base_channels"] = 8                     # config and weights now disagree
    train.save_checkpoint(path, model, None, {"epoch": 1})
    with pytest.raises(ValueError, match=r"tampered.npz does not hold the UNet its config "
                                         r"describes \(load_state_dict: .* has shape"):
        train.load_checkpoint(path)


@pytest.mark.parametrize("change, message", [
    (lambda i, m: (i, m[:, :16]), r"fit: train images and masks differ in shape: "
                                  r"\(8, 1, 32, 32\) vs \(8, 1, 16, 32\)"),
    (lambda i, m: (i, m * 255), r"fit: train masks must hold only 0 and 1 \(found values such "
                                r"as \[255.0\]\)"),
    (lambda i, m: (i[:, None, None], m), r"fit: train images must be \(N, H, W\) or "
                                         r"\(N, 1, H, W\), got shape \(8, 1, 1, 32, 32\)"),
    (lambda i, m: (i[:0], m[:0]), r"fit: the train set is empty"),
    (lambda i, m: (np.where(i > 0.5, np.nan, i), m), r"fit: train images contain NaN"),
    (lambda i, m: ((i * 255).astype(np.uint8), m), r"fit: train images must be floating-point, "
                                                   r"got uint8 \(divide by 255"),
])
def test_bad_data_sets_are_refused(change, message):
    images, masks = change(*small_data(8))
    with pytest.raises((ValueError, TypeError), match=message):
        quiet_fit(UNet(base_channels=2, depth=2), (images, masks), small_data(2), epochs=1)


def test_sizes_the_network_cannot_take_and_unknown_options_are_refused():
    model = UNet(base_channels=2, depth=2)
    with pytest.raises(ValueError, match="an input height of 30 does not fit"):
        quiet_fit(model, small_data(4, size=30), small_data(2, size=30), epochs=1)
    with pytest.raises(ValueError, match=r"fit: loss must be one of \['bce', 'dice', "
                                         r"'dice\+bce'\], got 'l2'"):
        quiet_fit(model, small_data(4), small_data(2), epochs=1, loss="l2")
    with pytest.raises(ValueError, match="fit: optimizer must be one of"):
        quiet_fit(model, small_data(4), small_data(2), epochs=1, optimizer="lbfgs")
    with pytest.raises(ValueError, match=r"fit: batch_size must be an int >= 1, got 0"):
        quiet_fit(model, small_data(4), small_data(2), epochs=1, batch_size=0)
    with pytest.raises(ValueError, match=r"fit: epochs must be an int >= 1, got 2.5"):
        quiet_fit(model, small_data(4), small_data(2), epochs=2.5)
    with pytest.raises(ValueError, match=r"predict: batch_size must be an int >= 1, got -1"):
        train.predict(model, small_data(2)[0], batch_size=-1)
    with pytest.raises(ValueError, match=r"predict: no images \(images.shape=\(0, 1, 32, 32\)"):
        train.predict(model, small_data(2)[0][:0])
