"""pydl.nn against torch.nn: modules, state_dict, init, dropout, embedding, clip_grad.

Module rows are written once for both libraries as ``lambda L: L.nn.Linear(7, 5)``
(L is pydl or torch). Each row builds the module in both, copies torch's
weights into pydl through ``state_dict`` (torch -> numpy -> load_state_dict),
runs the same inputs forward and the same upstream gradient backward, and
compares the output, the input gradients and every parameter gradient with
torch.testing.assert_close's float32/float64 defaults.
"""
import copy
import math
import re

import numpy as np
import pytest
import torch

import pydl
from pydl import nn

RNG = np.random.default_rng(0)


def to_torch(t):
    return torch.from_numpy(np.array(t.detach().numpy(), copy=True))


def assert_same(p, t, **kw):
    """pydl tensor p equals torch tensor t (assert_close defaults for the dtype)."""
    assert tuple(p.shape) == tuple(t.shape), (tuple(p.shape), tuple(t.shape))
    torch.testing.assert_close(to_torch(p), t.detach(), **kw)


def copy_weights(tmod, pmod):
    """torch -> numpy -> pydl, as a user would port a checkpoint."""
    res = pmod.load_state_dict({k: v.detach().numpy() for k, v in tmod.state_dict().items()})
    assert res.missing_keys == [] and res.unexpected_keys == []


def check_module(name, make, input_specs, dtype="float32", train=True):
    """make(L) -> module; input_specs: list of shapes (float inputs, requires grad)
    or ("int", shape, high) for index inputs."""
    tdt = getattr(torch, dtype)
    torch.manual_seed(0)
    tmod = make(torch).to(tdt)
    pmod = make(pydl).to(getattr(pydl, dtype))
    copy_weights(tmod, pmod)
    tmod.train(train)
    pmod.train(train)
    t_in, p_in = [], []
    for spec in input_specs:
        if isinstance(spec, tuple) and spec and spec[0] == "int":
            a = RNG.integers(0, spec[2], size=spec[1]).astype(np.int64)
            t_in.append(torch.from_numpy(a))
            p_in.append(pydl.from_numpy(a.copy()))
        else:
            a = RNG.uniform(-2, 2, size=spec).astype(dtype)
            t_in.append(torch.from_numpy(a.copy()).requires_grad_())
            p_in.append(pydl.tensor(a, requires_grad=True))
    t_out = tmod(*t_in)
    p_out = pmod(*p_in)
    assert_same(p_out, t_out)
    g = RNG.standard_normal(tuple(t_out.shape)).astype(dtype)
    t_out.backward(torch.from_numpy(g))
    p_out.backward(pydl.tensor(g))
    for i, (pt, tt) in enumerate(zip(p_in, t_in)):
        if tt.requires_grad:
            assert pt.grad is not None, f"{name}: input {i} got no gradient"
            assert_same(pt.grad, tt.grad)
    t_params = dict(tmod.named_parameters())
    p_params = dict(pmod.named_parameters())
    assert list(p_params) == list(t_params), f"{name}: parameter names differ"
    for k, tp in t_params.items():
        pp = p_params[k]
        if tp.grad is None:
            assert pp.grad is None, f"{name}: {k} should have no gradient"
        else:
            assert pp.grad is not None, f"{name}: {k} got no gradient"
            assert_same(pp.grad, tp.grad)


