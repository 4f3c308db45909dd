"""Elementwise ops and activations with their gradients.

Forward and backward both run fused C++ kernels (csrc/cpu/elementwise.cpp):
``_C.unary(op, x)`` computes f(x), ``_C.unary_grad(op, dy, x, y)`` computes
dy * f'(x) in one pass, reading x or y = f(x), whichever the derivative needs.
Broadcasting binary ops reduce their gradients back to each input's shape
(``_C.sum_to_shape``, the adjoint of broadcasting).
"""
import math
import numbers

from .. import _C
from .. import _dtype as D
from ..autograd import Function
from .._tensor import Tensor

U = _C.UnaryOp
G = _C.UnaryGradOp
B = _C.BinaryOp
CMP = _C.CompareOp

_INF = math.inf


# ---------------------------------------------------------------------------
# Python scalars and tensors
# ---------------------------------------------------------------------------
def scalar_dtype(value, other):
    """The dtype a Python scalar takes next to tensor `other` (PyTorch's rule:
    a scalar never widens a tensor of its own category)."""
    if isinstance(value, bool):
        return other.dtype if other is not None else D.bool_
    if isinstance(value, numbers.Integral):
        if other is None or other.dtype is D.bool_:
            return D.int64
        return other.dtype
    if isinstance(value, numbers.Real):
        if other is None or not other.dtype.is_floating_point:
            return D.float32
        return other.dtype
    raise TypeError(f"unsupported operand type: {type(value).__name__}")


def as_tensor(x, other=None):
    """Tensors pass through; Python / numpy scalars become 0-d tensors."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (numbers.Number,)) or (hasattr(x, "dtype") and getattr(x, "ndim", 1) == 0):
        if hasattr(x, "item") and not isinstance(x, numbers.Number):
            x = x.item()
        from .._creation import full_impl
        return Tensor._wrap(full_impl([], x, scalar_dtype(x, other)))
    raise TypeError(f"expected a Tensor or a number, got {type(x).__name__}")


def _reduce_grad(g, shape):
    return Tensor._wrap(_C.sum_to_shape(g._impl, list(shape))) if g.shape != shape else g


def _impl(x):
    return x._impl


# ---------------------------------------------------------------------------
# Unary maps: one Function per (forward op, gradient op) pair
# ---------------------------------------------------------------------------
class _Unary(Function):
    """y = f(x) with dx = dy * f'(x) from the fused gradient kernel."""

    op = None        # _C.UnaryOp
    grad_op = None   # _C.UnaryGradOp, None if the op has no useful gradient (zero)
    grad_uses = "x"  # "x", "y" or "xy": what the gradient kernel reads

    @classmethod
    def forward(cls, ctx, x, p0=0.0, p1=0.0):
        y = Tensor._wrap(_C.unary(cls.op, x._impl, p0, p1))
        ctx.p = (p0, p1)
        if ctx.needs_input_grad and ctx.needs_input_grad[0]:
            ctx.save_for_backward(x if "x" in cls.grad_uses else None, y if "y" in cls.grad_uses else None)
        return y

    @classmethod
    def backward(cls, ctx, dy):
        x, y = ctx.saved_tensors
        if cls.grad_op is None:
            return Tensor._wrap(_C.full(list(dy.shape), 0.0, dy.dtype._c))
        return Tensor._wrap(_C.unary_grad(cls.grad_op, dy._impl, x._impl if x is not None else None,
                                          y._impl if y is not None else None, *ctx.p))


def _unary_fn(name, op, grad_op, uses="x"):
    cls = type(name, (_Unary,), {"op": op, "grad_op": grad_op, "grad_uses": uses})
    return cls


