"""Elementwise ops against torch: unary, binary (with broadcasting), comparisons, where, operators
with python scalars, type promotion, in-place ops. Key rows run under every available ISA."""
import numpy as np
import pytest
import torch

import pydl
from harness import (BINARY_SHAPES, DEVICES, ISAS, NONCONTIG_SHAPES, UNARY_SHAPES, check_op,
                     lib_fns, make_pair, on_isa, row_id, to_numpy)

# (id, fn(L, x), kwargs for check_op). low/high keep inputs inside the op's domain.
UNARY = [
    ("neg", lambda L, x: L.neg(x), {}),
    ("neg_op", lambda L, x: -x, {}),
    ("exp", lambda L, x: L.exp(x), dict(low=-10, high=10)),
    ("exp_method", lambda L, x: x.exp(), {}),
    ("log", lambda L, x: L.log(x), dict(low=1e-3, high=10)),
    ("sqrt", lambda L, x: L.sqrt(x), dict(low=1e-2, high=10)),
    ("rsqrt", lambda L, x: L.rsqrt(x), dict(low=1e-2, high=10)),
    ("abs", lambda L, x: L.abs(x), {}),
    ("abs_method", lambda L, x: x.abs(), {}),
    ("sign", lambda L, x: L.sign(x), {}),
    ("square", lambda L, x: L.square(x), {}),
    ("reciprocal_pos", lambda L, x: L.reciprocal(x), dict(low=0.25, high=4)),
    ("reciprocal_neg", lambda L, x: x.reciprocal(), dict(low=-4, high=-0.25)),
    ("sin", lambda L, x: L.sin(x), dict(low=-6, high=6)),
    ("cos", lambda L, x: L.cos(x), dict(low=-6, high=6)),
    ("log1p", lambda L, x: L.log1p(x), dict(low=-0.9, high=10)),
    ("expm1", lambda L, x: L.expm1(x), dict(low=-5, high=5)),
    ("floor", lambda L, x: L.floor(x), dict(low=-5, high=5)),
    ("ceil", lambda L, x: L.ceil(x), dict(low=-5, high=5)),
    ("round", lambda L, x: L.round(x), dict(low=-5, high=5)),
    ("sigmoid", lambda L, x: L.sigmoid(x), dict(low=-10, high=10)),
    ("tanh", lambda L, x: L.tanh(x), dict(low=-5, high=5)),
    ("relu", lambda L, x: L.relu(x), {}),
    ("clamp", lambda L, x: L.clamp(x, -0.5, 0.75), {}),
    ("clamp_min", lambda L, x: x.clamp(min=-0.5), {}),
    ("clamp_max", lambda L, x: x.clamp(max=0.5), {}),
    ("clip", lambda L, x: L.clip(x, -1.0, 1.0), {}),
    ("pow_scalar2", lambda L, x: x ** 2, {}),
    ("pow_scalar3", lambda L, x: L.pow(x, 3), {}),
    ("pow_scalar_half", lambda L, x: x ** 0.5, dict(low=0.1, high=4)),
    ("pow_scalar_neg", lambda L, x: x ** -1.5, dict(low=0.25, high=4)),
    ("rpow_scalar", lambda L, x: 2.0 ** x, dict(low=-5, high=5)),
    ("add_scalar", lambda L, x: x + 2.5, {}),
    ("radd_scalar", lambda L, x: 2.5 + x, {}),
    ("sub_scalar", lambda L, x: x - 1.5, {}),
    ("rsub_scalar", lambda L, x: 1.5 - x, {}),
    ("mul_scalar", lambda L, x: x * -3.0, {}),
    ("rmul_scalar", lambda L, x: 3 * x, {}),
    ("div_scalar", lambda L, x: x / 4.0, {}),
    ("rdiv_scalar", lambda L, x: 2.0 / x, dict(low=0.25, high=4)),
    ("chain", lambda L, x: (L.exp(-x * x) * L.sin(3 * x) + 1.0) / (1.0 + L.abs(x)), {}),
]
UNARY_F64 = ["exp", "log", "sqrt", "sigmoid", "tanh", "sin", "reciprocal_pos", "pow_scalar_half", "chain"]
UNARY_BY_ID = {r[0]: r for r in UNARY}


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("row", UNARY, ids=row_id)
def test_unary(row, isa):
    name, fn, kw = row
    with on_isa(isa):
        for shape in UNARY_SHAPES:
            check_op(name, *lib_fns(fn), shapes=[shape], **kw)


