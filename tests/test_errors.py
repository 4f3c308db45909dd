"""Bad calls: each row is the call in pydl, the same call in torch (which must raise the same type,
so the row is torch's behaviour and not a guess), the exception type and, where the spec fixes the
message, a regex for it. A bad call must be an exception, never a crash."""
import numpy as np
import pytest
import torch

import pydl
from harness import check_error


def _both(fn):
    return (lambda: fn(pydl)), (lambda: fn(torch))


def _setitem(t, idx, v):
    t[idx] = v


ERRORS = [
    # (id, fn(L), exception, message regex or None)
    ("matmul_2d_mismatch", lambda L: L.ones(3, 2) @ L.ones(3, 2), RuntimeError,
     r"mat1 and mat2 shapes cannot be multiplied \(3x2 and 3x2\)"),
    ("mm_mismatch", lambda L: L.mm(L.ones(4, 5), L.ones(4, 5)), RuntimeError,
     r"mat1 and mat2 shapes cannot be multiplied \(4x5 and 4x5\)"),
    ("matmul_1d_mismatch", lambda L: L.ones(3) @ L.ones(4), RuntimeError, None),
    ("matmul_batched_mismatch", lambda L: L.ones(2, 3, 4) @ L.ones(2, 5, 6), RuntimeError, None),
    ("matmul_batch_broadcast_mismatch", lambda L: L.ones(2, 3, 4) @ L.ones(3, 4, 6), RuntimeError, None),
    ("matmul_0d", lambda L: L.matmul(L.ones(()), L.ones(3)), RuntimeError, None),
    ("matmul_dtype_mismatch", lambda L: L.ones(2, 3) @ L.ones(3, 2, dtype=L.float64), RuntimeError, None),
    ("mm_1d", lambda L: L.mm(L.ones(3), L.ones(3, 2)), RuntimeError, None),
    ("bmm_2d", lambda L: L.bmm(L.ones(2, 3), L.ones(3, 2)), RuntimeError, None),
    ("bmm_batch_mismatch", lambda L: L.bmm(L.ones(2, 3, 4), L.ones(3, 4, 5)), RuntimeError, None),
    ("broadcast_add", lambda L: L.ones(2, 3) + L.ones(2, 4), RuntimeError,
     r"The size of tensor a \(3\) must match the size of tensor b \(4\) at non-singleton dimension 1"),
    ("broadcast_mul_3d", lambda L: L.ones(5, 2, 3) * L.ones(4, 1, 3), RuntimeError,
     r"The size of tensor a \(5\) must match the size of tensor b \(4\) at non-singleton dimension 0"),
    ("broadcast_where", lambda L: L.where(L.ones(3, dtype=L.bool), L.ones(3), L.ones(4)), RuntimeError, None),
    ("broadcast_inplace_grow", lambda L: L.ones(3).add_(L.ones(2, 3)), RuntimeError, None),
    ("sum_dim_out_of_range", lambda L: L.ones(2, 3).sum(2), IndexError, "Dimension out of range"),
    ("sum_neg_dim_out_of_range", lambda L: L.ones(2, 3).sum(-3), IndexError, "Dimension out of range"),
    ("max_dim_out_of_range", lambda L: L.ones(2, 3).max(5), IndexError, "Dimension out of range"),
    ("softmaxlike_logsumexp_dim", lambda L: L.ones(2, 3).logsumexp(3), IndexError, "Dimension out of range"),
    ("transpose_dim", lambda L: L.ones(2, 3).transpose(0, 2), IndexError, "Dimension out of range"),
    ("unsqueeze_dim", lambda L: L.ones(2, 3).unsqueeze(4), IndexError, "Dimension out of range"),
    ("squeeze_dim", lambda L: L.ones(2, 3).squeeze(3), IndexError, "Dimension out of range"),
    ("size_dim", lambda L: L.ones(2, 3).size(2), IndexError, "Dimension out of range"),
    ("cat_dim", lambda L: L.cat([L.ones(2), L.ones(2)], 1), IndexError, "Dimension out of range"),
    ("permute_dup", lambda L: L.ones(2, 3).permute(0, 0), RuntimeError, None),
    ("permute_wrong_len", lambda L: L.ones(2, 3).permute(0,), RuntimeError, None),
    ("view_bad_size", lambda L: L.ones(2, 3).view(4), RuntimeError, None),
    ("view_noncontig", lambda L: L.ones(2, 3).t().view(6), RuntimeError, None),
    ("reshape_bad_size", lambda L: L.ones(2, 3).reshape(5), RuntimeError, None),
    ("reshape_two_minus1", lambda L: L.ones(2, 3).reshape(-1, -1), RuntimeError, None),
    ("expand_bad", lambda L: L.ones(2, 3).expand(3, 3), RuntimeError, None),
    ("expand_fewer_dims", lambda L: L.ones(2, 3).expand(3), RuntimeError, None),
    ("index_out_of_range", lambda L: L.ones(2, 3)[2], IndexError, None),
    ("index_neg_out_of_range", lambda L: L.ones(2, 3)[:, -4], IndexError, None),
    ("too_many_indices", lambda L: L.ones(2, 3)[0, 0, 0], IndexError, None),
    ("index_tensor_out_of_range", lambda L: L.ones(4)[L.tensor([0, 4])], IndexError, None),
    ("bool_mask_wrong_shape", lambda L: L.ones(4)[L.tensor([True, False])], IndexError, None),
    ("setitem_out_of_range", lambda L: _setitem(L.ones(3), 3, 1.0), IndexError, None),
    ("setitem_bad_shape", lambda L: _setitem(L.ones(3, 4), slice(None), L.ones(3)), RuntimeError, None),
    ("slice_neg_step", lambda L: L.ones(5)[::-1], ValueError, None),
    ("ragged_list", lambda L: L.tensor([[1.0, 2.0], [3.0]]), ValueError, None),
    ("ragged_deep", lambda L: L.tensor([[[1.0], [2.0]], [[3.0]]]), ValueError, None),
    ("tensor_of_string", lambda L: L.tensor("abc"), TypeError, None),
    ("tensor_of_object", lambda L: L.tensor([object()]), (RuntimeError, TypeError), None),
    ("zeros_string", lambda L: L.zeros("a"), TypeError, None),
    ("add_string", lambda L: L.ones(2) + "a", TypeError, None),
    ("add_fn_string", lambda L: L.add(L.ones(2), "a"), TypeError, None),
    ("sum_dim_string", lambda L: L.ones(2).sum(dim="a"), TypeError, None),
    ("reshape_float", lambda L: L.ones(4).reshape(2.0, 2), TypeError, None),
    ("zeros_negative", lambda L: L.zeros(-1), RuntimeError, None),
    ("full_negative", lambda L: L.full((2, -3), 1.0), RuntimeError, None),
    ("arange_zero_step", lambda L: L.arange(0, 5, 0), RuntimeError, None),
    ("arange_wrong_sign", lambda L: L.arange(0, 5, -1), RuntimeError, None),
    ("randint_empty_range", lambda L: L.randint(5, 5, (3,)), RuntimeError, None),
    ("item_many", lambda L: L.ones(3).item(), RuntimeError, None),
    ("max_empty", lambda L: L.ones(0).max(), (RuntimeError, IndexError), None),
    ("argmax_empty", lambda L: L.ones(0).argmax(), (RuntimeError, IndexError), None),
    ("amax_empty_dim", lambda L: L.ones(3, 0).amax(1), IndexError, None),
    ("max_empty_dim", lambda L: L.ones(3, 0).max(1), IndexError, None),
    ("mean_int", lambda L: L.ones(3, dtype=L.int64).mean(), RuntimeError, None),
    ("exp_int_grad", lambda L: L.ones(3, dtype=L.int64, requires_grad=True), RuntimeError, None),
    ("cat_empty_list", lambda L: L.cat([]), (RuntimeError, ValueError), None),
    ("cat_shape_mismatch", lambda L: L.cat([L.ones(2, 3), L.ones(2, 4)], 0), RuntimeError, None),
    ("cat_ndim_mismatch", lambda L: L.cat([L.ones(2, 3), L.ones(3)], 0), RuntimeError, None),
    ("stack_shape_mismatch", lambda L: L.stack([L.ones(2), L.ones(3)]), RuntimeError, None),
    ("masked_fill_float_mask", lambda L: L.ones(3).masked_fill(L.ones(3), 0.0), RuntimeError, None),
    ("where_float_cond", lambda L: L.where(L.ones(3), L.ones(3), L.ones(3)), RuntimeError, None),
    ("clamp_no_bounds", lambda L: L.ones(3).clamp(), RuntimeError, None),
    ("gelu_bad_approximate", lambda L: L.nn.functional.gelu(L.ones(3), approximate="fast"), RuntimeError, None),
    ("to_bad_device", lambda L: L.ones(3).to("tpu"), RuntimeError, None),
]


