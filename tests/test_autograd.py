"""Autograd: the tape's behaviour (no_grad, accumulation, retain_graph, errors, deep graphs) and
float64 finite-difference checks of every op's backward on small shapes."""
import sys

import numpy as np
import pytest
import torch

import pydl
from harness import check_op, fd_gradcheck, lib_fns, to_numpy


def test_leaf_and_grad_fn():
    x = pydl.tensor([1.0, 2.0], requires_grad=True)
    assert x.is_leaf and x.grad_fn is None and x.grad is None
    y = x * 2
    assert not y.is_leaf and y.grad_fn is not None and y.requires_grad
    z = pydl.tensor([1.0, 2.0])
    assert z.is_leaf and not z.requires_grad
    assert not (z * 2).requires_grad and (z * 2).grad_fn is None
    assert (z * x).requires_grad
    w = pydl.zeros(3).requires_grad_()
    assert w.requires_grad and w.is_leaf
    assert pydl.zeros(3, requires_grad=True).requires_grad


def test_backward_simple_values():
    x = pydl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), [2.0, 4.0, 6.0])
    assert x.grad.dtype == pydl.float32 and x.grad.shape == x.shape


def test_no_grad_context_and_decorator():
    x = pydl.tensor([1.0, 2.0], requires_grad=True)
    assert pydl.is_grad_enabled()
    with pydl.no_grad():
        assert not pydl.is_grad_enabled()
        y = x * 2
        assert not y.requires_grad and y.grad_fn is None
        with pydl.enable_grad():
            assert pydl.is_grad_enabled()
            assert (x * 2).requires_grad
        assert not pydl.is_grad_enabled()
    assert pydl.is_grad_enabled()

    @pydl.no_grad()
    def f(t):
        assert not pydl.is_grad_enabled()
        return t * 3

    assert not f(x).requires_grad
    assert pydl.is_grad_enabled()


def test_no_grad_restored_after_exception():
    with pytest.raises(ZeroDivisionError):
        with pydl.no_grad():
            1 / 0
    assert pydl.is_grad_enabled()


def test_detach_stops_gradient():
    x = pydl.tensor([1.0, 2.0], requires_grad=True)
    y = x * x.detach()
    y.sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), [1.0, 2.0])


def test_grad_accumulates_across_backward_calls():
    x = pydl.tensor([1.0, -2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), [3 + 2.0, 3 - 4.0])
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), [3.0, 3.0])


def test_retain_graph_and_second_backward():
    x = pydl.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    g1 = to_numpy(x.grad).copy()
    y.backward()
    np.testing.assert_allclose(to_numpy(x.grad), 2 * g1, rtol=1e-6)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_second_backward_without_retain_raises():
    xt = torch.tensor([1.0, 2.0], requires_grad=True)
    yt = (xt.exp() * xt).sum()
    yt.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        yt.backward()
    x = pydl.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_nonscalar_backward_needs_gradient():
    x = pydl.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        (x * 2).backward()
    (x * 2).backward(pydl.tensor([1.0, 10.0]))
    np.testing.assert_array_equal(to_numpy(x.grad), [2.0, 20.0])


def test_backward_of_tensor_without_grad_raises():
    with pytest.raises(RuntimeError):
        pydl.tensor([1.0, 2.0]).sum().backward()


def test_diamond_and_reuse():
    # x feeds several paths; the gradients add up
    def fn(L, x, y):
        a = x * y
        b = a + x
        c = a * b
        return (c + x.exp() - y).sum()

    check_op("diamond", *lib_fns(fn), shapes=[(3, 4), (3, 4)])
    check_op("same_tensor_twice", *lib_fns(lambda L, x: x * x + x), shapes=[(7,)])
    check_op("broadcast_grad_reduces", *lib_fns(lambda L, x, b: (x * b + b).sum(0)), shapes=[(5, 3), (3,)])
    check_op("broadcast_grad_keepdim", *lib_fns(lambda L, x, b: x / b), shapes=[(5, 3), (5, 1)], low=0.5, high=2)
    check_op("scalar_0d_grad", *lib_fns(lambda L, x, s: x * s), shapes=[(4, 3), ()])


def test_grad_through_int_and_compare_is_cut():
    check_op("where_grad", *lib_fns(lambda L, x, y: L.where(x > y, x * 2, y)), shapes=[(33,), (33,)])
    x = pydl.tensor([1.0, 2.0], requires_grad=True)
    assert not (x > 1).requires_grad