@pytest.mark.parametrize("row", UNARY, ids=row_id)
def test_unary_noncontiguous(row):
    name, fn, kw = row
    for shape in NONCONTIG_SHAPES:
        check_op(name, *lib_fns(fn), shapes=[shape], noncontiguous=True, **kw)


@pytest.mark.parametrize("name", UNARY_F64)
def test_unary_float64(name):
    _, fn, kw = UNARY_BY_ID[name]
    for shape in [(7,), (4, 33), (127,)]:
        check_op(name, *lib_fns(fn), shapes=[shape], dtype="float64", **kw)


@pytest.mark.parametrize("device", DEVICES)
def test_unary_devices(device):
    for name in ("exp", "relu", "sigmoid", "sqrt"):
        _, fn, kw = UNARY_BY_ID[name]
        check_op(name, *lib_fns(fn), shapes=[(4, 33)], device=device, **kw)


# Saturation and overflow: naive formulas give NaN here (tanh as (e^2x-1)/(e^2x+1), ...).
BIG = np.array([-1e4, -1e3, -100.0, -88.8, -50.0, -20.0, -1.0, 0.0, 1.0, 20.0, 50.0, 88.8, 100.0, 1e3, 1e4],
               dtype=np.float32)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("name", ["exp", "sigmoid", "tanh", "expm1", "abs", "square", "relu", "neg"])
def test_unary_large_magnitude(name, isa):
    _, fn, _ = UNARY_BY_ID[name]
    with on_isa(isa):
        check_op(name + "_large", *lib_fns(fn), inputs=[BIG])
        # a longer vector so every SIMD lane / tail position sees the extreme values
        check_op(name + "_large_tiled", *lib_fns(fn), inputs=[np.tile(BIG, 9)[:127]])


def test_log_sqrt_domain_edges():
    x = np.array([0.0, -0.0, -1.0, np.inf, np.nan, 1e-38, 3.4e38], dtype=np.float32)
    for name in ("log", "sqrt", "log1p"):
        check_op(name + "_edges", *lib_fns(UNARY_BY_ID[name][1]), inputs=[x], grad=False)
    check_op("exp_nan_inf", *lib_fns(lambda L, x: L.exp(x)),
             inputs=[np.array([np.nan, np.inf, -np.inf, 0.0], np.float32)], grad=False)


def test_round_half_to_even():
    x = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, 0.49999997, -0.49999997], dtype=np.float32)
    check_op("round_half_even", *lib_fns(lambda L, x: L.round(x)), inputs=[x])


# Gradients at kinks follow torch's conventions (relu'(0) = 0, |x|'(0) = 0, clamp passes the
# gradient at its bounds, sign/floor/round give 0).
def test_kinks_gradients():
    x = np.array([-1.0, -0.5, 0.0, 0.5, 0.75, 1.0], dtype=np.float32)
    for name, fn in [
        ("relu0", lambda L, x: L.relu(x)),
        ("abs0", lambda L, x: L.abs(x)),
        ("clamp_bounds", lambda L, x: L.clamp(x, -0.5, 0.75)),
        ("sign0", lambda L, x: L.sign(x)),
    ]:
        check_op(name, *lib_fns(fn), inputs=[x])


