"""nn layer modules against torch.nn: the same module is built in both libraries, torch's weights
(randomised where torch's init is constant) are copied into pydl through state_dict as numpy, and
the output, the input gradient and every parameter gradient are compared; BatchNorm in train and
eval mode with its running statistics and num_batches_tracked after several steps (momentum
0.1 / 0.5 / None = cumulative average, affine and track_running_stats on and off). Also: default
initialisation and state_dict names, activation modules, a small CNN end to end, and pydl.summary
against parameter counts computed from torch."""
import math

import numpy as np
import pytest
import torch

import pydl
from harness import DEFAULT_TOL, check_error, check_op, fd_gradcheck, make_pair, to_numpy

pnn, tnn = pydl.nn, torch.nn


def _assert_close(what, p, t):
    t = t.detach()
    tol = DEFAULT_TOL["float64" if t.dtype == torch.float64 else "float32"]
    got = torch.from_numpy(to_numpy(p))
    if t.dtype in (torch.float32, torch.float64):
        torch.testing.assert_close(got, t, rtol=tol[0], atol=tol[1], msg=lambda m: f"{what}: {m}")
    else:
        assert got.dtype == t.dtype and torch.equal(got, t), f"{what}: {got} != {t}"


def _copy_weights(pm, tm, randomize=True, seed=0):
    """torch's parameters (randomised first, so ones/zeros inits still test something) -> pydl."""
    if randomize:
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in tm.parameters():
                p.copy_(torch.rand(p.shape, generator=g, dtype=p.dtype) * 1.5 + 0.25)
    res = pm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    assert not res.missing_keys and not res.unexpected_keys


def _run_both(pm, tm, x_np, what, seed=0, grad=True):
    """Forward (and backward with one random upstream gradient) in both; compares output, input
    grad and every parameter grad."""
    xp, xt = make_pair(x_np, requires_grad=grad)
    yp, yt = pm(xp), tm(xt)
    _assert_close(f"{what} output", yp, yt)
    if not grad:
        return
    g = np.random.default_rng(seed).standard_normal(tuple(yt.shape)).astype(x_np.dtype)
    yt.backward(torch.tensor(g))
    yp.backward(pydl.tensor(g))
    _assert_close(f"{what} input grad", xp.grad, xt.grad)
    tparams = dict(tm.named_parameters())
    for name, p in pm.named_parameters():
        _assert_close(f"{what} grad of {name}", p.grad, tparams[name].grad)


def _x(shape, seed=0, dtype=np.float32, low=-2.0, high=2.0):
    return np.random.default_rng(seed).uniform(low, high, shape).astype(dtype)


