"""Tensor basics: dtypes, creation, attributes, views, indexing, conversions, numpy / DLPack
interop with numpy and torch, the kernels API."""
import numpy as np
import pytest
import torch

import pydl
from harness import check_op, dtype_name, lib_fns, make_pair, to_numpy

DTYPES = ["float32", "float64", "int64", "bool"]


# --------------------------------------------------------------------------------------------
# dtypes
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", DTYPES)
def test_dtype_objects(name):
    dt = getattr(pydl, name)
    assert str(dt) == f"pydl.{name}"
    assert dt == getattr(pydl, name)
    assert pydl.zeros(2, dtype=dt).dtype == dt
    others = [getattr(pydl, n) for n in DTYPES if n != name]
    assert all(dt != o for o in others)


@pytest.mark.parametrize("data,expected", [
    (1.5, "float32"), ([1.0, 2.0], "float32"), ([[1, 2], [3, 4]], "int64"), (3, "int64"),
    ([True, False], "bool"), (True, "bool"), ([1, 2.5], "float32"), ([], "float32"),
    (np.array([1.0, 2.0]), "float64"), (np.array([1.0], np.float32), "float32"),
    (np.array([1, 2]), "int64"), (np.array([True]), "bool"),
    (np.array([1, 2], np.int32), "int64"), (np.array([1.5, 2.5], np.float16), "float32"),
    (np.float64(2.0), "float64"),
])
def test_tensor_dtype_inference(data, expected):
    t = pydl.tensor(data)
    assert dtype_name(t.dtype) == expected, f"pydl.tensor({data!r}).dtype = {t.dtype}"
    np.testing.assert_array_equal(to_numpy(t), np.asarray(data).astype(expected))
    assert tuple(t.shape) == np.asarray(data).shape


def test_default_dtype_is_float32():
    assert pydl.zeros(3).dtype == pydl.float32
    assert pydl.rand(3).dtype == pydl.float32
    assert pydl.tensor([1.0]).dtype == pydl.float32
    assert pydl.arange(0.0, 1.0, 0.5).dtype == pydl.float32


def test_tensor_explicit_dtype_and_requires_grad():
    t = pydl.tensor([1, 2, 3], dtype=pydl.float64, requires_grad=True)
    assert t.dtype == pydl.float64 and t.requires_grad and t.is_leaf
    t = pydl.tensor([1.7, -1.7], dtype=pydl.int64)
    assert t.tolist() == torch.tensor([1.7, -1.7], dtype=torch.int64).tolist()


def test_tensor_copies_its_input():
    a = np.arange(4.0)
    t = pydl.tensor(a)
    a[0] = 100
    assert t[0].item() == 0.0, "pydl.tensor must copy (from_numpy shares)"


def test_tensor_nested_and_scalar():
    t = pydl.tensor([[[1.0], [2.0]], [[3.0], [4.0]]])
    assert t.shape == (2, 2, 1)
    s = pydl.tensor(2.5)
    assert s.shape == () and s.dim() == 0 and s.item() == 2.5
    assert pydl.tensor([]).shape == (0,)


