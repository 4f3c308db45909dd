"""RMSprop (as torch.optim.RMSprop), with centering and momentum."""
from .. import _C
from ..autograd import no_grad
from .optimizer import Optimizer, _step_tensor, _zeros_like

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop (Hinton); one fused kernel per parameter (``_C.rmsprop_step``)::

        g = -grad if maximize else grad;  g += wd * p
        sq = alpha * sq + (1 - alpha) * g * g
        avg = sqrt(sq - ga^2) with ga = lerp(ga, g, 1 - alpha) (centered) | sqrt(sq);  avg += eps
        buf = momentum * buf + g / avg; p -= lr * buf  (momentum > 0)  |  p -= lr * g / avg
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps, "centered": centered,
                    "weight_decay": weight_decay, "capturable": capturable, "foreach": foreach,
                    "maximize": maximize, "differentiable": differentiable}
        super().__init__(params, defaults)

    @no_grad()
    def step(self, closure=None):
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            self._check_options(group)
            lr, alpha, eps = float(group["lr"]), float(group["alpha"]), float(group["eps"])
            wd, momentum = float(group["weight_decay"]), float(group["momentum"])
            centered, maximize = bool(group["centered"]), bool(group["maximize"])
            for p in self._params_with_grad(group):
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _step_tensor()
                    state["square_avg"] = _zeros_like(p)
                    if momentum > 0:
                        state["momentum_buffer"] = _zeros_like(p)
                    if centered:
                        state["grad_avg"] = _zeros_like(p)
                self._next_step(state)
                ga = state["grad_avg"]._impl if centered else None
                buf = state["momentum_buffer"]._impl if momentum > 0 else None
                _C.rmsprop_step(p._impl, self._grad_of(p)._impl, state["square_avg"]._impl, ga, buf, lr, alpha, eps,
                                wd, momentum, maximize)
                p._bump_version()
        return loss
