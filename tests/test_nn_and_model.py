"""Modules and the U-Net: registration, state, layer and whole-network gradients, sizes, PyTorch parity."""

import numpy as np
import pytest

from unet_from_scratch import nn
from unet_from_scratch.gradcheck import module_check
from unet_from_scratch.losses import LOSSES
from unet_from_scratch.model import UNet
from conftest import random_array


def small_net():
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1, rng=1), nn.BatchNorm2d(3), nn.ReLU(),
                         nn.MaxPool2d(2), nn.ConvTranspose2d(3, 2, 2, stride=2, rng=2))


def test_names_and_order_follow_pytorch():
    net = small_net()
    assert [name for name, _ in net.named_parameters()] == [
        "0.weight", "0.bias", "1.weight", "1.bias", "4.weight", "4.bias"]
    assert list(net.state_dict()) == [
        "0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
        "1.num_batches_tracked", "4.weight", "4.bias"]
    assert net.num_parameters() == 3 * 9 + 3 + 3 + 3 + 3 * 2 * 4 + 2
    assert net.parameters()[0] is net[0].weight


def test_train_eval_and_zero_grad(rng):
    net = small_net()
    assert net.eval() is net and not net[1].training
    net.train()
    assert net[1].training
    y = net(random_array(rng, (2, 1, 8, 8), np.float32))
    net.backward(np.ones_like(y))
    assert any(p.grad.any() for p in net.parameters())
    net.zero_grad()
    assert not any(p.grad.any() for p in net.parameters())


def test_backward_accumulates_gradients(rng):
    conv = nn.Conv2d(2, 3, 3, rng=0)
    x = random_array(rng, (2, 2, 6, 6), np.float32)
    y = conv(x)
    conv.backward(np.ones_like(y))
    once = conv.weight.grad.copy()
    conv(x)
    conv.backward(np.ones_like(y))
    np.testing.assert_allclose(conv.weight.grad, 2 * once, rtol=1e-6)


def test_state_dict_round_trip_and_errors(rng):
    a, b = UNet(base_channels=2, depth=2, batch_norm=True, seed=1), UNet(base_channels=2, depth=2,
                                                                         batch_norm=True, seed=2)
    x = random_array(rng, (2, 1, 16, 16), np.float32)
    a(x)                                               # move a's running statistics
    b.load_state_dict({k: v.copy() for k, v in a.state_dict().items()})
    a.eval(), b.eval()
    np.testing.assert_array_equal(a(x), b(x))

    state = dict(a.state_dict())
    del state["head.bias"]
    state["extra.weight"] = np.zeros(1)
    with pytest.raises(ValueError, match=r"missing keys \['head.bias'\], unexpected keys "
                                       r"\['extra.weight'\]"):
        b.load_state_dict(state)
    state = dict(a.state_dict())
    state["head.weight"] = np.zeros((2, 2, 1, 1), np.float32)
    with pytest.raises(ValueError, match=r"head.weight has shape \(2, 2, 1, 1\) in the state but "
                                         r"\(1, 2, 1, 1\) in the model"):
        b.load_state_dict(state)


def test_he_initialisation_is_seeded_and_scaled():
    w1 = nn.Conv2d(64, 64, 3, rng=5).weight.data
    w2 = nn.Conv2d(64, 64, 3, rng=5).weight.data
    np.testing.assert_array_equal(w1, w2)
    assert w1.dtype == np.float32
    assert abs(w1.std() / np.sqrt(2 / (64 * 9)) - 1) < 0.02
    assert not np.array_equal(UNet(base_channels=2, depth=1, seed=0).head.weight.data,
                              UNet(base_channels=2, depth=1, seed=1).head.weight.data)


@pytest.mark.parametrize("layer, x_shape", [
    (lambda: nn.Conv2d(2, 3, 3, stride=2, padding=1, rng=0), (2, 2, 7, 7)),
    (lambda: nn.ConvTranspose2d(3, 2, 2, stride=2, rng=0), (2, 3, 4, 4)),
    (lambda: nn.BatchNorm2d(3), (2, 3, 4, 4)),
    (lambda: nn.BatchNorm2d(3).eval(), (2, 3, 4, 4)),
    (lambda: small_net(), (2, 1, 8, 8)),
])
def test_layer_gradients(rng, layer, x_shape):
    module = layer().to(dtype=np.float64)
    x = random_array(rng, x_shape) + 0.1
    module_check(module, x, method="elementwise").raise_if_failed()


def test_parameter_counts_of_the_two_classic_networks():
    assert UNet().num_parameters() == 7_759_521                     # the Kaggle-nerve U-Net
    assert UNet(base_channels=64, padding="valid").num_parameters() == 31_030_593   # the paper's


@pytest.mark.parametrize("padding, size, out", [("same", 96, 96), ("valid", 572, 388),
                                                ("valid", 188, 4)])
def test_output_sizes(padding, size, out):
    assert UNet(base_channels=2, padding=padding).output_size(size, size) == (out, out)