# ---------------------------------------------------------------------------------------------
# binary
# ---------------------------------------------------------------------------------------------
BINARY = [
    ("add", lambda L, a, b: L.add(a, b), {}),
    ("add_op", lambda L, a, b: a + b, {}),
    ("sub", lambda L, a, b: L.sub(a, b), {}),
    ("sub_op", lambda L, a, b: a - b, {}),
    ("mul", lambda L, a, b: L.mul(a, b), {}),
    ("mul_op", lambda L, a, b: a * b, {}),
    ("div", lambda L, a, b: L.div(a, b), dict(low=0.25, high=4)),
    ("div_op", lambda L, a, b: a / b, dict(low=0.25, high=4)),
    ("pow", lambda L, a, b: L.pow(a, b), dict(low=0.25, high=3)),
    ("pow_op", lambda L, a, b: a ** b, dict(low=0.25, high=3)),
    ("maximum", lambda L, a, b: L.maximum(a, b), {}),
    ("minimum", lambda L, a, b: L.minimum(a, b), {}),
    ("add_method", lambda L, a, b: a.add(b), {}),
    ("mul_method", lambda L, a, b: a.mul(b), {}),
]
COMPARE = [
    ("eq", lambda L, a, b: L.eq(a, b)),
    ("ne", lambda L, a, b: L.ne(a, b)),
    ("lt", lambda L, a, b: L.lt(a, b)),
    ("le", lambda L, a, b: L.le(a, b)),
    ("gt", lambda L, a, b: L.gt(a, b)),
    ("ge", lambda L, a, b: L.ge(a, b)),
    ("eq_op", lambda L, a, b: a == b),
    ("ne_op", lambda L, a, b: a != b),
    ("lt_op", lambda L, a, b: a < b),
    ("le_op", lambda L, a, b: a <= b),
    ("gt_op", lambda L, a, b: a > b),
    ("ge_op", lambda L, a, b: a >= b),
    ("gt_scalar", lambda L, a, b: a > 0.5),
    ("le_rscalar", lambda L, a, b: 0.5 >= b),
]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("row", BINARY, ids=row_id)
def test_binary(row, isa):
    name, fn, kw = row
    with on_isa(isa):
        for sa, sb in BINARY_SHAPES:
            check_op(name, *lib_fns(fn), shapes=[sa, sb], **kw)


@pytest.mark.parametrize("row", BINARY, ids=row_id)
def test_binary_noncontiguous(row):
    name, fn, kw = row
    for sa, sb in [((33, 7), (33, 7)), ((4, 33), (33,)), ((2, 5, 127), (2, 5, 127)), ((7,), (7,))]:
        check_op(name, *lib_fns(fn), shapes=[sa, sb], noncontiguous=True, **kw)
    # one contiguous operand, one a transposed view of the same shape
    rng = np.random.default_rng(1)
    a = rng.uniform(0.5, 2, (33, 7)).astype(np.float32)
    b = rng.uniform(0.5, 2, (7, 33)).astype(np.float32)
    check_op(name + "_mixed", *lib_fns(lambda L, a, b: fn(L, a, b.t())), inputs=[a, b])


@pytest.mark.parametrize("row", BINARY, ids=row_id)
def test_binary_float64(row):
    name, fn, kw = row
    for sa, sb in [((7,), (7,)), ((4, 1), (1, 33)), ((2, 3, 7), (7,))]:
        check_op(name, *lib_fns(fn), shapes=[sa, sb], dtype="float64", **kw)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("row", COMPARE, ids=row_id)
def test_compare(row, isa):
    name, fn = row
    with on_isa(isa):
        for sa, sb in BINARY_SHAPES:
            # few distinct values, so equal elements occur
            check_op(name, *lib_fns(fn), shapes=[sa, sb], low=-2, high=2, dtype="int64", grad=False)
            check_op(name, *lib_fns(fn), shapes=[sa, sb], grad=False)
        x = np.array([0.0, -0.0, 1.0, np.nan, np.inf, -np.inf], np.float32)
        y = np.array([-0.0, 0.0, np.nan, np.nan, np.inf, 1.0], np.float32)
        check_op(name + "_special", *lib_fns(fn), inputs=[x, y], grad=False)


