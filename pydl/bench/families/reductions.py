"""reductions: sum over rows and over columns, max with indices, var; float32, under every ISA.

The rate is GB/s of the unavoidable traffic (the input read once, the output written once); var is
computed in two passes (mean, then squared deviations) for accuracy, so it reads the input twice
and cannot reach 100% of this count.
"""
from ..registry import Case, isa_variants, register
from ._inputs import randn

import pydl


def _case(cfg, op, shape, out_elems, out_bytes_per_elem, fn, torch_fn, tol=1e-4):
    r, c = shape
    def make_inputs():
        pydl.manual_seed(0)
        x, tx = randn(r, c)
        return (x,), (tx,)
    return Case(op=op, shape=f"{r}x{c}", make_inputs=make_inputs, variants=isa_variants(cfg, fn),
                torch_fn=torch_fn, bytes=4.0 * r * c + out_bytes_per_elem * out_elems, tol=tol)


@register("reductions", "sum over rows / columns, max with indices, var on float32; memory-bound (GB/s)")
def cases(cfg):
    import torch

    r, c = cfg.pick(default=(4096, 1024), quick=(1024, 1024), tiny=(64, 64))
    return [
        _case(cfg, "sum dim=1 (rows)", (r, c), r, 4, lambda x: x.sum(1), lambda x: x.sum(1)),
        _case(cfg, "sum dim=0 (columns)", (r, c), c, 4, lambda x: x.sum(0), lambda x: x.sum(0)),
        # values (4 bytes) and int64 indices (8 bytes) per row
        _case(cfg, "max dim=1 (+indices)", (r, c), r, 12, lambda x: pydl.max(x, 1),
              lambda x: torch.max(x, 1)),
        _case(cfg, "var dim=1", (r, c), r, 4, lambda x: x.var(1), lambda x: x.var(1)),
    ]