def _nested(L):
    class Block(L.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = L.nn.Linear(6, 6)
            self.acts = L.nn.ModuleDict({"a": L.nn.GELU(), "b": L.nn.Tanh()})
            self.layers = L.nn.ModuleList([L.nn.Linear(6, 4), L.nn.Linear(4, 3, bias=False)])

        def forward(self, x):
            x = self.acts["a"](self.fc(x)) + x
            for layer in self.layers:
                x = self.acts["b"](layer(x))
            return x

    return Block()


MODULE_ROWS = [
    ("linear", lambda L: L.nn.Linear(7, 5), [(3, 7)]),
    ("linear_nobias", lambda L: L.nn.Linear(7, 5, bias=False), [(3, 7)]),
    ("linear_3d", lambda L: L.nn.Linear(33, 17), [(2, 4, 33)]),
    ("linear_1d_input", lambda L: L.nn.Linear(6, 2), [(6,)]),
    ("bilinear", lambda L: L.nn.Bilinear(3, 4, 5), [(6, 3), (6, 4)]),
    ("bilinear_3d", lambda L: L.nn.Bilinear(3, 2, 4, bias=False), [(2, 5, 3), (2, 5, 2)]),
    ("identity", lambda L: L.nn.Identity(3, unused=1), [(4, 5)]),
    ("flatten", lambda L: L.nn.Flatten(), [(2, 3, 4)]),
    ("flatten_0_1", lambda L: L.nn.Flatten(0, 1), [(2, 3, 4)]),
    ("unflatten", lambda L: L.nn.Unflatten(1, (2, 3)), [(4, 6)]),
    ("relu", lambda L: L.nn.ReLU(), [(5, 7)]),
    ("relu6", lambda L: L.nn.ReLU6(), [(5, 7)]),
    ("hardtanh", lambda L: L.nn.Hardtanh(-0.5, 0.75), [(5, 7)]),
    ("leaky_relu", lambda L: L.nn.LeakyReLU(0.2), [(5, 7)]),
    ("elu", lambda L: L.nn.ELU(0.5), [(5, 7)]),
    ("selu", lambda L: L.nn.SELU(), [(5, 7)]),
    ("gelu", lambda L: L.nn.GELU(), [(5, 7)]),
    ("gelu_tanh", lambda L: L.nn.GELU(approximate="tanh"), [(5, 7)]),
    ("sigmoid", lambda L: L.nn.Sigmoid(), [(5, 7)]),
    ("tanh", lambda L: L.nn.Tanh(), [(5, 7)]),
    ("silu", lambda L: L.nn.SiLU(), [(5, 7)]),
    ("softplus", lambda L: L.nn.Softplus(beta=2.0, threshold=3.0), [(5, 7)]),
    ("dropout_eval", lambda L: L.nn.Dropout(0.5), [(5, 7)]),
    ("embedding", lambda L: L.nn.Embedding(10, 4), [("int", (3, 5), 10)]),
    ("embedding_padding", lambda L: L.nn.Embedding(10, 4, padding_idx=2), [("int", (4, 6), 4)]),
    ("embedding_padding_neg", lambda L: L.nn.Embedding(5, 3, padding_idx=-1), [("int", (20,), 5)]),
    ("mlp", lambda L: L.nn.Sequential(L.nn.Linear(5, 16), L.nn.ReLU(), L.nn.Linear(16, 16), L.nn.Tanh(),
                                      L.nn.Linear(16, 3)), [(8, 5)]),
    ("mlp_inplace_acts", lambda L: L.nn.Sequential(L.nn.Linear(5, 8), L.nn.ReLU(inplace=True), L.nn.Linear(8, 8),
                                                   L.nn.LeakyReLU(0.1, inplace=True), L.nn.Linear(8, 8),
                                                   L.nn.SiLU(inplace=True), L.nn.Linear(8, 2)), [(4, 5)]),
    ("embedding_mlp", lambda L: L.nn.Sequential(L.nn.Embedding(12, 6), L.nn.Flatten(), L.nn.Linear(18, 4)),
     [("int", (5, 3), 12)]),
    ("nested", _nested, [(3, 6)]),
]


@pytest.mark.parametrize("row", MODULE_ROWS, ids=lambda r: r[0])
def test_module_matches_torch(row):
    name, make, inputs = row
    eval_only = name == "dropout_eval"
    check_module(name, make, inputs, train=not eval_only)


@pytest.mark.parametrize("row", [r for r in MODULE_ROWS if r[0] in ("linear_3d", "bilinear", "mlp", "nested",
                                                                     "embedding_padding")],
                         ids=lambda r: r[0])
def test_module_matches_torch_float64(row):
    name, make, inputs = row
    check_module(name, make, inputs, dtype="float64")


# ----------------------------------------------------------------------------------------------
# Parameter
# ----------------------------------------------------------------------------------------------
def test_parameter():
    t = pydl.randn(2, 3)
    p = nn.Parameter(t)
    assert isinstance(p, pydl.Tensor) and isinstance(p, nn.Parameter)
    assert p.requires_grad and p.is_leaf
    assert p.data_ptr() == t.data_ptr()  # shares storage, as torch
    assert not nn.Parameter(t, requires_grad=False).requires_grad
    y = p * 2 + 1
    assert type(y) is pydl.Tensor and type(p.detach()) is pydl.Tensor
    assert repr(p).startswith("Parameter containing:\ntensor(")
    assert nn.Parameter().shape == (0,)
    q = copy.deepcopy(p)
    assert isinstance(q, nn.Parameter) and q.data_ptr() != p.data_ptr()
    with pytest.raises(TypeError):
        nn.Parameter(np.zeros(3))


# ----------------------------------------------------------------------------------------------
# Registration, iteration, repr
# ----------------------------------------------------------------------------------------------
def _with_buffers(L):
    class WithBuffers(L.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = L.nn.Linear(3, 2)
            self.register_buffer("running", L.zeros(2))
            self.register_buffer("scratch", L.ones(2), persistent=False)
            self.register_buffer("nothing", None)
            self.scale = L.nn.Parameter(L.ones(()))
            self.seq = L.nn.Sequential(L.nn.Linear(2, 2), L.nn.Sequential(L.nn.ReLU(), L.nn.Linear(2, 1)))

        def forward(self, x):
            return self.seq(self.lin(x) * self.scale + self.running)

    return WithBuffers()


def test_names_match_torch():
    t, p = _with_buffers(torch), _with_buffers(pydl)
    assert [n for n, _ in p.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in p.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert [n for n, _ in p.named_modules()] == [n for n, _ in t.named_modules()]
    assert [n for n, _ in p.named_children()] == [n for n, _ in t.named_children()]
    assert list(p.state_dict()) == list(t.state_dict())  # "scratch" (non-persistent) is left out
    assert [n for n, _ in p.named_parameters(prefix="m", recurse=False)] == \
        [n for n, _ in t.named_parameters(prefix="m", recurse=False)]
    assert len(list(p.parameters())) == len(list(t.parameters()))
    assert len(list(p.buffers())) == 2 and len(list(p.children())) == 2 and len(list(p.modules())) == 7
    assert repr(p) == repr(t)


@pytest.mark.parametrize("make", [
    lambda L: L.nn.Sequential(L.nn.Linear(4, 8), L.nn.ReLU(inplace=True), L.nn.Dropout(0.1),
                              L.nn.Sequential(L.nn.Linear(8, 3), L.nn.GELU(approximate="tanh")),
                              L.nn.Flatten(0), L.nn.Unflatten(0, (1, 3)), L.nn.Identity(), L.nn.SELU(),
                              L.nn.LeakyReLU(), L.nn.ELU(alpha=0.5, inplace=True), L.nn.Softplus(),
                              L.nn.Sigmoid(), L.nn.Tanh(), L.nn.SiLU(), L.nn.ReLU6(), L.nn.Hardtanh()),
    lambda L: L.nn.ModuleDict({"emb": L.nn.Embedding(10, 3, padding_idx=0), "bil": L.nn.Bilinear(2, 3, 4),
                               "lst": L.nn.ModuleList([L.nn.Linear(1, 1, bias=False)])}),
    _nested,
    lambda L: L.nn.ModuleList([L.nn.Linear(2, 2), L.nn.Linear(2, 2), L.nn.Linear(2, 2), L.nn.ReLU(),
                               L.nn.Sequential(L.nn.Tanh(), L.nn.Tanh()), L.nn.Sequential(L.nn.Tanh(), L.nn.Tanh())]),
    lambda L: L.nn.ModuleList(),
], ids=["sequential", "moduledict", "nested", "modulelist_repeats", "modulelist_empty"])
def test_repr_matches_torch(make):
    assert repr(make(pydl)) == repr(make(torch))


def test_setattr_registration():
    m = nn.Module()
    m.w = nn.Parameter(pydl.ones(2))
    m.sub = nn.Linear(2, 2)
    m.register_buffer("b", pydl.zeros(2))
    m.plain = pydl.zeros(1)  # a plain tensor attribute is not registered
    assert list(m._parameters) == ["w"] and list(m._modules) == ["sub"] and list(m._buffers) == ["b"]
    assert [n for n, _ in m.named_parameters()] == ["w", "sub.weight", "sub.bias"]
    with pytest.raises(TypeError, match="cannot assign"):
        m.w = pydl.zeros(2)  # a plain tensor where a parameter lives
    m.w = None
    assert m.w is None and [n for n, _ in m.named_parameters()] == ["sub.weight", "sub.bias"]
    with pytest.raises(TypeError, match="cannot assign"):
        m.sub = 3
    m.b = pydl.ones(2)  # buffers take plain tensors
    assert m._buffers["b"].tolist() == [1.0, 1.0]
    m.sub = nn.Parameter(pydl.ones(1))  # a parameter replaces the submodule
    assert "sub" not in m._modules and "sub" in m._parameters
    m.nb = nn.Buffer(pydl.ones(3), persistent=False)
    assert "nb" in m._buffers and "nb" not in m.state_dict()
    del m.nb
    assert "nb" not in m._buffers
    with pytest.raises(KeyError):
        m.register_parameter("a.b", None)
    with pytest.raises(KeyError):
        m.register_buffer("plain", pydl.zeros(1))  # the name is taken by an attribute
    with pytest.raises(AttributeError, match="no attribute"):
        m.missing

    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(pydl.ones(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()


def test_shared_parameters_deduplicated():
    for L in (pydl, torch):
        a = L.nn.Linear(3, 3)
        m = L.nn.Sequential(a, L.nn.ReLU(), a)
        assert [n for n, _ in m.named_parameters()] == ["0.weight", "0.bias"]
        assert len(list(m.named_parameters(remove_duplicate=False))) == 4
        assert list(m.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_train_eval_and_dropout_mode():
    m = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.9), nn.Sequential(nn.Dropout(0.5)))
    assert m.training and all(x.training for x in m.modules())
    assert m.eval() is m
    assert not any(x.training for x in m.modules())
    x = pydl.randn(4, 3)
    assert np.array_equal(m(x).detach().numpy(), m[0](x).detach().numpy())
    m.train()
    assert all(x.training for x in m.modules())
    with pytest.raises(ValueError):
        m.train("yes")


def test_zero_grad_and_requires_grad_():
    m = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    m(pydl.randn(5, 3)).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad(set_to_none=False)
    assert all(p.grad is not None and p.grad.abs().sum().item() == 0 for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    # freezing the first layer: no gradient reaches it
    m[0].requires_grad_(False)
    m(pydl.randn(5, 3)).sum().backward()
    assert m[0].weight.grad is None and m[0].bias.grad is None
    assert m[1].weight.grad is not None
    assert m.requires_grad_(True) is m and all(p.requires_grad for p in m.parameters())


def test_apply_order_matches_torch():
    seen = {}
    for L in (pydl, torch):
        names = []
        m = L.nn.Sequential(L.nn.Linear(2, 2), L.nn.Sequential(L.nn.ReLU(), L.nn.Tanh()))
        m.apply(lambda mod: names.append(type(mod).__name__))
        seen[L.__name__] = names
    assert seen["pydl"] == seen["torch"]


def test_apply_init():
    m = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))

    def init_fn(mod):
        if isinstance(mod, nn.Linear):
            nn.init.constant_(mod.weight, 0.5)
            nn.init.zeros_(mod.bias)

    m.apply(init_fn)
    assert all(v == 0.5 for v in m[2].weight.detach().numpy().ravel())
    assert m[0].weight.is_leaf and m[0].weight.grad_fn is None


def test_to_dtype_device():
    m = nn.Sequential(nn.Linear(3, 2), nn.Embedding(4, 2))
    m.register_buffer("count", pydl.zeros(1, dtype=pydl.int64))
    w = m[0].weight
    m[0](pydl.randn(2, 3)).sum().backward()
    assert m.double() is m
    assert m[0].weight is w and w.dtype == pydl.float64 and isinstance(w, nn.Parameter)
    assert w.requires_grad and w.grad.dtype == pydl.float64
    assert m.count.dtype == pydl.int64  # integer buffers keep their dtype
    assert m[0](pydl.randn(2, 3, dtype=pydl.float64)).dtype == pydl.float64
    m.to(pydl.float32)
    assert w.dtype == pydl.float32 and m[1].weight.dtype == pydl.float32
    m.to(torch.float64)
    assert w.dtype == pydl.float64
    m.float()
    assert w.dtype == pydl.float32
    assert m.to("cpu") is m and m.cpu() is m
    with pytest.raises(RuntimeError, match="cuda"):
        m.to("cuda")
    with pytest.raises(RuntimeError, match="cuda"):
        m.cuda()
    with pytest.raises(TypeError, match="floating point"):
        m.to(pydl.int64)


def test_forward_hooks():
    m = nn.Linear(3, 2)
    calls = []
    h1 = m.register_forward_pre_hook(lambda mod, args: (args[0] * 0,))
    h2 = m.register_forward_hook(lambda mod, args, out: calls.append(out.shape) or out + 1)
    y = m(pydl.randn(4, 3))
    assert calls == [(4, 2)]
    np.testing.assert_allclose(y.detach().numpy(), (m.bias.detach().numpy() + 1)[None].repeat(4, 0), rtol=1e-6)
    h1.remove()
    h2.remove()
    x = pydl.randn(4, 3)
    np.testing.assert_allclose(m(x).detach().numpy(), (x @ m.weight.T + m.bias).detach().numpy())


def test_missing_forward():
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(1)


def test_deepcopy_module():
    m = nn.Sequential(nn.Linear(3, 3))
    m2 = copy.deepcopy(m)
    assert m2[0].weight.data_ptr() != m[0].weight.data_ptr()
    np.testing.assert_array_equal(m2[0].weight.detach().numpy(), m[0].weight.detach().numpy())
    with pydl.no_grad():
        m2[0].weight.fill_(0)
    assert m[0].weight.abs().sum().item() > 0


# ----------------------------------------------------------------------------------------------
# Containers
# ----------------------------------------------------------------------------------------------
def test_sequential_indexing():
    a, b, c = nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 3)
    s = nn.Sequential(a, b, c)
    assert len(s) == 3 and s[0] is a and s[-1] is c and list(s) == [a, b, c]
    sub = s[1:]
    assert isinstance(sub, nn.Sequential) and list(sub) == [b, c] and list(sub._modules) == ["1", "2"]
    with pytest.raises(IndexError):
        s[3]
    with pytest.raises(IndexError):
        s[-4]
    d = nn.Tanh()
    s.append(d)
    assert len(s) == 4 and s[3] is d
    s[1] = nn.GELU()
    assert isinstance(s[1], nn.GELU)
    del s[1]
    assert list(s._modules) == ["0", "1", "2"] and s[1] is c
    s.insert(0, nn.Identity())
    assert isinstance(s[0], nn.Identity) and len(s) == 4
    from collections import OrderedDict
    named = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert named.fc is named[0] and list(named.state_dict()) == ["fc.weight", "fc.bias"]
    assert len(s + named) == 6


def test_module_list_dict():
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(ml) == 3 and isinstance(ml[-1], nn.Linear)
    ml.append(nn.ReLU())
    ml.extend([nn.Tanh()])
    ml.insert(0, nn.Identity())
    assert [type(m).__name__ for m in ml] == ["Identity", "Linear", "Linear", "Linear", "ReLU", "Tanh"]
    assert len(list(ml.parameters())) == 6
    assert isinstance(ml[1:3], nn.ModuleList) and len(ml[1:3]) == 2
    del ml[0]
    assert list(ml._modules) == [str(i) for i in range(5)]
    md = nn.ModuleDict({"a": nn.Linear(1, 1)})
    md["b"] = nn.ReLU()
    md.update([("c", nn.Tanh())])
    assert list(md.keys()) == ["a", "b", "c"] and "b" in md and len(md) == 3
    assert md.pop("b").__class__ is nn.ReLU and list(md) == ["a", "c"]
    assert [n for n, _ in md.named_parameters()] == ["a.weight", "a.bias"]


def test_parameter_list_dict():
    pl = nn.ParameterList([nn.Parameter(pydl.ones(2)), pydl.zeros(3)])
    assert len(pl) == 2 and all(isinstance(p, nn.Parameter) for p in pl)
    pl.append(pydl.ones(1))
    assert [n for n, _ in pl.named_parameters()] == ["0", "1", "2"]
    pd = nn.ParameterDict({"a": pydl.ones(2)})
    pd["b"] = nn.Parameter(pydl.zeros(1))
    assert list(pd.keys()) == ["a", "b"] and isinstance(pd["a"], nn.Parameter) and "a" in pd
    assert [n for n, _ in pd.named_parameters()] == ["a", "b"]
    t_pl = torch.nn.ParameterList([torch.nn.Parameter(torch.ones(2)), torch.zeros(3), torch.ones(1)])
    pl2 = nn.ParameterList([pydl.ones(2), pydl.zeros(3), pydl.ones(1)])
    copy_weights(t_pl, pl2)


# ----------------------------------------------------------------------------------------------
# state_dict / load_state_dict
# ----------------------------------------------------------------------------------------------
def test_state_dict_values_and_round_trip():
    t, p = _with_buffers(torch), _with_buffers(pydl)
    with torch.no_grad():
        t.running.copy_(torch.tensor([3.0, -1.0]))
        t.scale.fill_(2.5)
    copy_weights(t, p)
    sd = p.state_dict()
    for k, v in t.state_dict().items():
        assert_same(sd[k], v, rtol=0, atol=0)
        assert not sd[k].requires_grad  # detached, as torch
    assert sd["lin.weight"].data_ptr() == p.lin.weight.data_ptr()  # shares memory, as torch
    assert p.state_dict(keep_vars=True)["lin.weight"] is p.lin.weight
    # pydl -> torch (numpy) round trip
    t2 = _with_buffers(torch)
    t2.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in sd.items()})
    for k, v in t2.state_dict().items():
        assert_same(sd[k], v, rtol=0, atol=0)
    # pydl -> pydl, and the inputs: numpy arrays, torch tensors (DLPack), pydl tensors
    for convert in (lambda v: v.clone(), lambda v: v.numpy().copy(), lambda v: to_torch(v),
                    lambda v: to_torch(v).requires_grad_()):
        p2 = _with_buffers(pydl)
        ptrs = {n: q.data_ptr() for n, q in p2.named_parameters()}
        p2.load_state_dict({k: convert(v) for k, v in sd.items()})
        for k, v in p2.state_dict().items():
            np.testing.assert_array_equal(v.numpy(), sd[k].numpy())
        # copied in place: same Parameter objects, same memory, still leaves
        assert {n: q.data_ptr() for n, q in p2.named_parameters()} == ptrs
        assert all(q.is_leaf and q.requires_grad for q in p2.parameters())


