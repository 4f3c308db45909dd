"""Reductions against torch: sum, mean, max/min (values, indices), argmax/argmin, var/std, prod,
amax/amin, logsumexp, norm; over all dims, one dim, several dims, negative dims, keepdim; odd and
empty shapes; long rows with a tolerance derived from a float64 reference."""
import numpy as np
import pytest
import torch

import pydl
from harness import (ISAS, assert_close_fp64, check_op, lib_fns, make_pair, on_isa, row_id,
                     to_numpy)

# torch warns on var/std with <= 0 degrees of freedom (the result is nan, which is compared)
pytestmark = pytest.mark.filterwarnings("ignore:.*degrees of freedom")

# (id, fn(L, x), shapes, kwargs)
SHAPES_ALL = [(), (1,), (7,), (33,), (127,), (4, 33), (33, 4), (2, 3, 7), (1, 1, 127)]
SHAPES_D1 = [(1, 1), (4, 7), (4, 33), (33, 127), (2, 3, 7), (2, 127, 3), (1, 65, 1)]
SHAPES_D0 = [(1,), (7,), (127,), (4, 33), (127, 5), (2, 3, 7), (65, 2, 3)]

REDUCTIONS = [
    ("sum", lambda L, x: L.sum(x), SHAPES_ALL),
    ("sum_method", lambda L, x: x.sum(), SHAPES_ALL),
    ("sum_d0", lambda L, x: x.sum(0), SHAPES_D0),
    ("sum_d1", lambda L, x: x.sum(dim=1), SHAPES_D1),
    ("sum_dneg1_keepdim", lambda L, x: x.sum(dim=-1, keepdim=True), SHAPES_D1),
    ("sum_d02", lambda L, x: x.sum(dim=(0, 2)), [(2, 3, 7), (5, 1, 33), (1, 4, 1)]),
    ("sum_d_neg_tuple_keepdim", lambda L, x: L.sum(x, dim=(-1, -3), keepdim=True), [(2, 3, 7), (3, 5, 33)]),
    ("mean", lambda L, x: x.mean(), SHAPES_ALL),
    ("mean_d1", lambda L, x: L.mean(x, dim=1), SHAPES_D1),
    ("mean_d0_keepdim", lambda L, x: x.mean(0, keepdim=True), SHAPES_D0),
    ("mean_d12", lambda L, x: x.mean(dim=(1, 2)), [(2, 3, 7), (4, 33, 5)]),
    ("max_all", lambda L, x: x.max(), SHAPES_ALL),
    ("min_all", lambda L, x: L.min(x), SHAPES_ALL),
    ("max_d1", lambda L, x: x.max(1), SHAPES_D1),
    ("max_d0_keepdim", lambda L, x: L.max(x, dim=0, keepdim=True), SHAPES_D0),
    ("min_dneg1", lambda L, x: x.min(dim=-1), SHAPES_D1),
    ("min_d0", lambda L, x: L.min(x, 0), SHAPES_D0),
    ("argmax_all", lambda L, x: x.argmax(), SHAPES_ALL),
    ("argmax_d1", lambda L, x: L.argmax(x, dim=1), SHAPES_D1),
    ("argmax_d0_keepdim", lambda L, x: x.argmax(dim=0, keepdim=True), SHAPES_D0),
    ("argmin_all", lambda L, x: L.argmin(x), SHAPES_ALL),
    ("argmin_dneg1", lambda L, x: x.argmin(-1), SHAPES_D1),
    ("amax_d1", lambda L, x: L.amax(x, dim=1), SHAPES_D1),
    ("amax_d02_keepdim", lambda L, x: x.amax(dim=(0, 2), keepdim=True), [(2, 3, 7), (5, 1, 33)]),
    ("amin_d0", lambda L, x: x.amin(0), SHAPES_D0),
    ("var", lambda L, x: x.var(), [s for s in SHAPES_ALL if np.prod(s) > 1]),
    ("var_d1", lambda L, x: L.var(x, dim=1), [s for s in SHAPES_D1 if s[1] > 1]),
    ("var_d0_correction0", lambda L, x: x.var(dim=0, correction=0), SHAPES_D0),
    ("var_unbiased_false", lambda L, x: x.var(1, unbiased=False), SHAPES_D1),
    ("var_keepdim", lambda L, x: x.var(dim=-1, keepdim=True), [(4, 7), (2, 3, 33)]),
    ("var_d02", lambda L, x: x.var(dim=(0, 2)), [(2, 3, 7)]),
    ("std", lambda L, x: x.std(), [s for s in SHAPES_ALL if np.prod(s) > 1]),
    ("std_d1", lambda L, x: L.std(x, dim=1), [s for s in SHAPES_D1 if s[1] > 1]),
    ("std_correction0_keepdim", lambda L, x: x.std(dim=0, correction=0, keepdim=True), SHAPES_D0),
    ("prod", lambda L, x: x.prod(), [(), (1,), (7,), (4, 5), (2, 3, 4)]),
    ("prod_d1", lambda L, x: L.prod(x, dim=1), [(4, 7), (2, 5, 3), (3, 1)]),
    ("prod_d0_keepdim", lambda L, x: x.prod(0, keepdim=True), [(7,), (5, 4)]),
    ("logsumexp_d1", lambda L, x: L.logsumexp(x, dim=1), SHAPES_D1),
    ("logsumexp_d0", lambda L, x: x.logsumexp(0), SHAPES_D0),
    ("logsumexp_keepdim", lambda L, x: x.logsumexp(dim=-1, keepdim=True), [(4, 33), (2, 3, 7)]),
    ("norm", lambda L, x: x.norm(), SHAPES_ALL),
    ("norm_fn", lambda L, x: L.norm(x), [(4, 33)]),
]


