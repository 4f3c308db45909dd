"""BERT: a bidirectional Transformer encoder (HuggingFace's module names, so state_dict keys match
``transformers.BertForPreTraining``'s apart from the tied decoder bias).

embeddings: word + position + token_type (segment) → LayerNorm → dropout; encoder: post-norm layers
(x = LN(x + dropout(attn(x))); x = LN(x + dropout(W2·gelu(W1·x)))), self-attention through
``F.scaled_dot_product_attention`` with the padding positions (attention_mask == 0) masked out as
keys. Heads: masked-LM (dense → gelu → LayerNorm → decoder tied to the word embeddings, plus a
bias), next-sentence prediction (pooler: tanh(dense([CLS])) → Linear(2)), sequence classification
(pooler → dropout → Linear(num_labels)). Initialisation as BERT: weights N(0, 0.02), biases 0,
LayerNorm 1/0, the padding token's embedding row 0.
"""
from dataclasses import asdict, dataclass

from .. import _creation as C
from .. import nn
from ..autograd import no_grad
from ..nn import functional as F
from ..ops.elementwise import tanh

__all__ = ["BertConfig", "BertModel", "BertForPreTraining", "BertForMaskedLM", "BertForSequenceClassification",
           "mask_tokens", "nsp_pairs"]


@dataclass
class BertConfig:
    vocab_size: int = 1000
    hidden_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 2
    intermediate_size: int = 512
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 128
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    initializer_range: float = 0.02

    def __post_init__(self):
        for k in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                  "max_position_embeddings", "type_vocab_size"):
            if int(getattr(self, k)) < 1:
                raise ValueError(f"BertConfig.{k} must be >= 1, got {getattr(self, k)}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"BertConfig: hidden_size={self.hidden_size} is not divisible by "
                             f"num_attention_heads={self.num_attention_heads}")

    def to_dict(self):
        return asdict(self)


class BertEmbeddings(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.hidden_size, padding_idx=cfg.pad_token_id)
        self.position_embeddings = nn.Embedding(cfg.max_position_embeddings, cfg.hidden_size)
        self.token_type_embeddings = nn.Embedding(cfg.type_vocab_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.hidden_dropout_prob)

    def forward(self, input_ids, token_type_ids):
        T = input_ids.shape[1]
        x = (self.word_embeddings(input_ids) + self.position_embeddings(C.arange(T))
             + self.token_type_embeddings(token_type_ids))
        return self.dropout(self.LayerNorm(x))


class BertSelfAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.num_heads = cfg.num_attention_heads
        self.query = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.key = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.value = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.dropout_p = cfg.attention_probs_dropout_prob

    def forward(self, x, keep):
        B, T, H = x.shape
        hs = H // self.num_heads

        def heads(t):
            return t.reshape(B, T, self.num_heads, hs).transpose(1, 2)  # (B, nh, T, hs)
        y = F.scaled_dot_product_attention(heads(self.query(x)), heads(self.key(x)), heads(self.value(x)),
                                           attn_mask=keep, dropout_p=self.dropout_p if self.training else 0.0)
        return y.transpose(1, 2).reshape(B, T, H)


class BertSelfOutput(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.hidden_dropout_prob)

    def forward(self, h, x):
        return self.LayerNorm(x + self.dropout(self.dense(h)))


class BertAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.self = BertSelfAttention(cfg)
        self.output = BertSelfOutput(cfg)

    def forward(self, x, keep):
        return self.output(self.self(x, keep), x)


class BertIntermediate(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.intermediate_size)

    def forward(self, x):
        return F.gelu(self.dense(x))


class BertOutput(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.dense = nn.Linear(cfg.intermediate_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.hidden_dropout_prob)

    def forward(self, h, x):
        return self.LayerNorm(x + self.dropout(self.dense(h)))


class BertLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.attention = BertAttention(cfg)
        self.intermediate = BertIntermediate(cfg)
        self.output = BertOutput(cfg)

    def forward(self, x, keep):
        a = self.attention(x, keep)
        return self.output(self.intermediate(a), a)


class BertEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(cfg) for _ in range(cfg.num_hidden_layers)])

    def forward(self, x, keep):
        for layer in self.layer:
            x = layer(x, keep)
        return x


class BertPooler(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size)

    def forward(self, x):
        return tanh(self.dense(x[:, 0]))  # the [CLS] position


def _config(config, kwargs):
    if config is None:
        return BertConfig(**kwargs)
    if kwargs:
        raise TypeError("pass a BertConfig or keyword arguments, not both")
    return BertConfig(**config) if isinstance(config, dict) else config


