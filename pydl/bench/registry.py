"""What a benchmark family is: a named list of cases, each timed in pydl and in torch.

A family is a function that takes the run's :class:`Config` and returns its cases; registering it
is one decorator::

    @register("softmax", "softmax over the last dim, float32; memory-bound (GB/s)")
    def cases(cfg):
        r, c = cfg.pick(default=(4096, 1024), quick=(1024, 1024), tiny=(64, 64))
        def make_inputs():                # pydl tensors, and torch views of the same memory
            x, tx = randn(r, c)
            return (x,), (tx,)
        return [Case(op="softmax", shape=f"{r}x{c}", make_inputs=make_inputs,
                     variants=isa_variants(cfg, lambda x: x.softmax(-1)),
                     torch_fn=lambda x: x.softmax(-1), bytes=2 * 4 * r * c)]

and one import line in ``pydl/bench/families/__init__.py``. A case says how much work one call
does -- ``flops`` (floating-point operations) and/or ``bytes`` (the unavoidable memory traffic:
every input read once, every output written once) -- and the timing and report code turn that into
GFLOP/s or GB/s and a % of this machine's roofline. Each pydl variant can force an instruction
set (``isa``) and/or a kernel variant (``kernel=("matmul", "reference")``) while it runs.
"""
from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable, Dict, List, Optional, Tuple


@dataclasses.dataclass
class Config:
    """What the families need to know about the run."""

    mode: str = "default"            # "default" | "quick" | "tiny" (the smoke test's sizes)
    isas: Tuple[str, ...] = ()       # pydl.kernels.isas(), best first
    default_isa: str = "scalar"      # the ISA pydl uses when nothing is forced
    threads: int = 1

    def pick(self, default, quick, tiny=None):
        """The value for this run's mode (tiny falls back to quick)."""
        if self.mode == "tiny":
            return quick if tiny is None else tiny
        return quick if self.mode == "quick" else default


@dataclasses.dataclass
class Variant:
    """One pydl way of running a case."""

    name: str                                    # shown in the table: "blocked", "default", ...
    fn: Callable[..., Any]                       # called with the case's pydl inputs
    isa: Optional[str] = None                    # force this ISA while it runs (None: the default)
    kernel: Optional[Tuple[str, str]] = None     # force (family, variant) of pydl.kernels
    max_flops: Optional[float] = None            # skipped on cases with more flops (too slow)


@dataclasses.dataclass
class Case:
    """One shape of one op: its inputs, the pydl variants, the torch call, and the work per call."""

    op: str                                       # "matmul", "add (broadcast)", "sum dim=1"
    shape: str                                    # "1024x1024x1024", "4096x1024 + 1024"
    make_inputs: Callable[[], Tuple[tuple, tuple]]  # -> (pydl args, torch args); same data
    variants: List[Variant]
    torch_fn: Optional[Callable[..., Any]]
    flops: float = 0.0                            # floating-point operations per call
    bytes: float = 0.0                            # unavoidable bytes moved per call
    dtype: str = "float32"                        # picks the FMA peak (float32 / float64)
    tol: float = 1e-4                             # max relative error vs torch before a row is flagged


@dataclasses.dataclass
class Family:
    name: str
    description: str
    build: Callable[[Config], List[Case]]


_FAMILIES: Dict[str, Family] = {}


def register(name: str, description: str):
    """Decorator: registers ``build(cfg) -> [Case, ...]`` as the family ``name``."""
    def deco(build):
        _FAMILIES[name] = Family(name, description, build)
        return build
    return deco


def registered() -> Dict[str, Family]:
    """Registered families, in registration order (importing pydl.bench.families registers the
    built-in ones)."""
    importlib.import_module(__name__.rpartition(".")[0] + ".families")
    return dict(_FAMILIES)


# -- helpers the families share ------------------------------------------------------------------

def numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def isa_variants(cfg: Config, fn, name: Optional[str] = None) -> List[Variant]:
    """``fn`` under every ISA this CPU has, best first (the first one is pydl's default)."""
    return [Variant(name or "default", fn, isa=isa) for isa in cfg.isas]


def kernel_variants(cfg: Config, family: str, fn, isas=None,
                    max_flops: Optional[Dict[str, float]] = None) -> List[Variant]:
    """Every rung of ``pydl.kernels.variants(family)`` under the default ISA, then the fastest rung
    under each other ISA in ``isas`` (pass ``cfg.isas`` for the representative case)."""
    import pydl

    names = pydl.kernels.variants(family)
    max_flops = max_flops or {}
    out = [Variant(v, fn, isa=cfg.default_isa, kernel=(family, v), max_flops=max_flops.get(v))
           for v in names]
    for isa in isas or ():
        if isa != cfg.default_isa:
            out.append(Variant(names[-1], fn, isa=isa, kernel=(family, names[-1]),
                               max_flops=max_flops.get(names[-1])))
    return out