def test_load_state_dict_dtype_cast():
    m = nn.Linear(2, 2).double()
    t = torch.nn.Linear(2, 2)
    m.load_state_dict(t.state_dict())  # float32 into float64, as torch's copy_
    assert m.weight.dtype == pydl.float64
    np.testing.assert_allclose(m.weight.detach().numpy(), t.weight.detach().numpy().astype(np.float64))


def _load_error(mod, sd, strict=True):
    with pytest.raises(RuntimeError) as e:
        mod.load_state_dict(sd, strict=strict)
    return str(e.value)


@pytest.mark.parametrize("case", ["missing", "unexpected", "size_mismatch", "all", "nested_unexpected",
                                  "size_mismatch_nonstrict"])
def test_load_state_dict_errors_match_torch(case):
    def sd(L):
        return {
            "missing": {"0.weight": L.zeros(4, 3)},
            "unexpected": {"0.weight": L.zeros(4, 3), "0.bias": L.zeros(4), "2.weight": L.zeros(2, 4),
                           "2.bias": L.zeros(2), "extra": L.zeros(1)},
            "size_mismatch": {"0.weight": L.zeros(5, 3), "0.bias": L.zeros(4), "2.weight": L.zeros(2, 4),
                              "2.bias": L.zeros(3)},
            "all": {"0.weight": L.zeros(1), "2.foo": L.zeros(1), "3.bar": L.zeros(1)},
            "nested_unexpected": {"0.weight": L.zeros(4, 3), "0.bias": L.zeros(4), "2.weight": L.zeros(2, 4),
                                  "2.bias": L.zeros(2), "0.extra.x": L.zeros(1)},
            "size_mismatch_nonstrict": {"0.weight": L.zeros(4, 4)},
        }[case]

    def make(L):
        return L.nn.Sequential(L.nn.Linear(3, 4), L.nn.ReLU(), L.nn.Linear(4, 2))

    strict = case != "size_mismatch_nonstrict"
    got = _load_error(make(pydl), sd(pydl), strict)
    want = _load_error(make(torch), sd(torch), strict)
    assert got == want.replace("torch.Size", "pydl.Size")
    assert got.startswith("Error(s) in loading state_dict for Sequential:\n\t")


