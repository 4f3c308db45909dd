"""pydl.Tensor: a strided view on C++ storage, plus autograd bookkeeping.

The data, shape and strides live in the C++ ``_C.TensorImpl``; this class adds
what autograd needs (``requires_grad``, ``grad``, ``grad_fn``, a version
counter shared by views so that in-place edits of saved tensors are caught)
and PyTorch's method surface. Every method forwards to a function in
``pydl.ops``; no numeric loop runs in Python.
"""
import builtins
import numbers
import weakref
from collections import namedtuple

import numpy as np

from . import _C
from . import _dtype as D
from .autograd import is_grad_enabled, run_backward


class Size(tuple):
    """A tensor's shape: a tuple (compares equal to tuples and torch.Size)."""

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n

    def __repr__(self):
        return f"pydl.Size({list(self)})"

    def __getitem__(self, i):
        r = tuple.__getitem__(self, i)
        return Size(r) if isinstance(i, slice) else r


return_types_max = namedtuple("max", ["values", "indices"])
return_types_min = namedtuple("min", ["values", "indices"])


def _as_shape(args, name="size"):
    """Accepts f(2, 3), f((2, 3)), f([2, 3]) and f(pydl.Size)."""
    if len(args) == 1 and isinstance(args[0], (tuple, list, Size)):
        args = tuple(args[0])
    out = []
    for a in args:
        if isinstance(a, Tensor):
            if a.numel() != 1 or a.dtype.is_floating_point:
                raise TypeError(f"{name} must be a sequence of integers")
            a = a.item()
        if isinstance(a, bool) or not isinstance(a, numbers.Integral):
            raise TypeError(f"{name} must be a tuple of ints, but got an element of type "
                            f"{type(a).__name__}")
        out.append(int(a))
    return out


