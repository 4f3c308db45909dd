"""autograd: one training step of a small MLP (forward, cross-entropy, backward), pydl vs torch.

The same graph on both sides -- linear layers, tanh, log-softmax cross-entropy written as
``logits - logsumexp`` with a gather, as in ``python -m pydl.demo`` -- and the same weights and
data. The matmul flops are a small part of the step, so this row measures what the define-by-run
tape, the Python op layer and the small kernels cost around them: the "autograd overhead". Its
% of roofline is that of the matmul flops alone.
"""
import math

from ..registry import Case, Variant, register

import pydl


def _mlp_case(sizes, batch):
    layers = list(zip(sizes[:-1], sizes[1:]))
    matmul_flops = sum(2.0 * batch * i * o for i, o in layers)

    def make_inputs():
        import torch

        pydl.manual_seed(0)
        x = pydl.randn(batch, sizes[0])
        y = pydl.randint(0, sizes[-1], (batch,))
        params = []
        for fan_in, fan_out in layers:
            bound = 1.0 / math.sqrt(fan_in)
            params.append(pydl.rand(fan_out, fan_in) * (2 * bound) - bound)
            params.append(pydl.rand(fan_out) * (2 * bound) - bound)
        tparams = [torch.from_dlpack(p).clone().requires_grad_() for p in params]
        params = [p.requires_grad_() for p in params]
        return (x, y, params), (torch.from_dlpack(x), torch.from_dlpack(y), tparams)

    return Case(op="mlp train step", shape=f"{'-'.join(map(str, sizes))}, batch {batch}",
                make_inputs=make_inputs, variants=[Variant("autograd", _step)], torch_fn=_step,
                # forward + the two backward products per layer
                flops=3.0 * matmul_flops, tol=1e-4)


def _step(x, y, params):
    """Works on pydl and torch tensors alike: both have the same methods."""
    for p in params:
        p.grad = None
    h = x
    for i in range(0, len(params), 2):
        h = h @ params[i].T + params[i + 1]
        if i + 2 < len(params):
            h = h.tanh()
    logp = h - h.logsumexp(1, keepdim=True)
    loss = -logp.gather(1, y.unsqueeze(1)).mean()
    loss.backward()
    return loss


@register("autograd", "forward + backward of a small MLP training step (autograd overhead)")
def cases(cfg):
    return [
        _mlp_case((2, 64, 64, 3), 600),  # python -m pydl.demo: overhead-dominated
        _mlp_case(cfg.pick(default=(784, 256, 256, 10), quick=(784, 256, 256, 10),
                           tiny=(32, 16, 16, 4)), cfg.pick(default=128, quick=128, tiny=16)),
    ]
