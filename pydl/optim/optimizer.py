"""Optimizer: the base class of pydl.optim, with torch.optim's interface and state_dict format.

``param_groups`` is a list of dicts, each holding its ``params`` and its own
options (defaults filled in from the constructor); ``state`` maps each
parameter to its per-parameter state (moment buffers, step count). The
numeric update of one parameter is one fused C++ kernel call
(csrc/cpu/optim.cpp); this file is only bookkeeping.

``state_dict()`` is torch's format::

    {"state": {0: {"step": tensor(3.), "exp_avg": ..., ...}, ...},
     "param_groups": [{"lr": 0.001, ..., "params": [0, 1, 2]}, ...]}

where parameters are numbered in group order.
"""
import copy
import warnings
from collections import defaultdict
from collections.abc import Mapping
from itertools import chain

import numpy as np

from .. import _creation as C
from .._tensor import Tensor
from ..autograd import enable_grad

__all__ = ["Optimizer", "required"]


class _RequiredParameter:
    """Marks an option that has no default and must be given."""

    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


def _as_state_tensor(value):
    """A state value from a checkpoint (pydl / torch tensor, numpy array) as a pydl tensor."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, np.ndarray):
        return C.tensor(value)
    if type(value).__module__.startswith("torch") and hasattr(value, "detach"):
        return C.tensor(value.detach().cpu().numpy())
    return value


class Optimizer:
    """Base class: subclasses define ``step`` (and their defaults)."""

    def __init__(self, params, defaults):
        self.defaults = defaults
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            f"but got pydl.{type(params).__name__}")
        self.state = defaultdict(dict)
        self.param_groups = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def __repr__(self):
        s = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            s += "\n" + f"Parameter Group {i}\n"
            for key in sorted(group.keys()):
                if key != "params":
                    s += f"    {key}: {group[key]}\n"
        return s + ")"

    def add_param_group(self, param_group):
        """Adds a group of parameters with its own options (e.g. a different lr)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering "
                            "of tensors in sets will change between runs. Please use a list instead.")
        else:
            param_group["params"] = list(params)
        tensors, names = [], []
        for p in param_group["params"]:
            if isinstance(p, tuple):  # (name, param) from named_parameters()
                names.append(p[0])
                tensors.append(p[1])
            else:
                tensors.append(p)
        param_group["params"] = tensors
        if names:
            if len(names) != len(tensors):
                raise ValueError("all optimizer params should be with/without names. Some param names are missing")
            param_group["param_names"] = names
        for p in tensors:
            if not isinstance(p, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is "
                                f"{type(p).__module__}.{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            param_group.setdefault(name, default)
        if len(tensors) != len(set(tensors)):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in future, this will "
                          "cause an error; see github.com/pytorch/pytorch/issues/40967 for more information",
                          stacklevel=3)
        param_set = set()
        for group in self.param_groups:
            param_set.update(set(group["params"]))
            if ("param_names" in param_group) != ("param_names" in group):
                which = "with names" if "param_names" in param_group else "without names"
                raise ValueError("all optimizer param groups should be with/without names. "
                                 f"cannot add param group {which} to the optimizer")
        if not param_set.isdisjoint(set(tensors)):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none=True):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    if set_to_none:
                        p.grad = None
                    else:
                        if p.grad.grad_fn is not None:
                            p.grad.detach_()
                        else:
                            p.grad.requires_grad_(False)
                        p.grad.zero_()

    def step(self, closure=None):
        raise NotImplementedError

    def _closure_loss(self, closure):
        if closure is None:
            return None
        with enable_grad():
            return closure()

    # ------------------------------------------------------------------
    # state_dict
    # ------------------------------------------------------------------
    def state_dict(self):
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}``,
        torch's format. The state tensors are the optimizer's own (not copies)."""
        mapping = {}
        start = 0

        def pack_group(group):
            nonlocal start
            packed = {k: v for k, v in group.items() if k != "params"}
            mapping.update({id(p): i for i, p in enumerate(group["params"], start) if id(p) not in mapping})
            packed["params"] = [mapping[id(p)] for p in group["params"]]
            start += len(packed["params"])
            return packed

        param_groups = [pack_group(g) for g in self.param_groups]
        packed_state = {(mapping[id(k)] if isinstance(k, Tensor) else k): v for k, v in self.state.items()}
        return {"state": packed_state, "param_groups": param_groups}

    def load_state_dict(self, state_dict):
        """Loads a ``state_dict()`` (pydl's, or torch's with torch/numpy tensors):
        the groups must have the same sizes; state tensors are copied and cast
        to their parameter's dtype (except ``step``)."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"optimizer state_dict must be a dict, got {type(state_dict).__name__}")
        state_dict = dict(state_dict)
        for key in ("state", "param_groups"):
            if key not in state_dict:
                raise ValueError(f"optimizer state_dict has no '{key}' entry (keys: {sorted(map(str, state_dict))})")
        if not isinstance(state_dict["state"], Mapping):
            raise ValueError("optimizer state_dict['state'] must be a dict of per-parameter state")
        if not isinstance(state_dict["param_groups"], (list, tuple)) or not all(
                isinstance(g, Mapping) and isinstance(g.get("params"), (list, tuple))
                for g in state_dict["param_groups"]):
            raise ValueError("optimizer state_dict['param_groups'] must be a list of dicts, each with a 'params' "
                             "list of parameter indices")
        groups = self.param_groups
        saved_groups = [dict(g) for g in copy.deepcopy(list(state_dict["param_groups"]))]
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                             "optimizer's group")
        id_map = dict(zip(chain.from_iterable(g["params"] for g in saved_groups),
                          chain.from_iterable(g["params"] for g in groups)))

        def cast(param, value, key=None):
            value = _as_state_tensor(value)
            if isinstance(value, Tensor):
                if key == "step":
                    return value.detach().clone()
                v = value.detach()
                if param.is_floating_point() and v.dtype.is_floating_point:
                    v = v.to(param.dtype)
                return v.clone().contiguous()
            if isinstance(value, dict):
                return {k: cast(param, v, k) for k, v in value.items()}
            return value

        def validate(index, param, value):
            # Everything is checked before self.state / self.param_groups change, so a bad
            # state_dict leaves the optimizer as it was.
            if not isinstance(value, Mapping):
                raise ValueError(f"optimizer state for parameter {index} must be a dict, got {type(value).__name__}")
            for key, v in value.items():
                v = _as_state_tensor(v)
                if isinstance(v, Tensor) and key != "step" and tuple(v.shape) != tuple(param.shape):
                    raise ValueError(f"optimizer state '{key}' of parameter {index} has shape {tuple(v.shape)}, "
                                     f"but the parameter has shape {tuple(param.shape)}")
                if key == "step" and isinstance(v, Tensor) and v.numel() != 1:
                    raise ValueError(f"optimizer state 'step' of parameter {index} must be a scalar, got shape "
                                     f"{tuple(v.shape)}")

        state = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                param = id_map[k]
                validate(k, param, v)
                state[param] = cast(param, v)
                step = state[param].get("step")
                if step is not None and not isinstance(step, Tensor):
                    state[param]["step"] = C.tensor(float(step))
            else:
                state[k] = v

        def update_group(group, new_group):
            new_group["params"] = group["params"]
            if "param_names" in group and "param_names" not in new_group:
                new_group["param_names"] = group["param_names"]
            return new_group

        self.state = state
        self.param_groups = [update_group(g, ng) for g, ng in zip(groups, saved_groups)]
        self._setstate_defaults()

    def _setstate_defaults(self):
        """Fills options a loaded group may lack (older checkpoints)."""
        for group in self.param_groups:
            for k, v in self.defaults.items():
                if v is not required:
                    group.setdefault(k, v)

    # ------------------------------------------------------------------
    # helpers for subclasses
    # ------------------------------------------------------------------
    @staticmethod
    def _params_with_grad(group):
        for p in group["params"]:
            if p.grad is not None:
                if p.grad.is_cuda or p.is_cuda:
                    raise RuntimeError("pydl.optim: CUDA parameters are not supported yet")
                yield p

    @staticmethod
    def _grad_of(p):
        g = p.grad
        if g.dtype is not p.dtype:
            g = g.to(p.dtype)
        return g

    @staticmethod
    def _next_step(state):
        """Increments state['step'] (a 0-d float32 tensor, as torch) and returns the new count."""
        step = state["step"]
        step.add_(1)
        return step.item()

    @staticmethod
    def _check_options(group):
        if group.get("differentiable"):
            raise NotImplementedError("pydl.optim: differentiable=True is not supported")


def _zeros_like(p):
    return C.zeros(p.shape, dtype=p.dtype)


def _step_tensor():
    return C.tensor(0.0)

