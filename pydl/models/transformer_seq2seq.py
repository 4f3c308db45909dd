"""Transformer encoder–decoder ("Attention Is All You Need") for sequence-to-sequence tasks.

    src (B, S) → Embedding · sqrt(d) + sinusoidal position → nn.Transformer encoder ─┐ memory
    tgt_in (B, T) → Embedding · sqrt(d) + sinusoidal position → decoder (causal) ─────┴→ Linear → logits

Masks: ``src_key_padding_mask`` / ``memory_key_padding_mask`` (B, S) hide source padding from the
encoder's self-attention and the decoder's cross-attention; ``tgt_key_padding_mask`` (B, T) hides
target padding; ``tgt_mask`` (T, T) is the causal mask (position i sees j <= i). Greedy decoding runs
the decoder on the growing prefix (no key/value cache: the sequences here are short).

It has the same interface as :class:`pydl.models.Seq2Seq` (``forward(src, tgt_in)``, ``greedy_decode``),
so the training and scoring helpers of ``seq2seq.py`` and its digit task serve both.
"""
import math

import numpy as np

from .. import _creation as C
from .. import nn
from ..autograd import no_grad
from ..ops.shape import cat
from .seq2seq import EOS, PAD, SOS

__all__ = ["sinusoidal_positions", "PositionalEncoding", "TransformerSeq2Seq"]


def sinusoidal_positions(max_len, d_model):
    """(max_len, d_model) numpy: PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(same)."""
    pos = np.arange(max_len, dtype=np.float64)[:, None]
    div = np.exp(np.arange(0, d_model, 2, dtype=np.float64) * (-math.log(10000.0) / d_model))
    pe = np.zeros((max_len, d_model))
    pe[:, 0::2] = np.sin(pos * div)
    pe[:, 1::2] = np.cos(pos * div)[:, :d_model // 2]
    return pe


class PositionalEncoding(nn.Module):
    """x (B, T, d) → dropout(x + PE[:T]); PE is a non-trainable buffer (not saved in the state_dict)."""

    def __init__(self, d_model, max_len=512, dropout=0.0, dtype=None):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.max_len = max_len
        pe = C.tensor(sinusoidal_positions(max_len, d_model).astype(np.float64))
        self.register_buffer("pe", pe.to(dtype) if dtype is not None else pe.float(), persistent=False)

    def forward(self, x):
        T = x.shape[1]
        if T > self.max_len:
            raise ValueError(f"PositionalEncoding: sequence length {T} exceeds max_len {self.max_len}")
        return self.dropout(x + self.pe[:T].to(x.dtype))


class TransformerSeq2Seq(nn.Module):
    """``forward(src (B, S), tgt_in (B, T)) -> logits (B, T, V)``; batch-first throughout."""

    def __init__(self, vocab_size, d_model=64, nhead=4, num_encoder_layers=2, num_decoder_layers=2,
                 dim_feedforward=256, dropout=0.1, max_len=256, pad_idx=PAD, dtype=None):
        super().__init__()
        kw = {"dtype": dtype}
        self.d_model, self.pad_idx, self.vocab_size = d_model, pad_idx, vocab_size
        self.src_embed = nn.Embedding(vocab_size, d_model, padding_idx=pad_idx, **kw)
        self.tgt_embed = nn.Embedding(vocab_size, d_model, padding_idx=pad_idx, **kw)
        self.pos = PositionalEncoding(d_model, max_len, dropout, **kw)
        self.transformer = nn.Transformer(d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward,
                                          dropout, batch_first=True, **kw)
        self.generator = nn.Linear(d_model, vocab_size, **kw)
        # Embeddings ~ N(0, 1/d) so that after the sqrt(d) scaling they are O(1), the size of the
        # positional encoding: with torch's default N(0, 1) the positions would be drowned 8:1 at d=64
        # and a positional task such as reversal learns several times slower.
        with no_grad():
            for emb in (self.src_embed, self.tgt_embed):
                emb.weight.normal_(0.0, d_model ** -0.5)
                if pad_idx is not None:
                    emb.weight[pad_idx].zero_()

    def causal_mask(self, T, dtype):
        return nn.Transformer.generate_square_subsequent_mask(T, dtype=dtype)

    def encode(self, src):
        if src.ndim != 2:
            raise ValueError(f"TransformerSeq2Seq: src must be (batch, time), got shape {tuple(src.shape)}")
        src_pad = src == self.pad_idx
        x = self.pos(self.src_embed(src) * math.sqrt(self.d_model))
        return self.transformer.encoder(x, src_key_padding_mask=src_pad), src_pad

    def decode(self, tgt_in, memory, src_pad):
        y = self.pos(self.tgt_embed(tgt_in) * math.sqrt(self.d_model))
        T = tgt_in.shape[1]
        h = self.transformer.decoder(y, memory, tgt_mask=self.causal_mask(T, y.dtype),
                                     tgt_key_padding_mask=tgt_in == self.pad_idx,
                                     memory_key_padding_mask=src_pad)
        return self.generator(h)

    def forward(self, src, tgt_in):
        if tgt_in.ndim != 2 or tgt_in.shape[0] != src.shape[0]:
            raise ValueError(f"TransformerSeq2Seq: tgt_in must be (batch, time) with the batch of src "
                             f"{tuple(src.shape)}, got {tuple(tgt_in.shape)}")
        memory, src_pad = self.encode(src)
        return self.decode(tgt_in, memory, src_pad)

    def greedy_decode(self, src, max_len, sos_idx=SOS, eos_idx=EOS):
        """(B, steps <= max_len) ids: the decoder re-run on the prefix, argmax of the last position
        appended each step; stops once every row has produced </s>."""
        was = self.training
        self.eval()
        with no_grad():
            memory, src_pad = self.encode(src)
            B = src.shape[0]
            ys = C.full((B, 1), sos_idx, dtype=src.dtype)
            done = np.zeros(B, dtype=bool)
            for _ in range(max_len):
                tok = self.decode(ys, memory, src_pad)[:, -1].argmax(-1)
                ys = cat([ys, tok.unsqueeze(1)], 1)
                done |= tok.numpy() == eos_idx
                if done.all():
                    break
        self.train(was)
        return ys[:, 1:]