Exp = _unary_fn("Exp", U.exp, G.exp, "y")
Log = _unary_fn("Log", U.log, G.log, "x")
Sqrt = _unary_fn("Sqrt", U.sqrt, G.sqrt, "y")
Rsqrt = _unary_fn("Rsqrt", U.rsqrt, G.rsqrt, "y")
Abs = _unary_fn("Abs", U.abs, G.abs, "x")
Reciprocal = _unary_fn("Reciprocal", U.reciprocal, G.reciprocal, "y")
Sin = _unary_fn("Sin", U.sin, G.sin, "x")
Cos = _unary_fn("Cos", U.cos, G.cos, "x")
Log1p = _unary_fn("Log1p", U.log1p, G.log1p, "x")
Expm1 = _unary_fn("Expm1", U.expm1, G.expm1, "y")
Sigmoid = _unary_fn("Sigmoid", U.sigmoid, G.sigmoid, "y")
Tanh = _unary_fn("Tanh", U.tanh, G.tanh, "y")
Relu = _unary_fn("Relu", U.relu, G.relu, "y")
LeakyRelu = _unary_fn("LeakyRelu", U.leaky_relu, G.leaky_relu, "x")
Elu = _unary_fn("Elu", U.elu, G.elu, "x")
Selu = _unary_fn("Selu", U.selu, G.selu, "x")
GeluErf = _unary_fn("Gelu", U.gelu_erf, G.gelu_erf, "x")
GeluTanh = _unary_fn("GeluTanh", U.gelu_tanh, G.gelu_tanh, "x")
Silu = _unary_fn("Silu", U.silu, G.silu, "x")
Softplus = _unary_fn("Softplus", U.softplus, G.softplus, "x")
Clamp = _unary_fn("Clamp", U.clamp, G.clamp, "x")
PowScalar = _unary_fn("Pow", U.pow_scalar, G.pow_scalar, "x")
RPowScalar = _unary_fn("Pow", U.rpow_scalar, G.rpow_scalar, "y")
# Piecewise-constant maps: zero gradient almost everywhere, as in PyTorch.
Sign = _unary_fn("Sign", U.sign, None, "")
Floor = _unary_fn("Floor", U.floor, None, "")
Ceil = _unary_fn("Ceil", U.ceil, None, "")
Round = _unary_fn("Round", U.round, None, "")
Trunc = _unary_fn("Trunc", U.trunc, None, "")


class Neg(Function):
    @staticmethod
    def forward(ctx, x):
        return Tensor._wrap(_C.unary(U.neg, x._impl))

    @staticmethod
    def backward(ctx, dy):
        return Tensor._wrap(_C.unary(U.neg, dy._impl))


class Square(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return Tensor._wrap(_C.unary(U.square, x._impl))

    @staticmethod
    def backward(ctx, dy):
        (x,) = ctx.saved_tensors
        return Tensor._wrap(_C.unary_grad(G.pow_scalar, dy._impl, x._impl, None, 2.0, 0.0))


# ---------------------------------------------------------------------------
# Binary ops with broadcasting
# ---------------------------------------------------------------------------
class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        return Tensor._wrap(_C.binary(B.add, a._impl, b._impl))

    @staticmethod
    def backward(ctx, g):
        return _reduce_grad(g, ctx.in_shapes[0]), _reduce_grad(g, ctx.in_shapes[1])


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        return Tensor._wrap(_C.binary(B.sub, a._impl, b._impl))

    @staticmethod
    def backward(ctx, g):
        gb = None
        if ctx.needs_input_grad[1]:
            gb = Tensor._wrap(_C.unary(U.neg, _reduce_grad(g, ctx.in_shapes[1])._impl))
        return _reduce_grad(g, ctx.in_shapes[0]), gb


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None, b if ctx.needs_input_grad[0] else None)
        return Tensor._wrap(_C.binary(B.mul, a._impl, b._impl))

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ga = _reduce_grad(Tensor._wrap(_C.binary(B.mul, g._impl, b._impl)), ctx.in_shapes[0]) if b is not None else None
        gb = _reduce_grad(Tensor._wrap(_C.binary(B.mul, g._impl, a._impl)), ctx.in_shapes[1]) if a is not None else None
        return ga, gb


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        y = Tensor._wrap(_C.binary(B.div, a._impl, b._impl))
        ctx.save_for_backward(b, y if ctx.needs_input_grad[1] else None)
        return y

    @staticmethod
    def backward(ctx, g):
        b, y = ctx.saved_tensors
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = _reduce_grad(Tensor._wrap(_C.binary(B.div, g._impl, b._impl)), ctx.in_shapes[0])
        if ctx.needs_input_grad[1]:
            # d(a/b)/db = -a/b^2 = -y/b
            t = _C.binary(B.div, _C.binary(B.mul, g._impl, y._impl), b._impl)
            gb = _reduce_grad(Tensor._wrap(_C.unary(U.neg, t)), ctx.in_shapes[1])
        return ga, gb


