"""Adadelta (as torch.optim.Adadelta)."""
from .. import _C
from ..autograd import no_grad
from .optimizer import Optimizer, _step_tensor, _zeros_like

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    """Adadelta (Zeiler, 2012); one fused kernel per parameter (``_C.adadelta_step``)::

        g = -grad if maximize else grad;  g += wd * p
        sq = rho * sq + (1 - rho) * g * g;  delta = sqrt(acc + eps) / sqrt(sq + eps) * g
        acc = rho * acc + (1 - rho) * delta^2;  p -= lr * delta
    """

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *, capturable=False,
                 maximize=False, differentiable=False):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay, "maximize": maximize,
                    "capturable": capturable, "foreach": foreach, "differentiable": differentiable}
        super().__init__(params, defaults)

    @no_grad()
    def step(self, closure=None):
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            self._check_options(group)
            lr, rho, eps = float(group["lr"]), float(group["rho"]), float(group["eps"])
            wd, maximize = float(group["weight_decay"]), bool(group["maximize"])
            for p in self._params_with_grad(group):
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _step_tensor()
                    state["square_avg"] = _zeros_like(p)
                    state["acc_delta"] = _zeros_like(p)
                self._next_step(state)
                _C.adadelta_step(p._impl, self._grad_of(p)._impl, state["square_avg"]._impl,
                                 state["acc_delta"]._impl, lr, rho, eps, wd, maximize)
                p._bump_version()
        return loss
