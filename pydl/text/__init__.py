"""Text: tokenizers (pydl.text.tokenizers) and language-model pre-training data
(pydl.text.pretraining: BERT's masked-token corruption and next-sentence pairs)."""
from .tokenizers import (  # noqa: F401
    DEFAULT_SPECIAL_TOKENS, BPETokenizer, ByteTokenizer, CharTokenizer, Tokenizer, UnigramTokenizer,
    WordPieceTokenizer, load_tokenizer, tokenizer_from_json,
)
from .pretraining import corpus_documents, mask_tokens, nsp_pairs, split_sentences  # noqa: F401
