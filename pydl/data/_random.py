"""Where the data utilities get their randomness.

pydl has one global generator (``pydl.manual_seed``, ``pydl.get_rng_state``).
Data-side randomness (shuffles, splits, augmentation parameters) is drawn with a
numpy ``Generator`` that is either

* seeded explicitly (``seed=`` / ``generator=<int>``, or a ``numpy.random.Generator``
  passed as ``generator=``): reproducible and independent of the global state, or
* seeded from pydl's global generator, one 62-bit draw each time a fresh stream is
  needed (as torch's DataLoader draws its base seed from torch's generator): then
  ``pydl.manual_seed`` makes the whole pipeline reproducible and a checkpoint that
  stores ``pydl.get_rng_state()`` resumes it exactly.
"""
import numbers

import numpy as np

__all__ = ["resolve_rng", "seed_from_pydl"]


def seed_from_pydl():
    """One 62-bit seed drawn from pydl's global generator."""
    from .. import _creation as C
    hi, lo = (int(v) for v in C.randint(0, 1 << 31, (2,)).numpy())
    return (hi << 31) | lo


def resolve_rng(generator=None, seed=None, what="generator"):
    """A numpy Generator for ``generator`` (None, int seed or numpy Generator) or ``seed``."""
    if generator is not None and seed is not None:
        raise ValueError(f"pass either {what}= or seed=, not both")
    if seed is not None:
        generator = seed
    if generator is None:
        return np.random.default_rng(seed_from_pydl())
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, numbers.Integral) and not isinstance(generator, bool):
        if generator < 0:
            raise ValueError(f"seed must be non-negative, got {generator}")
        return np.random.default_rng(int(generator))
    raise TypeError(f"{what} must be None, an int seed or a numpy.random.Generator, got {type(generator).__name__}")