def _kwargs(name):
    if name.startswith("prod"):
        return dict(low=0.5, high=1.5)
    return {}


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("row", REDUCTIONS, ids=row_id)
def test_reduction(row, isa):
    name, fn, shapes = row
    with on_isa(isa):
        for shape in shapes:
            check_op(name, *lib_fns(fn), shapes=[shape], **_kwargs(name))


@pytest.mark.parametrize("row", REDUCTIONS, ids=row_id)
def test_reduction_noncontiguous(row):
    name, fn, shapes = row
    for shape in shapes:
        if len(shape) >= 1:
            check_op(name, *lib_fns(fn), shapes=[shape], noncontiguous=True, **_kwargs(name))


@pytest.mark.parametrize("row", REDUCTIONS, ids=row_id)
def test_reduction_float64(row):
    name, fn, shapes = row
    for shape in shapes[:4]:
        check_op(name, *lib_fns(fn), shapes=[shape], dtype="float64", **_kwargs(name))


INT_REDUCTIONS = [
    ("int_sum", lambda L, x: x.sum()),
    ("int_sum_d1", lambda L, x: x.sum(1)),
    ("int_max_d1", lambda L, x: x.max(dim=1)),
    ("int_max", lambda L, x: x.max()),
    ("int_argmin", lambda L, x: x.argmin(1)),
    ("int_amax", lambda L, x: x.amax(0)),
    ("int_prod_d1", lambda L, x: x.prod(1)),
]


@pytest.mark.parametrize("row", INT_REDUCTIONS, ids=row_id)
def test_int64_reductions(row):
    name, fn = row
    check_op(name, *lib_fns(fn), shapes=[(5, 33)], dtype="int64", low=-3, high=3)


def test_bool_sum():
    x = np.random.default_rng(0).random((4, 33)) < 0.5
    check_op("bool_sum", *lib_fns(lambda L, x: x.sum()), inputs=[x])
    check_op("bool_sum_d1", *lib_fns(lambda L, x: x.sum(1)), inputs=[x])


# --- empty inputs ---------------------------------------------------------------------------
EMPTY = [
    ("sum_empty", lambda L, x: x.sum(), (0,)),
    ("sum_empty_2d", lambda L, x: x.sum(), (3, 0)),
    ("sum_empty_d1", lambda L, x: x.sum(1), (3, 0)),
    ("sum_empty_d0", lambda L, x: x.sum(0), (0, 3)),
    ("sum_of_empty_rows", lambda L, x: x.sum(1), (0, 3)),
    ("mean_empty", lambda L, x: x.mean(), (0,)),
    ("mean_empty_d1", lambda L, x: x.mean(1), (3, 0)),
    ("prod_empty", lambda L, x: x.prod(), (0,)),
    ("prod_empty_d0", lambda L, x: x.prod(0), (0, 4)),
    ("max_over_nonempty_dim_of_empty", lambda L, x: x.max(1), (0, 3)),
    ("amax_over_nonempty_dim_of_empty", lambda L, x: x.amax(0), (3, 0)),
    ("argmax_empty_rows", lambda L, x: x.argmax(1), (0, 3)),
    ("logsumexp_empty_d1", lambda L, x: x.logsumexp(1), (3, 0)),
    ("norm_empty", lambda L, x: x.norm(), (0, 3)),
]