def _init_bert(model, std):
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    for m in model.modules():  # after the Linears: the MLM decoder shares the word embeddings' weight
        if isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, 0.0, std)
            if m.padding_idx is not None:
                with no_grad():
                    m.weight[m.padding_idx].zero_()
        if isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class BertModel(nn.Module):
    """forward(input_ids, token_type_ids=None, attention_mask=None) → (sequence_output (B, T, H),
    pooled_output (B, H))."""

    def __init__(self, config=None, add_pooling_layer=True, **kwargs):
        super().__init__()
        self.config = _config(config, kwargs)
        self.embeddings = BertEmbeddings(self.config)
        self.encoder = BertEncoder(self.config)
        self.pooler = BertPooler(self.config) if add_pooling_layer else None
        _init_bert(self, self.config.initializer_range)

    def forward(self, input_ids, token_type_ids=None, attention_mask=None):
        if input_ids.ndim != 2:
            raise ValueError(f"BERT: input_ids must be (B, T), got shape {tuple(input_ids.shape)}")
        B, T = input_ids.shape
        if T > self.config.max_position_embeddings:
            raise ValueError(f"BERT: {T} tokens > max_position_embeddings={self.config.max_position_embeddings}")
        if token_type_ids is None:
            token_type_ids = C.zeros(B, T, dtype=input_ids.dtype)
        keep = None
        if attention_mask is not None:
            if tuple(attention_mask.shape) != (B, T):
                raise ValueError(f"BERT: attention_mask must be (B, T) = {(B, T)}, got {tuple(attention_mask.shape)}")
            keep = (attention_mask != 0).reshape(B, 1, 1, T)  # keys kept for every head and query
        x = self.encoder(self.embeddings(input_ids, token_type_ids), keep)
        return x, (self.pooler(x) if self.pooler is not None else None)


class BertPredictionHeadTransform(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, x):
        return self.LayerNorm(F.gelu(self.dense(x)))


class BertLMPredictionHead(nn.Module):
    def __init__(self, cfg, word_embeddings):
        super().__init__()
        self.transform = BertPredictionHeadTransform(cfg)
        self.decoder = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        self.decoder.weight = word_embeddings.weight  # tied
        self.bias = nn.Parameter(C.zeros(cfg.vocab_size))

    def forward(self, x):
        return self.decoder(self.transform(x)) + self.bias


class BertPreTrainingHeads(nn.Module):
    def __init__(self, cfg, word_embeddings):
        super().__init__()
        self.predictions = BertLMPredictionHead(cfg, word_embeddings)
        self.seq_relationship = nn.Linear(cfg.hidden_size, 2)

    def forward(self, seq, pooled):
        return self.predictions(seq), self.seq_relationship(pooled)


class BertForPreTraining(nn.Module):
    """MLM + NSP. forward(input_ids, token_type_ids=None, attention_mask=None, labels=None,
    next_sentence_label=None) → (prediction_logits (B, T, V), seq_relationship_logits (B, 2), loss);
    loss = cross_entropy(MLM, ignore -100) + cross_entropy(NSP) over whichever labels are given."""

    def __init__(self, config=None, **kwargs):
        super().__init__()
        self.config = _config(config, kwargs)
        self.bert = BertModel(self.config)
        self.cls = BertPreTrainingHeads(self.config, self.bert.embeddings.word_embeddings)
        _init_bert(self, self.config.initializer_range)

    def forward(self, input_ids, token_type_ids=None, attention_mask=None, labels=None, next_sentence_label=None):
        seq, pooled = self.bert(input_ids, token_type_ids, attention_mask)
        mlm, nsp = self.cls(seq, pooled)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(mlm.reshape(-1, self.config.vocab_size), labels.reshape(-1), ignore_index=-100)
        if next_sentence_label is not None:
            l2 = F.cross_entropy(nsp, next_sentence_label.reshape(-1))
            loss = l2 if loss is None else loss + l2
        return mlm, nsp, loss


class BertOnlyMLMHead(nn.Module):
    def __init__(self, cfg, word_embeddings):
        super().__init__()
        self.predictions = BertLMPredictionHead(cfg, word_embeddings)

    def forward(self, seq):
        return self.predictions(seq)


class BertForMaskedLM(nn.Module):
    """MLM only. forward(...) → (prediction_logits, loss)."""

    def __init__(self, config=None, **kwargs):
        super().__init__()
        self.config = _config(config, kwargs)
        self.bert = BertModel(self.config, add_pooling_layer=False)
        self.cls = BertOnlyMLMHead(self.config, self.bert.embeddings.word_embeddings)
        _init_bert(self, self.config.initializer_range)

    def forward(self, input_ids, token_type_ids=None, attention_mask=None, labels=None):
        seq, _ = self.bert(input_ids, token_type_ids, attention_mask)
        logits = self.cls(seq)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.reshape(-1, self.config.vocab_size), labels.reshape(-1), ignore_index=-100)
        return logits, loss


class BertForSequenceClassification(nn.Module):
    """forward(input_ids, token_type_ids=None, attention_mask=None, labels=None) → (logits (B, num_labels),
    loss); the classifier reads the pooled [CLS] output through dropout."""

    def __init__(self, config=None, num_labels=2, **kwargs):
        super().__init__()
        self.config = _config(config, kwargs)
        self.num_labels = int(num_labels)
        if self.num_labels < 1:
            raise ValueError(f"num_labels must be >= 1, got {num_labels}")
        self.bert = BertModel(self.config)
        self.dropout = nn.Dropout(self.config.hidden_dropout_prob)
        self.classifier = nn.Linear(self.config.hidden_size, self.num_labels)
        _init_bert(self, self.config.initializer_range)

    def forward(self, input_ids, token_type_ids=None, attention_mask=None, labels=None):
        _, pooled = self.bert(input_ids, token_type_ids, attention_mask)
        logits = self.classifier(self.dropout(pooled))
        loss = None if labels is None else F.cross_entropy(logits, labels.reshape(-1))
        return logits, loss


from ..text.pretraining import mask_tokens, nsp_pairs  # noqa: E402,F401  (pre-training data helpers)
