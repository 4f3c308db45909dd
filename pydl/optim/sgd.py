"""SGD with momentum, dampening, Nesterov, weight decay and maximize (as torch.optim.SGD)."""
from .. import _C
from ..autograd import no_grad
from .optimizer import Optimizer, _zeros_like

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent; each parameter's update is one fused kernel
    (``_C.sgd_step``) following torch's single-tensor formula::

        g = -grad if maximize else grad;   g += weight_decay * p
        buf = g (first step) | momentum * buf + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf;   p -= lr * g
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay,
                    "nesterov": nesterov, "maximize": maximize, "foreach": foreach,
                    "differentiable": differentiable, "fused": fused}
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)

    @no_grad()
    def step(self, closure=None):
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            self._check_options(group)
            lr, momentum = float(group["lr"]), float(group["momentum"])
            dampening, wd = float(group["dampening"]), float(group["weight_decay"])
            nesterov, maximize = bool(group["nesterov"]), bool(group["maximize"])
            for p in self._params_with_grad(group):
                buf, first = None, False
                if momentum != 0:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf, first = _zeros_like(p), True
                        state["momentum_buffer"] = buf
                _C.sgd_step(p._impl, self._grad_of(p)._impl, None if buf is None else buf._impl, lr, momentum,
                            dampening, wd, nesterov, maximize, first)
                p._bump_version()
        return loss