@pytest.mark.parametrize("row", EMPTY, ids=row_id)
def test_empty_reduction(row):
    name, fn, shape = row
    check_op(name, *lib_fns(fn), shapes=[shape])


def test_var_single_element_is_nan():
    # correction=1 over one element divides by 0: torch gives nan (and warns)
    with pytest.warns(UserWarning):
        torch.zeros(1).var()
    check_op("var_one", *lib_fns(lambda L, x: x.var()), shapes=[(1,)], grad=False)
    check_op("var_one_d1", *lib_fns(lambda L, x: x.var(1)), shapes=[(3, 1)], grad=False)


# --- ties, NaN, special values ---------------------------------------------------------------
def test_max_min_ties_first_index_and_gradient():
    # indices: the first extreme (torch's documented behaviour); gradients: max(dim) sends the
    # gradient to that index, amax()/max() over everything split it evenly between the ties
    x = np.array([[1.0, 3.0, 3.0, 2.0], [5.0, 5.0, 5.0, 5.0], [-1.0, -2.0, -2.0, -1.0]], np.float32)
    for name, fn in [
        ("max_d1_ties", lambda L, x: x.max(1)),
        ("min_d1_ties", lambda L, x: x.min(1)),
        ("argmax_ties", lambda L, x: x.argmax(1)),
        ("argmin_ties", lambda L, x: x.argmin(1)),
        ("argmax_all_ties", lambda L, x: x.argmax()),
        ("amax_ties", lambda L, x: x.amax(1)),
        ("amin_ties", lambda L, x: x.amin(dim=1)),
        ("max_all_ties", lambda L, x: x.max()),
        ("max_d0_ties", lambda L, x: x.max(0)),
    ]:
        check_op(name, *lib_fns(fn), inputs=[x])


def test_max_ties_first_index_long_rows():
    # first index also when the ties fall in different SIMD lanes / blocks
    x = np.zeros((3, 127), np.float32)
    x[0, [5, 40, 126]] = 7.0
    x[1, [100, 101]] = 7.0
    x[2, :] = -1.0
    for isa in ISAS:
        with on_isa(isa):
            check_op("argmax_long_ties", *lib_fns(lambda L, x: x.argmax(1)), inputs=[x])
            check_op("max_long_ties", *lib_fns(lambda L, x: x.max(1)), inputs=[x], grad=False)
            check_op("argmax_col_ties", *lib_fns(lambda L, x: x.t().argmax(0)), inputs=[x])


@pytest.mark.parametrize("isa", ISAS)
def test_nan_in_reductions(isa):
    x = np.arange(3 * 33, dtype=np.float32).reshape(3, 33)
    x[0, 17] = np.nan
    x[2, 32] = np.nan
    with on_isa(isa):
        for name, fn in [
            ("sum_nan", lambda L, x: x.sum(1)),
            ("max_nan", lambda L, x: x.max(1)),
            ("min_nan", lambda L, x: x.min(1)),
            ("amax_nan", lambda L, x: x.amax(1)),
            ("argmax_nan", lambda L, x: x.argmax(1)),
            ("argmin_nan", lambda L, x: x.argmin(1)),
            ("max_all_nan", lambda L, x: x.max()),
            ("max_d0_nan", lambda L, x: x.max(0)),
        ]:
            check_op(name, *lib_fns(fn), inputs=[x], grad=False)


