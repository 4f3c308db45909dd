"""MultiheadAttention (as torch.nn): parameter names, initialisation, masks and outputs as torch.

Masks follow torch's MultiheadAttention conventions, which are the reverse of
scaled_dot_product_attention's for bool masks: here True means "do not attend". Bool masks become
additive float masks (-inf where True) and key_padding_mask (N, S) is added to attn_mask ((L, S)
or (N * num_heads, L, S)). need_weights=True computes the weights explicitly (softmax of the
scores, as torch does, so they can be returned, averaged over heads or not); need_weights=False
runs pydl's flash scaled_dot_product_attention.
"""
import math

from ... import _creation as C
from ... import _dtype as D
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .linear import Linear
from .module import Module

__all__ = ["MultiheadAttention"]


def _canonical_mask(mask, name, dtype):
    """None, or an additive float mask of `dtype` (bool True -> -inf)."""
    if mask is None:
        return None
    if mask.dtype is D.bool_:
        return C.zeros(tuple(mask.shape), dtype=dtype).masked_fill(mask, float("-inf"))
    if not mask.dtype.is_floating_point:
        raise AssertionError(f"only bool and floating types of {name} are supported")
    return mask


class MultiheadAttention(Module):
    """Multi-head attention: out_proj(concat_h softmax(q_h k_h^T / sqrt(d) + mask) v_h)."""

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False,
                 kdim=None, vdim=None, batch_first=False, device=None, dtype=None):
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"embed_dim and num_heads must be greater than 0, got embed_dim={embed_dim} and "
                             f"num_heads={num_heads} instead")
        if add_bias_kv or add_zero_attn:
            raise NotImplementedError("MultiheadAttention(add_bias_kv=True / add_zero_attn=True) is not supported")
        super().__init__()
        C._check_device(device)
        kw = {"dtype": D.as_dtype(dtype) or D.float32}
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != embed_dim:
            raise AssertionError("embed_dim must be divisible by num_heads")
        if not self._qkv_same_embed_dim:
            self.q_proj_weight = Parameter(C.empty((embed_dim, embed_dim), **kw))
            self.k_proj_weight = Parameter(C.empty((embed_dim, self.kdim), **kw))
            self.v_proj_weight = Parameter(C.empty((embed_dim, self.vdim), **kw))
            self.register_parameter("in_proj_weight", None)
        else:
            self.in_proj_weight = Parameter(C.empty((3 * embed_dim, embed_dim), **kw))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(C.empty((3 * embed_dim,), **kw))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, dtype=kw["dtype"])
        self.bias_k = self.bias_v = None
        self.add_zero_attn = False
        self._reset_parameters()

    def _reset_parameters(self):
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        is_batched = query.dim() == 3
        if query.dim() not in (2, 3):
            raise AssertionError(f"query should be unbatched 2D or batched 3D tensor but received {query.dim()}-D "
                                 "query tensor")
        if key.dim() != query.dim() or value.dim() != query.dim():
            raise AssertionError(f"key and value should have the query's dimensionality ({query.dim()}-D), got "
                                 f"{key.dim()}-D and {value.dim()}-D")
        if is_causal and attn_mask is None:
            raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the Transformer "
                               "module method `generate_square_subsequent_mask` to create this mask.")
        if self.batch_first and is_batched:
            query, key, value = (x.transpose(0, 1) for x in (query, key, value))
        if not is_batched:
            query, key, value = (x.unsqueeze(1) for x in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        out, weights = self._attend(query, key, value, key_padding_mask, need_weights, attn_mask,
                                    average_attn_weights)
        if self.batch_first and is_batched:
            out = out.transpose(0, 1)
        if not is_batched:
            out = out.squeeze(1)
            if weights is not None:
                weights = weights.squeeze(0)
        return out, weights

    def _attend(self, query, key, value, key_padding_mask, need_weights, attn_mask, average_attn_weights):
        # query (L, N, E), key (S, N, kdim), value (S, N, vdim)
        L, N, E = query.shape
        S = key.shape[0]
        H, hd = self.num_heads, self.head_dim
        if E != self.embed_dim:
            raise AssertionError(f"was expecting embedding dimension of {self.embed_dim}, but got {E}")
        if key.shape[:2] != value.shape[:2] or key.shape[1] != N:
            raise AssertionError(f"key shape {tuple(key.shape)} does not match value shape {tuple(value.shape)} "
                                 f"or the query's batch size {N}")
        b = self.in_proj_bias
        bq, bk, bv = b.chunk(3) if b is not None else (None, None, None)
        if self._qkv_same_embed_dim:
            wq, wk, wv = self.in_proj_weight.chunk(3)
        else:
            wq, wk, wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        q = F.linear(query, wq, bq)
        k = F.linear(key, wk, bk)
        v = F.linear(value, wv, bv)

        attn_mask = _canonical_mask(attn_mask, "attn_mask", q.dtype)
        key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask", q.dtype)
        if attn_mask is not None:
            if attn_mask.dim() == 2:
                if tuple(attn_mask.shape) != (L, S):
                    raise RuntimeError(f"The shape of the 2D attn_mask is {tuple(attn_mask.shape)}, but should be "
                                       f"{(L, S)}.")
                attn_mask = attn_mask.unsqueeze(0)
            elif attn_mask.dim() == 3:
                if tuple(attn_mask.shape) != (N * H, L, S):
                    raise RuntimeError(f"The shape of the 3D attn_mask is {tuple(attn_mask.shape)}, but should be "
                                       f"{(N * H, L, S)}.")
            else:
                raise RuntimeError(f"attn_mask's dimension {attn_mask.dim()} is not supported")
        if key_padding_mask is not None:
            if tuple(key_padding_mask.shape) != (N, S):
                raise AssertionError(f"expecting key_padding_mask shape of {(N, S)}, but got "
                                     f"{tuple(key_padding_mask.shape)}")
            kpm = key_padding_mask.view(N, 1, 1, S).expand(N, H, 1, S).reshape(N * H, 1, S)
            attn_mask = kpm if attn_mask is None else attn_mask + kpm

        # (L, N, H*hd) -> (N*H, L, hd)
        q = q.reshape(L, N * H, hd).transpose(0, 1)
        k = k.reshape(S, N * H, hd).transpose(0, 1)
        v = v.reshape(S, N * H, hd).transpose(0, 1)
        p = self.dropout if self.training else 0.0

        if need_weights:
            scores = (q * math.sqrt(1.0 / hd)) @ k.transpose(-2, -1)
            if attn_mask is not None:
                scores = scores + attn_mask
            w = F.softmax(scores, dim=-1)
            if p > 0.0:
                w = F.dropout(w, p=p)
            o = w @ v                                                    # (N*H, L, hd)
            o = o.transpose(0, 1).reshape(L * N, E)
            o = F.linear(o, self.out_proj.weight, self.out_proj.bias).view(L, N, E)
            w = w.view(N, H, L, S)
            if average_attn_weights:
                w = w.mean(dim=1)
            return o, w

        if attn_mask is not None:
            attn_mask = (attn_mask.unsqueeze(0) if attn_mask.shape[0] == 1
                         else attn_mask.reshape(N, H, attn_mask.shape[1], S))
        q, k, v = q.reshape(N, H, L, hd), k.reshape(N, H, S, hd), v.reshape(N, H, S, hd)
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=p)   # (N, H, L, hd)
        o = o.permute(2, 0, 1, 3).reshape(L * N, E)
        o = F.linear(o, self.out_proj.weight, self.out_proj.bias).view(L, N, E)
        return o, None
