"""MultiheadAttention, TransformerEncoderLayer / DecoderLayer, TransformerEncoder / Decoder, Transformer and
LayerNorm against torch: each module is built in both libraries, torch's state_dict is copied into pydl
(through numpy), and the outputs (eval mode, so dropout is off), the attention weights (averaged or per
head), the input gradients and every parameter gradient are compared. float64 checks the math at
float64's default tolerance; a float32 run checks the same modules at float32."""
import numpy as np
import pytest
import torch

import pydl
from harness import compare, rng_for

DT = {"float32": (pydl.float32, torch.float32, np.float32), "float64": (pydl.float64, torch.float64, np.float64)}


def copy_weights(pm, tm):
    sd = {k: pydl.tensor(v.detach().cpu().numpy().copy()) for k, v in tm.state_dict().items()}
    assert sorted(sd) == sorted(pm.state_dict()), (sorted(sd), sorted(pm.state_dict()))
    pm.load_state_dict(sd)


def run_both(name, pm, tm, inputs, call, dtype="float64", rtol=None, atol=None, reason=None):
    """inputs: dict name -> numpy array (float arrays get requires_grad, bool / masks don't, see `grad`).
    call(lib, module, tensors) -> output or (output, weights). Compares outputs, input grads, param grads."""
    copy_weights(pm, tm)
    pm.eval()
    tm.eval()
    pt, tt = {}, {}
    for k, a in inputs.items():
        rg = a.dtype.kind == "f" and not k.endswith("mask")
        pt[k] = pydl.tensor(a, requires_grad=rg)
        tt[k] = torch.tensor(a, requires_grad=rg)
    got, want = call(pydl, pm, pt), call(torch, tm, tt)
    d_rtol, d_atol = {"float32": (1.3e-6, 1e-5), "float64": (1e-7, 1e-7)}[dtype]
    if (rtol or 0) > d_rtol or (atol or 0) > d_atol:
        assert reason, "a looser tolerance needs a reason"
    rtol, atol = rtol or d_rtol, atol or d_atol
    compare(f"{name} forward", got, want, rtol, atol)
    out_p, out_t = (got[0], want[0]) if isinstance(want, tuple) else (got, want)
    g = rng_for(name, "g").standard_normal(tuple(out_t.shape)).astype(DT[dtype][2])
    out_t.backward(torch.tensor(g))
    out_p.backward(pydl.tensor(g))
    for k in inputs:
        if tt[k].requires_grad:
            compare(f"{name} grad of {k}", pt[k].grad, tt[k].grad, rtol, atol)
    tp = dict(tm.named_parameters())
    for k, p in pm.named_parameters():
        assert (p.grad is None) == (tp[k].grad is None), f"{name}: grad of {k} present in one library only"
        if p.grad is not None:
            compare(f"{name} grad of parameter {k}", p.grad, tp[k].grad, rtol, atol)


def arr(rng, shape, dtype="float64"):
    return rng.uniform(-1, 1, shape).astype(DT[dtype][2])


def kw_dtype(lib, dtype):
    return {"dtype": DT[dtype][0] if lib is pydl else DT[dtype][1]}