def test_inf_in_reductions():
    x = np.array([[1.0, np.inf, 2.0], [-np.inf, 0.0, 1.0], [-np.inf, -np.inf, -np.inf]], np.float32)
    for name, fn in [
        ("max_inf", lambda L, x: x.max(1)),
        ("amin_inf", lambda L, x: x.amin(1)),
        ("sum_inf", lambda L, x: x.sum(1)),
        ("logsumexp_inf", lambda L, x: x.logsumexp(1)),
    ]:
        check_op(name, *lib_fns(fn), inputs=[x], grad=False)


def test_logsumexp_large_values_stable():
    x = np.array([[1e4, 1e4 - 1, 0.0], [-1e4, -1e4, -1e4 + 2], [100.0, 200.0, 300.0]], np.float32)
    # the point is no inf/nan; torch's float32 backward exp(x - lse) inherits the rounding of
    # lse ~ 1e4 (ulp 1e-3), so its gradient itself is only good to ~2e-4 relative
    check_op("logsumexp_large", *lib_fns(lambda L, x: x.logsumexp(1)), inputs=[x], grad_rtol=1e-3,
             reason="torch's reference gradient exp(x - lse) carries lse's rounding at |lse| ~ 1e4")


def test_prod_with_zeros_gradient():
    # the gradient of a product with one zero is the product of the others, with two zeros it is
    # zero everywhere: prod / x gives nan / inf instead
    x = np.array([[2.0, 0.0, 3.0, 0.5], [0.0, 1.0, 0.0, 4.0], [1.5, 2.0, -1.0, 3.0]], np.float32)
    check_op("prod_zeros_d1", *lib_fns(lambda L, x: x.prod(1)), inputs=[x])
    check_op("prod_one_zero_all", *lib_fns(lambda L, x: x[0].prod()), inputs=[x])


def test_norm_of_zero_vector_gradient():
    # torch defines the gradient of ||x|| at x = 0 as 0 (not nan)
    check_op("norm_zero", *lib_fns(lambda L, x: x.norm()), inputs=[np.zeros(5, np.float32)])


# --- exact sums catch missing / doubled elements (integers are exact in float32 up to 2^24) ---
@pytest.mark.parametrize("isa", ISAS)
def test_integer_valued_sums_are_exact(isa):
    with on_isa(isa):
        for n in [1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 1000, 4097]:
            x = (np.arange(n) % 13 - 6).astype(np.float32) + 1.0
            xp, xt = make_pair(x)
            assert to_numpy(xp.sum()).item() == float(x.astype(np.float64).sum()), f"sum of {n}"
            assert to_numpy(xp.max()).item() == float(x.max()), f"max of {n}"
            assert to_numpy(xp.min()).item() == float(x.min()), f"min of {n}"
            x2 = np.tile(x, (3, 1))
            p2 = pydl.tensor(x2)
            np.testing.assert_array_equal(to_numpy(p2.sum(1)), x2.astype(np.float64).sum(1), err_msg=f"rows {n}")
            np.testing.assert_array_equal(to_numpy(p2.t().sum(0)), x2.astype(np.float64).sum(1),
                                          err_msg=f"cols {n}")
            np.testing.assert_array_equal(to_numpy(pydl.tensor(x2.T.copy()).sum(0)),
                                          x2.astype(np.float64).sum(1), err_msg=f"column-reduce {n}")


# --- long rows: tolerance from a float64 reference --------------------------------------------
# pydl's float32 result is compared with torch's float64 result on the same float32 values; the
# bound c*sqrt(R)*eps32*sum|x| is derived in harness.assert_close_fp64 (an R*eps*sum|x| worst case
# is far too loose to catch anything on rows this long).
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("R", [1000, 4099, 100_003])
def test_long_row_sum_mean(isa, R):
    rng = np.random.default_rng(R)
    for label, x in [("uniform01", rng.random((2, R), dtype=np.float32)),
                     ("signed", rng.standard_normal((2, R)).astype(np.float32)),
                     ("offset", (1e3 + rng.random((2, R))).astype(np.float32))]:
        x64 = torch.from_numpy(x).double()
        xp = pydl.tensor(x)
        with on_isa(isa):
            assert_close_fp64(f"sum row {label} R={R}", xp.sum(1), x64.sum(1), x64.abs().sum(1), R)
            assert_close_fp64(f"sum all {label} R={R}", xp.sum(), x64.sum(), x64.abs().sum(), 2 * R)
            assert_close_fp64(f"mean row {label} R={R}", xp.mean(1), x64.mean(1), x64.abs().mean(1), R)
            # column reduction of the transposed copy: the strided / reduce_cols path
            xtp = pydl.tensor(np.ascontiguousarray(x.T))
            assert_close_fp64(f"sum cols {label} R={R}", xtp.sum(0), x64.sum(1), x64.abs().sum(1), R)


