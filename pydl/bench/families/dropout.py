"""dropout: the fused kernel (Philox mask + scale in one pass), float32, p = 0.5, both rungs of
pydl.kernels.variants("dropout") (reference: one Philox call per element) and the fast one under
each ISA.

The rate is GB/s of the unavoidable traffic: the input read once and the output written once.
pydl's and torch's masks come from different generators, so the outputs are not comparable
element by element (tol disables that check); tests/test_embedding_dropout_lrn.py checks the
values, the kept fraction and the thread-count independence.
"""
import math

from ..registry import Case, kernel_variants, register
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
             variants=kernel_variants(cfg, "dropout", lambda x: pydl.nn.functional.dropout(x, 0.5),
                                      isas=cfg.isas),
             torch_fn=lambda x: torch.nn.functional.dropout(x, 0.5), bytes=2 * 4.0 * n, tol=math.inf),
    ]