def test_ties_maximum_minimum_gradient():
    # torch splits the gradient evenly between equal operands
    a = np.array([1.0, 2.0, 3.0, -1.0], np.float32)
    b = np.array([1.0, 1.0, 3.0, 0.0], np.float32)
    check_op("maximum_ties", *lib_fns(lambda L, a, b: L.maximum(a, b)), inputs=[a, b])
    check_op("minimum_ties", *lib_fns(lambda L, a, b: L.minimum(a, b)), inputs=[a, b])


def test_maximum_nan_propagates():
    a = np.array([np.nan, 1.0, 2.0], np.float32)
    b = np.array([0.0, np.nan, 1.0], np.float32)
    check_op("maximum_nan", *lib_fns(lambda L, a, b: L.maximum(a, b)), inputs=[a, b], grad=False)
    check_op("minimum_nan", *lib_fns(lambda L, a, b: L.minimum(a, b)), inputs=[a, b], grad=False)


WHERE_SHAPES = [((7,), (7,), (7,)), ((4, 33), (4, 33), (4, 33)), ((4, 1), (1, 5), (4, 5)),
                ((3, 1, 7), (7,), ()), ((0, 3), (1, 3), (3,))]


@pytest.mark.parametrize("isa", ISAS)
def test_where(isa):
    with on_isa(isa):
        for sc, sa, sb in WHERE_SHAPES:
            rng = np.random.default_rng(len(sc) + 10 * len(sa))
            cond = rng.random(sc) < 0.5
            a = rng.standard_normal(sa).astype(np.float32)
            b = rng.standard_normal(sb).astype(np.float32)
            check_op("where", *lib_fns(lambda L, c, a, b: L.where(c, a, b)), inputs=[cond, a, b])
            check_op("where_from_compare", *lib_fns(lambda L, a, b: L.where(a > b, a, b * 2)),
                     inputs=[a, b])


def test_masked_fill():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 33)).astype(np.float32)
    for mshape in [(4, 33), (33,), (4, 1)]:
        m = rng.random(mshape) < 0.3
        check_op("masked_fill", *lib_fns(lambda L, x, m: x.masked_fill(m, -1e9)), inputs=[x, m])
        check_op("masked_fill_fn", *lib_fns(lambda L, x, m: L.masked_fill(x, m, 0.5)), inputs=[x, m])


# ---------------------------------------------------------------------------------------------
# integer and bool tensors, type promotion (torch's rules)
# ---------------------------------------------------------------------------------------------
INT_ROWS = [
    ("int_add", lambda L, a, b: a + b),
    ("int_sub", lambda L, a, b: a - b),
    ("int_mul", lambda L, a, b: a * b),
    ("int_neg", lambda L, a, b: -a),
    ("int_abs", lambda L, a, b: L.abs(a)),
    ("int_maximum", lambda L, a, b: L.maximum(a, b)),
    ("int_add_scalar", lambda L, a, b: a + 3),
    ("int_mul_scalar", lambda L, a, b: 3 * a),
    ("int_clamp", lambda L, a, b: a.clamp(-3, 4)),
]


@pytest.mark.parametrize("row", INT_ROWS, ids=row_id)
def test_int64_ops(row):
    name, fn = row
    for sa, sb in [((7,), (7,)), ((4, 1), (1, 33)), ((127,), ())]:
        check_op(name, *lib_fns(fn), shapes=[sa, sb], dtype="int64", low=-1000, high=1000)


