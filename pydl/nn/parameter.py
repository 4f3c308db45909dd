"""nn.Parameter and nn.Buffer: tensors that a Module registers when they are assigned to it.

A Parameter shares storage (and the version counter) with the tensor it is
made from and requires grad by default. Ops on a Parameter return plain
Tensors, because every op builds its result with ``Tensor._wrap``.
"""
from .._tensor import Tensor


class Parameter(Tensor):
    """A leaf tensor that a Module registers as a parameter (``requires_grad=True`` by default)."""

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            from .._creation import empty
            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter expects a pydl Tensor, got {type(data).__name__}")
        t = cls._wrap(data._impl)
        t._version = data._version  # same storage, same version counter
        t.requires_grad = requires_grad
        return t

    def __init__(self, data=None, requires_grad=True):  # Tensor.__init__ refuses direct calls
        pass

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        result = Parameter(self.detach().clone(), self.requires_grad)
        if self.grad is not None:
            result.grad = self.grad.detach().clone()
        memo[id(self)] = result
        return result

    def __reduce_ex__(self, proto):
        return Tensor.__reduce_ex__(self, proto)


class Buffer:
    """Marks a tensor as a buffer when assigned to a Module attribute
    (``self.running_mean = nn.Buffer(t, persistent=True)``), as torch.nn.Buffer."""

    def __init__(self, data, persistent=True):
        if not isinstance(data, Tensor):
            raise TypeError(f"Buffer expects a pydl Tensor, got {type(data).__name__}")
        self.data = data
        self.persistent = persistent


def is_lazy(param):
    return False