# --------------------------------------------------------------------------------------------
# creation
# --------------------------------------------------------------------------------------------
CREATION = [
    ("zeros", lambda L: L.zeros(2, 3)),
    ("zeros_tuple", lambda L: L.zeros((2, 3))),
    ("zeros_f64", lambda L: L.zeros(4, dtype=L.float64)),
    ("zeros_int", lambda L: L.zeros(3, dtype=L.int64)),
    ("zeros_empty", lambda L: L.zeros(0, 3)),
    ("zeros_scalar", lambda L: L.zeros(())),
    ("ones", lambda L: L.ones(3, 1, 2)),
    ("ones_bool", lambda L: L.ones(3, dtype=L.bool)),
    ("full_float", lambda L: L.full((2, 3), 1.5)),
    ("full_int", lambda L: L.full((2,), 3)),
    ("full_bool", lambda L: L.full((2,), True)),
    ("full_dtype", lambda L: L.full((2, 2), 7, dtype=L.float64)),
    ("arange_end", lambda L: L.arange(5)),
    ("arange_start_end", lambda L: L.arange(2, 9)),
    ("arange_step", lambda L: L.arange(1, 10, 3)),
    ("arange_float", lambda L: L.arange(0, 1, 0.1)),
    ("arange_float_args", lambda L: L.arange(0.5, 3.0)),
    ("arange_neg_step", lambda L: L.arange(5, 0, -1)),
    ("arange_neg_float_step", lambda L: L.arange(1.0, -1.0, -0.25)),
    ("arange_empty", lambda L: L.arange(0)),
    ("arange_dtype", lambda L: L.arange(4, dtype=L.float64)),
    ("linspace", lambda L: L.linspace(0, 1, 5)),
    ("linspace_one", lambda L: L.linspace(-2, 3, 1)),
    ("linspace_zero", lambda L: L.linspace(-2, 3, 0)),
    ("linspace_many", lambda L: L.linspace(-1, 1, 127)),
    ("eye", lambda L: L.eye(3)),
    ("eye_rect", lambda L: L.eye(2, 4)),
    ("eye_dtype", lambda L: L.eye(3, dtype=L.int64)),
]


@pytest.mark.parametrize("row", CREATION, ids=lambda r: r[0])
def test_creation(row):
    name, fn = row
    check_op(name, *lib_fns(fn), inputs=[], grad=False)


def test_empty_and_like():
    x = pydl.ones(3, 4, dtype=pydl.float64)
    assert pydl.empty(2, 3).shape == (2, 3)
    assert pydl.empty((2, 3), dtype=pydl.int64).dtype == pydl.int64
    for fn in (pydl.zeros_like, pydl.ones_like, pydl.empty_like, pydl.rand_like, pydl.randn_like):
        y = fn(x)
        assert y.shape == (3, 4) and y.dtype == pydl.float64, fn.__name__
    assert to_numpy(pydl.zeros_like(x)).sum() == 0
    assert np.all(to_numpy(pydl.ones_like(x)) == 1)
    f = pydl.full_like(x, 2.5)
    assert f.dtype == pydl.float64 and np.all(to_numpy(f) == 2.5)
    i = pydl.zeros_like(x, dtype=pydl.int64)
    assert i.dtype == pydl.int64
    xi = pydl.tensor([1, 2, 3])
    assert pydl.full_like(xi, 7).dtype == pydl.int64


def test_random_creation():
    pydl.manual_seed(0)
    r = to_numpy(pydl.rand(10_000))
    assert r.dtype == np.float32 and r.min() >= 0 and r.max() < 1
    assert abs(r.mean() - 0.5) < 0.02 and abs(r.std() - 0.2887) < 0.02
    n = to_numpy(pydl.randn(100, 100))
    assert abs(n.mean()) < 0.03 and abs(n.std() - 1) < 0.03
    assert pydl.randn(3, 4, dtype=pydl.float64).dtype == pydl.float64
    ri = pydl.randint(-3, 5, (1000,))
    assert ri.dtype == pydl.int64
    v = to_numpy(ri)
    assert v.min() == -3 and v.max() == 4
    assert pydl.randint(0, 10, (2, 3)).shape == (2, 3)


def test_manual_seed_reproducible():
    pydl.manual_seed(123)
    a = [to_numpy(pydl.rand(5)), to_numpy(pydl.randn(5)), to_numpy(pydl.randint(0, 100, (5,)))]
    pydl.manual_seed(123)
    b = [to_numpy(pydl.rand(5)), to_numpy(pydl.randn(5)), to_numpy(pydl.randint(0, 100, (5,)))]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    pydl.manual_seed(124)
    assert not np.array_equal(to_numpy(pydl.rand(5)), a[0])


