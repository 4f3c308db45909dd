"""Reductions (sum, mean, max/min, var, prod, argmax, ...) and gradients.

Kernels in csrc/cpu/reduce.cpp; float32 sums accumulate in SIMD lanes over
blocks and combine blocks in double, so long rows stay accurate.
"""
import builtins
import math
import numbers

from .. import _C
from .. import _dtype as D
from ..autograd import Function
from .._tensor import Tensor, _wrap_dim, return_types_max, return_types_min

R = _C.ReduceOp
B = _C.BinaryOp
CMP = _C.CompareOp


def _dims(dim, ndim):
    """None -> all dims ([]); int or sequence -> list of wrapped dims."""
    if dim is None:
        return []
    if isinstance(dim, (tuple, list)):
        return [_wrap_dim(d, ndim) for d in dim] if dim else []
    return [_wrap_dim(dim, ndim)]


def _expand_back(g, in_shape, dims, keepdim):
    """Broadcasts a reduced gradient back over the reduced dims."""
    impl = g._impl
    if not keepdim:
        nd = len(in_shape)
        for d in sorted(dims if dims else range(nd)):
            impl = _C.unsqueeze(impl, d)
    return _C.expand(impl, list(in_shape))


class Sum(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim):
        ctx.dims, ctx.keepdim = dims, keepdim
        return Tensor._wrap(_C.reduce(R.sum, x._impl, dims, keepdim, False)[0])

    @staticmethod
    def backward(ctx, g):
        return Tensor._wrap(_C.contiguous(_expand_back(g, ctx.in_shapes[0], ctx.dims, ctx.keepdim)))


def sum(x, dim=None, keepdim=False, dtype=None):  # noqa: A001
    if dtype is not None:
        x = x.to(dtype)
    return Sum.apply(x, _dims(dim, x.ndim), keepdim)


class Mean(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim):
        ctx.dims, ctx.keepdim = dims, keepdim
        ctx.n = x.numel() if not dims else math.prod(x.shape[d] for d in dims) if x.ndim else 1
        return Tensor._wrap(_C.mean(x._impl, dims, keepdim))

    @staticmethod
    def backward(ctx, g):
        scaled = _C.binary(B.div, g._impl, _C.full([], float(ctx.n), g.dtype._c))
        return Tensor._wrap(_C.contiguous(_expand_back(Tensor._wrap(scaled), ctx.in_shapes[0], ctx.dims,
                                                       ctx.keepdim)))


def mean(x, dim=None, keepdim=False, dtype=None):
    if dtype is not None:
        x = x.to(dtype)
    return Mean.apply(x, _dims(dim, x.ndim), keepdim)


class Var(Function):
    @staticmethod
    def forward(ctx, x, dims, correction, keepdim):
        ctx.dims, ctx.keepdim = dims, keepdim
        n = x.numel() if not dims else math.prod(x.shape[d] for d in dims) if x.ndim else 1
        ctx.denom = builtins.max(0.0, n - correction)
        ctx.save_for_backward(x)
        return Tensor._wrap(_C.var(x._impl, dims, float(correction), keepdim))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        # d var / dx = 2 (x - mean) / (N - correction)
        m = _C.mean(x._impl, ctx.dims, True)
        dev = _C.binary(B.sub, x._impl, m)
        gx = _expand_back(g, ctx.in_shapes[0], ctx.dims, ctx.keepdim)
        scale = _C.full([], 2.0 / ctx.denom if ctx.denom > 0 else math.inf, g.dtype._c)
        return Tensor._wrap(_C.binary(B.mul, _C.binary(B.mul, gx, dev), scale))


def _correction(correction, unbiased):
    if correction is not None and unbiased is not None:
        raise RuntimeError("var(): can't specify both correction and unbiased")
    if correction is None:
        return 1 if unbiased is None or unbiased else 0
    return correction