# ------------------------------------------------------------------------------------------
# Conv2d
# ------------------------------------------------------------------------------------------
CONV_CASES = [  # (ctor args, input shape)
    (dict(in_channels=3, out_channels=8, kernel_size=3), (2, 3, 7, 9)),
    (dict(in_channels=3, out_channels=5, kernel_size=(3, 2), stride=2, padding=1), (2, 3, 9, 7)),
    (dict(in_channels=4, out_channels=6, kernel_size=3, dilation=2, groups=2, bias=False), (1, 4, 11, 8)),
    (dict(in_channels=2, out_channels=3, kernel_size=4, padding="same", dilation=(1, 2)), (2, 2, 6, 9)),
    (dict(in_channels=2, out_channels=3, kernel_size=3, padding="valid"), (3, 2, 5, 5)),
    (dict(in_channels=5, out_channels=7, kernel_size=1), (2, 5, 1, 1)),
    (dict(in_channels=3, out_channels=4, kernel_size=3, padding=(0, 2)), (3, 6, 7)),   # unbatched
    (dict(in_channels=6, out_channels=6, kernel_size=3, groups=6, padding=1), (2, 6, 8, 8)),  # depthwise
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2d_module(dtype):
    for i, (kw, shape) in enumerate(CONV_CASES):
        tdt = torch.float32 if dtype == np.float32 else torch.float64
        pdt = pydl.float32 if dtype == np.float32 else pydl.float64
        torch.manual_seed(i)
        tm = tnn.Conv2d(**kw, dtype=tdt)
        pm = pnn.Conv2d(**kw, dtype=pdt)
        _copy_weights(pm, tm, randomize=False)
        _run_both(pm, tm, _x(shape, i, dtype), f"Conv2d{kw}")


def test_conv2d_init_and_state_dict():
    pm, tm = pnn.Conv2d(6, 10, (3, 5), groups=2), tnn.Conv2d(6, 10, (3, 5), groups=2)
    assert list(pm.state_dict()) == list(tm.state_dict())
    for name, t in tm.state_dict().items():
        p = pm.state_dict()[name]
        assert tuple(p.shape) == tuple(t.shape) and str(p.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
    bound = 1 / math.sqrt(3 * 3 * 5)   # fan_in = in_channels / groups * kh * kw
    w, b = to_numpy(pm.weight), to_numpy(pm.bias)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    # kaiming_uniform(a=sqrt(5)) = U(-bound, bound): std bound / sqrt(3), and it uses the range
    assert abs(w.std() - bound / math.sqrt(3)) < 0.15 * bound and np.abs(w).max() > 0.8 * bound
    assert pnn.Conv2d(2, 3, 3, bias=False).bias is None
    for kw in (dict(stride=2), dict(padding="same", dilation=2), dict(padding=1, groups=1, bias=False)):
        assert repr(pnn.Conv2d(2, 3, 3, **kw)) == repr(tnn.Conv2d(2, 3, 3, **kw))


def test_conv2d_errors():
    check_error(lambda: pnn.Conv2d(3, 4, 3, groups=2), ValueError, match="divisible",
                torch_fn=lambda: tnn.Conv2d(3, 4, 3, groups=2))
    check_error(lambda: pnn.Conv2d(2, 4, 3, stride=2, padding="same"), ValueError, match="strided",
                torch_fn=lambda: tnn.Conv2d(2, 4, 3, stride=2, padding="same"))
    check_error(lambda: pnn.Conv2d(2, 4, 3, padding="full"), ValueError,
                torch_fn=lambda: tnn.Conv2d(2, 4, 3, padding="full"))
    check_error(lambda: pnn.Conv2d(2, 4, 3, padding_mode="reflect"), NotImplementedError)
    check_error(lambda: pnn.Conv2d(2, 4, 3)(pydl.ones(1, 3, 5, 5)), RuntimeError,
                torch_fn=lambda: tnn.Conv2d(2, 4, 3)(torch.ones(1, 3, 5, 5)))


# ------------------------------------------------------------------------------------------
# pooling
# ------------------------------------------------------------------------------------------
POOL_CASES = [
    ("MaxPool2d", dict(kernel_size=2), (2, 3, 7, 9)),
    ("MaxPool2d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), (2, 3, 9, 8)),
    ("MaxPool2d", dict(kernel_size=(2, 3), dilation=2), (1, 2, 11, 13)),
    ("AvgPool2d", dict(kernel_size=3, stride=2, padding=1, count_include_pad=False), (2, 3, 9, 7)),
    ("AvgPool2d", dict(kernel_size=2, divisor_override=3), (2, 3, 6, 6)),
    ("AvgPool2d", dict(kernel_size=3, ceil_mode=True), (3, 7, 8)),
    ("AdaptiveAvgPool2d", dict(output_size=1), (2, 5, 7, 9)),
    ("AdaptiveAvgPool2d", dict(output_size=(3, 4)), (2, 3, 7, 9)),
    ("AdaptiveAvgPool2d", dict(output_size=(None, 2)), (2, 3, 5, 9)),
    ("AdaptiveMaxPool2d", dict(output_size=(2, 3)), (2, 3, 7, 9)),
    ("MaxPool1d", dict(kernel_size=3, stride=2), (2, 3, 11)),
    ("AvgPool1d", dict(kernel_size=2), (2, 3, 9)),
]


@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: c[0] + str(sorted(c[1].items())))
def test_pool_modules(case):
    name, kw, shape = case
    pm, tm = getattr(pnn, name)(**kw), getattr(tnn, name)(**kw)
    _run_both(pm, tm, _x(shape, 1), name)
    assert repr(pm) == repr(tm) or name.startswith("Adaptive")


# ------------------------------------------------------------------------------------------
# BatchNorm
# ------------------------------------------------------------------------------------------
BN_CASES = [("BatchNorm1d", (8, 5)), ("BatchNorm1d", (4, 5, 7)), ("BatchNorm2d", (3, 5, 4, 6)),
            ("BatchNorm2d", (2, 5, 1, 1))]


@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("track", [True, False])
@pytest.mark.parametrize("case", BN_CASES, ids=lambda c: f"{c[0]}{c[1]}")
def test_batchnorm_train_eval(case, track, affine, momentum):
    name, shape = case
    c = shape[1]
    pm = getattr(pnn, name)(c, momentum=momentum, affine=affine, track_running_stats=track)
    tm = getattr(tnn, name)(c, momentum=momentum, affine=affine, track_running_stats=track)
    assert list(pm.state_dict()) == list(tm.state_dict())
    _copy_weights(pm, tm)
    for step in range(4):   # several training steps: the running statistics accumulate
        x = _x(shape, 10 + step, low=-1.0 + step, high=2.0 + step)
        _run_both(pm, tm, x, f"{name} train step {step}", seed=step)
        for k, v in tm.state_dict().items():
            _assert_close(f"{name} {k} after step {step}", pm.state_dict()[k], v)
    pm.eval()
    tm.eval()
    _run_both(pm, tm, _x(shape, 99), f"{name} eval")
    if track:
        nbt = pm.num_batches_tracked
        assert nbt.dtype is pydl.int64 and nbt.ndim == 0 and nbt.item() == 4


def test_batchnorm_float64_fd_and_errors():
    tm = tnn.BatchNorm2d(3, dtype=torch.float64)
    pm = pnn.BatchNorm2d(3, dtype=pydl.float64)
    _copy_weights(pm, tm)
    _run_both(pm, tm, _x((4, 3, 3, 5), 3, np.float64), "BatchNorm2d f64")
    fd_gradcheck("bn_module_fd", lambda x: pnn.BatchNorm1d(3, dtype=pydl.float64)(x), shapes=[(4, 3)])
    check_error(lambda: pnn.BatchNorm2d(3)(pydl.ones(2, 3, 4)), ValueError, match="4D",
                torch_fn=lambda: tnn.BatchNorm2d(3)(torch.ones(2, 3, 4)))
    check_error(lambda: pnn.BatchNorm1d(3)(pydl.ones(2, 3, 4, 4)), ValueError, match="2D or 3D",
                torch_fn=lambda: tnn.BatchNorm1d(3)(torch.ones(2, 3, 4, 4)))
    check_error(lambda: pnn.BatchNorm1d(3)(pydl.ones(1, 3)), ValueError, match="more than 1 value",
                torch_fn=lambda: tnn.BatchNorm1d(3)(torch.ones(1, 3)))
    # eval with a single sample is fine (running statistics)
    pm = pnn.BatchNorm1d(3).eval()
    assert to_numpy(pm(pydl.ones(1, 3))).shape == (1, 3)
    assert repr(pnn.BatchNorm2d(4, momentum=None)) == repr(tnn.BatchNorm2d(4, momentum=None))


# ------------------------------------------------------------------------------------------
# LayerNorm, LocalResponseNorm
# ------------------------------------------------------------------------------------------
LN_CASES = [((4, 33), 33, {}), ((2, 3, 7), (3, 7), {}), ((5, 6), 6, dict(elementwise_affine=False)),
            ((2, 5, 9), 9, dict(bias=False)), ((3, 1), 1, {}), ((2, 3, 65), [65], dict(eps=1e-3))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layernorm_module(dtype):
    for shape, ns, kw in LN_CASES:
        tdt = torch.float32 if dtype == np.float32 else torch.float64
        pdt = pydl.float32 if dtype == np.float32 else pydl.float64
        tm, pm = tnn.LayerNorm(ns, **kw, dtype=tdt), pnn.LayerNorm(ns, **kw, dtype=pdt)
        assert list(pm.state_dict()) == list(tm.state_dict())
        _copy_weights(pm, tm)
        if ns == 1:
            # normalised size 1: xhat is exactly 0, so dL/dweight is 0 (torch's is rounding noise)
            xp, xt = make_pair(_x(shape, 2, dtype), requires_grad=True)
            _assert_close("LayerNorm(1)", pm(xp), tm(xt))
            continue
        _run_both(pm, tm, _x(shape, 2, dtype), f"LayerNorm{ns}{kw}")
    assert repr(pnn.LayerNorm((3, 4))) == repr(tnn.LayerNorm((3, 4)))


def test_local_response_norm_module():
    pm, tm = pnn.LocalResponseNorm(5, 1e-3, 0.75, 2.0), tnn.LocalResponseNorm(5, 1e-3, 0.75, 2.0)
    _run_both(pm, tm, _x((2, 9, 5, 6), 4, low=-5, high=5), "LocalResponseNorm")
    assert repr(pm) == repr(tm)


# ------------------------------------------------------------------------------------------
# activations, softmax family, dropout modules
# ------------------------------------------------------------------------------------------
ACT_CASES = [
    ("Softmax", dict(dim=1)), ("LogSoftmax", dict(dim=-1)), ("Softmin", dict(dim=0)), ("Softsign", {}),
    ("Mish", {}), ("Hardsigmoid", {}), ("Hardswish", {}), ("LogSigmoid", {}), ("CELU", {}),
    ("CELU", dict(alpha=0.5)), ("Tanhshrink", {}), ("Softshrink", {}), ("Softshrink", dict(lambd=1.2)),
    ("Hardshrink", dict(lambd=0.7)), ("Threshold", dict(threshold=0.3, value=-2.0)), ("GLU", dict(dim=1)),
    ("GLU", {}), ("PReLU", {}), ("PReLU", dict(num_parameters=4, init=0.1)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", ACT_CASES, ids=lambda c: c[0] + str(sorted(c[1].items())))
def test_activation_modules(case, dtype):
    name, kw = case
    tdt = torch.float32 if dtype == np.float32 else torch.float64
    tm = getattr(tnn, name)(**kw).to(tdt)
    pm = getattr(pnn, name)(**kw)
    if name == "PReLU":
        pm = pm.double() if dtype == np.float64 else pm
        _copy_weights(pm, tm, randomize=False)
    for shape in [(3, 4, 6), (2, 4), (5, 4, 2, 3), (0, 4)]:
        if name == "GLU" and shape[kw.get("dim", -1)] % 2:
            continue
        _run_both(pm, tm, _x(shape, 5, dtype, low=-5, high=5), f"{name}{kw}{shape}")
    if name != "PReLU":
        fd_gradcheck(name, lambda x: pm(x), shapes=[(2, 4, 2)])
    assert repr(pm) == repr(tm)


def test_activation_large_magnitudes():
    """Stable forms: logsigmoid / mish / celu at +-80 (float32) have no inf or NaN, forward or back."""
    for name in ("LogSigmoid", "Mish", "CELU", "Softsign", "Hardswish"):
        x = np.array([-80.0, -30.0, -1.0, 0.5, 30.0, 80.0], dtype=np.float32)
        _run_both(getattr(pnn, name)(), getattr(tnn, name)(), x, name)


def test_activation_errors():
    check_error(lambda: pnn.GLU()(pydl.ones(2, 3)), RuntimeError, match="even",
                torch_fn=lambda: tnn.GLU()(torch.ones(2, 3)))
    check_error(lambda: pnn.PReLU(3)(pydl.ones(2, 4)), RuntimeError, match="channel",
                torch_fn=lambda: tnn.PReLU(3)(torch.ones(2, 4)))
    with pytest.warns(UserWarning, match="Implicit dimension"):
        pnn.Softmax()(pydl.ones(2, 3))


def test_inplace_activation_modules():
    for name in ("Mish", "Hardswish", "Hardsigmoid", "CELU"):
        x = pydl.tensor(_x((3, 5), 7))
        want = to_numpy(getattr(pnn, name)()(x))
        out = getattr(pnn, name)(inplace=True)(x)
        assert out is x
        np.testing.assert_array_equal(to_numpy(x), want)


# ------------------------------------------------------------------------------------------
# a small CNN end to end, and pydl.summary
# ------------------------------------------------------------------------------------------
def _cnn(L, freeze_first=False):
    nn = L.nn
    m = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 12, 3, padding="same", bias=False), nn.LocalResponseNorm(3), nn.Hardswish(),
        nn.AvgPool2d(2), nn.Conv2d(12, 16, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.0),
        nn.Linear(16, 10), nn.BatchNorm1d(10), nn.Mish(), nn.Linear(10, 4), nn.LogSoftmax(dim=1),
    )
    if freeze_first:
        for p in m[0].parameters():
            p.requires_grad_(False)
    return m


def test_small_cnn_train_steps():
    torch.manual_seed(0)
    tm, pm = _cnn(torch), _cnn(pydl)
    _copy_weights(pm, tm, randomize=False)
    topt = torch.optim.SGD(tm.parameters(), lr=0.05, momentum=0.9)
    popt = pydl.optim.SGD(pm.parameters(), lr=0.05, momentum=0.9)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 6).astype(np.int64)
    for step in range(3):
        x = rng.standard_normal((6, 3, 12, 10)).astype(np.float32)
        lt = tnn.NLLLoss()(tm(torch.tensor(x)), torch.tensor(y))
        lp = pnn.NLLLoss()(pm(pydl.tensor(x)), pydl.tensor(y))
        # a few hundred ops deep: rounding differences compound (bounded well below the signal)
        np.testing.assert_allclose(lp.item(), lt.item(), rtol=1e-4)
        topt.zero_grad()
        popt.zero_grad()
        lt.backward()
        lp.backward()
        tparams = dict(tm.named_parameters())
        for name, p in pm.named_parameters():
            np.testing.assert_allclose(to_numpy(p.grad), tparams[name].grad.numpy(), rtol=1e-3, atol=1e-4,
                                       err_msg=f"step {step} grad {name}")
        topt.step()
        popt.step()
    for k, v in tm.state_dict().items():
        np.testing.assert_allclose(to_numpy(pm.state_dict()[k]).astype(np.float64), v.numpy().astype(np.float64),
                                   rtol=1e-3, atol=1e-4, err_msg=k)


def test_summary_counts_vs_torch(capsys):
    tm, pm = _cnn(torch, freeze_first=True), _cnn(pydl, freeze_first=True)
    shape = (2, 3, 12, 10)
    # torch's numbers: parameter totals and every module's output shape (forward hooks)
    t_total = sum(p.numel() for p in tm.parameters())
    t_train = sum(p.numel() for p in tm.parameters() if p.requires_grad)
    t_shapes = []
    hooks = [m.register_forward_hook(lambda m, i, o: t_shapes.append((type(m).__name__, list(o.shape))))
             for m in tm.modules()]
    tm.eval()
    tm(torch.randn(*shape))
    for h in hooks:
        h.remove()
    pm[1].train()
    pydl.manual_seed(42)
    rng_before = pydl.get_rng_state()
    rm_before = to_numpy(pm[1].running_mean).copy()
    res = pydl.summary(pm, shape)
    out = capsys.readouterr().out
    assert res["total_params"] == t_total and res["trainable_params"] == t_train
    assert res["non_trainable_params"] == t_total - t_train == 3 * 8 * 9 + 8
    assert f"Total params: {t_total:,}" in out and f"Trainable params: {t_train:,}" in out
    # rows in call order (parent first); the same shapes as torch's hooks (which fire post-order)
    rows = res["layers"]
    assert rows[0]["type"] == "Sequential" and rows[0]["output_shape"] == [2, 4]
    leaf = [(r["type"], r["output_shape"]) for r in rows[1:]]
    assert leaf == t_shapes[:-1]
    assert sum(r["params"] for r in rows) == t_total
    assert rows[1]["trainable"] is False and rows[2]["trainable"] is True and rows[3]["trainable"] is None
    # nothing changed: modes, running statistics, random generator
    assert pm[1].training and pm.training
    np.testing.assert_array_equal(to_numpy(pm[1].running_mean), rm_before)
    assert np.array_equal(to_numpy(pydl.get_rng_state()), to_numpy(rng_before))
    assert not any(m._forward_hooks for m in pm.modules())


def test_summary_shared_params_and_multi_output():
    class Two(pnn.Module):
        def __init__(self):
            super().__init__()
            self.a = pnn.Linear(4, 4)
            self.b = self.a   # shared: counted once

        def forward(self, x, y):
            return self.a(x), self.b(y)
    res = pydl.summary(Two(), [(2, 4), (3, 4)], print_fn=None)
    assert res["total_params"] == 20
    assert res["layers"][0]["output_shape"] == [[2, 4], [3, 4]]


def test_forward_hooks_semantics():
    m = pnn.Linear(3, 2)
    seen = []
    h1 = m.register_forward_pre_hook(lambda mod, args: (args[0] * 2,))
    h2 = m.register_forward_hook(lambda mod, args, out: seen.append(tuple(out.shape)) or out * 0)
    x = pydl.ones(4, 3)
    out = m(x)
    assert seen == [(4, 2)] and not np.any(to_numpy(out))
    h1.remove()
    h2.remove()
    np.testing.assert_allclose(to_numpy(m(x)), to_numpy(pydl.nn.functional.linear(x, m.weight, m.bias)))
    check_op("dropout_module_eval", lambda x: pnn.Dropout(0.3).eval()(x), lambda x: tnn.Dropout(0.3).eval()(x),
             shapes=[(3, 4)])