def test_load_state_dict_non_strict():
    def make(L):
        return L.nn.Sequential(L.nn.Linear(3, 4), L.nn.ReLU(), L.nn.Linear(4, 2))

    tm = make(torch)
    partial = {"0.weight": tm[0].weight.detach(), "9.x": torch.zeros(1)}
    pm = make(pydl)
    res = pm.load_state_dict(partial, strict=False)
    want = make(torch).load_state_dict(partial, strict=False)
    assert res.missing_keys == want.missing_keys and res.unexpected_keys == want.unexpected_keys
    assert res == (want.missing_keys, want.unexpected_keys)
    assert_same(pm[0].weight, tm[0].weight, rtol=0, atol=0)
    assert "<All keys matched successfully>" == repr(pm.load_state_dict(tm.state_dict()))


def test_load_state_dict_bad_inputs():
    m = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="dict-like"):
        m.load_state_dict([("weight", pydl.zeros(2, 2))])
    msg = _load_error(m, {"weight": "not a tensor", "bias": pydl.zeros(2)})
    assert 'While copying the parameter named "weight"' in msg


def test_load_scalar_from_one_element():
    # backward compatibility rule shared with torch: a [1] tensor loads into a 0-d parameter
    m = _with_buffers(pydl)
    sd = {k: v.clone() for k, v in m.state_dict().items()}
    sd["scale"] = pydl.tensor([4.0])
    m.load_state_dict(sd)
    assert m.scale.item() == 4.0