def var(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    if isinstance(dim, bool):  # var(x, False): the old positional `unbiased`
        dim, unbiased = None, dim
    return Var.apply(x, _dims(dim, x.ndim), _correction(correction, unbiased), keepdim)


class Std(Function):
    """sqrt(var): its own op so that a zero std gets gradient 0, not inf * 0
    (PyTorch's std_backward masks the same way)."""

    @staticmethod
    def forward(ctx, x, dims, correction, keepdim):
        v = Var.forward(ctx, x, dims, correction, keepdim)
        s = Tensor._wrap(_C.unary(_C.UnaryOp.sqrt, v._impl))
        ctx.std = s
        return s

    @staticmethod
    def backward(ctx, g):
        s = ctx.std._impl
        zero = _C.full([], 0.0, g.dtype._c)
        gv = _C.where(_C.compare(CMP.eq, s, zero), zero,
                      _C.binary(B.div, g._impl, _C.binary(B.mul, s, _C.full([], 2.0, g.dtype._c))))
        return Var.backward(ctx, Tensor._wrap(gv))


def std(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    if isinstance(dim, bool):
        dim, unbiased = None, dim
    return Std.apply(x, _dims(dim, x.ndim), _correction(correction, unbiased), keepdim)


def var_mean(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return var(x, dim, unbiased, keepdim, correction=correction), mean(x, dim, keepdim)


def std_mean(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return std(x, dim, unbiased, keepdim, correction=correction), mean(x, dim, keepdim)


class MaxMinDim(Function):
    """max/min over one dim: values and indices; the gradient goes to the index."""

    non_differentiable_outputs = (1,)

    @staticmethod
    def forward(ctx, x, op, dim, keepdim):
        v, idx = _C.reduce(op, x._impl, [dim], keepdim, True)
        ctx.dim, ctx.keepdim = dim, keepdim
        ctx.idx = idx
        return Tensor._wrap(v), Tensor._wrap(idx)

    @staticmethod
    def backward(ctx, g, _gi):
        idx, gi = ctx.idx, g._impl
        if not ctx.keepdim and len(ctx.in_shapes[0]) > 0:
            idx = _C.unsqueeze(idx, ctx.dim)
            gi = _C.unsqueeze(gi, ctx.dim)
        if len(ctx.in_shapes[0]) == 0:
            return Tensor._wrap(_C.clone(g._impl)), None, None, None
        return Tensor._wrap(_C.scatter_add(list(ctx.in_shapes[0]), ctx.dim, idx, gi)), None, None, None


class Amax(Function):
    """amax/amin (and max()/min() without dim): the gradient is split evenly
    among the elements equal to the extreme, as in PyTorch."""

    @staticmethod
    def forward(ctx, x, op, dims, keepdim):
        v = Tensor._wrap(_C.reduce(op, x._impl, dims, keepdim, False)[0])
        ctx.dims, ctx.keepdim = dims, keepdim
        ctx.save_for_backward(x, v)
        return v

    @staticmethod
    def backward(ctx, g):
        x, v = ctx.saved_tensors
        shape = ctx.in_shapes[0]
        vb = _expand_back(v, shape, ctx.dims, ctx.keepdim)
        mask = _C.to_dtype(_C.compare(CMP.eq, x._impl, vb), g.dtype._c)
        count = _C.reduce(R.sum, mask, ctx.dims, True, False)[0]
        gb = _expand_back(g, shape, ctx.dims, ctx.keepdim)
        return Tensor._wrap(_C.binary(B.div, _C.binary(B.mul, gb, mask), count)), None, None, None


def _maxmin(x, op, dim, keepdim, rt):
    if dim is None:
        if x.numel() == 0:
            raise RuntimeError(f"{'max' if op == R.max else 'min'}(): Expected reduction dim to be specified for "
                               "input.numel() == 0. Specify the reduction dim with the 'dim' argument.")
        return Amax.apply(x, op, [], False)
    if isinstance(dim, Tensor):  # max(a, b): elementwise
        from .elementwise import maximum, minimum
        return maximum(x, dim) if op == R.max else minimum(x, dim)
    if x.dtype is D.bool_:
        v, i = _maxmin(x.to(D.int64), op, dim, keepdim, rt)
        return rt(v.to(D.bool_), i)
    d = _wrap_dim(dim, x.ndim)
    v, i = MaxMinDim.apply(x, op, d, keepdim)
    return rt(v, i)


def max(x, dim=None, keepdim=False):  # noqa: A001
    return _maxmin(x, R.max, dim, keepdim, return_types_max)


def min(x, dim=None, keepdim=False):  # noqa: A001
    return _maxmin(x, R.min, dim, keepdim, return_types_min)


def amax(x, dim=(), keepdim=False):
    return Amax.apply(x, R.max, _dims(dim if dim != () else None, x.ndim), keepdim)


def amin(x, dim=(), keepdim=False):
    return Amax.apply(x, R.min, _dims(dim if dim != () else None, x.ndim), keepdim)


def _no_bool(x, name):
    if x.dtype is D.bool_:
        raise RuntimeError(f'"{name}_cpu" not implemented for \'Bool\'')


def argmax(x, dim=None, keepdim=False):
    _no_bool(x, "argmax")
    return Tensor._wrap(_C.argmax(x._impl, 0 if dim is None else dim, dim is not None, keepdim, True))


def argmin(x, dim=None, keepdim=False):
    _no_bool(x, "argmin")
    return Tensor._wrap(_C.argmax(x._impl, 0 if dim is None else dim, dim is not None, keepdim, False))


class Prod(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim):
        ctx.dims, ctx.keepdim = dims, keepdim
        y = Tensor._wrap(_C.reduce(R.prod, x._impl, dims, keepdim, False)[0])
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, g):
        # d prod / dx_i = product of the others. Without zeros: prod / x_i.
        # With exactly one zero in a slice, only that element gets the product
        # of the non-zeros; with two or more, every derivative is zero.
        x, y = ctx.saved_tensors
        shape, dims = ctx.in_shapes[0], ctx.dims
        dt = x.dtype._c
        zero = _C.full([], 0.0, dt)
        is_zero = _C.compare(CMP.eq, x._impl, zero)
        n_zero = _C.reduce(R.sum, _C.to_dtype(is_zero, dt), dims, True, False)[0]
        nz = _C.where(is_zero, _C.full([], 1.0, dt), x._impl)
        prod_nz = _C.reduce(R.prod, nz, dims, True, False)[0]
        yb = _expand_back(y, shape, dims, ctx.keepdim)
        no_zero = _C.binary(B.div, yb, nz)
        one_zero = _C.where(is_zero, _C.expand(prod_nz, list(shape)), zero)
        d = _C.where(_C.compare(CMP.eq, n_zero, zero), no_zero,
                     _C.where(_C.compare(CMP.eq, n_zero, _C.full([], 1.0, dt)), one_zero, zero))
        gb = _expand_back(g, shape, dims, ctx.keepdim)
        return Tensor._wrap(_C.binary(B.mul, gb, d)), None, None


def prod(x, dim=None, keepdim=False, dtype=None):
    if dtype is not None:
        x = x.to(dtype)
    if not x.dtype.is_floating_point:
        return Tensor._wrap(_C.reduce(R.prod, x._impl, _dims(dim, x.ndim), keepdim, False)[0])
    return Prod.apply(x, _dims(dim, x.ndim), keepdim)


def logsumexp(x, dim, keepdim=False):
    """log(sum(exp(x))) computed as m + log(sum(exp(x - m))) with m the max
    (detached: the result does not depend on it), so large inputs don't overflow."""
    from .elementwise import exp, log, sub, add, where
    dims = _dims(dim, x.ndim)
    if x.numel() == 0:  # the log of an empty sum: -inf, as in PyTorch
        return add(sum(x, dims, keepdim), -math.inf)
    m = amax(x.detach(), dims, keepdim=True)
    # An infinite max (all -inf slice, or a +inf element): shift by 0 there to
    # avoid inf - inf; the sum then gives -inf or inf by itself.
    if x.dtype.is_floating_point:
        m = where((m == math.inf) | (m == -math.inf), 0.0, m)
    s = log(sum(exp(sub(x, m)), dims, keepdim=True))
    out = add(s, m)
    if not keepdim:
        from .shape import squeeze
        out = squeeze(out, dims) if dims else squeeze(out)
    return out


class Norm2(Function):
    """Euclidean norm; at a zero vector the gradient is 0 (PyTorch's choice),
    not the 0/0 the chain rule through sqrt would give."""

    @staticmethod
    def forward(ctx, x, dims, keepdim):
        ctx.dims, ctx.keepdim = dims, keepdim
        sq = _C.reduce(R.sum, _C.binary(B.mul, x._impl, x._impl), dims, keepdim, False)[0]
        n = Tensor._wrap(_C.unary(_C.UnaryOp.sqrt, sq))
        ctx.save_for_backward(x, n)
        return n

    @staticmethod
    def backward(ctx, g):
        x, n = ctx.saved_tensors
        zero = _C.full([], 0.0, g.dtype._c)
        scale = _C.where(_C.compare(CMP.eq, n._impl, zero), zero, _C.binary(B.div, g._impl, n._impl))
        sb = _expand_back(Tensor._wrap(scale), ctx.in_shapes[0], ctx.dims, ctx.keepdim)
        return Tensor._wrap(_C.binary(B.mul, x._impl, sb)), None, None


def norm(x, p="fro", dim=None, keepdim=False):
    from .elementwise import abs as _abs, pow as _pow
    if p in ("fro", 2, 2.0):
        return Norm2.apply(x, _dims(dim, x.ndim), keepdim)
    if p in (1, 1.0):
        return sum(_abs(x), dim, keepdim)
    if p in (math.inf, float("inf")):
        return amax(_abs(x), () if dim is None else dim, keepdim)
    if isinstance(p, numbers.Real):
        return _pow(sum(_pow(_abs(x), float(p)), dim, keepdim), 1.0 / p)
    raise ValueError(f"unsupported norm type {p!r}")


def all(x, dim=None, keepdim=False):  # noqa: A001
    b = x if x.dtype is D.bool_ else (x != 0)
    if b.numel() == 0 and dim is None:
        return Tensor._wrap(_C.full([], 1.0, D.bool_._c))
    return Tensor._wrap(_C.reduce(R.min, b._impl, _dims(dim, x.ndim), keepdim, False)[0]) if b.numel() else \
        Tensor._wrap(_C.full([s for i, s in enumerate(b.shape) if i not in _dims(dim, x.ndim)], 1.0, D.bool_._c))


def any(x, dim=None, keepdim=False):  # noqa: A001
    b = x if x.dtype is D.bool_ else (x != 0)
    if b.numel() == 0:
        shape = [] if dim is None else [s for i, s in enumerate(b.shape) if i not in _dims(dim, x.ndim)]
        return Tensor._wrap(_C.full(shape, 0.0, D.bool_._c))
    return Tensor._wrap(_C.reduce(R.max, b._impl, _dims(dim, x.ndim), keepdim, False)[0])


def count_nonzero(x, dim=None):
    return sum(x != 0, dim)