class Pow(Function):
    """a ** b for two tensors."""

    @staticmethod
    def forward(ctx, a, b):
        y = Tensor._wrap(_C.binary(B.pow, a._impl, b._impl))
        ctx.save_for_backward(a, b, y)
        return y

    @staticmethod
    def backward(ctx, g):
        a, b, y = ctx.saved_tensors
        ga = gb = None
        if ctx.needs_input_grad[0]:
            # b * a^(b-1), with 0 where b == 0 (PyTorch's convention)
            bm1 = _C.binary(B.sub, b._impl, _C.full([], 1.0, b.dtype._c))
            d = _C.binary(B.mul, b._impl, _C.binary(B.pow, a._impl, bm1))
            d = _C.where(_C.compare(CMP.eq, b._impl, _C.full([], 0.0, b.dtype._c)),
                         _C.full([], 0.0, d.dtype), d)
            ga = _reduce_grad(Tensor._wrap(_C.binary(B.mul, g._impl, d)), ctx.in_shapes[0])
        if ctx.needs_input_grad[1]:
            # a^b * log(a), with 0 where a == 0 and b >= 0
            d = _C.binary(B.mul, y._impl, _C.unary(U.log, a._impl))
            zero_base = _C.binary(B.logical_and, _C.compare(CMP.eq, a._impl, _C.full([], 0.0, a.dtype._c)),
                                  _C.compare(CMP.ge, b._impl, _C.full([], 0.0, b.dtype._c)))
            d = _C.where(zero_base, _C.full([], 0.0, d.dtype), d)
            gb = _reduce_grad(Tensor._wrap(_C.binary(B.mul, g._impl, d)), ctx.in_shapes[1])
        return ga, gb


class _MaxMin(Function):
    """maximum / minimum: the gradient goes to the winning input, is split in
    half on ties, and reaches both where a NaN makes every comparison false
    (PyTorch's formula)."""

    op = None
    a_loses = None  # comparison under which a gets no gradient
    b_loses = None

    @classmethod
    def forward(cls, ctx, a, b):
        ctx.save_for_backward(a, b)
        return Tensor._wrap(_C.binary(cls.op, a._impl, b._impl))

    @classmethod
    def backward(cls, ctx, g):
        a, b = ctx.saved_tensors
        dt = g.dtype._c
        zero, half = _C.full([], 0.0, dt), _C.full([], 0.5, dt)
        tie = _C.compare(CMP.eq, a._impl, b._impl)
        g_half = _C.binary(B.mul, g._impl, half)
        ga = _C.where(tie, g_half, _C.where(_C.compare(cls.a_loses, a._impl, b._impl), zero, g._impl))
        gb = _C.where(tie, g_half, _C.where(_C.compare(cls.b_loses, a._impl, b._impl), zero, g._impl))
        return (_reduce_grad(Tensor._wrap(ga), ctx.in_shapes[0]),
                _reduce_grad(Tensor._wrap(gb), ctx.in_shapes[1]))


class Maximum(_MaxMin):
    op, a_loses, b_loses = B.maximum, CMP.lt, CMP.gt


class Minimum(_MaxMin):
    op, a_loses, b_loses = B.minimum, CMP.gt, CMP.lt


class Where(Function):
    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.cond = cond
        return Tensor._wrap(_C.where(cond._impl, a._impl, b._impl))

    @staticmethod
    def backward(ctx, g):
        c = ctx.cond._impl
        zero = _C.full([], 0.0, g.dtype._c)
        ga = gb = None
        if ctx.needs_input_grad[1]:
            ga = _reduce_grad(Tensor._wrap(_C.where(c, g._impl, zero)), ctx.in_shapes[1])
        if ctx.needs_input_grad[2]:
            gb = _reduce_grad(Tensor._wrap(_C.where(c, zero, g._impl)), ctx.in_shapes[2])
        return None, ga, gb


# ---------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------
def _pair(a, b):
    if not isinstance(a, Tensor):
        a = as_tensor(a, b if isinstance(b, Tensor) else None)
    if not isinstance(b, Tensor):
        b = as_tensor(b, a)
    return a, b


def add(a, b, alpha=1):
    a, b = _pair(a, b)
    if alpha != 1:
        b = mul(b, alpha)
    return Add.apply(a, b)


def sub(a, b, alpha=1):
    a, b = _pair(a, b)
    if alpha != 1:
        b = mul(b, alpha)
    return Sub.apply(a, b)


