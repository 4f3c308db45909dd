"""Binds PyTorch's Tensor methods and operators to the functions in pydl.ops.

Kept apart from _tensor.py so the class body stays about storage and
autograd; every entry here is a one-line forward to an op.
"""
from . import _C
from . import _dtype as D
from ._tensor import Tensor
from .autograd import is_grad_enabled
from .ops import elementwise as E
from .ops import linalg as L
from .ops import reduction as R
from .ops import shape as S


def _swap(fn):
    return lambda self, other: fn(other, self)


# Operators ----------------------------------------------------------------
Tensor.__add__ = lambda self, o: E.add(self, o)
Tensor.__radd__ = lambda self, o: E.add(o, self)
Tensor.__sub__ = lambda self, o: E.sub(self, o)
Tensor.__rsub__ = lambda self, o: E.sub(o, self)
Tensor.__mul__ = lambda self, o: E.mul(self, o)
Tensor.__rmul__ = lambda self, o: E.mul(o, self)
Tensor.__truediv__ = lambda self, o: E.div(self, o)
Tensor.__rtruediv__ = lambda self, o: E.div(o, self)
Tensor.__floordiv__ = lambda self, o: E.floor_divide(self, o)
Tensor.__rfloordiv__ = lambda self, o: E.floor_divide(o, self)
Tensor.__mod__ = lambda self, o: E.remainder(self, o)
Tensor.__rmod__ = lambda self, o: E.remainder(o, self)
Tensor.__pow__ = lambda self, o: E.pow(self, o)
Tensor.__rpow__ = lambda self, o: E.pow(o, self)
Tensor.__matmul__ = lambda self, o: L.matmul(self, o)
Tensor.__rmatmul__ = lambda self, o: L.matmul(o, self)
Tensor.__neg__ = lambda self: E.neg(self)
Tensor.__pos__ = lambda self: self
Tensor.__abs__ = lambda self: E.abs(self)
Tensor.__invert__ = lambda self: E.bitwise_not(self)
Tensor.__and__ = lambda self, o: E.bitwise_and(self, o)
Tensor.__or__ = lambda self, o: E.bitwise_or(self, o)
Tensor.__xor__ = lambda self, o: E.bitwise_xor(self, o)
Tensor.__rand__ = lambda self, o: E.bitwise_and(o, self)
Tensor.__ror__ = lambda self, o: E.bitwise_or(o, self)
Tensor.__rxor__ = lambda self, o: E.bitwise_xor(o, self)
Tensor.__eq__ = lambda self, o: E.eq(self, o) if _comparable(o) else NotImplemented
Tensor.__ne__ = lambda self, o: E.ne(self, o) if _comparable(o) else NotImplemented
Tensor.__lt__ = lambda self, o: E.lt(self, o)
Tensor.__le__ = lambda self, o: E.le(self, o)
Tensor.__gt__ = lambda self, o: E.gt(self, o)
Tensor.__ge__ = lambda self, o: E.ge(self, o)
Tensor.__getitem__ = lambda self, key: S.getitem(self, key)
Tensor.__setitem__ = lambda self, key, value: S.setitem(self, key, value)


def _comparable(o):
    import numbers
    return isinstance(o, (Tensor, numbers.Number))


# In-place ops ---------------------------------------------------------------
def _inplace(out_of_place, fast_binary=None):
    """An in-place method from an out-of-place op. Without autograd it runs in
    place in C++ (binary ops) or copies the result in; with autograd it goes
    through Tensor._inplace_result so the graph sees the new value."""

    def method(self, *args, **kwargs):
        others = [a for a in args if isinstance(a, Tensor)]
        if is_grad_enabled() and (self.requires_grad or any(a.requires_grad for a in others)):
            return self._inplace_result(out_of_place(self._snapshot(), *args, **kwargs))
        self._check_inplace()
        if fast_binary is not None and len(args) == 1 and not kwargs:
            other = E.as_tensor(args[0], self)
            _C.binary_(fast_binary, self._impl, other._impl)
        else:
            result = out_of_place(self, *args, **kwargs)
            if result.dtype is not self.dtype and _promote(result.dtype, self.dtype) is not self.dtype:
                raise RuntimeError(f"result type {result.dtype.name.capitalize()} can't be cast to the desired "
                                   f"output type {self.dtype.name.capitalize()}")
            _C.copy_(self._impl, result._impl)
        self._bump_version()
        return self

    return method


def _promote(a, b):
    order = [D.bool_, D.int64, D.float32, D.float64]
    return order[max(order.index(a), order.index(b))]


B = _C.BinaryOp
Tensor.add_ = _inplace(E.add, B.add)
Tensor.sub_ = _inplace(E.sub, B.sub)
Tensor.mul_ = _inplace(E.mul, B.mul)
Tensor.div_ = _inplace(E.div, B.div)
Tensor.pow_ = _inplace(E.pow)
Tensor.__iadd__ = Tensor.add_
Tensor.__isub__ = Tensor.sub_
Tensor.__imul__ = Tensor.mul_
Tensor.__itruediv__ = Tensor.div_
Tensor.__ipow__ = Tensor.pow_
for _name in ("neg", "exp", "log", "sqrt", "rsqrt", "abs", "sigmoid", "tanh", "relu", "clamp", "clip",
              "floor", "ceil", "round", "trunc", "sign", "reciprocal", "square", "sin", "cos", "log1p",
              "expm1", "maximum", "minimum"):
    setattr(Tensor, _name + "_", _inplace(getattr(E, _name)))
