"""scaled_dot_product_attention, float32: forward, and forward + backward, causal and not, against
torch.nn.functional.scaled_dot_product_attention at the same thread count.

Work per call (E = Ev): the forward is two products, Q K^T and P V, 4*B*H*L*S*E flops; the
backward five (Q K^T recomputed, dP = dO V^T, dV, dK, dQ), 10*B*H*L*S*E, so forward + backward
counts 14*B*H*L*S*E. Causal rows count half of that (the keys above the diagonal are skipped), as
the FlashAttention papers do. The exps (one per score) are not counted.
The long-sequence row (L = 4096, one head) is the O(L) memory case: the flash kernels never hold
the L x L matrix (64 MiB here); see tests/test_attention.py for the peak-RSS check at L = 8192.
"""
from ..registry import Case, Variant, isa_variants, kernel_variants, register

import pydl


def _inputs(B, H, L, E, grad):
    def make_inputs():
        import torch

        pydl.manual_seed(0)
        ps = [pydl.randn(B, H, L, E) for _ in range(3)]
        g = pydl.randn(B, H, L, E)
        ts = [torch.from_dlpack(p) for p in ps]
        if grad:
            ts = [t.clone().requires_grad_() for t in ts]
            ps = [p.requires_grad_() for p in ps]
            return (*ps, pydl.Tensor._wrap(g._impl)), (*ts, torch.from_dlpack(g))
        return tuple(ps), tuple(ts)
    return make_inputs


def _fwd(F, causal):
    return lambda q, k, v: F(q, k, v, is_causal=causal)


def _fwd_bwd(F, causal):
    def run(q, k, v, g):
        for t in (q, k, v):
            t.grad = None
        F(q, k, v, is_causal=causal).backward(g)
        return q.grad, k.grad, v.grad
    return run


@register("attention", "scaled_dot_product_attention fwd and fwd+bwd, float32 (GFLOP/s vs torch)")
def cases(cfg):
    import torch

    P = pydl.nn.functional.scaled_dot_product_attention
    T = torch.nn.functional.scaled_dot_product_attention
    B, H, L, E = cfg.pick(default=(4, 8, 512, 64), quick=(2, 8, 256, 64), tiny=(1, 2, 70, 16))
    out = []
    for causal in (False, True):
        frac = 0.5 if causal else 1.0
        base = B * H * L * L * E * frac
        tag = " causal" if causal else ""
        out.append(Case(op=f"sdpa fwd{tag}", shape=f"{B}x{H}x{L}x{E}", make_inputs=_inputs(B, H, L, E, False),
                        variants=kernel_variants(cfg, "attention", _fwd(P, causal), isas=cfg.isas,
                                                 max_flops={"reference": 3e9}),
                        torch_fn=_fwd(T, causal), flops=4.0 * base))
        out.append(Case(op=f"sdpa fwd+bwd{tag}", shape=f"{B}x{H}x{L}x{E}", make_inputs=_inputs(B, H, L, E, True),
                        variants=[Variant("flash", _fwd_bwd(P, causal), kernel=("attention", "flash"))],
                        torch_fn=_fwd_bwd(T, causal), flops=14.0 * base, tol=1e-3))
    Ll = cfg.pick(default=4096, quick=2048, tiny=128)
    out.append(Case(op="sdpa fwd+bwd causal, long", shape=f"1x1x{Ll}x64", make_inputs=_inputs(1, 1, Ll, 64, True),
                    variants=isa_variants(cfg, _fwd_bwd(P, True))[:1],
                    torch_fn=_fwd_bwd(T, True), flops=14.0 * Ll * Ll * 64 * 0.5, tol=1e-3))
    return out