PROMOTION = [
    # (id, fn, dtypes of the two inputs)
    ("int_times_float_scalar", lambda L, a, b: a * 2.5, ["int64", "int64"]),
    ("int_plus_float_scalar", lambda L, a, b: a + 0.5, ["int64", "int64"]),
    ("int_truediv_int", lambda L, a, b: a / (L.abs(b) + 1), ["int64", "int64"]),
    ("float32_plus_int64", lambda L, a, b: a + b, ["float32", "int64"]),
    ("int64_plus_float32", lambda L, a, b: a + b, ["int64", "float32"]),
    ("float32_plus_float64", lambda L, a, b: a + b, ["float32", "float64"]),
    ("float64_mul_float32", lambda L, a, b: a * b, ["float64", "float32"]),
    ("bool_plus_bool", lambda L, a, b: a + b, ["bool", "bool"]),
    ("bool_times_float", lambda L, a, b: a * b, ["bool", "float32"]),
    ("bool_plus_int_scalar", lambda L, a, b: a + 1, ["bool", "bool"]),
    ("float32_plus_float64_0d", lambda L, a, b: a + b[0], ["float32", "float64"]),
]


@pytest.mark.parametrize("row", PROMOTION, ids=row_id)
def test_type_promotion(row):
    name, fn, dts = row
    check_op(name, *lib_fns(fn), shapes=[(4, 7), (4, 7)], dtype=dts, grad=False, low=-5, high=5)


# ---------------------------------------------------------------------------------------------
# in-place ops
# ---------------------------------------------------------------------------------------------
INPLACE = [
    ("add_", lambda L, x, y: x.add_(y)),
    ("add_scalar_", lambda L, x, y: x.add_(2.0)),
    ("sub_", lambda L, x, y: x.sub_(y)),
    ("mul_", lambda L, x, y: x.mul_(y)),
    ("div_", lambda L, x, y: x.div_(y)),
    ("clamp_", lambda L, x, y: x.clamp_(-0.5, 0.5)),
    ("relu_", lambda L, x, y: x.relu_()),
    ("zero_", lambda L, x, y: x.zero_()),
    ("fill_", lambda L, x, y: x.fill_(3.25)),
    ("copy_", lambda L, x, y: x.copy_(y)),
]


def _iadd(L, x, y):
    x += y
    return x


def _imul(L, x, y):
    x *= 2.0
    return x


def _isub(L, x, y):
    x -= y
    return x


def _idiv(L, x, y):
    x /= y
    return x


INPLACE += [("iadd", _iadd), ("imul_scalar", _imul), ("isub", _isub), ("idiv", _idiv)]


@pytest.mark.parametrize("row", INPLACE, ids=row_id)
@pytest.mark.parametrize("yshape", [(4, 33), (33,), (4, 1)])
def test_inplace(row, yshape):
    name, fn = row
    rng = np.random.default_rng(7)
    x = rng.uniform(0.5, 2, (4, 33)).astype(np.float32)
    y = rng.uniform(0.5, 2, yshape).astype(np.float32)
    xp, xt = make_pair(x)
    yp, yt = make_pair(y)
    rp = fn(pydl, xp, yp)
    rt = fn(torch, xt, yt)
    assert rp is xp, f"{name}: an in-place op must return the tensor itself"
    np.testing.assert_allclose(to_numpy(xp), rt.numpy(), rtol=1.3e-6, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("row", INPLACE, ids=row_id)
def test_inplace_on_view_writes_through(row):
    name, fn = row
    rng = np.random.default_rng(8)
    x = rng.uniform(0.5, 2, (6, 8)).astype(np.float32)
    y = rng.uniform(0.5, 2, (8, 3)).astype(np.float32)
    xp, xt = make_pair(x)
    yp, yt = make_pair(y)
    # a transposed, step-sliced view: the op must write through to the base
    fn(pydl, xp[::2].t(), yp)
    fn(torch, xt[::2].t(), yt)
    np.testing.assert_allclose(to_numpy(xp), xt.numpy(), rtol=1.3e-6, atol=1e-5, err_msg=name)


def test_inplace_then_autograd():
    # an in-place op on a non-leaf in the middle of a graph
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)

    def fn(L, x):
        y = x * 2
        y.add_(1.0)
        y.mul_(x)
        return y.relu_()

    check_op("inplace_in_graph", *lib_fns(fn), inputs=[x])