def mul(a, b):
    return Mul.apply(*_pair(a, b))


def div(a, b, rounding_mode=None):
    a, b = _pair(a, b)
    if rounding_mode is None:
        return Div.apply(a, b)
    if rounding_mode == "floor":
        return floor_divide(a, b)
    if rounding_mode == "trunc":
        q = Div.apply(a, b)
        return trunc(q) if q.dtype.is_floating_point else q
    raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{rounding_mode}'")


def true_divide(a, b):
    return div(a, b)


def floor_divide(a, b):
    a, b = _pair(a, b)
    return Tensor._wrap(_C.binary(B.floor_divide, a._impl, b._impl))


def remainder(a, b):
    a, b = _pair(a, b)
    return Tensor._wrap(_C.binary(B.remainder, a._impl, b._impl))


def fmod(a, b):
    a, b = _pair(a, b)
    q = trunc(div(a, b)) if a.dtype.is_floating_point or b.dtype.is_floating_point else div(a, b, rounding_mode="trunc")
    return sub(a, mul(q, b)).detach()


def pow(a, b):  # noqa: A001
    if isinstance(a, Tensor) and not isinstance(b, Tensor):
        if isinstance(b, numbers.Number) and not isinstance(b, bool):
            if a.dtype.is_floating_point or (isinstance(b, numbers.Integral) and b >= 0):
                if not a.dtype.is_floating_point:
                    return Tensor._wrap(_C.binary(B.pow, a._impl, as_tensor(b, a)._impl))
                return PowScalar.apply(a, float(b))
            if isinstance(b, numbers.Integral):
                raise RuntimeError("Integers to negative integer powers are not allowed.")
            a = a.to(D.float32)
            return PowScalar.apply(a, float(b))
    if not isinstance(a, Tensor) and isinstance(b, Tensor):
        if isinstance(a, numbers.Number) and b.dtype.is_floating_point and float(a) >= 0:
            return RPowScalar.apply(b, float(a))
    a, b = _pair(a, b)
    if not a.dtype.is_floating_point and not b.dtype.is_floating_point and a.dtype is not D.bool_:
        return Tensor._wrap(_C.binary(B.pow, a._impl, b._impl))  # raises on negative exponents
    return Pow.apply(a, b)


def neg(x):
    return Neg.apply(x)


negative = neg


def maximum(a, b):
    return Maximum.apply(*_pair(a, b))


def minimum(a, b):
    return Minimum.apply(*_pair(a, b))


def where(cond, a=None, b=None):
    if a is None and b is None:
        from .shape import nonzero
        return nonzero(cond, as_tuple=True)
    if not isinstance(cond, Tensor):
        raise TypeError(f"where(): argument 'condition' must be Tensor, not {type(cond).__name__}")
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        # Two scalars: PyTorch's default dtype for floats.
        a = as_tensor(a)
        b = as_tensor(b, a)
    a, b = _pair(a, b)
    return Where.apply(cond, a, b)


def _cmp(op):
    def f(a, b):
        a, b = _pair(a, b)
        return Tensor._wrap(_C.compare(op, a._impl, b._impl))
    return f


eq = _cmp(CMP.eq)
ne = _cmp(CMP.ne)
lt = _cmp(CMP.lt)
le = _cmp(CMP.le)
gt = _cmp(CMP.gt)
ge = _cmp(CMP.ge)
greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne


def _logical(op):
    def f(a, b):
        a, b = _pair(a, b)
        return Tensor._wrap(_C.binary(op, _C.compare(CMP.ne, a._impl, _C.full([], 0.0, a.dtype._c)),
                                      _C.compare(CMP.ne, b._impl, _C.full([], 0.0, b.dtype._c))))
    return f


logical_and = _logical(B.logical_and)
logical_or = _logical(B.logical_or)
logical_xor = _logical(B.logical_xor)


def logical_not(x):
    return Tensor._wrap(_C.logical_not(x._impl))


def bitwise_and(a, b):
    a, b = _pair(a, b)
    if a.dtype is not D.bool_ or b.dtype is not D.bool_:
        raise TypeError("bitwise ops are supported for bool tensors only")
    return logical_and(a, b)


def bitwise_or(a, b):
    a, b = _pair(a, b)
    if a.dtype is not D.bool_ or b.dtype is not D.bool_:
        raise TypeError("bitwise ops are supported for bool tensors only")
    return logical_or(a, b)


