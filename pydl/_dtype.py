"""Element types and devices (pydl.float32, pydl.device("cpu"), ...)."""
import numpy as np

from . import _C


class dtype:
    """An element type; mirrors torch.dtype (``pydl.float32`` etc.)."""

    __slots__ = ("name", "_c", "itemsize", "is_floating_point", "numpy")

    def __init__(self, name, c, itemsize, is_floating_point, np_dtype):
        self.name = name
        self._c = c
        self.itemsize = itemsize
        self.is_floating_point = is_floating_point
        self.numpy = np.dtype(np_dtype)

    def __repr__(self):
        return "pydl." + self.name

    def __reduce__(self):  # dtypes are singletons
        return (_by_name, (self.name,))


float32 = dtype("float32", _C.DType.float32, 4, True, np.float32)
float64 = dtype("float64", _C.DType.float64, 8, True, np.float64)
int64 = dtype("int64", _C.DType.int64, 8, False, np.int64)
bool_ = dtype("bool", _C.DType.bool, 1, False, np.bool_)
float = float32  # noqa: A001  (torch.float)
double = float64
long = int64

_ALL = (float32, float64, int64, bool_)
_FROM_C = {d._c: d for d in _ALL}
_FROM_NAME = {d.name: d for d in _ALL}


def _by_name(name):
    return _FROM_NAME[name]


def from_c(c):
    return _FROM_C[c]


def from_numpy_dtype(np_dtype):
    """The pydl dtype a numpy array of this dtype becomes (widening narrow types)."""
    np_dtype = np.dtype(np_dtype)
    if np_dtype == np.float32 or np_dtype == np.float16:
        return float32
    if np_dtype == np.float64:
        return float64
    if np_dtype == np.bool_:
        return bool_
    if np_dtype.kind in "iu":
        return int64
    raise TypeError(f"can't convert np.ndarray of type {np_dtype}. The only supported types are: "
                    "float64, float32, int64 and bool")


def as_dtype(d):
    """Accepts a pydl dtype, a numpy dtype / type, a torch dtype or a name."""
    if d is None or isinstance(d, dtype):
        return d
    if isinstance(d, str):
        name = d.replace("torch.", "").replace("pydl.", "")
        name = {"float": "float32", "double": "float64", "long": "int64"}.get(name, name)
        if name in _FROM_NAME:
            return _FROM_NAME[name]
        raise TypeError(f"unsupported dtype {d!r}; pydl has float32, float64, int64 and bool")
    mod = type(d).__module__
    if mod.startswith("torch"):
        return as_dtype(str(d))
    try:
        return from_numpy_dtype(d)
    except TypeError:
        raise TypeError(f"unsupported dtype {d!r}; pydl has float32, float64, int64 and bool") from None


class device:
    """A device: ``pydl.device("cpu")``, ``pydl.device("cuda:0")``."""

    __slots__ = ("type", "index")

    def __init__(self, spec, index=None):
        if isinstance(spec, device):
            self.type, self.index = spec.type, spec.index
            return
        if not isinstance(spec, str):
            raise TypeError(f"device() expects a string like 'cpu' or 'cuda:0', got {type(spec).__name__}")
        kind, _, idx = spec.partition(":")
        if kind not in ("cpu", "cuda"):
            raise RuntimeError(f"Expected one of cpu, cuda device type at start of device string: {spec}")
        if idx:
            if not idx.isdigit():
                raise RuntimeError(f"Invalid device string: '{spec}'")
            index = int(idx)
        self.type = kind
        self.index = index if kind == "cuda" else None

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        return f"device(type='{self.type}'" + ("" if self.index is None else f", index={self.index}") + ")"

    def __eq__(self, other):
        if isinstance(other, str):
            other = device(other)
        if not isinstance(other, device):
            return NotImplemented
        return self.type == other.type and (self.index or 0) == (other.index or 0)

    def __hash__(self):
        return hash((self.type, self.index or 0))


def as_device(d):
    if d is None or isinstance(d, device):
        return d
    if type(d).__module__.startswith("torch"):
        return device(str(d))
    if isinstance(d, int):
        return device("cuda", d)
    return device(d)
