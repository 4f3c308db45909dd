"""Tensor creation: pydl.tensor, zeros, ones, rand, ..., from_numpy, from_dlpack."""
import numbers

import numpy as np

from . import _C
from . import _dtype as D
from ._tensor import Tensor, _as_shape


def full_impl(shape, value, dtype):
    """A C++ tensor filled with a Python scalar; int64 values are passed as
    integers (a double would round those beyond 2**53)."""
    if dtype is D.int64 and isinstance(value, int) and not isinstance(value, bool):
        if not -(2 ** 63) <= value < 2 ** 63:
            raise RuntimeError(f"value cannot be converted to type int64 without overflow: {value}")
        return _C.full_i64(list(shape), value)
    return _C.full(list(shape), float(value), dtype._c)


def _check_device(device):
    if device is None:
        return
    dev = D.as_device(device)
    if dev.type != "cpu":
        from . import cuda
        raise RuntimeError(f"cannot create a tensor on {dev}: CUDA is not available in this build "
                           f"({cuda.status()})")


def _finish(t, requires_grad):
    if requires_grad:
        t.requires_grad = True
    return t


def _float_dtype(dtype):
    dtype = D.as_dtype(dtype) or D.float32
    return dtype


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new tensor holding a copy of `data` (nested lists, scalars, numpy arrays, tensors)."""
    _check_device(device)
    dtype = D.as_dtype(dtype)
    if isinstance(data, Tensor):
        t = Tensor._wrap(_C.clone(data._impl))
        if dtype is not None and dtype is not t.dtype:
            t = Tensor._wrap(_C.to_dtype(t._impl, dtype._c))
        return _finish(t, requires_grad)
    if hasattr(data, "__dlpack__") and type(data).__module__.startswith("torch"):
        data = data.detach().cpu().numpy()
    if isinstance(data, np.generic):  # numpy scalars keep their dtype, as in torch
        data = np.asarray(data)
    if isinstance(data, np.ndarray):
        arr = data
        inferred = D.from_numpy_dtype(arr.dtype)
    else:
        try:
            arr = np.array(data)
        except ValueError as e:  # ragged nesting
            raise ValueError(f"could not build a tensor: the nested sequences have different lengths ({e})") from None
        if arr.dtype == object:
            raise TypeError(f"Could not infer dtype of {type(arr.flat[0]).__name__ if arr.size else 'object'}: "
                            "tensor data must be numbers, bools or nested sequences of them")
        if arr.dtype.kind in "US":
            raise TypeError("new(): invalid data type 'str'")
        if arr.dtype.kind == "c":
            raise TypeError("complex numbers are not supported")
        # Python floats become float32 (PyTorch's default dtype), ints int64.
        inferred = D.float32 if arr.dtype.kind == "f" else D.from_numpy_dtype(arr.dtype)
    dtype = dtype or inferred
    arr = np.asarray(arr, dtype=dtype.numpy, order="C")  # (ascontiguousarray would make 0-d 1-d)
    impl = _C.clone(_C.from_numpy(arr)) if arr.size else _C.empty(list(arr.shape), dtype._c)
    return _finish(Tensor._wrap(impl), requires_grad)


def as_tensor(data, dtype=None, device=None):
    if isinstance(data, Tensor) and (dtype is None or D.as_dtype(dtype) is data.dtype):
        return data
    return tensor(data, dtype=dtype, device=device)


def from_numpy(arr):
    """A tensor sharing memory with a numpy array (mutations are seen by both)."""
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(arr).__name__})")
    if arr.dtype not in (np.float32, np.float64, np.int64, np.bool_):
        raise TypeError(f"can't convert np.ndarray of type {arr.dtype}. The only supported types are: "
                        "float64, float32, int64 and bool.")
    return Tensor._wrap(_C.from_numpy(arr))


def from_dlpack(obj):
    """Zero-copy import of any object with ``__dlpack__`` (numpy arrays, torch tensors, ...)."""
    if isinstance(obj, Tensor):
        return obj
    if hasattr(obj, "__dlpack__"):
        cap = obj.__dlpack__()
    else:
        cap = obj  # a capsule
    return Tensor._wrap(_C.from_dlpack(cap))


def _creator(fill):
    def make(*size, dtype=None, device=None, requires_grad=False, out=None, **kwargs):
        if kwargs.pop("layout", None) is not None or kwargs.pop("pin_memory", False):
            pass
        if kwargs:
            raise TypeError(f"unexpected keyword arguments {sorted(kwargs)}")
        _check_device(device)
        shape = _as_shape(size)
        return _finish(fill(shape, D.as_dtype(dtype)), requires_grad)
    return make


zeros = _creator(lambda s, dt: Tensor._wrap(_C.full(s, 0.0, (dt or D.float32)._c)))
ones = _creator(lambda s, dt: Tensor._wrap(_C.full(s, 1.0, (dt or D.float32)._c)))
empty = _creator(lambda s, dt: Tensor._wrap(_C.empty(s, (dt or D.float32)._c)))
rand = _creator(lambda s, dt: Tensor._wrap(_C.rand(s, (dt or D.float32)._c)))
randn = _creator(lambda s, dt: Tensor._wrap(_C.randn(s, (dt or D.float32)._c)))


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    _check_device(device)
    if dtype is None:
        if isinstance(fill_value, bool):
            dtype = D.bool_
        elif isinstance(fill_value, numbers.Integral):
            dtype = D.int64
        else:
            dtype = D.float32
    dtype = D.as_dtype(dtype)
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    return _finish(Tensor._wrap(full_impl(_as_shape((size,)), fill_value, dtype)), requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    _check_device(device)
    if end is None:
        start, end = 0, start
    vals = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    all_int = all(isinstance(v, numbers.Integral) for v in vals)
    dtype = D.as_dtype(dtype) or (D.int64 if all_int else D.float32)
    if all_int and dtype is D.int64:
        return _finish(Tensor._wrap(_C.arange_i64(int(vals[0]), int(vals[1]), int(vals[2]))), requires_grad)
    return _finish(Tensor._wrap(_C.arange(float(vals[0]), float(vals[1]), float(vals[2]), dtype._c)),
                   requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    _check_device(device)
    dtype = D.as_dtype(dtype) or D.float32
    return _finish(Tensor._wrap(_C.linspace(float(start), float(end), int(steps), dtype._c)), requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    _check_device(device)
    m = n if m is None else m
    dtype = D.as_dtype(dtype) or D.float32
    t = _C.full([n, m], 0.0, dtype._c)
    if n and m:
        _C.copy_(_C.diagonal(t, 0, 0, 1), _C.full([], 1.0, dtype._c))
    return _finish(Tensor._wrap(t), requires_grad)


def randint(low, high=None, size=None, dtype=None, device=None, requires_grad=False):
    _check_device(device)
    if size is None:
        if isinstance(high, (tuple, list)):
            low, high, size = 0, low, high
        else:
            raise TypeError("randint() missing required argument 'size'")
    if high is None:
        low, high = 0, low
    dtype = D.as_dtype(dtype) or D.int64
    return _finish(Tensor._wrap(_C.randint(int(low), int(high), _as_shape((size,)), dtype._c)), requires_grad)


def randperm(n, dtype=None, device=None):
    _check_device(device)
    t = Tensor._wrap(_C.randperm(int(n)))
    return t if dtype is None else t.to(dtype)


def bernoulli(p):
    return Tensor._wrap(_C.bernoulli(p._impl))


def _like(fn):
    def make(x, dtype=None, device=None, requires_grad=False):
        return fn(x.shape, dtype=dtype or x.dtype, device=device, requires_grad=requires_grad)
    return make


zeros_like = _like(zeros)
ones_like = _like(ones)
empty_like = _like(empty)
rand_like = _like(rand)
randn_like = _like(randn)


def full_like(x, fill_value, dtype=None, device=None, requires_grad=False):
    return full(x.shape, fill_value, dtype=dtype or x.dtype, device=device, requires_grad=requires_grad)


def randint_like(x, low, high=None, dtype=None):
    return randint(low, high, x.shape, dtype=dtype or x.dtype)


def manual_seed(seed):
    """Seeds pydl's generator: the same seed gives the same numbers."""
    seed = int(seed)
    if seed < 0:
        seed += 1 << 64
    _C.manual_seed(seed)


def seed():
    import random
    s = random.getrandbits(63)
    _C.manual_seed(s)
    return s


def initial_seed():
    return _C.initial_seed()


def get_rng_state():
    return tensor(np.frombuffer(_C.get_rng_state(), dtype=np.uint8).astype(np.int64))


def set_rng_state(state):
    _C.set_rng_state(bytes(np.asarray(state.numpy() if isinstance(state, Tensor) else state,
                                      dtype=np.uint8).tobytes()))