# --------------------------------------------------------------------------------------------
# attributes
# --------------------------------------------------------------------------------------------
def test_shape_size_and_friends():
    x = pydl.zeros(2, 3, 4)
    assert isinstance(x.shape, pydl.Size) and isinstance(x.shape, tuple)
    assert x.shape == (2, 3, 4) and x.shape == torch.Size([2, 3, 4])
    assert x.size() == (2, 3, 4) and x.size(1) == 3 and x.size(-1) == 4
    assert x.dim() == 3 and x.ndim == 3 and x.numel() == 24
    assert str(x.device) == "cpu"
    assert x.stride() == (12, 4, 1)
    assert x.is_contiguous()
    assert pydl.zeros(()).numel() == 1 and pydl.zeros(3, 0).numel() == 0
    assert list(x.shape) == [2, 3, 4] and len(x) == 2


def test_strides_match_torch_for_views():
    x = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    p, t = make_pair(x)
    for fn in [lambda a: a, lambda a: a.transpose(0, 2), lambda a: a.permute(1, 2, 0),
               lambda a: a[:, 1:, ::2], lambda a: a[1], lambda a: a[..., None],
               lambda a: a.unsqueeze(1), lambda a: a[:, :1].expand(2, 5, 4), lambda a: a.reshape(6, 4),
               lambda a: a.view(2, 12), lambda a: a.mT]:
        vp, vt = fn(p), fn(t)
        assert vp.shape == vt.shape and vp.stride() == vt.stride(), (vp.shape, vp.stride(), vt.stride())
        assert vp.is_contiguous() == vt.is_contiguous(), (vt.shape, vt.stride())
        np.testing.assert_array_equal(to_numpy(vp), vt.numpy())


def test_item_tolist():
    assert pydl.tensor(2.5).item() == 2.5 and type(pydl.tensor(2.5).item()) is float
    assert type(pydl.tensor(3).item()) is int and pydl.tensor(3).item() == 3
    assert pydl.tensor(True).item() is True
    assert pydl.tensor([[7]]).item() == 7
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    p, t = make_pair(x)
    assert p.tolist() == t.tolist()
    assert p.t().tolist() == t.t().tolist()
    assert pydl.tensor([1, 2]).tolist() == [1, 2] and type(pydl.tensor([1, 2]).tolist()[0]) is int
    assert pydl.tensor([True]).tolist() == [True]
    assert pydl.tensor(1.5).tolist() == 1.5
    with pytest.raises((RuntimeError, ValueError)):
        pydl.zeros(2).item()


def test_conversions():
    x = np.array([-1.7, -0.5, 0.0, 0.5, 2.9], np.float32)
    p, t = make_pair(x)
    for name, fn in [("double", lambda a: a.double()), ("float", lambda a: a.double().float()),
                     ("long", lambda a: a.long()), ("bool", lambda a: a.bool()),
                     ("to_f64", lambda a: a.to(getattr(pydl if isinstance(a, pydl.Tensor) else torch, "float64"))),
                     ("to_int64", lambda a: a.to(getattr(pydl if isinstance(a, pydl.Tensor) else torch, "int64"))),
                     ("long_float", lambda a: a.long().float()), ("bool_long", lambda a: a.bool().long())]:
        vp, vt = fn(p), fn(t)
        assert dtype_name(vp.dtype) == dtype_name(vt.dtype), name
        np.testing.assert_array_equal(to_numpy(vp), vt.numpy(), err_msg=name)
    assert str(p.to("cpu").device) == "cpu"
    assert p.float() is p or np.array_equal(to_numpy(p.float()), x)