# ---------------------------------------------------------------------------------------------------
# MultiheadAttention
# ---------------------------------------------------------------------------------------------------
def mha_pair(dtype="float64", **kw):
    return (pydl.nn.MultiheadAttention(**kw, **kw_dtype(pydl, dtype)),
            torch.nn.MultiheadAttention(**kw, **kw_dtype(torch, dtype)))


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("need_weights,average", [(True, True), (True, False), (False, True)])
def test_mha_self_and_cross(batch_first, need_weights, average):
    rng = rng_for("mha", batch_first, need_weights, average)
    E, H, L, S, N = 16, 4, 7, 9, 3
    for kdim, vdim, bias in ((None, None, True), (5, 11, True), (None, None, False)):
        pm, tm = mha_pair(embed_dim=E, num_heads=H, kdim=kdim, vdim=vdim, bias=bias, batch_first=batch_first)
        bshape = (lambda T: (N, T)) if batch_first else (lambda T: (T, N))
        ins = {"q": arr(rng, bshape(L) + (E,)), "k": arr(rng, bshape(S) + (kdim or E,)),
               "v": arr(rng, bshape(S) + (vdim or E,))}

        def call(lib, m, t):
            return m(t["q"], t["k"], t["v"], need_weights=need_weights, average_attn_weights=average)
        run_both(f"mha_{kdim}_{vdim}_{bias}", pm, tm, ins, call)
        if kdim is None:   # self-attention: one tensor for q, k and v
            run_both("mha_self", pm, tm, {"x": ins["q"]},
                     lambda lib, m, t: m(t["x"], t["x"], t["x"], need_weights=need_weights,
                                         average_attn_weights=average))


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("batch_first", [False, True])
def test_mha_masks(need_weights, batch_first):
    rng = rng_for("mha_masks", need_weights, batch_first)
    E, H, L, S, N = 12, 3, 6, 8, 2
    pm, tm = mha_pair(embed_dim=E, num_heads=H, batch_first=batch_first)
    bshape = (lambda T: (N, T)) if batch_first else (lambda T: (T, N))
    q, k, v = arr(rng, bshape(L) + (E,)), arr(rng, bshape(S) + (E,)), arr(rng, bshape(S) + (E,))
    keep_col = np.zeros(S, bool)
    keep_col[0] = True                      # key 0 never masked: no row is fully masked (NaN in torch)
    bool2d = (rng.random((L, S)) < 0.4) & ~keep_col
    float2d = np.where(bool2d, -np.inf, rng.uniform(-1, 1, (L, S)))
    bool3d = (rng.random((N * H, L, S)) < 0.4) & ~keep_col
    kpm = (rng.random((N, S)) < 0.4) & ~keep_col
    kpm_f = np.where(kpm, -np.inf, 0.0)
    causal = np.triu(np.full((L, S), -np.inf), 1)
    cases = [("bool2d", {"attn_mask": bool2d}), ("float2d", {"attn_mask": float2d}), ("bool3d", {"attn_mask": bool3d}),
             ("kpm", {"key_padding_mask": kpm}), ("kpm_float", {"key_padding_mask": kpm_f}),
             ("both", {"attn_mask": float2d, "key_padding_mask": kpm}),
             ("bool_both", {"attn_mask": bool2d, "key_padding_mask": kpm}),
             ("causal_hint", {"attn_mask": causal, "is_causal": True})]
    for cname, masks in cases:
        ins = {"q": q, "k": k, "v": v}
        flags = {}
        for mk, mv in masks.items():
            if isinstance(mv, np.ndarray):
                ins[mk] = mv
            else:
                flags[mk] = mv

        def call(lib, m, t, flags=flags, names=tuple(masks)):
            extra = {n: t[n] for n in names if n in t}
            return m(t["q"], t["k"], t["v"], need_weights=need_weights, **extra, **flags)
        run_both(f"mha_mask_{cname}", pm, tm, ins, call)


def test_mha_unbatched_and_errors():
    rng = rng_for("mha_unbatched")
    pm, tm = mha_pair(embed_dim=8, num_heads=2)
    ins = {"q": arr(rng, (5, 8)), "k": arr(rng, (7, 8)), "v": arr(rng, (7, 8)),
           "key_padding_mask": np.array([False, True, False, False, True, False, False])}
    for nw in (True, False):
        run_both(f"mha_unbatched_{nw}", pm, tm, ins,
                 lambda lib, m, t: m(t["q"], t["k"], t["v"], key_padding_mask=t["key_padding_mask"], need_weights=nw))
    with pytest.raises(AssertionError, match="divisible"):
        pydl.nn.MultiheadAttention(10, 3)
    with pytest.raises(NotImplementedError):
        pydl.nn.MultiheadAttention(8, 2, add_bias_kv=True)
    m = pydl.nn.MultiheadAttention(8, 2)
    x = pydl.randn(5, 2, 8)
    with pytest.raises(RuntimeError, match="Need attn_mask"):
        m(x, x, x, is_causal=True)
    with pytest.raises(RuntimeError, match="2D attn_mask"):
        m(x, x, x, attn_mask=pydl.zeros(4, 5))
    with pytest.raises(AssertionError, match="key_padding_mask"):
        m(x, x, x, key_padding_mask=pydl.zeros(2, 4, dtype=pydl.bool))