def test_deep_graph_no_recursion_limit():
    n = 10_000
    assert n > sys.getrecursionlimit() / 2
    x = pydl.tensor([1.0, 2.0], requires_grad=True)
    y = x
    for _ in range(n):
        y = y + 1.0
    y.sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), [1.0, 1.0])
    np.testing.assert_array_equal(to_numpy(y.detach()), [1.0 + n, 2.0 + n])
    # a deep chain of non-trivial ops, too
    w = pydl.tensor([0.5], requires_grad=True)
    z = w
    for _ in range(3000):
        z = z * 1.0001 - 0.00001
    z.sum().backward()
    assert abs(w.grad.item() - 1.0001 ** 3000) < 1e-3


def test_grad_dtype_float64():
    x = pydl.tensor([1.0, 2.0], dtype=pydl.float64, requires_grad=True)
    (x * x).sum().backward()
    assert x.grad.dtype == pydl.float64


def test_inplace_on_leaf_requiring_grad_raises():
    with pytest.raises(RuntimeError):
        torch.zeros(2, requires_grad=True).add_(1)
    with pytest.raises(RuntimeError):
        pydl.zeros(2, requires_grad=True).add_(1)
    # ...but it is fine under no_grad (how optimizers update parameters)
    w = pydl.zeros(2, requires_grad=True)
    with pydl.no_grad():
        w.add_(1.0)
    assert w.tolist() == [1.0, 1.0] and w.requires_grad


# --------------------------------------------------------------------------------------------
# float64 finite-difference checks on small shapes (pydl only)
# --------------------------------------------------------------------------------------------
FD = [
    ("add_bcast", lambda a, b: a + b, [(2, 3), (3,)], {}),
    ("sub_bcast", lambda a, b: a - b, [(2, 1), (1, 3)], {}),
    ("mul_bcast", lambda a, b: a * b, [(2, 3), (2, 1)], {}),
    ("div", lambda a, b: a / b, [(2, 3), (2, 3)], dict(low=0.5, high=2)),
    ("pow", lambda a, b: a ** b, [(2, 3), (2, 3)], dict(low=0.5, high=2)),
    ("pow_scalar", lambda a: a ** 3, [(2, 3)], {}),
    ("rpow_scalar", lambda a: 1.7 ** a, [(2, 3)], {}),
    ("exp", lambda a: a.exp(), [(2, 3)], {}),
    ("log", lambda a: a.log(), [(2, 3)], dict(low=0.5, high=2)),
    ("sqrt", lambda a: a.sqrt(), [(2, 3)], dict(low=0.5, high=2)),
    ("rsqrt", lambda a: a.rsqrt(), [(2, 3)], dict(low=0.5, high=2)),
    ("reciprocal", lambda a: a.reciprocal(), [(2, 3)], dict(low=0.5, high=2)),
    ("square", lambda a: a.square(), [(2, 3)], {}),
    ("sin", lambda a: a.sin(), [(2, 3)], {}),
    ("cos", lambda a: a.cos(), [(2, 3)], {}),
    ("log1p", lambda a: a.log1p(), [(2, 3)], dict(low=-0.5, high=2)),
    ("expm1", lambda a: a.expm1(), [(2, 3)], {}),
    ("sigmoid", lambda a: a.sigmoid(), [(2, 3)], {}),
    ("tanh", lambda a: a.tanh(), [(2, 3)], {}),
    ("abs", lambda a: a.abs(), [(2, 3)], dict(low=0.2, high=2)),
    ("maximum", lambda a, b: pydl.maximum(a, b), [(2, 3), (2, 3)], {}),
    ("clamp", lambda a: a.clamp(-0.5, 0.5), [(3, 4)], {}),
    ("sum_dim", lambda a: a.sum(1), [(2, 3)], {}),
    ("mean_keepdim", lambda a: a.mean(0, keepdim=True), [(2, 3)], {}),
    ("var", lambda a: a.var(1), [(2, 4)], {}),
    ("var_c0", lambda a: a.var(correction=0), [(2, 4)], {}),
    ("std", lambda a: a.std(0), [(3, 2)], {}),
    ("prod", lambda a: a.prod(1), [(2, 3)], {}),
    ("amax", lambda a: a.amax(1), [(2, 3)], {}),
    ("max_dim", lambda a: a.max(1)[0], [(2, 3)], {}),
    ("logsumexp", lambda a: a.logsumexp(1), [(2, 3)], {}),
    ("norm", lambda a: a.norm(), [(2, 3)], {}),
    ("matmul", lambda a, b: a @ b, [(2, 3), (3, 4)], {}),
    ("bmm", lambda a, b: pydl.bmm(a, b), [(2, 2, 3), (2, 3, 2)], {}),
    ("where", lambda a, b: pydl.where(a > 0, a, b), [(2, 3), (2, 3)], {}),
    ("cat_stack", lambda a, b: pydl.stack([pydl.cat([a, b], 0), pydl.cat([b, a], 0)], 1), [(2, 3), (1, 3)], {}),
    ("views", lambda a: a.t().reshape(6)[::2].unsqueeze(0).expand(2, 3), [(2, 3)], {}),
    ("indexing", lambda a: a[1:, ::2] * a[0, 1], [(3, 4)], {}),
    ("masked_fill", lambda a: a.masked_fill(a > 0.5, 0.0) * a, [(3, 4)], {}),
    ("composite", lambda a, b: ((a @ b).tanh() * 2 - (a.exp().sum(1, keepdim=True)).log()).mean(),
     [(3, 4), (4, 3)], {}),
]