Tensor.masked_fill_ = _inplace(S.masked_fill)
Tensor.clamp_min_ = _inplace(lambda x, m: E.clamp(x, min=m))
Tensor.clamp_max_ = _inplace(lambda x, m: E.clamp(x, max=m))


def _fill_(self, value):
    self._check_inplace()
    v = value.item() if isinstance(value, Tensor) else value
    from ._creation import full_impl
    _C.copy_(self._impl, full_impl([], v, self.dtype))
    self._bump_version()
    return self


def _zero_(self):
    return _fill_(self, 0)


def _copy_(self, src, non_blocking=False):
    src = E.as_tensor(src, self)
    if is_grad_enabled() and (self.requires_grad or src.requires_grad):
        from .ops.shape import expand
        return self._inplace_result(expand(src.to(self.dtype), self.shape))
    self._check_inplace()
    _C.copy_(self._impl, src._impl)
    self._bump_version()
    return self


def _uniform_(self, a=0.0, b=1.0):
    self._check_inplace()
    _C.uniform_(self._impl, float(a), float(b))
    self._bump_version()
    return self


def _normal_(self, mean=0.0, std=1.0):
    self._check_inplace()
    _C.normal_(self._impl, float(mean), float(std))
    self._bump_version()
    return self


Tensor.fill_ = _fill_
Tensor.zero_ = _zero_
Tensor.copy_ = _copy_
Tensor.uniform_ = _uniform_
Tensor.normal_ = _normal_

# Out-of-place methods ---------------------------------------------------------
for _name in ("add", "sub", "mul", "div", "pow", "neg", "exp", "log", "log2", "log10", "sqrt", "rsqrt", "abs",
              "sign", "square", "reciprocal", "sin", "cos", "log1p", "expm1", "sigmoid", "tanh", "relu",
              "clamp", "clip", "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge", "floor", "ceil",
              "round", "trunc", "remainder", "floor_divide", "true_divide", "logical_and", "logical_or",
              "logical_xor", "logical_not", "fmod", "greater", "less", "greater_equal", "less_equal",
              "not_equal", "negative", "absolute"):
    setattr(Tensor, _name, getattr(E, _name))
Tensor.where = lambda self, cond, other: E.where(cond, self, other)
Tensor.subtract = E.sub
Tensor.multiply = E.mul
Tensor.divide = E.div

for _name in ("sum", "mean", "var", "std", "max", "min", "amax", "amin", "argmax", "argmin", "prod",
              "logsumexp", "norm", "all", "any", "count_nonzero", "var_mean", "std_mean"):
    setattr(Tensor, _name, getattr(R, _name))

for _name in ("reshape", "view", "permute", "transpose", "expand", "expand_as", "squeeze", "unsqueeze",
              "flatten", "unflatten", "contiguous", "clone", "index_select", "gather", "masked_fill", "narrow",
              "select", "unbind", "split", "chunk", "repeat", "flip", "swapaxes", "swapdims", "t", "broadcast_to",
              "nonzero", "tril", "triu"):
    setattr(Tensor, _name, getattr(S, _name))
Tensor.T = property(S.T)
Tensor.mT = property(S.mT)
Tensor.view_as = lambda self, other: S.view(self, other.shape)
Tensor.reshape_as = lambda self, other: S.reshape(self, other.shape)
Tensor.type_as = lambda self, other: self.to(other.dtype)

for _name in ("matmul", "mm", "bmm", "dot", "mv"):
    setattr(Tensor, _name, getattr(L, _name))


def _new(fill):
    def method(self, *size, dtype=None, device=None, requires_grad=False):
        from . import _creation as C
        return getattr(C, fill)(*size, dtype=dtype or self.dtype, requires_grad=requires_grad)
    return method


Tensor.new_zeros = _new("zeros")
Tensor.new_ones = _new("ones")
Tensor.new_empty = _new("empty")


def _new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
    from . import _creation as C
    return C.full(size, fill_value, dtype=dtype or self.dtype, requires_grad=requires_grad)


def _new_tensor(self, data, dtype=None, device=None, requires_grad=False):
    from . import _creation as C
    return C.tensor(data, dtype=dtype or self.dtype, requires_grad=requires_grad)


Tensor.new_full = _new_full
Tensor.new_tensor = _new_tensor


# Softmax (pydl/ops/softmax.py) --------------------------------------------------
def _softmax_method(log):
    from .ops import softmax as SM
    fn = SM.log_softmax if log else SM.softmax
    return lambda self, dim=None, dtype=None: fn(self, dim, dtype=dtype)


Tensor.softmax = _softmax_method(False)
Tensor.log_softmax = _softmax_method(True)