# ----------------------------------------------------------------------------------------------
# Dropout
# ----------------------------------------------------------------------------------------------
def test_dropout_statistics():
    pydl.manual_seed(0)
    p = 0.3
    x = pydl.ones(400_000, requires_grad=True)
    y = nn.functional.dropout(x, p, training=True)
    a = y.detach().numpy()
    kept = a != 0
    assert abs((~kept).mean() - p) < 0.005  # binomial sd is 0.0007
    np.testing.assert_allclose(a[kept], 1 / (1 - p), rtol=1e-6)
    assert abs(a.mean() - 1.0) < 0.01
    y.sum().backward()  # the gradient is the same scaled mask
    np.testing.assert_array_equal(x.grad.numpy(), a)


def test_dropout_seeded_and_modes():
    x = pydl.randn(64, 32)
    pydl.manual_seed(7)
    a = nn.functional.dropout(x, 0.5).numpy()
    pydl.manual_seed(7)
    b = nn.Dropout(0.5)(x).numpy()
    np.testing.assert_array_equal(a, b)
    # p=0 and eval mode: the identity; p=1: zeros (with a zero gradient)
    assert nn.functional.dropout(x, 0.0) is x
    assert nn.functional.dropout(x, 0.5, training=False) is x
    assert nn.Dropout(0.5).eval()(x) is x
    xr = pydl.randn(5, 5, requires_grad=True)
    z = nn.functional.dropout(xr, 1.0)
    assert z.abs().sum().item() == 0
    z.sum().backward()
    assert xr.grad.abs().sum().item() == 0
    # in place
    pydl.manual_seed(3)
    w = x.clone()
    out = nn.functional.dropout(w, 0.5, inplace=True)
    assert out is w
    pydl.manual_seed(3)
    np.testing.assert_array_equal(w.numpy(), nn.functional.dropout(x, 0.5).numpy())
    assert repr(nn.Dropout(0.25, inplace=True)) == repr(torch.nn.Dropout(0.25, inplace=True))
    x64 = pydl.randn(100, dtype=pydl.float64)
    assert nn.functional.dropout(x64, 0.5).dtype == pydl.float64


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_dropout_bad_p(p):
    for L in (pydl, torch):
        with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
            L.nn.functional.dropout(L.ones(3), p)
        with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
            L.nn.Dropout(p)


