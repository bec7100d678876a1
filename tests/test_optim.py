"""SGD and Adam: steps against hand computation and PyTorch, dtype, state round trip, bad input."""

import numpy as np
import pytest

from unet_from_scratch.nn import Parameter
from unet_from_scratch.optim import SGD, Adam

# Three gradients for a 2-element parameter p0; the hand computations below use them in order.
P0 = np.array([1.0, -2.0])
GRADS = [np.array([0.5, -1.0]), np.array([0.1, 0.3]), np.array([-0.2, 0.4])]


def run_steps(optimizer_class, p0, grads, **options):
    """Steps of our optimizer on one Parameter; returns p after each step."""
    p = Parameter(p0.copy())
    opt = optimizer_class([p], **options)
    out = []
    for g in grads:
        p.grad[...] = g
        opt.step()
        out.append(p.data.copy())
    return out


# --- the update rules written out in plain NumPy (float64) ------------------------------------

def sgd_by_hand(p, grads, lr, momentum=0.0, weight_decay=0.0, nesterov=False):
    out, b = [], None
    for g in grads:
        d = g + weight_decay * p
        if momentum != 0:
            b = d.copy() if b is None else momentum * b + d   # PyTorch: b = d on the first step
            d = d + momentum * b if nesterov else b
        p = p - lr * d
        out.append(p)
    return out


def adam_by_hand(p, grads, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    beta1, beta2 = betas
    m, v, out = np.zeros_like(p), np.zeros_like(p), []
    for t, g in enumerate(grads, start=1):
        g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g ** 2
        m_hat = m / (1 - beta1 ** t)
        v_hat = v / (1 - beta2 ** t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(p)
    return out


def test_sgd_three_steps_literal_numbers():
    # lr 0.1, no momentum: p -= 0.1 g.
    steps = run_steps(SGD, P0, GRADS, lr=0.1)
    np.testing.assert_allclose(steps, [[0.95, -1.9], [0.94, -1.93], [0.96, -1.97]], rtol=0,
                               atol=1e-15)
    # momentum 0.9: b1 = g1 = [0.5, -1]; b2 = 0.9 b1 + g2 = [0.55, -0.6];
    #               b3 = 0.9 b2 + g3 = [0.295, -0.14].
    steps = run_steps(SGD, P0, GRADS, lr=0.1, momentum=0.9)
    np.testing.assert_allclose(steps, [[0.95, -1.9], [0.895, -1.84], [0.8655, -1.826]], rtol=0,
                               atol=1e-15)


def test_adam_first_step_is_about_lr_times_sign():
    # t = 1: m^ = g and v^ = g^2, so the step is lr * g / (|g| + eps), about lr * sign(g).
    (p1, *_) = run_steps(Adam, P0, GRADS, lr=0.1)
    np.testing.assert_allclose(p1, [0.9, -1.9], rtol=0, atol=1e-8)


@pytest.mark.parametrize("options", [
    dict(lr=0.1),
    dict(lr=0.1, weight_decay=0.01),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.05, momentum=0.9, weight_decay=0.01),
    dict(lr=0.05, momentum=0.5, weight_decay=0.1, nesterov=True),
])
def test_sgd_three_steps_by_hand(options):
    np.testing.assert_allclose(run_steps(SGD, P0, GRADS, **options),
                               sgd_by_hand(P0, GRADS, **options), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("options", [
    dict(lr=0.1),
    dict(lr=0.1, weight_decay=0.01),
    dict(lr=0.01, betas=(0.5, 0.9), eps=1e-3, weight_decay=0.2),
])
def test_adam_three_steps_by_hand(options):
    np.testing.assert_allclose(run_steps(Adam, P0, GRADS, **options),
                               adam_by_hand(P0, GRADS, **options), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("make", [
    lambda ps: SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01),
    lambda ps: Adam(ps, lr=0.1, weight_decay=0.01),
])
def test_step_updates_in_place_and_leaves_grad_alone(make):
    p = Parameter(P0.copy())
    opt = make([p])
    data = p.data
    p.grad[...] = GRADS[0]
    opt.step()
    assert p.data is data                      # the model's own array changed
    assert not np.array_equal(data, P0)
    np.testing.assert_array_equal(p.grad, GRADS[0])   # weight decay did not write into .grad
    opt.zero_grad()
    assert not p.grad.any()


# --- dtype -------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda ps: SGD(ps, lr=np.float64(0.1), momentum=0.9, weight_decay=0.01, nesterov=True),
    lambda ps: Adam(ps, lr=np.float64(1e-2), weight_decay=0.01),
])
def test_float32_stays_float32(make, rng):
    params = [Parameter(rng.standard_normal(s).astype(np.float32)) for s in [(3, 2), (4,)]]
    opt = make(params)
    assert type(opt.lr) is float              # NumPy scalars become Python numbers: no promotion
    for _ in range(3):
        for p in params:
            p.grad[...] = rng.standard_normal(p.shape).astype(np.float32)
        opt.step()
    assert all(p.data.dtype == np.float32 and p.grad.dtype == np.float32 for p in params)
    state = opt.state_dict()
    assert all(v.dtype == np.float32 for v in state.values() if isinstance(v, np.ndarray))


