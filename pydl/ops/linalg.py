"""matmul / mm / bmm / dot / mv / linear with gradients.

The strided GEMM kernels take transposed operands without copies, so the
backward products g @ b.mT and a.mT @ g are views, never transposes in memory.
"""
from .. import _C
from ..autograd import Function
from .._tensor import Tensor


def _sum_to(impl, shape):
    return _C.sum_to_shape(impl, list(shape)) if tuple(impl.shape) != tuple(shape) else impl


class Matmul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None, b if ctx.needs_input_grad[0] else None)
        return Tensor._wrap(_C.matmul(a._impl, b._impl))

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        sa, sb = ctx.in_shapes
        gi = g._impl
        ga = gb = None
        # Treat 1-D operands as matrices, as the forward did.
        a2 = None if a is None else (_C.unsqueeze(a._impl, 0) if len(sa) == 1 else a._impl)
        b2 = None if b is None else (_C.unsqueeze(b._impl, 1) if len(sb) == 1 else b._impl)
        if len(sa) == 1:
            gi = _C.unsqueeze(gi, -2 if len(sb) > 1 else 0)
        if len(sb) == 1:
            gi = _C.unsqueeze(gi, -1)
        if b2 is not None:
            ga_full = _C.matmul(gi, _C.transpose(b2, -1, -2))
            if len(sa) == 1:
                ga_full = _C.squeeze(ga_full, [ga_full.ndim - 2])
                ga = Tensor._wrap(_sum_to(ga_full, sa) if ga_full.ndim > 1 else ga_full)
            else:
                ga = Tensor._wrap(_sum_to(ga_full, sa))
        if a2 is not None:
            gb_full = _C.matmul(_C.transpose(a2, -1, -2), gi)
            if len(sb) == 1:
                gb_full = _C.squeeze(gb_full, [gb_full.ndim - 1])
                gb = Tensor._wrap(_sum_to(gb_full, sb) if gb_full.ndim > 1 else gb_full)
            else:
                gb = Tensor._wrap(_sum_to(gb_full, sb))
        return ga, gb


def matmul(a, b):
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError(f"matmul(): argument 'other' must be Tensor, not "
                        f"{type(b if isinstance(a, Tensor) else a).__name__}")
    return Matmul.apply(a, b)


def mm(a, b):
    if a.ndim != 2:
        raise RuntimeError(f"self must be a matrix")
    if b.ndim != 2:
        raise RuntimeError(f"mat2 must be a matrix")
    return matmul(a, b)


def bmm(a, b):
    if a.ndim != 3:
        raise RuntimeError(f"batch1 must be a 3D tensor")
    if b.ndim != 3:
        raise RuntimeError(f"batch2 must be a 3D tensor")
    if a.shape[0] != b.shape[0]:
        raise RuntimeError(f"batch1 and batch2 must have same number of batches, got {a.shape[0]} and {b.shape[0]}")
    return matmul(a, b)


def dot(a, b):
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {a.ndim}D and {b.ndim}D tensors")
    return matmul(a, b)


def mv(a, v):
    if a.ndim != 2 or v.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got {a.ndim}, {v.ndim}")
    return matmul(a, v)


def linear(x, weight, bias=None):
    from .shape import t
    from .elementwise import add
    y = matmul(x, t(weight))
    return add(y, bias) if bias is not None else y