def test_contiguous_clone_detach():
    x = pydl.tensor(np.arange(12, dtype=np.float32).reshape(3, 4))
    y = x.t()
    assert not y.is_contiguous()
    z = y.contiguous()
    assert z.is_contiguous() and z.stride() == (3, 1)
    np.testing.assert_array_equal(to_numpy(z), to_numpy(x).T)
    assert x.contiguous() is x or x.contiguous().stride() == x.stride()
    c = x.clone()
    c[0, 0] = 100.0
    assert x[0, 0].item() == 0.0, "clone must not share storage"
    d = x.detach()
    d[0, 0] = 50.0
    assert x[0, 0].item() == 50.0, "detach shares storage"
    xr = pydl.tensor([1.0, 2.0], requires_grad=True)
    assert not xr.detach().requires_grad and xr.detach().is_leaf
    cl = xr.clone()
    assert cl.requires_grad and cl.grad_fn is not None


# --------------------------------------------------------------------------------------------
# views
# --------------------------------------------------------------------------------------------
VIEWS = [
    ("reshape", lambda L, x: x.reshape(4, 6)),
    ("reshape_infer", lambda L, x: x.reshape(-1, 3)),
    ("reshape_fn", lambda L, x: L.reshape(x, (24,))),
    ("reshape_noncontig", lambda L, x: x.t().reshape(-1)),
    ("view", lambda L, x: x.view(2, 12)),
    ("view_infer", lambda L, x: x.view(-1)),
    ("view_tuple", lambda L, x: x.view((3, 8))),
    ("permute", lambda L, x: x.reshape(2, 3, 4).permute(2, 0, 1)),
    ("permute_fn", lambda L, x: L.permute(x.reshape(2, 3, 4), (1, 2, 0))),
    ("permute_neg", lambda L, x: x.reshape(2, 3, 4).permute(-1, 0, -2)),
    ("transpose", lambda L, x: x.transpose(0, 1)),
    ("transpose_fn", lambda L, x: L.transpose(x.reshape(2, 3, 4), -1, 0)),
    ("t", lambda L, x: x.t()),
    ("T", lambda L, x: x.T),
    ("mT", lambda L, x: x.reshape(2, 3, 4).mT),
    ("expand", lambda L, x: x[:1].expand(5, 6)),
    ("expand_new_dims", lambda L, x: x[0].expand(2, 3, 6)),
    ("expand_minus1", lambda L, x: x[:, :1].expand(-1, 3)),
    ("expand_as", lambda L, x: x[:1].expand_as(x)),
    ("squeeze", lambda L, x: x.reshape(1, 4, 1, 6).squeeze()),
    ("squeeze_dim", lambda L, x: x.reshape(1, 4, 1, 6).squeeze(2)),
    ("squeeze_dim_not1", lambda L, x: x.reshape(1, 4, 1, 6).squeeze(1)),
    ("squeeze_neg", lambda L, x: x.reshape(4, 6, 1).squeeze(-1)),
    ("unsqueeze", lambda L, x: x.unsqueeze(0)),
    ("unsqueeze_neg", lambda L, x: x.unsqueeze(-1)),
    ("unsqueeze_mid", lambda L, x: L.unsqueeze(x, 1)),
    ("flatten", lambda L, x: x.reshape(2, 3, 4).flatten()),
    ("flatten_from1", lambda L, x: x.reshape(2, 3, 4).flatten(1)),
    ("flatten_range", lambda L, x: x.reshape(2, 3, 2, 2).flatten(1, 2)),
    ("flatten_fn", lambda L, x: L.flatten(x.reshape(2, 3, 4), 0, -2)),
    ("flatten_noncontig", lambda L, x: x.t().flatten()),
    ("chain", lambda L, x: x.reshape(2, 3, 4).transpose(0, 2)[1:, ::2].reshape(-1).unsqueeze(0) * 2),
]


@pytest.mark.parametrize("row", VIEWS, ids=lambda r: r[0])
def test_views(row):
    name, fn = row
    check_op(name, *lib_fns(fn), shapes=[(4, 6)])