# --- state dict --------------------------------------------------------------------------------

OPTIMIZERS = {
    "sgd": lambda ps: SGD(ps, lr=0.1),
    "sgd-momentum": lambda ps: SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01),
    "sgd-nesterov": lambda ps: SGD(ps, lr=0.05, momentum=0.8, nesterov=True),
    "adam": lambda ps: Adam(ps, lr=0.01, betas=(0.8, 0.99), weight_decay=0.01),
}
SHAPES = [(3, 2), (4,)]


def make_params(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [Parameter(rng.standard_normal(s).astype(dtype)) for s in SHAPES]


def take_steps(opt, params, first, count):
    """Steps ``first .. first+count-1`` with a gradient that depends on p and the step."""
    for k in range(first, first + count):
        for p in params:
            p.grad[...] = np.sin(3 * p.data) + 0.1 * k
        opt.step()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_state_dict_round_trip_through_npz(name, dtype, tmp_path):
    make = OPTIMIZERS[name]
    straight_params = make_params(dtype)
    straight = make(straight_params)
    take_steps(straight, straight_params, 0, 4)

    params = make_params(dtype)
    opt = make(params)
    take_steps(opt, params, 0, 2)
    state = opt.state_dict()
    assert state["type"] == type(opt).__name__ and state["step"] == 2
    assert state["num_params"] == 2
    path = tmp_path / "optimizer.npz"
    np.savez(path, **state)
    with np.load(path, allow_pickle=False) as data:
        loaded = {k: data[k] for k in data.files}

    # A fresh run: the model's weights come from their own checkpoint, the optimizer from ours.
    resumed_params = [Parameter(p.data.copy()) for p in params]
    resumed = make(resumed_params)
    resumed.load_state_dict(loaded)
    assert resumed.t == 2
    take_steps(resumed, resumed_params, 2, 2)
    for a, b in zip(resumed_params, straight_params):
        assert a.data.dtype == dtype
        np.testing.assert_array_equal(a.data, b.data)


def test_state_dict_is_a_snapshot_and_keys_are_documented():
    params = make_params(np.float64)
    opt = Adam(params, lr=0.01)
    take_steps(opt, params, 0, 1)
    state = opt.state_dict()
    assert sorted(state) == sorted(["type", "step", "num_params", "lr", "beta1", "beta2", "eps",
                                    "weight_decay", "exp_avg.0", "exp_avg.1", "exp_avg_sq.0",
                                    "exp_avg_sq.1"])
    before = state["exp_avg.0"].copy()
    take_steps(opt, params, 1, 1)
    np.testing.assert_array_equal(state["exp_avg.0"], before)
    assert sorted(SGD(params, lr=0.1).state_dict()) == sorted(
        ["type", "step", "num_params", "lr", "momentum", "weight_decay", "nesterov"])


def test_load_state_dict_restores_hyperparameters_and_buffers():
    params = make_params(np.float64)
    saved = SGD(params, lr=0.1, momentum=0.9)
    take_steps(saved, params, 0, 2)
    plain = SGD(make_params(np.float64), lr=0.5)       # no momentum, so no buffer yet
    plain.load_state_dict(saved.state_dict())
    assert (plain.lr, plain.momentum, plain.t) == (0.1, 0.9, 2)
    np.testing.assert_array_equal(plain.state["momentum_buffer"][1],
                                  saved.state["momentum_buffer"][1])


def test_load_state_dict_mismatches():
    params = make_params(np.float64)
    adam = Adam(params, lr=0.01)
    take_steps(adam, params, 0, 1)
    state = adam.state_dict()

    with pytest.raises(ValueError, match=r"Adam.load_state_dict: the state holds 2 parameters but "
                                         r"this optimizer has 1"):
        Adam(params[:1]).load_state_dict(state)

    swapped = [Parameter(np.zeros((2, 3))), Parameter(np.zeros(4))]
    with pytest.raises(ValueError, match=r"parameter 0 has shape \(2, 3\) but the state's "
                                         r"exp_avg.0 has shape \(3, 2\)"):
        Adam(swapped).load_state_dict(state)

    with pytest.raises(ValueError, match=r"SGD.load_state_dict: the state is of a Adam optimizer, "
                                         r"not SGD"):
        SGD(params, lr=0.1).load_state_dict(state)

    incomplete = {k: v for k, v in state.items() if k != "exp_avg_sq.1"}
    with pytest.raises(ValueError, match=r"missing keys \['exp_avg_sq.1'\], unexpected keys \[\]"):
        Adam(params).load_state_dict(incomplete)

    with pytest.raises(ValueError, match=r"the state has no hyperparameter 'eps'"):
        Adam(params).load_state_dict({k: v for k, v in state.items() if k != "eps"})

    with pytest.raises(ValueError, match=r"the state has no 'type' key"):
        Adam(params).load_state_dict({})

    with pytest.raises(ValueError, match=r"Adam: betas must lie in \[0, 1\), got beta2=1.0"):
        Adam(params).load_state_dict({**state, "beta2": 1.0})

    # A failed load leaves the optimizer as it was.
    target = Adam(params, lr=0.5)
    with pytest.raises(ValueError):
        target.load_state_dict({**state, "exp_avg.1": np.zeros(5)})
    assert target.lr == 0.5 and target.t == 0 and not target.state["exp_avg"][0].any()


# --- bad input ---------------------------------------------------------------------------------

def one_param():
    return [Parameter(np.zeros(2))]


@pytest.mark.parametrize("build, message", [
    (lambda: SGD(one_param(), lr=0), r"SGD: lr must be a finite number > 0, got 0.0"),
    (lambda: SGD(one_param(), lr=-0.1), r"SGD: lr must be a finite number > 0, got -0.1"),
    (lambda: SGD(one_param(), lr=float("nan")), r"SGD: lr must be a finite number > 0, got nan"),
    (lambda: SGD(one_param(), lr=0.1, momentum=-0.5), r"SGD: momentum must be a finite number >= 0, got -0.5"),
    (lambda: SGD(one_param(), lr=0.1, weight_decay=-1),
     r"SGD: weight_decay must be a finite number >= 0, got -1.0"),
    (lambda: SGD(one_param(), lr=0.1, nesterov=True), r"SGD: nesterov=True needs momentum > 0"),
    (lambda: SGD([], lr=0.1), r"SGD: params is empty; give at least one Parameter"),
    (lambda: Adam(one_param(), lr=0), r"Adam: lr must be a finite number > 0, got 0.0"),
    (lambda: Adam(one_param(), betas=(1.0, 0.999)),
     r"Adam: betas must lie in \[0, 1\), got beta1=1.0"),
    (lambda: Adam(one_param(), betas=(0.9, -0.1)),
     r"Adam: betas must lie in \[0, 1\), got beta2=-0.1"),
    (lambda: Adam(one_param(), betas=0.9), r"Adam: betas must be a pair \(beta1, beta2\), got 0.9"),
    (lambda: Adam(one_param(), eps=0), r"Adam: eps must be a finite number > 0, got 0.0"),
    (lambda: Adam(one_param(), weight_decay=-0.1), r"Adam: weight_decay must be a finite number >= 0, got -0.1"),
    (lambda: Adam(iter([])), r"Adam: params is empty"),
])
def test_bad_hyperparameters(build, message):
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize("build, message", [
    (lambda: SGD(one_param(), lr="0.1"), r"SGD: lr must be a real number, got str"),
    (lambda: SGD([np.zeros(2)], lr=0.1), r"SGD: params\[0\] is a ndarray, not a Parameter"),
    (lambda: Adam(one_param()[0]), r"Adam: params must be an iterable of Parameters"),
    (lambda: SGD(one_param(), lr=0.1, momentum=0.9, nesterov="yes"),
     r"SGD: nesterov must be True or False, got 'yes'"),
])
def test_wrong_types(build, message):
    with pytest.raises(TypeError, match=message):
        build()


# --- the oracle: torch.optim (only where PyTorch is installed) ----------------------------------

def test_matches_torch_optim():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    initial = [rng.standard_normal(s) for s in SHAPES]
    grads = [[rng.standard_normal(s) for s in SHAPES] for _ in range(5)]
    cases = [
        (SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
        (SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=True)),
        (Adam, torch.optim.Adam, dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.01)),
    ]
    for ours_class, torch_class, options in cases:
        params = [Parameter(a.copy()) for a in initial]
        tensors = [torch.tensor(a.copy(), dtype=torch.float64, requires_grad=True) for a in initial]
        ours, theirs = ours_class(params, **options), torch_class(tensors, **options)
        for step_grads in grads:
            for p, t, g in zip(params, tensors, step_grads):
                p.grad[...] = g
                t.grad = torch.tensor(g, dtype=torch.float64)
            ours.step()
            theirs.step()
            for p, t in zip(params, tensors):
                np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-12, atol=1e-12,
                                           err_msg=f"{ours_class.__name__} {options}")