# ----------------------------------------------------------------------------------------------
# Embedding
# ----------------------------------------------------------------------------------------------
def test_embedding_padding_idx():
    e = nn.Embedding(6, 3, padding_idx=1)
    assert e.weight[1].abs().sum().item() == 0  # the padding row starts at zero
    idx = pydl.tensor([[1, 2, 1], [0, 1, 5]])
    out = e(idx)
    assert out.shape == (2, 3, 3)
    (out * pydl.arange(18.0).reshape(2, 3, 3)).sum().backward()
    g = e.weight.grad.numpy()
    assert np.all(g[1] == 0)  # no gradient into the padding row
    assert np.all(g[3] == 0) and np.all(g[4] == 0)  # unused rows
    np.testing.assert_array_equal(g[0], np.arange(9.0, 12.0))
    np.testing.assert_array_equal(g[2], np.arange(3.0, 6.0))
    assert nn.Embedding(4, 2, padding_idx=-1).padding_idx == 3


def test_embedding_from_pretrained():
    w = pydl.randn(4, 3)
    e = nn.Embedding.from_pretrained(w)
    assert not e.weight.requires_grad and e.weight.data_ptr() == w.data_ptr()
    np.testing.assert_array_equal(e(pydl.tensor([3, 0])).numpy(), w.numpy()[[3, 0]])
    e2 = nn.Embedding.from_pretrained(w, freeze=False, padding_idx=0)
    assert e2.weight.requires_grad and e2.padding_idx == 0
    assert repr(e2) == repr(torch.nn.Embedding.from_pretrained(torch.zeros(4, 3), padding_idx=0))
    with pytest.raises(AssertionError):
        nn.Embedding.from_pretrained(pydl.randn(4))


@pytest.mark.parametrize("bad", ["out_of_range", "negative", "float_index"])
def test_embedding_errors(bad):
    for L in (pydl, torch):
        e = L.nn.Embedding(5, 2)
        if bad == "float_index":
            with pytest.raises(RuntimeError, match="Long"):
                e(L.tensor([0.0, 1.0]))
        else:
            with pytest.raises(IndexError, match="index out of range in self"):
                e(L.tensor([0, 5] if bad == "out_of_range" else [0, -1]))
    with pytest.raises(AssertionError):
        nn.Embedding(5, 2, padding_idx=5)


def test_embedding_functional():
    w = pydl.randn(7, 4, requires_grad=True)
    idx = pydl.tensor([6, 0, 6])
    out = nn.functional.embedding(idx, w, padding_idx=6)
    out.sum().backward()
    tw = to_torch(w).requires_grad_()
    torch.nn.functional.embedding(torch.tensor([6, 0, 6]), tw, padding_idx=6).sum().backward()
    assert_same(w.grad, tw.grad)


# ----------------------------------------------------------------------------------------------
# init
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [("linear",), ("conv2d",), ("sigmoid",), ("tanh",), ("relu",), ("leaky_relu",),
                                  ("leaky_relu", 0.2), ("leaky_relu", 3), ("selu",)])
