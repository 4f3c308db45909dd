"""Which kernel variant and instruction set run, and how to force one.

``pydl.kernels.variants("matmul")`` lists a family's ladder, reference first,
fastest last (the default). ``with pydl.kernels.variant("matmul", "reference"):``
forces one; ``with pydl.kernels.isa("scalar"):`` forces the instruction set
(the tests walk every ISA this CPU has; the benchmark times each).
"""
import contextlib

from . import _C

_FAMILIES = {"matmul": (_C.gemm_variants, _C.set_gemm_variant, _C.gemm_variant)}
_FAMILIES["pooling"] = (_C.pool_variants, _C.set_pool_variant, _C.pool_variant)
# conv2d: current() is "auto" (the per-shape default) unless a variant is forced.
_FAMILIES["conv2d"] = (_C.conv_variants, _C.set_conv_variant, _C.conv_variant)
# --- attention (sdpa) --- reference materialises the scores; flash (default) tiles them.
_FAMILIES["attention"] = (_C.attention_variants, _C.set_attention_variant, _C.attention_variant)
# --- rnn cells (reference, fast) ---
_FAMILIES["rnn_cell"] = (_C.rnn_cell_variants, _C.set_rnn_cell_variant, _C.rnn_cell_variant)
# --- layers: embedding, dropout, lrn ("reference" | "fast") ---
_FAMILIES["embedding"] = (_C.embedding_variants, _C.set_embedding_variant, _C.embedding_variant)
_FAMILIES["dropout"] = (_C.dropout_variants, _C.set_dropout_variant, _C.dropout_variant)
_FAMILIES["lrn"] = (_C.lrn_variants, _C.set_lrn_variant, _C.lrn_variant)


def families():
    return sorted(_FAMILIES)


def _family(name):
    if name not in _FAMILIES:
        raise ValueError(f"unknown kernel family {name!r}; families with variants: {families()}")
    return _FAMILIES[name]


def variants(family):
    return list(_family(family)[0](_C.DType.float32))


def current(family):
    return _family(family)[2]()


def set_variant(family, name=None):
    """Forces a variant (None: back to the fastest)."""
    _family(family)[1](name or "")


@contextlib.contextmanager
def variant(family, name):
    prev = current(family)
    set_variant(family, name)
    try:
        yield
    finally:
        set_variant(family, prev)


def isas():
    """Instruction sets this build has and this CPU runs, best first."""
    return list(_C.available_isas())


def current_isa():
    return _C.isa()


def set_isa(name):
    _C.set_isa(name)


@contextlib.contextmanager
def isa(name):
    prev = _C.isa()
    _C.set_isa(name)
    try:
        yield
    finally:
        _C.set_isa(prev)