# --- GPU (marked; skipped cleanly without CuPy and a device) -----------------------------------

@pytest.mark.gpu
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_gpu_matches_cpu(name):
    import cupy

    make = OPTIMIZERS[name]
    cpu_params = make_params(np.float32)
    gpu_params = [Parameter(cupy.asarray(p.data)) for p in cpu_params]
    cpu_opt, gpu_opt = make(cpu_params), make(gpu_params)
    take_steps(cpu_opt, cpu_params, 0, 3)
    take_steps(gpu_opt, gpu_params, 0, 3)
    for c, g in zip(cpu_params, gpu_params):
        assert isinstance(g.data, cupy.ndarray) and g.data.dtype == np.float32
        np.testing.assert_allclose(cupy.asnumpy(g.data), c.data, rtol=1e-5, atol=1e-6)
    state = gpu_opt.state_dict()
    assert all(isinstance(v, cupy.ndarray) for k, v in state.items() if "." in k)
    host_state = {k: cupy.asnumpy(v) if isinstance(v, cupy.ndarray) else v
                  for k, v in state.items()}
    fresh = make([Parameter(cupy.asarray(p.data)) for p in gpu_params])
    fresh.load_state_dict(host_state)            # NumPy state onto CuPy parameters
    for name_, buffers in fresh.state.items():
        assert all(isinstance(b, cupy.ndarray) for b in buffers), name_