def test_calculate_gain(args):
    assert nn.init.calculate_gain(*args) == torch.nn.init.calculate_gain(*args)


def test_calculate_gain_errors():
    for L in (pydl, torch):
        with pytest.raises(ValueError, match="Unsupported nonlinearity"):
            L.nn.init.calculate_gain("softmax")
        with pytest.raises(ValueError, match="not a valid number"):
            L.nn.init.calculate_gain("leaky_relu", "x")


@pytest.mark.parametrize("shape", [(3, 4), (8, 4, 3, 3), (5, 2, 7), (1, 9)])
def test_fan_in_fan_out(shape):
    assert nn.init._calculate_fan_in_and_fan_out(pydl.empty(shape)) == \
        torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))


def test_fan_errors():
    for L in (pydl, torch):
        with pytest.raises(ValueError, match="fewer than 2 dimensions"):
            L.nn.init.xavier_uniform_(L.empty(5))
        with pytest.raises(ValueError, match="not supported"):
            L.nn.init.kaiming_uniform_(L.empty(3, 3), mode="fan_avg")
    with pytest.raises(ValueError, match="2 dimensions"):
        nn.init.eye_(pydl.empty(2, 2, 2))


def _sample(fn, shape=(400, 500), dtype=pydl.float32):
    t = nn.Parameter(pydl.empty(shape, dtype=dtype))
    out = fn(t)
    assert out is t and t.is_leaf and t.requires_grad and t.grad_fn is None  # ran under no_grad
    return t.detach().numpy().astype(np.float64)


# (name, pydl init, expected bound for uniform (or None), expected std, expected mean)
FAN_IN, FAN_OUT = 500, 400
INIT_ROWS = [
    ("uniform", lambda t: nn.init.uniform_(t, -2, 3), (-2, 3), 5 / math.sqrt(12), 0.5),
    ("normal", lambda t: nn.init.normal_(t, 1.5, 0.5), None, 0.5, 1.5),
    ("xavier_uniform", lambda t: nn.init.xavier_uniform_(t, gain=2.0),
     2.0 * math.sqrt(6 / (FAN_IN + FAN_OUT)), 2.0 * math.sqrt(2 / (FAN_IN + FAN_OUT)), 0.0),
    ("xavier_normal", lambda t: nn.init.xavier_normal_(t), None, math.sqrt(2 / (FAN_IN + FAN_OUT)), 0.0),
    # a=0 with the default leaky_relu: gain sqrt(2)
    ("kaiming_uniform", lambda t: nn.init.kaiming_uniform_(t), math.sqrt(2) * math.sqrt(3 / FAN_IN),
     math.sqrt(2) / math.sqrt(FAN_IN), 0.0),
    ("kaiming_uniform_a_sqrt5", lambda t: nn.init.kaiming_uniform_(t, a=math.sqrt(5)), 1 / math.sqrt(FAN_IN),
     1 / math.sqrt(3 * FAN_IN), 0.0),
    ("kaiming_uniform_fan_out_relu", lambda t: nn.init.kaiming_uniform_(t, mode="fan_out", nonlinearity="relu"),
     math.sqrt(2) * math.sqrt(3 / FAN_OUT), math.sqrt(2 / FAN_OUT), 0.0),
    ("kaiming_normal", lambda t: nn.init.kaiming_normal_(t, nonlinearity="relu"), None, math.sqrt(2 / FAN_IN), 0.0),
    ("kaiming_normal_fan_out", lambda t: nn.init.kaiming_normal_(t, a=0.1, mode="fan_out"), None,
     math.sqrt(2 / (1 + 0.01)) / math.sqrt(FAN_OUT), 0.0),
]


@pytest.mark.parametrize("row", INIT_ROWS, ids=lambda r: r[0])
def test_init_distribution(row):
    name, fn, bound, std, mean = row
    pydl.manual_seed(0)
    a = _sample(fn)
    n = a.size
    # mean within 5 standard errors, std within 2%
    assert abs(a.mean() - mean) < 5 * std / math.sqrt(n), (a.mean(), mean)
    assert abs(a.std() / std - 1) < 0.02, (a.std(), std)
    if bound is not None:
        lo, hi = bound if isinstance(bound, tuple) else (-bound, bound)
        assert a.min() >= lo and a.max() <= hi
        assert a.min() < lo + 0.01 * (hi - lo) and a.max() > hi - 0.01 * (hi - lo)


def test_init_constant_like():
    assert np.all(_sample(lambda t: nn.init.constant_(t, 0.25), (3, 4)) == 0.25)
    assert np.all(_sample(nn.init.ones_, (3, 4)) == 1)
    assert np.all(_sample(nn.init.zeros_, (3, 4)) == 0)
    np.testing.assert_array_equal(_sample(nn.init.eye_, (3, 5)), np.eye(3, 5))
    np.testing.assert_array_equal(_sample(nn.init.eye_, (4, 2), pydl.float64), np.eye(4, 2))
    d = _sample(nn.init.dirac_, (4, 3, 3, 3))
    want = torch.nn.init.dirac_(torch.empty(4, 3, 3, 3)).numpy()
    np.testing.assert_array_equal(d, want)