def test_unflatten():
    if not hasattr(pydl.Tensor, "unflatten"):
        pytest.skip("unflatten is optional in the spec")
    check_op("unflatten", *lib_fns(lambda L, x: x.unflatten(1, (2, 3))), shapes=[(4, 6)])


def test_views_share_storage():
    x = pydl.zeros(4, 6)
    for v in (x.view(24), x.reshape(2, 12), x.t(), x[1:3], x[:, ::2], x.unsqueeze(0), x.permute(1, 0),
              x.flatten(), x[None], x[...]):
        v.fill_(1.0) if v.numel() else None
        assert to_numpy(x).sum() > 0, "write through a view must reach the base"
        x.zero_()
    e = x[:1].expand(3, 6)
    x[0, 2] = 5.0
    assert to_numpy(e)[2, 2] == 5.0


def test_reshape_copies_when_needed():
    x = pydl.tensor(np.arange(12, dtype=np.float32).reshape(3, 4))
    y = x.t().reshape(12)
    np.testing.assert_array_equal(to_numpy(y), np.arange(12).reshape(3, 4).T.reshape(12))
    y[0] = 99.0
    assert x[0, 0].item() == 0.0


# --------------------------------------------------------------------------------------------
# indexing
# --------------------------------------------------------------------------------------------
GETITEM = [
    ("int", lambda x: x[1]),
    ("neg_int", lambda x: x[-1]),
    ("int_int", lambda x: x[1, 2]),
    ("int_int_int", lambda x: x[1, -2, 3]),
    ("slice", lambda x: x[1:3]),
    ("slice_step", lambda x: x[:, 1:5:2]),
    ("slice_step3", lambda x: x[::3]),
    ("slice_neg", lambda x: x[-3:-1]),
    ("slice_out_of_range_clips", lambda x: x[2:100]),
    ("slice_empty", lambda x: x[3:1]),
    ("ellipsis_none", lambda x: x[..., None]),
    ("none_front", lambda x: x[None]),
    ("none_mid", lambda x: x[:, None, 1]),
    ("ellipsis_int", lambda x: x[..., 0]),
    ("mixed", lambda x: x[1:, None, ::2, -1]),
    ("colon", lambda x: x[:]),
    ("ellipsis", lambda x: x[...]),
    ("tuple_int_slice", lambda x: x[(0, slice(1, 3))]),
]


@pytest.mark.parametrize("row", GETITEM, ids=lambda r: r[0])
def test_getitem_basic(row):
    name, fn = row
    check_op("getitem_" + name, lambda x: fn(x), lambda x: fn(x), shapes=[(5, 6, 7)])
    check_op("getitem_nc_" + name, lambda x: fn(x), lambda x: fn(x), shapes=[(5, 6, 7)], noncontiguous=True)


ADVANCED = [
    ("bool_mask_full", lambda x, m, i: x[m]),
    ("bool_mask_dim0", lambda x, m, i: x[m[:, 0]]),
    ("int_index", lambda x, m, i: x[i]),
    ("int_index_neg_tail", lambda x, m, i: x[i[3:]]),
    ("int_index_2d", lambda x, m, i: x[i.reshape(2, 3)]),
    ("int_index_after_slice", lambda x, m, i: x[:, i[:2]]),
    ("int_index_list", lambda x, m, i: x[[0, 2, 2]]),
    ("mask_from_compare", lambda x, m, i: x[x > 0.5]),
]


@pytest.mark.parametrize("row", ADVANCED, ids=lambda r: r[0])
def test_getitem_advanced(row):
    name, fn = row
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 6)).astype(np.float32)
    m = rng.random((5, 6)) < 0.4
    i = np.array([4, 0, 2, 2, -1, 1], np.int64)
    check_op(name, lambda x, m, i: fn(x, m, i), lambda x, m, i: fn(x, m, i), inputs=[x, m, i])