# ---------------------------------------------------------------------------------------------
# special values, negative bases, big tensors (the OpenMP-parallel paths), thread counts
# ---------------------------------------------------------------------------------------------
SPECIAL = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-45, -1e-45, 3.4e38, -3.4e38, 1.0, -1.0],
                   dtype=np.float32)
SPECIAL_OK = ["neg", "abs", "sign", "square", "floor", "ceil", "round", "relu", "clamp", "clamp_min",
              "clamp_max", "sigmoid", "tanh", "exp", "expm1", "add_scalar", "mul_scalar", "div_scalar",
              "pow_scalar2"]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("name", SPECIAL_OK)
def test_unary_special_values(name, isa):
    # nan propagates (relu(nan) and clamp(nan) are nan in torch), infinities and signed zeros
    _, fn, _ = UNARY_BY_ID[name]
    with on_isa(isa):
        check_op(name + "_special", *lib_fns(fn), inputs=[np.tile(SPECIAL, 12)], grad=False)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("name", UNARY_F64)
def test_unary_float64_isa(name, isa):
    _, fn, kw = UNARY_BY_ID[name]
    with on_isa(isa):
        for shape in [(1,), (3,), (5,), (9,), (33,), (2, 7)]:
            check_op(name, *lib_fns(fn), shapes=[shape], dtype="float64", **kw)


def test_pow_negative_base_integral_exponent():
    # (-2) ** 3 = -8 (not nan): a pow computed as exp(b * log(a)) gets this wrong
    a = np.array([-2.0, -1.5, -0.5, 0.0, 0.0, 2.0, -3.0, -1.0], np.float32)
    b = np.array([3.0, 2.0, -1.0, 0.0, 2.0, 0.5, 0.0, 101.0], np.float32)
    check_op("pow_neg_base", *lib_fns(lambda L, a, b: a ** b), inputs=[a, b], grad=[0])
    check_op("pow_neg_base_scalar3", *lib_fns(lambda L, a: a ** 3), inputs=[a])
    check_op("pow_zero_neg", *lib_fns(lambda L, a: a ** -1.0), inputs=[np.array([0.0, -0.0, 2.0], np.float32)],
             grad=False)


def test_division_by_zero():
    a = np.array([1.0, -1.0, 0.0, 0.0], np.float32)
    b = np.array([0.0, 0.0, 0.0, -0.0], np.float32)
    check_op("div_by_zero", *lib_fns(lambda L, a, b: a / b), inputs=[a, b], grad=False)
    ai = np.array([1, -4, 0], np.int64)
    bi = np.array([0, 0, 0], np.int64)
    check_op("int_truediv_by_zero", *lib_fns(lambda L, a, b: a / b), inputs=[ai, bi])