class Tensor:
    __slots__ = ("_impl", "_requires_grad", "grad", "grad_fn", "_output_nr", "_version", "_base",
                 "__weakref__")

    __array_priority__ = 1000  # numpy defers binary ops to us

    def __init__(self, *args, **kwargs):
        raise TypeError("create tensors with pydl.tensor(), pydl.zeros(), pydl.from_numpy() ...")

    @classmethod
    def _wrap(cls, impl, base=None):
        t = object.__new__(cls)
        t._impl = impl
        t._requires_grad = False
        t.grad = None
        t.grad_fn = None
        t._output_nr = 0
        # Views share the version counter of their base.
        t._version = base._version if base is not None else [0]
        t._base = base
        return t

    # ------------------------------------------------------------------
    # Metadata
    # ------------------------------------------------------------------
    @property
    def shape(self):
        return Size(self._impl.shape)

    def size(self, dim=None):
        if dim is None:
            return Size(self._impl.shape)
        return self._impl.shape[_wrap_dim(dim, self.ndim)]

    def stride(self, dim=None):
        if dim is None:
            return tuple(self._impl.strides)
        return self._impl.strides[_wrap_dim(dim, self.ndim)]

    def storage_offset(self):
        return self._impl.offset

    @property
    def dtype(self):
        return D.from_c(self._impl.dtype)

    @property
    def device(self):
        return D.device(self._impl.device)

    @property
    def is_cuda(self):
        return self._impl.device.startswith("cuda")

    @property
    def ndim(self):
        return self._impl.ndim

    def dim(self):
        return self._impl.ndim

    ndimension = dim

    def numel(self):
        return self._impl.numel()

    nelement = numel

    def element_size(self):
        return self.dtype.itemsize

    def is_contiguous(self):
        return self._impl.is_contiguous()

    def is_floating_point(self):
        return self.dtype.is_floating_point

    def data_ptr(self):
        return self._impl.data_ptr()

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._impl.shape[0]

    # ------------------------------------------------------------------
    # Autograd
    # ------------------------------------------------------------------
    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        value = bool(value)
        if self.grad_fn is not None and not value:
            raise RuntimeError("you can only change requires_grad flags of leaf variables. If you want to "
                               "use a computed variable in a subgraph that doesn't require differentiation "
                               "use var_no_grad = var.detach().")
        if value and not self.dtype.is_floating_point:
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        self._requires_grad = value

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def data(self):
        return self.detach()

    @data.setter
    def data(self, other):
        self._impl = other._impl

    def detach(self):
        return Tensor._wrap(self._impl, base=self)

    def detach_(self):
        self.grad_fn = None
        self._requires_grad = False
        return self

    def retain_grad(self):
        if self.grad_fn is None:
            return
        node = self.grad_fn
        if node.retained is None:
            node.retained = {}
        node.retained[self._output_nr] = weakref.ref(self)

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        from . import autograd
        if create_graph:
            raise NotImplementedError("create_graph=True (higher-order gradients) is not supported yet")
        autograd.backward(self, gradient, retain_graph=bool(retain_graph))

    def _bump_version(self):
        self._version[0] += 1

    def _check_inplace(self):
        if is_grad_enabled() and self._requires_grad and self.grad_fn is None:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")

    def _snapshot(self):
        """A copy of self's data with self's place in the graph: what an
        in-place op under autograd computes from, so the ops it records save
        the old value, not the storage about to be overwritten."""
        self._check_inplace()
        s = Tensor._wrap(_C.clone(self._impl))
        s._requires_grad, s.grad_fn, s._output_nr = self._requires_grad, self.grad_fn, self._output_nr
        return s

    def _inplace_result(self, result):
        """Makes an out-of-place result the new value of self (for in-place ops
        on tensors in the autograd graph): data copied in, history rebased."""
        self._check_inplace()
        if result.requires_grad and self._base is not None and self._base.requires_grad:
            raise RuntimeError("in-place operations on views of tensors that require grad are not "
                               "supported; use the out-of-place op")
        _C.copy_(self._impl, result._impl)
        self._bump_version()
        if result.requires_grad:
            self._requires_grad = True
            self.grad_fn = result.grad_fn
            self._output_nr = result._output_nr
        return self

    # ------------------------------------------------------------------
    # Conversion
    # ------------------------------------------------------------------
    def item(self):
        return self._impl.item()

    def tolist(self):
        if self.ndim == 0:
            return self.item()
        return _C.to_numpy(self._impl).tolist()

    def numpy(self, force=False):
        if self.requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() "
                               "instead.")
        return _C.to_numpy(self._impl)

    def __array__(self, dtype=None, copy=None):
        a = _C.to_numpy(self._impl)
        if dtype is not None:
            a = a.astype(dtype, copy=False)
        return a.copy() if copy else a

    def __dlpack__(self, stream=None, **kwargs):
        return _C.to_dlpack(self._impl)

    def __dlpack_device__(self):
        if self.device.type == "cpu":
            return (1, 0)
        return (2, self.device.index or 0)

    def to(self, *args, **kwargs):
        dtype = kwargs.pop("dtype", None)
        device = kwargs.pop("device", None)
        copy = kwargs.pop("copy", False)
        kwargs.pop("non_blocking", None)
        if kwargs:
            raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, Tensor):
                dtype, device = a.dtype, a.device
            elif isinstance(a, D.dtype) or (not isinstance(a, (str, D.device)) and a is not None and
                                           not isinstance(a, int) and "dtype" in type(a).__name__.lower()):
                dtype = a
            elif isinstance(a, (str, D.device, int)) or type(a).__name__ == "device":
                device = a
            else:
                raise TypeError(f"to() received an invalid argument {a!r}")
        from .ops import shape as S
        out = self
        if device is not None:
            dev = D.as_device(device)
            if dev != self.device:
                from . import cuda
                if dev.type == "cuda":
                    raise RuntimeError(f"cannot move a tensor to {dev}: CUDA is not available in this build "
                                       f"({cuda.status()})")
        if dtype is not None:
            dtype = D.as_dtype(dtype)
            if dtype is not self.dtype:
                out = S.to_dtype(out, dtype)
        if copy and out is self:
            out = self.clone()
        return out

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else D.as_device(device if not isinstance(device, int) else f"cuda:{device}"))

    def float(self):
        return self.to(D.float32)

    def double(self):
        return self.to(D.float64)

    def long(self):
        return self.to(D.int64)

    def bool(self):
        return self.to(D.bool_)

    def type(self, dtype=None):
        if dtype is None:
            return {"float32": "pydl.FloatTensor", "float64": "pydl.DoubleTensor", "int64": "pydl.LongTensor",
                    "bool": "pydl.BoolTensor"}[self.dtype.name]
        return self.to(dtype)

    def __repr__(self):
        a = _C.to_numpy(self._impl)
        if self.dtype.is_floating_point:
            body = np.array2string(a, separator=", ", prefix="tensor(", precision=4,
                                   floatmode="maxprec_equal", threshold=1000)
        else:
            body = np.array2string(a, separator=", ", prefix="tensor(", threshold=1000)
        extras = []
        if self.dtype not in (D.float32, D.int64, D.bool_) or (self.numel() == 0 and self.dtype is not D.float32):
            extras.append(f"dtype={self.dtype!r}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn={self.grad_fn!r}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    def __bool__(self):
        if self.numel() != 1:
            raise RuntimeError(f"Boolean value of Tensor with more than one value is ambiguous")
        return builtins.bool(self.item())

    def __float__(self):
        return builtins.float(self.item())

    def __int__(self):
        return builtins.int(self.item())

    def __index__(self):
        if self.dtype.is_floating_point or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return builtins.int(self.item())

    def __hash__(self):
        return id(self)

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __reduce_ex__(self, proto):
        raise TypeError("pydl tensors are not picklable (pydl never uses pickle); use pydl.save / "
                        "safetensors for checkpoints, or .numpy()")

    def __deepcopy__(self, memo):
        t = self.detach().clone()
        t._requires_grad = self._requires_grad
        if self.grad is not None:
            t.grad = self.grad.detach().clone()
        memo[id(self)] = t
        return t


def _wrap_dim(d, ndim):
    n = max(ndim, 1)
    if not isinstance(d, numbers.Integral):
        raise TypeError(f"dim must be an integer, got {type(d).__name__}")
    if d < -n or d >= n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {d})")
    return d + n if d < 0 else d
