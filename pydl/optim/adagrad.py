"""Adagrad (as torch.optim.Adagrad)."""
from .. import _C
from .. import _creation as C
from ..autograd import no_grad
from .optimizer import Optimizer, _step_tensor

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Adagrad (Duchi et al., 2011); one fused kernel per parameter (``_C.adagrad_step``)::

        g = -grad if maximize else grad;  g += wd * p
        clr = lr / (1 + (t - 1) * lr_decay);  sum += g * g;  p -= clr * g / (sqrt(sum) + eps)
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        defaults = {"lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value, "foreach": foreach,
                    "maximize": maximize, "differentiable": differentiable, "fused": fused}
        super().__init__(params, defaults)
        # As torch: the state exists from construction.
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                state["step"] = _step_tensor()
                state["sum"] = C.full(p.shape, float(group["initial_accumulator_value"]), dtype=p.dtype)

    @no_grad()
    def step(self, closure=None):
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            self._check_options(group)
            lr, lr_decay = float(group["lr"]), float(group["lr_decay"])
            eps, wd, maximize = float(group["eps"]), float(group["weight_decay"]), bool(group["maximize"])
            for p in self._params_with_grad(group):
                state = self.state[p]
                if "sum" not in state:  # a group added after construction
                    state["step"] = _step_tensor()
                    state["sum"] = C.full(p.shape, float(group["initial_accumulator_value"]), dtype=p.dtype)
                step = self._next_step(state)
                clr = lr / (1 + (step - 1) * lr_decay)
                _C.adagrad_step(p._impl, self._grad_of(p)._impl, state["sum"]._impl, clr, eps, wd, maximize)
                p._bump_version()
        return loss