def bitwise_xor(a, b):
    a, b = _pair(a, b)
    if a.dtype is not D.bool_ or b.dtype is not D.bool_:
        raise TypeError("bitwise ops are supported for bool tensors only")
    return logical_xor(a, b)


def bitwise_not(x):
    if x.dtype is not D.bool_:
        raise TypeError("bitwise_not is supported for bool tensors only")
    return logical_not(x)


def _float_in(x):
    return x if x.dtype.is_floating_point else x.to(D.float32)


def exp(x): return Exp.apply(_float_in(x))
def log(x): return Log.apply(_float_in(x))
def sqrt(x): return Sqrt.apply(_float_in(x))
def rsqrt(x): return Rsqrt.apply(_float_in(x))
def reciprocal(x): return Reciprocal.apply(_float_in(x))
def sin(x): return Sin.apply(_float_in(x))
def cos(x): return Cos.apply(_float_in(x))
def log1p(x): return Log1p.apply(_float_in(x))
def expm1(x): return Expm1.apply(_float_in(x))
def sigmoid(x): return Sigmoid.apply(_float_in(x))
def tanh(x): return Tanh.apply(_float_in(x))
def silu(x): return Silu.apply(_float_in(x))


def log2(x): return div(log(x), math.log(2.0))
def log10(x): return div(log(x), math.log(10.0))
def exp2(x): return pow(2.0, _float_in(x))


def abs(x):  # noqa: A001
    if x.dtype.is_floating_point:
        return Abs.apply(x)
    return Tensor._wrap(_C.unary(U.abs, x._impl))


absolute = abs


def square(x):
    if x.dtype.is_floating_point:
        return Square.apply(x)
    return Tensor._wrap(_C.unary(U.square, x._impl))


def _piecewise(cls, op):
    def f(x):
        if x.dtype.is_floating_point:
            return cls.apply(x)
        return Tensor._wrap(_C.unary(op, x._impl))
    return f


sign = _piecewise(Sign, U.sign)
floor = _piecewise(Floor, U.floor)
ceil = _piecewise(Ceil, U.ceil)
trunc = _piecewise(Trunc, U.trunc)


def round(x, decimals=0):  # noqa: A001
    if decimals == 0:
        return _piecewise(Round, U.round)(x)
    s = 10.0 ** decimals
    return div(_piecewise(Round, U.round)(mul(x, s)), s)


def relu(x):
    if x.dtype.is_floating_point:
        return Relu.apply(x)
    return Tensor._wrap(_C.unary(U.relu, x._impl))


def _num(v, name):
    if isinstance(v, Tensor):
        if v.numel() != 1:
            raise RuntimeError(f"{name} must be a number or a one-element tensor")
        return v.item()
    return v


def clamp(x, min=None, max=None):  # noqa: A002
    if isinstance(min, Tensor) and min.numel() != 1 or isinstance(max, Tensor) and max.numel() != 1:
        out = x
        if min is not None:
            out = maximum(out, min)
        if max is not None:
            out = minimum(out, max)
        return out
    min, max = _num(min, "min"), _num(max, "max")
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    if not x.dtype.is_floating_point:
        if (min is not None and isinstance(min, float)) or (max is not None and isinstance(max, float)):
            x = x.to(D.float32)
        else:  # exact int64 bounds: compare with int64 scalars, not doubles
            out = x
            if min is not None:
                out = maximum(out, min)
            if max is not None:
                out = minimum(out, max)
            return out
    lo = float(min) if min is not None else -_INF
    hi = float(max) if max is not None else _INF
    return Clamp.apply(x, lo, hi)


clip = clamp


def leaky_relu(x, negative_slope=0.01):
    return LeakyRelu.apply(_float_in(x), float(negative_slope))


def elu(x, alpha=1.0):
    return Elu.apply(_float_in(x), float(alpha))


def selu(x):
    return Selu.apply(_float_in(x))


def gelu(x, approximate="none"):
    if approximate == "none":
        return GeluErf.apply(_float_in(x))
    if approximate == "tanh":
        return GeluTanh.apply(_float_in(x))
    raise RuntimeError(f"approximate argument must be either none or tanh, got {approximate!r}")


def softplus(x, beta=1.0, threshold=20.0):
    return Softplus.apply(_float_in(x), float(beta), float(threshold))


divide = div
multiply = mul
subtract = sub
