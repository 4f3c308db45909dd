"""pydl's benchmark suite: ``python -m pydl.bench``.

Measures this machine's FMA peak and memory bandwidth (C++ probes), then times each kernel
family's pydl variants and torch on the same inputs and thread count, interleaved, median of
repeats; prints a markdown table per family (time, GFLOP/s or GB/s, ratio to torch, % of roofline)
and writes JSON (and a PNG chart when matplotlib is present) under ``bench/results/``.

Layout: ``registry`` (what a family and a case are), ``timing`` (how a case is timed), ``machine``
(probes and machine info), ``report`` (rows, tables, JSON, chart), ``families/`` (one module per
family), ``__main__`` (the command line). See bench/README.md for the columns.
"""
from .registry import Case, Config, Variant, register, registered  # noqa: F401