SETITEM = [
    ("int_scalar", lambda x, v: x.__setitem__(1, 5.0)),
    ("slice_scalar", lambda x, v: x.__setitem__((slice(None), slice(1, 5, 2)), -2.0)),
    ("ellipsis_tensor", lambda x, v: x.__setitem__((Ellipsis, 0), v[:, 0])),
    ("slice_tensor_broadcast", lambda x, v: x.__setitem__(slice(1, 3), v[0])),
    ("int_int_scalar", lambda x, v: x.__setitem__((2, -1), 9.0)),
    ("all_tensor", lambda x, v: x.__setitem__(slice(None), v)),
    ("mask_scalar", lambda x, v: x.__setitem__(x > 0, 0.0)),
    ("int_scalar_int_value", lambda x, v: x.__setitem__(0, 3)),
]


@pytest.mark.parametrize("row", SETITEM, ids=lambda r: r[0])
def test_setitem(row):
    name, fn = row
    rng = np.random.default_rng(6)
    x = rng.standard_normal((5, 6)).astype(np.float32)
    v = rng.standard_normal((5, 6)).astype(np.float32)
    xp, xt = make_pair(x)
    vp, vt = make_pair(v)
    fn(xp, vp)
    fn(xt, vt)
    np.testing.assert_array_equal(to_numpy(xp), xt.numpy(), err_msg=name)


def test_setitem_on_noncontiguous_view():
    x = np.zeros((4, 6), np.float32)
    xp, xt = make_pair(x)
    for a in (xp, xt):
        v = a.t()
        v[1:4:2] = 7.0
        v[0, 1:] = 3.0
    np.testing.assert_array_equal(to_numpy(xp), xt.numpy())


def test_indexing_backward():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((5, 6)).astype(np.float32)
    i = np.array([1, 3, 1, 1, 0], np.int64)   # repeated indices: their gradients add up
    m = rng.random((5, 6)) < 0.5
    check_op("slice_grad", lambda x: x[1:4, ::2] * 3, None, inputs=[x])
    check_op("select_grad", lambda x: x[2], None, inputs=[x])
    check_op("index_grad_repeats", lambda x, i: x[i], None, inputs=[x, i])
    check_op("index_dim1_grad", lambda x, i: x[:, i], None, inputs=[x, i])
    check_op("mask_grad", lambda x, m: x[m] ** 2, None, inputs=[x, m])
    check_op("none_grad", lambda x: x[None, :, None], None, inputs=[x])


def test_view_ops_backward():
    for name, fn in [("permute", lambda x: x.permute(2, 0, 1) * 2), ("expand", lambda x: x[:, :1].expand(2, 5, 4)),
                     ("reshape_nc", lambda x: x.transpose(0, 2).reshape(-1)), ("squeeze", lambda x: x[:, :1].squeeze(1)),
                     ("unsqueeze", lambda x: x.unsqueeze(1)), ("flatten", lambda x: x.flatten(1))]:
        check_op(name + "_grad", fn, None, shapes=[(2, 3, 4)])


# --------------------------------------------------------------------------------------------
# cat / stack
# --------------------------------------------------------------------------------------------
def test_cat_stack():
    for name, fn, shapes in [
        ("cat0", lambda L, a, b: L.cat([a, b]), [(2, 3), (4, 3)]),
        ("cat1", lambda L, a, b: L.cat([a, b], dim=1), [(2, 3), (2, 5)]),
        ("cat_neg", lambda L, a, b: L.cat((a, b, a), -1), [(2, 3, 1), (2, 3, 7)]),
        ("cat_empty_part", lambda L, a, b: L.cat([a, b], 0), [(0, 3), (4, 3)]),
        ("cat_1d", lambda L, a, b: L.cat([a, b]), [(33,), (7,)]),
        ("stack0", lambda L, a, b: L.stack([a, b]), [(2, 3), (2, 3)]),
        ("stack1", lambda L, a, b: L.stack([a, b, a], dim=1), [(2, 3), (2, 3)]),
        ("stack_neg", lambda L, a, b: L.stack((a, b), -1), [(7,), (7,)]),
        ("stack_scalars", lambda L, a, b: L.stack([a, b]), [(), ()]),
    ]:
        check_op(name, *lib_fns(fn), shapes=shapes)
        check_op(name + "_nc", *lib_fns(fn), shapes=shapes, noncontiguous=True)