def test_sizes_that_do_not_fit_are_refused_with_the_nearest_that_does(rng):
    with pytest.raises(ValueError, match="an input height of 100 does not fit .* the nearest "
                                         "that fits is 96"):
        UNet(base_channels=2).output_size(100, 96)
    with pytest.raises(ValueError, match="padding 'valid', an input width of 570 does not fit"):
        UNet(base_channels=2, padding="valid").output_size(572, 570)
    with pytest.raises(ValueError, match=r"UNet.forward: x must be \(N, 1, H, W\), got "
                                         r"x.shape=\(2, 3, 16, 16\)"):
        UNet(base_channels=2, depth=2)(random_array(rng, (2, 3, 16, 16), np.float32))
    with pytest.raises(ValueError, match="UNet: padding must be one of"):
        UNet(padding="full")


@pytest.mark.parametrize("depth", [2, 3])
@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_whole_unet_gradients(rng, depth, padding, batch_norm):
    """Directional check in float64 of the input and every parameter of a small U-Net."""
    model = UNet(base_channels=4, depth=depth, padding=padding, batch_norm=batch_norm, seed=3)
    model.to(dtype=np.float64)
    size = 32 if padding == "same" else {2: 44, 3: 92}[depth]
    x = random_array(rng, (2, 1, size, size))
    report = module_check(model, x)
    assert len(report.entries) == 1 + len(model.parameters()) + 1
    report.raise_if_failed()


@pytest.mark.parametrize("depth", [2, 3])
@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_whole_unet_gradients_through_the_loss(rng, depth, padding, batch_norm):
    """The same check with the training objective: L = dice+bce(UNet(x), targets), a scalar,
    so the upstream gradient of the logits is the loss's own backward, not a random dy."""
    model = UNet(base_channels=4, depth=depth, padding=padding, batch_norm=batch_norm, seed=3)
    model.to(dtype=np.float64)
    size = 32 if padding == "same" else {2: 44, 3: 92}[depth]
    x = random_array(rng, (1, 1, size, size))
    targets = (rng.random((1, 1) + model.output_size(size, size)) < 0.3).astype(np.float64)
    loss_forward, loss_backward = LOSSES["dice+bce"]
    loss = (lambda logits: loss_forward(logits, targets),
            lambda dloss, cache: loss_backward(dloss, cache)[0])     # no gradient for the targets
    report = module_check(model, x, loss=loss)
    assert [e.name for e in report.entries] == \
        ["x"] + [name for name, _ in model.named_parameters()] + ["(all)"]
    assert report["(all)"].analytic != 0
    report.raise_if_failed()


def test_dropout_only_in_training(rng):
    model = UNet(base_channels=2, depth=2, dropout=0.5, seed=0)
    x = random_array(rng, (1, 1, 16, 16), np.float32)
    model.eval()
    np.testing.assert_array_equal(model(x), model(x))
    model.train()
    assert not np.array_equal(model(x), model(x))


def test_summary_lists_blocks_shapes_and_counts():
    text = UNet(base_channels=4, depth=2).summary(32, 32)
    assert "encoders.0" in text and "(1, 4, 32, 32)" in text and "bottleneck" in text
    assert "(1, 16, 8, 8)" in text and text.splitlines()[-1].split()[-1] == "7,397"


def test_state_dict_loads_into_pytorch_position_by_position(rng):
    torch = pytest.importorskip("torch")
    from unet_from_scratch.bench.twin import torch_unet
    for padding, batch_norm, size in [("same", False, 32), ("valid", True, 44)]:
        ours = UNet(base_channels=4, depth=2, padding=padding, batch_norm=batch_norm, seed=4)
        theirs = torch_unet(base_channels=4, depth=2, padding=padding, batch_norm=batch_norm)
        their_state = theirs.state_dict()
        assert [tuple(v.shape) for v in their_state.values()] == \
            [tuple(v.shape) for v in ours.state_dict().values()]
        for tensor, array in zip(their_state.values(), ours.state_dict().values()):
            tensor.copy_(torch.from_numpy(np.asarray(array)))
        x = random_array(rng, (2, 1, size, size), np.float32)
        ours.eval(), theirs.eval()
        with torch.no_grad():
            expected = theirs(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(ours(x), expected, rtol=1e-4, atol=1e-5)


def test_a_module_says_where_its_parameters_live_and_their_dtype():
    model = UNet(base_channels=2, depth=1, seed=0)
    assert model.device == "cpu" and model.dtype == np.float32
    assert model.to(dtype=np.float64).dtype == np.float64
    assert nn.ReLU().device == "cpu" and nn.ReLU().dtype == np.float32    # no parameters


def test_output_length_is_none_where_the_input_does_not_fit():
    same, valid = UNet(base_channels=2, depth=2), UNet(base_channels=2, depth=2, padding="valid")
    assert same.output_length(32) == 32 and same.output_length(30) is None
    assert valid.output_length(44) == 4 and valid.output_length(43) is None