def test_mha_init_and_names():
    pydl.manual_seed(0)
    for kw in ({}, {"kdim": 3, "vdim": 5}, {"bias": False}):
        pm = pydl.nn.MultiheadAttention(16, 4, **kw)
        tm = torch.nn.MultiheadAttention(16, 4, **kw)
        assert list(pm.state_dict()) == list(tm.state_dict())
        for (n, p), (_, t) in zip(pm.named_parameters(), tm.named_parameters()):
            assert tuple(p.shape) == tuple(t.shape), n
        if kw.get("bias", True):
            assert np.all(pm.in_proj_bias.detach().numpy() == 0) and np.all(pm.out_proj.bias.detach().numpy() == 0)
        w = (pm.in_proj_weight if "kdim" not in kw else pm.k_proj_weight).detach().numpy()
        fan_in, fan_out = w.shape[1], w.shape[0]
        bound = np.sqrt(6.0 / (fan_in + fan_out))   # xavier_uniform_
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound


# ---------------------------------------------------------------------------------------------------
# Encoder / decoder layers, stacks, the full Transformer
# ---------------------------------------------------------------------------------------------------
def _gelu_tanh(x):
    return x * x.sigmoid()


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu", "callable"])
def test_encoder_layer(norm_first, batch_first, activation):
    rng = rng_for("enc", norm_first, batch_first, activation)
    d, h, ff, L, N = 16, 4, 24, 7, 3
    act = _gelu_tanh if activation == "callable" else activation
    kw = dict(d_model=d, nhead=h, dim_feedforward=ff, dropout=0.1, activation=act, batch_first=batch_first,
              norm_first=norm_first, layer_norm_eps=1e-6)
    pm = pydl.nn.TransformerEncoderLayer(**kw, **kw_dtype(pydl, "float64"))
    tm = torch.nn.TransformerEncoderLayer(**kw, **kw_dtype(torch, "float64"))
    x = arr(rng, (N, L, d) if batch_first else (L, N, d))
    kpm = np.zeros((N, L), bool)
    kpm[0, 3:] = True
    kpm[2, 5] = True
    causal = np.triu(np.full((L, L), -np.inf), 1)
    run_both("enc_plain", pm, tm, {"x": x}, lambda lib, m, t: m(t["x"]))
    run_both("enc_masks", pm, tm, {"x": x, "src_mask": causal, "src_key_padding_mask": kpm},
             lambda lib, m, t: m(t["x"], src_mask=t["src_mask"], src_key_padding_mask=t["src_key_padding_mask"]))


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_decoder_layer(norm_first, batch_first):
    rng = rng_for("dec", norm_first, batch_first)
    d, h, ff, L, S, N = 12, 2, 20, 6, 9, 2
    kw = dict(d_model=d, nhead=h, dim_feedforward=ff, activation="gelu", batch_first=batch_first,
              norm_first=norm_first)
    pm = pydl.nn.TransformerDecoderLayer(**kw, **kw_dtype(pydl, "float64"))
    tm = torch.nn.TransformerDecoderLayer(**kw, **kw_dtype(torch, "float64"))
    b = (lambda T: (N, T, d)) if batch_first else (lambda T: (T, N, d))
    tgt, mem = arr(rng, b(L)), arr(rng, b(S))
    mkpm = np.zeros((N, S), bool)
    mkpm[1, 4:] = True
    tkpm = np.zeros((N, L), bool)
    tkpm[0, 5] = True
    mmask = np.where(rng.random((L, S)) < 0.3, -np.inf, 0.0)
    mmask[:, 0] = 0.0
    ins = {"tgt": tgt, "mem": mem, "tgt_mask": np.triu(np.full((L, L), -np.inf), 1), "memory_mask": mmask,
           "tgt_key_padding_mask": tkpm, "memory_key_padding_mask": mkpm}
    run_both("dec_plain", pm, tm, {"tgt": tgt, "mem": mem}, lambda lib, m, t: m(t["tgt"], t["mem"]))
    run_both("dec_masks", pm, tm, ins,
             lambda lib, m, t: m(t["tgt"], t["mem"], tgt_mask=t["tgt_mask"], memory_mask=t["memory_mask"],
                                 tgt_key_padding_mask=t["tgt_key_padding_mask"],
                                 memory_key_padding_mask=t["memory_key_padding_mask"]))