# --------------------------------------------------------------------------------------------
# numpy / DLPack interop (zero-copy is checked by mutation)
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("np_dtype", [np.float32, np.float64, np.int64, np.bool_])
def test_from_numpy_zero_copy(np_dtype):
    a = np.zeros((3, 4), dtype=np_dtype)
    t = pydl.from_numpy(a)
    assert dtype_name(t.dtype) == dtype_name(a.dtype) and t.shape == (3, 4)
    a[1, 2] = 1
    assert t[1, 2].item() == 1, "from_numpy must share memory (numpy -> pydl)"
    t[0, 0] = 1
    assert a[0, 0] == 1, "from_numpy must share memory (pydl -> numpy)"


def test_from_numpy_strided_and_keeps_alive():
    a = np.arange(24, dtype=np.float32).reshape(4, 6)[:, ::2]
    t = pydl.from_numpy(a)
    assert t.stride() == (6, 2) and t.tolist() == a.tolist()
    t2 = pydl.from_numpy(np.arange(10, dtype=np.float64))
    import gc
    gc.collect()
    assert t2.tolist() == list(range(10)), "the numpy buffer must stay alive while the tensor does"


def test_numpy_zero_copy():
    t = pydl.zeros(3, 4)
    a = t.numpy()
    assert a.dtype == np.float32 and a.shape == (3, 4)
    t[1, 1] = 5.0
    assert a[1, 1] == 5.0, "Tensor.numpy() must share memory"
    a[0, 0] = 2.0
    assert t[0, 0].item() == 2.0
    v = t.t().numpy()
    assert v.strides == (4, 16), "numpy() of a view keeps its strides"
    b = np.asarray(t)
    assert b.dtype == np.float32 and np.array_equal(b, a)
    assert np.asarray(pydl.tensor([1, 2])).dtype == np.int64
    assert np.asarray(pydl.tensor([True])).dtype == np.bool_


def test_numpy_of_requires_grad_raises():
    with pytest.raises(RuntimeError):
        torch.zeros(2, requires_grad=True).numpy()
    with pytest.raises(RuntimeError):
        pydl.zeros(2, requires_grad=True).numpy()
    assert pydl.zeros(2, requires_grad=True).detach().numpy().shape == (2,)


@pytest.mark.parametrize("np_dtype", [np.float32, np.float64, np.int64, np.bool_])
def test_dlpack_numpy_roundtrip(np_dtype):
    a = np.zeros((2, 5), dtype=np_dtype)
    t = pydl.from_dlpack(a)
    assert dtype_name(t.dtype) == dtype_name(a.dtype) and t.shape == (2, 5)
    a[1, 3] = 1
    assert t[1, 3].item() == 1, "pydl.from_dlpack(numpy) must not copy"
    b = np.from_dlpack(t)
    assert b.dtype == a.dtype and b.shape == (2, 5)
    t[0, 1] = 1
    assert b[0, 1] == 1, "np.from_dlpack(pydl) must not copy"


@pytest.mark.parametrize("dt", ["float32", "float64", "int64", "bool"])
def test_dlpack_torch_roundtrip(dt):
    x = torch.zeros(3, 4, dtype=getattr(torch, dt))
    p = pydl.from_dlpack(x)
    assert dtype_name(p.dtype) == dt and p.shape == (3, 4)
    x[2, 1] = 1
    assert p[2, 1].item() == 1, "pydl.from_dlpack(torch) must not copy"
    y = torch.from_dlpack(p)
    assert y.dtype == x.dtype and y.shape == (3, 4)
    p[0, 3] = 1
    assert y[0, 3].item() == 1 and x[0, 3].item() == 1, "torch.from_dlpack(pydl) must not copy"


