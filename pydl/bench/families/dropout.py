"""dropout: the fused kernel (Philox mask + scale in one pass), float32, p = 0.5, every ISA plus
the plain reference kernel (one Philox call per element).

The rate is GB/s of the unavoidable traffic: the input read once and the output written once.
pydl's and torch's masks come from different generators, so the outputs are not comparable
element by element (tol disables that check); tests/test_embedding_dropout_lrn.py checks the
values, the kept fraction and the thread-count independence.
"""
import math

from ..registry import Case, Variant, isa_variants, register
from ._inputs import randn

import pydl


@register("dropout", "fused dropout p=0.5 (Philox4x32-10 mask + scale, one pass), float32; GB/s")
def cases(cfg):
    import torch

    n = cfg.pick(default=1 << 24, quick=1 << 22, tiny=1 << 12)

    def make_inputs():
        pydl.manual_seed(0)
        x, tx = randn(n)
        return (x,), (tx,)

    return [
        Case(op="dropout p=0.5", shape=f"{n}", make_inputs=make_inputs,
             variants=isa_variants(cfg, lambda x: pydl.nn.functional.dropout(x, 0.5))
             + [Variant("reference", lambda x: pydl.Tensor._wrap(pydl._C.dropout(x._impl, 0.5, 1234, True)))],
             torch_fn=lambda x: torch.nn.functional.dropout(x, 0.5), bytes=2 * 4.0 * n, tol=math.inf),
    ]