def test_encoder_decoder_stacks():
    rng = rng_for("stacks")
    d, h, L, S, N = 8, 2, 5, 6, 2
    for norm in (False, True):
        def make(lib):
            dt = kw_dtype(lib, "float64")
            enc = lib.nn.TransformerEncoder(lib.nn.TransformerEncoderLayer(d, h, 16, **dt), 2,
                                            lib.nn.LayerNorm(d, **dt) if norm else None)
            dec = lib.nn.TransformerDecoder(lib.nn.TransformerDecoderLayer(d, h, 16, **dt), 3,
                                            lib.nn.LayerNorm(d, **dt) if norm else None)
            return enc, dec
        (pe, pd), (te, td) = make(pydl), make(torch)
        src, tgt = arr(rng, (S, N, d)), arr(rng, (L, N, d))
        mask = np.triu(np.full((S, S), -np.inf), 1)
        run_both("encoder", pe, te, {"x": src, "mask": mask}, lambda lib, m, t: m(t["x"], mask=t["mask"]))
        run_both("decoder", pd, td, {"tgt": tgt, "mem": src}, lambda lib, m, t: m(t["tgt"], t["mem"]))


@pytest.mark.parametrize("batch_first,norm_first", [(False, False), (True, True)])
def test_transformer(batch_first, norm_first):
    rng = rng_for("transformer", batch_first, norm_first)
    d, h, L, S, N = 16, 4, 6, 7, 2
    kw = dict(d_model=d, nhead=h, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=32,
              batch_first=batch_first, norm_first=norm_first)
    pm = pydl.nn.Transformer(**kw, **kw_dtype(pydl, "float64"))
    tm = torch.nn.Transformer(**kw, **kw_dtype(torch, "float64"))
    assert list(pm.state_dict()) == list(tm.state_dict())
    b = (lambda T: (N, T, d)) if batch_first else (lambda T: (T, N, d))
    skpm = np.zeros((N, S), bool)
    skpm[1, 5:] = True
    ins = {"src": arr(rng, b(S)), "tgt": arr(rng, b(L)),
           "tgt_mask": to_np(pydl.nn.Transformer.generate_square_subsequent_mask(L, dtype=pydl.float64)),
           "src_key_padding_mask": skpm, "memory_key_padding_mask": skpm}
    run_both("transformer", pm, tm, ins,
             lambda lib, m, t: m(t["src"], t["tgt"], tgt_mask=t["tgt_mask"],
                                 src_key_padding_mask=t["src_key_padding_mask"],
                                 memory_key_padding_mask=t["memory_key_padding_mask"]))
    with pytest.raises(RuntimeError, match="batch number"):
        pm(pydl.zeros(*b(S)), pydl.zeros(*((N + 1, L, d) if batch_first else (L, N + 1, d)), dtype=pydl.float64))


def to_np(t):
    return np.array(t.numpy(), copy=True)


def test_generate_square_subsequent_mask():
    for n in (1, 4, 9):
        got = to_np(pydl.nn.Transformer.generate_square_subsequent_mask(n))
        want = torch.nn.Transformer.generate_square_subsequent_mask(n).numpy()
        assert got.dtype == np.float32 and np.array_equal(got, want)


def test_transformer_float32():
    """The same comparison in float32: stacked layers of float32 products, softmaxes and layer norms
    (each renormalising rounding errors of ~eps * sqrt(d)) put parameter gradients a few ulp x depth
    away from torch's; 1e-4 relative / 1e-5 absolute is a small multiple of that."""
    rng = rng_for("transformer32")
    d, h, L, S, N = 16, 4, 6, 7, 2
    kw = dict(d_model=d, nhead=h, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=32)
    pm, tm = pydl.nn.Transformer(**kw), torch.nn.Transformer(**kw)
    ins = {"src": arr(rng, (S, N, d), "float32"), "tgt": arr(rng, (L, N, d), "float32")}
    run_both("transformer32", pm, tm, ins, lambda lib, m, t: m(t["src"], t["tgt"]), dtype="float32",
             rtol=1e-4, atol=1e-5, reason="stacked float32 layers, see the docstring")


def test_layer_norm_module():
    rng = rng_for("ln")
    for kw in ({"normalized_shape": 7}, {"normalized_shape": (3, 7), "eps": 1e-3},
               {"normalized_shape": 7, "bias": False}, {"normalized_shape": 7, "elementwise_affine": False}):
        pm = pydl.nn.LayerNorm(**kw, dtype=pydl.float64)
        tm = torch.nn.LayerNorm(**kw, dtype=torch.float64)
        with torch.no_grad():
            for p in tm.parameters():
                p.uniform_(-1, 1)
        run_both("layer_norm", pm, tm, {"x": arr(rng, (4, 3, 7))}, lambda lib, m, t: m(t["x"]))