@pytest.mark.parametrize("isa", ISAS)
def test_long_row_var_is_two_pass_stable(isa):
    # mean 1e4, variance 1/12: E[x^2] - E[x]^2 in float32 loses every digit; two-pass keeps ~all.
    rng = np.random.default_rng(5)
    R = 10_007
    x = (1e4 + rng.random((3, R))).astype(np.float32)
    x64 = torch.from_numpy(x).double()
    with on_isa(isa):
        xp = pydl.tensor(x)
        for what, got, ref in [("var", xp.var(1), x64.var(1)), ("std", xp.std(1), x64.std(1)),
                               ("var all", xp.var(), x64.var()),
                               ("var cols", pydl.tensor(np.ascontiguousarray(x.T)).var(0), x64.var(1))]:
            # the mean's error d (<= sqrt(R) eps * 1e4 ~ 0.1 ... 1e-4 in practice) changes the
            # variance by d^2; the squared deviations add like a sum of R positive terms
            np.testing.assert_allclose(to_numpy(got), ref.numpy(), rtol=2e-3, err_msg=f"{what} R={R}")


@pytest.mark.parametrize("isa", ISAS)
def test_long_row_backward(isa):
    R = 4099
    with on_isa(isa):
        for name, fn in [("sum", lambda L, x: x.sum(1)), ("mean", lambda L, x: x.mean(1)),
                         ("amax", lambda L, x: x.amax(1)), ("logsumexp", lambda L, x: x.logsumexp(1))]:
            # forward accuracy on long rows is test_long_row_sum_mean's job (float64-derived bound);
            # here only the gradient is held to the default tolerance
            check_op(name + "_long", *lib_fns(fn), shapes=[(3, R)], grad=True,
                     rtol=1e-4, atol=1e-3, grad_rtol=1.3e-6, grad_atol=1e-5,
                     reason=f"length-{R} float32 sums differ by ~sqrt(R)*eps*sum|x| between summation orders")


@pytest.mark.parametrize("threads", [1, 2])
def test_big_reductions_thread_counts(threads):
    prev = pydl.get_num_threads()
    pydl.set_num_threads(threads)
    try:
        rng = np.random.default_rng(threads)
        x = rng.standard_normal((513, 1025)).astype(np.float32)
        x64 = torch.from_numpy(x).double()
        xp = pydl.tensor(x)
        assert_close_fp64("sum all", xp.sum(), x64.sum(), x64.abs().sum(), x.size)
        assert_close_fp64("sum d0", xp.sum(0), x64.sum(0), x64.abs().sum(0), 513)
        assert_close_fp64("sum d1", xp.sum(1), x64.sum(1), x64.abs().sum(1), 1025)
        assert_close_fp64("sum d1 of transposed", xp.t().sum(1), x64.sum(0), x64.abs().sum(0), 513)
        assert_close_fp64("mean d0", xp.mean(0), x64.mean(0), x64.abs().mean(0), 513)
        for name, fn in [("amax0", lambda L, x: x.amax(0)), ("max1", lambda L, x: x.max(1)),
                         ("argmin_all", lambda L, x: x.argmin()), ("argmax0", lambda L, x: x.argmax(0)),
                         ("max_all", lambda L, x: x.max())]:
            check_op(name + "_big", *lib_fns(fn), inputs=[x])
        np.testing.assert_allclose(to_numpy(xp.var(0)), x64.var(0).numpy(), rtol=1e-4, err_msg="var d0")
        np.testing.assert_allclose(to_numpy(xp.std(1)), x64.std(1).numpy(), rtol=1e-4, err_msg="std d1")
        np.testing.assert_allclose(to_numpy(xp.logsumexp(1)), x64.logsumexp(1).numpy(), rtol=1e-5, err_msg="lse")
    finally:
        pydl.set_num_threads(prev)