@pytest.mark.parametrize("row", ERRORS, ids=lambda r: r[0])
def test_error(row):
    name, fn, exc, match = row
    pydl_call, torch_call = _both(fn)
    check_error(pydl_call, exc, match=match, torch_fn=torch_call)


def test_backward_errors():
    x = pydl.tensor([1.0, 2.0], requires_grad=True)
    check_error(lambda: (x * 2).backward(), RuntimeError, match="grad can be implicitly created only for scalar outputs")
    y = (x * 2).sum()
    y.backward()
    check_error(lambda: y.backward(), RuntimeError, match="backward through the graph a second time")
    check_error(lambda: (x * 2).backward(pydl.ones(3)), RuntimeError)


def test_kernels_bad_names():
    check_error(lambda: pydl.kernels.isa("riscv-v").__enter__(), (ValueError, RuntimeError))
    check_error(lambda: pydl.kernels.variant("matmul", "nope").__enter__(), (ValueError, KeyError, RuntimeError))
    check_error(lambda: pydl.kernels.variants("no-such-family"), (ValueError, KeyError, RuntimeError))


def test_errors_leave_tensors_usable():
    a = pydl.ones(2, 3)
    with pytest.raises(RuntimeError):
        a @ a
    with pytest.raises(RuntimeError):
        a.view(7)
    np.testing.assert_array_equal(np.asarray(a @ a.t()), np.full((2, 2), 3.0, np.float32))