def test_dlpack_strided_views():
    p = pydl.tensor(np.arange(24, dtype=np.float32).reshape(4, 6))
    v = p.t()[1:, ::2]
    y = torch.from_dlpack(v)
    ref = torch.arange(24, dtype=torch.float32).reshape(4, 6).t()[1:, ::2]
    assert y.stride() == ref.stride() and torch.equal(y, ref)
    np.testing.assert_array_equal(np.from_dlpack(v), ref.numpy())
    tv = torch.arange(24.0).reshape(4, 6).t()
    assert pydl.from_dlpack(tv).stride() == (1, 6)
    assert pydl.from_dlpack(tv).tolist() == tv.tolist()
    assert v.__dlpack_device__()[1] == 0


def test_dlpack_keeps_producer_alive():
    p = pydl.from_dlpack(torch.arange(1000.0))
    import gc
    gc.collect()
    assert p.sum().item() == sum(range(1000))
    y = torch.from_dlpack(pydl.arange(0, 1000, 1, dtype=pydl.float64))
    gc.collect()
    assert y.sum().item() == sum(range(1000))


# --------------------------------------------------------------------------------------------
# kernels / cuda APIs
# --------------------------------------------------------------------------------------------
def test_kernels_api():
    isas = list(pydl.kernels.isas())
    assert "scalar" in isas and len(set(isas)) == len(isas), isas
    x = pydl.tensor(np.linspace(-3, 3, 127, dtype=np.float32))
    ref = to_numpy(x.exp())
    for isa in isas:
        with pydl.kernels.isa(isa):
            np.testing.assert_allclose(to_numpy(x.exp()), ref, rtol=1e-5, err_msg=isa)
    with pytest.raises((ValueError, RuntimeError)):
        with pydl.kernels.isa("no-such-isa"):
            pass
    variants = list(pydl.kernels.variants("matmul"))
    assert "reference" in variants and "blocked" in variants, variants


def test_kernels_context_restores_on_exception():
    isas = list(pydl.kernels.isas())
    x = pydl.tensor(np.linspace(-3, 3, 127, dtype=np.float32))
    with pytest.raises(KeyError):
        with pydl.kernels.isa(isas[-1]):
            raise KeyError("inside")
    np.testing.assert_allclose(to_numpy(x.exp()), np.exp(np.linspace(-3, 3, 127, dtype=np.float32)), rtol=1e-5)


def test_cuda_is_available_does_not_raise():
    assert pydl.cuda.is_available() in (True, False)


# 0-d tensors through the view machinery (a 0-d tensor has shape () and strides ())
ZERO_DIM = [
    ("unsqueeze0", lambda L, x: x.unsqueeze(0)),
    ("unsqueeze_neg", lambda L, x: x.unsqueeze(-1)),
    ("view1", lambda L, x: x.view(1)),
    ("view_1_1", lambda L, x: x.view(1, 1)),
    ("reshape", lambda L, x: x.reshape(1, 1, 1)),
    ("none_index", lambda L, x: x[None, None]),
    ("expand", lambda L, x: x.expand(3, 2)),
    ("stack", lambda L, x: L.stack([x, x * 2])),
    ("stack_neg_dim", lambda L, x: L.stack([x, x], -1)),
    ("flatten", lambda L, x: x.flatten()),
    ("select_then_unsqueeze", lambda L, x: (x * L.ones(3))[1].unsqueeze(0)),
    ("broadcast_with_1d", lambda L, x: x + L.ones(4)),
]


@pytest.mark.parametrize("row", ZERO_DIM, ids=lambda r: r[0])
def test_zero_dim_views(row):
    name, fn = row
    check_op("zero_dim_" + name, *lib_fns(fn), shapes=[()])
