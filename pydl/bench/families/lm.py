"""lm: a GPT training pass (forward + cross-entropy + backward), pydl.models.GPT vs the same model
written in torch (same weights, same batch, same thread count).

Model (default): vocabulary 110 (the character tokenizer of ``python -m pydl.train gpt``), block 64,
4 layers, 4 heads, 128 wide; batch 32 — the default of the training command. Both sides use
exact GELU and ``scaled_dot_product_attention(is_causal=True)``. The flops counted are the matmuls, backward
twice the forward: the usual 6·(B·T)·P_matmul + 12·L·B·T²·C estimate (the causal half of the
attention is not discounted).
"""
from ..registry import Case, Variant, register

import pydl


def _torch_gpt(V, T, L, nh, C):
    import torch
    import torch.nn as tnn
    import torch.nn.functional as tF

    class Attn(tnn.Module):
        def __init__(self):
            super().__init__()
            self.c_attn, self.c_proj = tnn.Linear(C, 3 * C), tnn.Linear(C, C)

        def forward(self, x):
            B, T_, _ = x.shape
            q, k, v = (t.view(B, T_, nh, C // nh).transpose(1, 2) for t in self.c_attn(x).split(C, 2))
            y = tF.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.c_proj(y.transpose(1, 2).reshape(B, T_, C))

    class MLP(tnn.Module):
        def __init__(self):
            super().__init__()
            self.c_fc, self.c_proj = tnn.Linear(C, 4 * C), tnn.Linear(4 * C, C)

        def forward(self, x):
            return self.c_proj(tF.gelu(self.c_fc(x)))

    class Block(tnn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.attn, self.ln_2, self.mlp = tnn.LayerNorm(C), Attn(), tnn.LayerNorm(C), MLP()

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            return x + self.mlp(self.ln_2(x))

    class GPT(tnn.Module):
        def __init__(self):
            super().__init__()
            self.transformer = tnn.ModuleDict(dict(wte=tnn.Embedding(V, C), wpe=tnn.Embedding(T, C),
                                                   h=tnn.ModuleList([Block() for _ in range(L)]),
                                                   ln_f=tnn.LayerNorm(C)))
            self.lm_head = tnn.Linear(C, V, bias=False)
            self.lm_head.weight = self.transformer.wte.weight

        def forward(self, idx, targets):
            x = self.transformer.wte(idx) + self.transformer.wpe(torch.arange(idx.shape[1]))
            for b in self.transformer.h:
                x = b(x)
            logits = self.lm_head(self.transformer.ln_f(x))
            return logits, tF.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))

    return GPT()


def _train_pass(m, x, y):
    for p in m.parameters():
        p.grad = None
    _, loss = m(x, y)
    loss.backward()
    return loss.detach()


@register("lm", "GPT training pass (fwd + loss + bwd; V=110, T=64, 4 layers, 4 heads, C=128, B=32) vs torch")
def cases(cfg):
    V, T, L, nh, C, B = cfg.pick(default=(110, 64, 4, 4, 128, 32), quick=(110, 64, 2, 4, 128, 16),
                                 tiny=(11, 8, 1, 2, 8, 2))

    def make_inputs():
        import numpy as np
        import torch

        from pydl.models import GPT, GPTConfig
        pydl.manual_seed(0)
        pm = GPT(GPTConfig(vocab_size=V, block_size=T, n_layer=L, n_head=nh, n_embd=C))
        tm = _torch_gpt(V, T, L, nh, C)
        tm.load_state_dict({k: torch.from_numpy(np.array(v.detach().numpy())) for k, v in pm.state_dict().items()})
        rng = np.random.default_rng(0)
        x, y = rng.integers(0, V, (B, T)), rng.integers(0, V, (B, T))
        return (pm, pydl.tensor(x), pydl.tensor(y)), (tm, torch.from_numpy(x), torch.from_numpy(y))

    n_matmul = L * 12 * C * C + V * C  # qkv + proj + 2 MLP matrices per layer, lm_head
    flops = 6.0 * B * T * n_matmul + 12.0 * L * B * T * T * C
    return [Case(op="GPT fwd+bwd", shape=f"V={V} T={T} L={L} nh={nh} C={C} B={B}", make_inputs=make_inputs,
                 variants=[Variant("default", _train_pass, isa=cfg.default_isa)], torch_fn=_train_pass,
                 flops=flops, tol=1e-4)]
