"""Gradient clipping (as torch.nn.utils.clip_grad)."""
import math

from ... import _creation as C
from ..._tensor import Tensor
from ...autograd import no_grad

__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm"]


def _tensors(parameters):
    if isinstance(parameters, Tensor):
        return [parameters]
    return list(parameters)


def _vector_norm(t, norm_type):
    flat = t.reshape(-1)
    if norm_type == math.inf:
        return flat.abs().amax() if flat.numel() else C.zeros((), dtype=t.dtype)
    if norm_type == -math.inf:
        return flat.abs().amin()
    if norm_type == 0:
        return (flat != 0).sum().to(t.dtype)
    return flat.norm(norm_type)


@no_grad()
def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The norm of the norms of ``tensors``: the norm of their concatenation."""
    tensors = _tensors(tensors)
    norm_type = float(norm_type)
    if len(tensors) == 0:
        return C.tensor(0.0)
    norms = [_vector_norm(t, norm_type) for t in tensors]
    from ...ops.shape import stack
    stacked = stack([n.to(norms[0].dtype) for n in norms])
    total = _vector_norm(stacked, norm_type)
    if error_if_nonfinite and (math.isnan(total.item()) or math.isinf(total.item())):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so "
                           "it cannot be clipped. To disable this error and scale the gradients by the non-finite "
                           "norm anyway, set `error_if_nonfinite=False`")
    return total


@no_grad()
def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scales the gradients in place so that their total norm is at most
    ``max_norm`` (by max_norm / (total + 1e-6), never up). Returns the total norm
    before clipping, a 0-d tensor."""
    params = _tensors(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite)
    if not grads:
        return total
    clip_coef = float(max_norm) / (total + 1e-6)
    clip_coef_clamped = clip_coef.clamp(max=1.0)
    for g in grads:
        g.mul_(clip_coef_clamped.to(g.dtype))
    return total


@no_grad()
def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamps every gradient to [-clip_value, clip_value] in place."""
    clip_value = float(clip_value)
    for p in _tensors(parameters):
        if p.grad is not None:
            p.grad.clamp_(-clip_value, clip_value)