# int64 values above 2**53 must not travel through a double anywhere (python int scalars included)
BIG_INT = 2 ** 62 + 1
BIG_INTS = np.array([BIG_INT, -BIG_INT, 2 ** 53 + 1, 3, BIG_INT + 1, BIG_INT - 1], np.int64)   # argmax: 4
INT64_BIG = [
    ("identity", lambda L, x: x * 1),
    ("add_scalar", lambda L, x: x + 1),
    ("sub_big_scalar", lambda L, x: x - BIG_INT),
    ("rsub_big_scalar", lambda L, x: BIG_INT - x[3:4]),
    ("mul_big_scalar", lambda L, x: x[3:4] * BIG_INT),
    ("sub_tensor", lambda L, x: x - x[[5, 4, 3, 2, 1, 0]]),
    ("neg", lambda L, x: -x),
    ("max", lambda L, x: x.max()),
    ("argmax", lambda L, x: x.argmax()),
    ("amin", lambda L, x: x[[0, 4, 5]].min()),
    ("sum", lambda L, x: x[2:4].sum()),
    ("eq_next", lambda L, x: x == x + 1),
    ("eq_big_scalar", lambda L, x: x == BIG_INT),
    ("lt_big_scalar", lambda L, x: x < BIG_INT + 1),
    ("clamp_max", lambda L, x: x.clamp(max=2 ** 62)),
    ("clamp_min", lambda L, x: x.clamp(min=-(2 ** 62))),
    ("where_big_scalar", lambda L, x: L.where(x > 0, BIG_INT, x)),
    ("masked_fill_big", lambda L, x: x.masked_fill(x < 0, BIG_INT)),
    ("fill_big", lambda L, x: x.clone().fill_(BIG_INT)),
    ("full_big", lambda L, x: L.full((2,), BIG_INT)),
    ("full_like_big", lambda L, x: L.full_like(x, BIG_INT)),
    ("arange_big", lambda L, x: L.arange(BIG_INT, BIG_INT + 3)),
    ("tensor_list_big", lambda L, x: L.tensor([BIG_INT, -BIG_INT])),
]


@pytest.mark.parametrize("row", INT64_BIG, ids=row_id)
def test_int64_beyond_float64_precision(row):
    name, fn = row
    check_op("int64_big_" + name, *lib_fns(fn), inputs=[BIG_INTS])


def test_int64_big_scalar_access():
    t = pydl.tensor([BIG_INT])
    assert t.tolist() == [BIG_INT] and t.item() == BIG_INT and type(t.item()) is int
    assert pydl.tensor(np.array([BIG_INT])).tolist() == [BIG_INT]
    assert (pydl.tensor([BIG_INT - 1]) + 1).item() == BIG_INT
    x = pydl.zeros(2, dtype=pydl.int64)
    x[0] = BIG_INT
    assert x.tolist() == [BIG_INT, 0]


def _with_threads(n):
    class _T:
        def __enter__(self):
            self.prev = pydl.get_num_threads()
            pydl.set_num_threads(n)

        def __exit__(self, *a):
            pydl.set_num_threads(self.prev)
    return _T()


BIG_BINARY = [((1000, 1025), (1025,)), ((1000, 1), (1, 1025)), ((3, 1, 4097), (1, 100, 1)), ((1_000_003,), (1_000_003,))]


@pytest.mark.parametrize("threads", [1, 2])
def test_big_tensors_parallel_paths(threads):
    with _with_threads(threads):
        assert pydl.get_num_threads() == threads
        for sa, sb in BIG_BINARY:
            # the gradient of a broadcast operand sums up to 4097 terms of size ~1: summation order
            # alone moves it by ~sqrt(n) * eps * sum|terms| ~ 1e-4 (a missing term would be ~1)
            check_op("big_mul_add", *lib_fns(lambda L, a, b: a * b + a), shapes=[sa, sb], grad_atol=1e-3,
                     reason="broadcast gradients are float32 sums of up to 4097 terms")
        check_op("big_where", *lib_fns(lambda L, a, b: L.where(a > 0, a, b)), shapes=[(1000, 1025), (1025,)],
                 grad=False)
        for name in ("exp", "sigmoid", "sqrt"):
            _, fn, kw = UNARY_BY_ID[name]
            check_op(name + "_big", *lib_fns(fn), shapes=[(1_000_003,)], **kw)
            check_op(name + "_big_nc", *lib_fns(fn), shapes=[(1025, 999)], noncontiguous=True, **kw)
        check_op("big_gt", *lib_fns(lambda L, a, b: a > b), shapes=[(999, 1025), (999, 1)], grad=False)
        check_op("big_nc_add", *lib_fns(lambda L, a, b: a + b), shapes=[(1025, 999), (1025, 999)], noncontiguous=True)