@pytest.mark.parametrize("row", FD, ids=lambda r: r[0])
def test_finite_differences(row):
    name, fn, shapes, kw = row
    assert fd_gradcheck(name, fn, shapes=shapes, **kw)


FD_ACT = ["relu", "leaky_relu", "elu", "selu", "gelu", "silu", "softplus"]


@pytest.mark.parametrize("name", FD_ACT)
def test_finite_differences_functional(name):
    fn = getattr(pydl.nn.functional, name)
    x = np.array([[-2.1, -0.7, -0.3], [0.4, 1.1, 2.6]])   # away from the kink at 0
    assert fd_gradcheck(name, fn, inputs=[x])


def test_pydl_autograd_gradcheck():
    gradcheck = pydl.autograd.gradcheck
    a = pydl.tensor(np.random.default_rng(0).standard_normal((3, 4)), dtype=pydl.float64, requires_grad=True)
    b = pydl.tensor(np.random.default_rng(1).standard_normal((4, 2)), dtype=pydl.float64, requires_grad=True)
    assert gradcheck(lambda a, b: (a @ b).tanh(), (a, b)) is True
    assert gradcheck(lambda a: a.exp().sum(1), (a,), eps=1e-6, atol=1e-5, rtol=1e-3) is True


def test_backward_on_one_element_nonscalar():
    # torch creates the implicit gradient for any one-element output
    x = pydl.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum(0, keepdim=True).backward()
    np.testing.assert_array_equal(to_numpy(x.grad), [3.0, 3.0])


def test_requires_grad_tensor_created_under_no_grad():
    with pydl.no_grad():
        w = pydl.zeros(3, requires_grad=True)
    assert w.requires_grad and w.is_leaf
    (w * 2).sum().backward()
    assert w.grad.tolist() == [2.0, 2.0, 2.0]


def test_modified_saved_tensor_is_detected():
    # exp saves its result; modifying it in place before backward makes the gradient wrong, and
    # torch refuses ("...modified by an inplace operation") instead of returning garbage
    xt = torch.tensor([1.0, 2.0], requires_grad=True)
    yt = xt.exp()
    yt.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        yt.sum().backward()
    x = pydl.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    y.add_(1.0)
    with pytest.raises(RuntimeError):
        y.sum().backward()


def test_grad_is_not_tracked():
    x = pydl.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    assert not x.grad.requires_grad and x.grad.grad_fn is None


GRAD_ROWS = [
    # (id, fn(L, *xs), shapes, grad positions)
    ("to_double", lambda L, x: x.double() * 2, [(3, 4)], True),
    ("double_float_roundtrip", lambda L, x: x.double().float().exp(), [(3, 4)], True),
    ("to_dtype", lambda L, x: x.to(L.float64).sum(0), [(3, 4)], True),
    ("clone", lambda L, x: x.clone() * x, [(3, 4)], True),
    ("contiguous_of_t", lambda L, x: x.t().contiguous() * 3, [(3, 4)], True),
    ("detach_mid", lambda L, x: x * x.detach().exp(), [(3, 4)], True),
    ("one_input_without_grad", lambda L, a, b: a @ b, [(3, 4), (4, 5)], [1]),
    ("other_input_without_grad", lambda L, a, b: a * b, [(3, 4), (4,)], [0]),
    ("cat_partial_grad", lambda L, a, b: L.cat([a, b], 1), [(3, 2), (3, 5)], [0]),
    ("stack_partial_grad", lambda L, a, b: L.stack([a, b]), [(3, 2), (3, 2)], [1]),
    ("mixed_float64_float32", lambda L, a, b: a * b, [(3, 4), (3, 4)], True),
    ("reuse_after_view", lambda L, x: x.view(12)[3:9] * x.reshape(2, 6)[1], [(3, 4)], True),
]


@pytest.mark.parametrize("row", GRAD_ROWS, ids=lambda r: r[0])
def test_gradient_rows(row):
    name, fn, shapes, grad = row
    dtype = ["float64", "float32"] if name == "mixed_float64_float32" else "float32"
    check_op(name, *lib_fns(fn), shapes=shapes, grad=grad, dtype=dtype)


def test_int_input_does_not_need_grad():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    i = np.array([[1, 0, 2], [3, 1, 1]], np.int64)
    check_op("float_times_int", *lib_fns(lambda L, x, i: x * i), inputs=[x, i])
