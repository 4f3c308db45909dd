"""Timing one case: every pydl variant and torch on the same inputs, interleaved.

For each case:
  1. build the inputs once (pydl tensors; torch sees the same memory through DLPack);
  2. warm up each runner with one call, keep its output, and compare it with torch's (max relative
     error, stored with the row: a benchmark of a wrong result is worthless);
  3. calibrate: a runner whose call is shorter than ``min_time`` is timed over ``number`` calls per
     sample, so each sample lasts at least ``min_time`` (timer resolution and Python overhead
     amortised);
  4. ``repeats`` rounds; in each round every runner takes one sample, in an order rotated by one
     each round, so slow drifts of the machine (other tenants, clocks) hit every runner alike;
  5. the reported time is the median sample (seconds per call).
The garbage collector is off while sampling, as in ``timeit``.

Two OpenMP runtimes live in this process: pydl's (the system libgomp) and torch's (its own copy).
After a parallel region each runtime's idle workers spin for several milliseconds (measured 5-8 ms
here) before they sleep, and a spinning worker of one library takes a core from the other library's
next call. So when consecutive samples switch library on more than one thread, the loop first
sleeps ``SETTLE_S`` so that the other runtime's workers are asleep before the clock starts.
"""
from __future__ import annotations

import contextlib
import dataclasses
import gc
import math
import statistics
import time
from typing import Any, Callable, List, Optional

import numpy as np

import pydl

from .registry import Case, Config, Variant

SETTLE_S = 0.015  # longer than an idle libgomp worker spins (GOMP_SPINCOUNT's default)


@dataclasses.dataclass
class Timing:
    """The result of one runner on one case."""

    variant: str                 # variant name, or "torch"
    isa: Optional[str]           # the pydl ISA in effect (None for torch)
    is_torch: bool
    samples: List[float]         # seconds per call, one per repeat
    number: int = 1              # calls per sample
    max_rel_err: Optional[float] = None
    note: str = ""               # why it was skipped or failed; empty when it ran

    @property
    def time(self) -> Optional[float]:
        return statistics.median(self.samples) if self.samples else None


@dataclasses.dataclass
class _Runner:
    timing: Timing
    fn: Callable[..., Any]
    args: tuple
    variant: Optional[Variant] = None

    def context(self):
        stack = contextlib.ExitStack()
        v = self.variant
        if v is not None:
            if v.isa:
                stack.enter_context(pydl.kernels.isa(v.isa))
            if v.kernel:
                stack.enter_context(pydl.kernels.variant(*v.kernel))
        return stack

    def run(self, number: int) -> float:
        """Seconds per call over ``number`` back-to-back calls."""
        fn, args = self.fn, self.args
        with self.context():
            t0 = time.perf_counter()
            for _ in range(number):
                fn(*args)
            return (time.perf_counter() - t0) / number


def _to_numpy(out) -> List[np.ndarray]:
    if isinstance(out, (tuple, list)):
        return [a for o in out for a in _to_numpy(o)]
    if hasattr(out, "detach"):
        out = out.detach()
    if hasattr(out, "numpy"):
        return [np.asarray(out.numpy(), dtype=np.float64)]
    return [np.asarray(out, dtype=np.float64)]


def _max_rel_err(out, ref) -> float:
    a, b = _to_numpy(out), _to_numpy(ref)
    if len(a) != len(b) or any(x.shape != y.shape for x, y in zip(a, b)):
        return math.inf
    err = 0.0
    for x, y in zip(a, b):
        if x.size:
            err = max(err, float(np.max(np.abs(x - y))) / max(float(np.max(np.abs(y))), 1e-30))
    return err


def time_case(case: Case, cfg: Config, repeats: int, min_time: float, torch=None) -> List[Timing]:
    """Times every pydl variant of ``case`` and ``case.torch_fn`` (when torch is given)."""
    pydl_args, torch_args = case.make_inputs()
    rows: List[Timing] = []      # every variant in the case's order, then torch
    runners: List[_Runner] = []  # the ones that run
    for v in case.variants:
        t = Timing(v.name, v.isa or cfg.default_isa, False, [])
        rows.append(t)
        if v.max_flops is not None and case.flops > v.max_flops:
            t.note = f"not timed above {v.max_flops / 1e9:.3g} GFLOP per call (too slow)"
            continue
        runners.append(_Runner(t, v.fn, pydl_args, v))
    if torch is not None and case.torch_fn is not None:
        t = Timing("torch", None, True, [])
        rows.append(t)
        runners.append(_Runner(t, case.torch_fn, torch_args))

    # Warm-up, correctness and calibration.
    ref = None
    outs = {}
    for r in list(runners):
        try:
            with r.context():
                t0 = time.perf_counter()
                out = r.fn(*r.args)
                first = time.perf_counter() - t0
        except Exception as exc:  # a broken variant is a row that says so, not a dead benchmark
            msg = (str(exc).strip().splitlines() or [""])[0]
            r.timing.note = f"failed: {type(exc).__name__}: {msg[:200]}"
            runners.remove(r)
            continue
        if r.timing.is_torch:
            ref = out
        else:
            outs[id(r)] = out
        r.timing.number = max(1, min(100_000, math.ceil(min_time / max(first, 1e-7))))
        if r.timing.number > 1:  # a second, calibrated warm-up: caches and allocator settle
            per_call = r.run(r.timing.number)
            r.timing.number = max(1, min(100_000, math.ceil(min_time / max(per_call, 1e-9))))
    if ref is not None:
        for r in runners:
            if id(r) in outs:
                r.timing.max_rel_err = _max_rel_err(outs[id(r)], ref)
    del outs, ref

    settle = SETTLE_S if cfg.threads > 1 else 0.0
    last_lib = None
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for rep in range(repeats):
            k = rep % max(1, len(runners))
            for r in runners[k:] + runners[:k]:
                if settle and last_lib is not None and last_lib != r.timing.is_torch:
                    time.sleep(settle)
                last_lib = r.timing.is_torch
                r.timing.samples.append(r.run(r.timing.number))
    finally:
        if gc_was_enabled:
            gc.enable()
    return rows