def test_trunc_normal():
    pydl.manual_seed(0)
    torch.manual_seed(0)
    for mean, std, a, b in [(0.0, 1.0, -2.0, 2.0), (0.5, 0.2, 0.0, 1.0), (0.0, 1.0, 0.5, 3.0)]:
        x = _sample(lambda t: nn.init.trunc_normal_(t, mean, std, a, b), (200, 500))
        ref = torch.nn.init.trunc_normal_(torch.empty(200, 500, dtype=torch.float64), mean, std, a, b).numpy()
        assert x.min() >= a and x.max() <= b
        # same distribution as torch's: moments within a few standard errors of the sample
        se = ref.std() / math.sqrt(ref.size)
        assert abs(x.mean() - ref.mean()) < 6 * se
        assert abs(x.std() / ref.std() - 1) < 0.01


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (5, 2, 3), (7, 7)])
def test_orthogonal(shape):
    pydl.manual_seed(1)
    gain = 1.5
    q = _sample(lambda t: nn.init.orthogonal_(t, gain=gain), shape).reshape(shape[0], -1)
    rows, cols = q.shape
    g = q @ q.T if rows <= cols else q.T @ q
    np.testing.assert_allclose(g, gain ** 2 * np.eye(min(rows, cols)), atol=1e-5)
    with pytest.raises(ValueError):
        nn.init.orthogonal_(pydl.empty(3))


def test_linear_default_init():
    pydl.manual_seed(0)
    m = nn.Linear(300, 200)
    w, b = m.weight.detach().numpy(), m.bias.detach().numpy()
    bound = 1 / math.sqrt(300)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert np.abs(b).max() <= bound and np.abs(b).max() > 0.9 * bound
    assert abs(w.std() / (bound / math.sqrt(3)) - 1) < 0.02
    pydl.manual_seed(0)
    np.testing.assert_array_equal(nn.Linear(300, 200).weight.detach().numpy(), w)  # seeded
    e = nn.Embedding(300, 200).weight.detach().numpy()
    assert abs(e.std() - 1) < 0.01 and abs(e.mean()) < 0.01
    bl = nn.Bilinear(40, 5, 3).weight.detach().numpy()
    assert np.abs(bl).max() <= 1 / math.sqrt(40)


def test_init_empty_warns():
    with pytest.warns(UserWarning, match="zero-element"):
        nn.init.kaiming_uniform_(pydl.empty(0, 3))


# ----------------------------------------------------------------------------------------------
# clip_grad
# ----------------------------------------------------------------------------------------------
def _grads_pair(shapes, scale):
    data = [RNG.standard_normal(s).astype(np.float32) * scale for s in shapes]
    pp = [nn.Parameter(pydl.zeros(s)) for s in shapes]
    tp = [torch.nn.Parameter(torch.zeros(s)) for s in shapes]
    for p, t, d in zip(pp, tp, data):
        p.grad = pydl.tensor(d)
        t.grad = torch.from_numpy(d.copy())
    return pp, tp


@pytest.mark.parametrize("norm_type", [2.0, 1, 3.0, math.inf, "inf"])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    pp, tp = _grads_pair([(4, 5), (5,), (3, 2, 2)], 1.0)
    pp.append(nn.Parameter(pydl.zeros(2)))  # no grad: ignored
    tp.append(torch.nn.Parameter(torch.zeros(2)))
    got = nn.utils.clip_grad_norm_(pp, max_norm, norm_type=norm_type)
    want = torch.nn.utils.clip_grad_norm_(tp, max_norm, norm_type=norm_type)
    assert got.shape == () and got.dtype == pydl.float32
    assert_same(got, want)
    for p, t in zip(pp, tp):
        if t.grad is None:
            assert p.grad is None
        else:
            assert_same(p.grad, t.grad)


def test_clip_grad_norm_edge_cases():
    p = nn.Parameter(pydl.zeros(3))
    assert nn.utils.clip_grad_norm_([p], 1.0).item() == 0.0  # no gradients at all
    p.grad = pydl.tensor([3.0, 4.0, 0.0])
    assert nn.utils.clip_grad_norm_(p, 1.0).item() == 5.0  # a single tensor
    np.testing.assert_allclose(p.grad.numpy(), [0.6, 0.8, 0.0], rtol=1e-5)
    p.grad = pydl.tensor([float("nan"), 1.0, 0.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
    assert math.isnan(nn.utils.clip_grad_norm_(p, 1.0).item())


def test_clip_grad_value_matches_torch():
    pp, tp = _grads_pair([(6, 7), (3,)], 2.0)
    nn.utils.clip_grad_value_(pp, 0.7)
    torch.nn.utils.clip_grad_value_(tp, 0.7)
    for p, t in zip(pp, tp):
        assert_same(p.grad, t.grad, rtol=0, atol=0)


def test_parameters_vector_round_trip():
    m = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    v = nn.utils.parameters_to_vector(m.parameters())
    assert v.shape == (sum(p.numel() for p in m.parameters()),)
    m2 = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    nn.utils.vector_to_parameters(v, m2.parameters())
    for a, b in zip(m.parameters(), m2.parameters()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_functional_bilinear_error():
    with pytest.raises(RuntimeError, match="bilinear"):
        nn.functional.bilinear(pydl.randn(2, 3), pydl.randn(2, 4), pydl.randn(5, 3, 3))


def test_sequential_message_names():
    # the registration error names the type as torch does (module path + class)
    with pytest.raises(TypeError, match=re.escape("is not a Module subclass")):
        nn.Sequential(3)
