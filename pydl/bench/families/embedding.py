"""embedding: the row gather (forward) and the dense scatter-add gradient (backward) of a
vocabulary-sized table, float32, both rungs of pydl.kernels.variants("embedding") and the fast one under each ISA.

The rate is GB/s of the unavoidable traffic: forward reads the picked rows and writes them
(2 * M * D * 4 bytes); backward writes the whole [V, D] gradient once and reads the M gradient
rows (torch: aten.embedding_dense_backward, the same op).
"""
from ..registry import Case, kernel_variants, register
from ._inputs import randn

import pydl


@register("embedding", "embedding forward (row gather) and dense backward (scatter-add), float32; GB/s")
def cases(cfg):
    import torch

    V, D, M = cfg.pick(default=(50000, 512, 16384), quick=(20000, 256, 4096), tiny=(100, 16, 64))

    def make_inputs():
        pydl.manual_seed(0)
        w, tw = randn(V, D)
        g, tg = randn(M, D)
        idx = pydl.randint(0, V, (M,))
        return (w, g, idx), (tw, tg, torch.from_dlpack(idx))

    C = pydl._C
    W = pydl.Tensor._wrap
    fwd = lambda w, g, i: pydl.nn.functional.embedding(i, w)  # noqa: E731
    bwd = lambda w, g, i: W(C.embedding_backward(g._impl, i._impl, V, -1))  # noqa: E731
    return [
        Case(op="embedding forward", shape=f"V={V} D={D} M={M}", make_inputs=make_inputs,
             variants=kernel_variants(cfg, "embedding", fwd, isas=cfg.isas),
             torch_fn=lambda w, g, i: torch.nn.functional.embedding(i, w), bytes=2 * 4.0 * M * D),
        Case(op="embedding backward", shape=f"V={V} D={D} M={M}", make_inputs=make_inputs,
             variants=kernel_variants(cfg, "embedding", bwd, isas=cfg.isas),
             torch_fn=lambda w, g, i: torch.ops.aten.embedding_dense_backward(g, i, V, -1, False),
             bytes=4.0 * (V * D + M * D)),
    ]
