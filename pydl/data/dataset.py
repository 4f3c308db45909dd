"""Datasets and splits, with torch.utils.data's semantics.

A map-style ``Dataset`` has ``__getitem__(i)`` and ``__len__``; an
``IterableDataset`` has ``__iter__``. ``random_split`` and ``Subset`` select
by index without copying data; ``kfold_splits`` gives scikit-learn KFold's folds.
"""
import bisect
import math
import numbers
import warnings

import numpy as np

from ._random import resolve_rng

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset", "random_split",
           "kfold_splits"]


class Dataset:
    """Map-style dataset: subclasses define ``__getitem__`` and (for DataLoader) ``__len__``."""

    def __getitem__(self, index):
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")

    def __add__(self, other):
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A stream of samples: subclasses define ``__iter__``. DataLoader batches it in order
    (it cannot be shuffled or sampled by index)."""

    def __iter__(self):
        raise NotImplementedError("Subclasses of IterableDataset should implement __iter__.")

    def __add__(self, other):
        raise TypeError("IterableDataset does not support concatenation with +")


class TensorDataset(Dataset):
    """Sample i is ``tuple(t[i] for t in tensors)``; all tensors share their first dimension."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        for i, t in enumerate(tensors):
            if not hasattr(t, "shape") or len(t.shape) == 0:
                raise ValueError(f"TensorDataset: argument {i} must be a tensor with at least one dimension")
        n = tensors[0].shape[0]
        if any(t.shape[0] != n for t in tensors):
            raise ValueError("Size mismatch between tensors: first dimensions are "
                             f"{[int(t.shape[0]) for t in tensors]}")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return int(self.tensors[0].shape[0])


def _check_index(index, n):
    if not isinstance(index, numbers.Integral) or isinstance(index, bool):
        raise TypeError(f"dataset indices must be integers, got {type(index).__name__}")
    if index < 0:
        if -index > n:
            raise ValueError("absolute value of index should not exceed dataset length")
        index += n
    if index >= n:
        raise IndexError(f"index {index} is out of range for a dataset of length {n}")
    return int(index)


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices`` (any sequence of ints), in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return [self.dataset[self.indices[i]] for i in idx]
        return self.dataset[self.indices[idx]]

    def __len__(self):
        return len(self.indices)


class ConcatDataset(Dataset):
    """Datasets one after another: index i is found by bisecting the cumulative sizes."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = list(np.cumsum([len(d) for d in self.datasets]).tolist())

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx):
        idx = _check_index(idx, len(self))
        which = bisect.bisect_right(self.cumulative_sizes, idx)
        start = self.cumulative_sizes[which - 1] if which > 0 else 0
        return self.datasets[which][idx - start]


def _split_lengths(n, lengths):
    """torch's random_split lengths: integers summing to n, or fractions summing to 1
    (floor(n * f) each, the remainder handed out one by one from the first split)."""
    lengths = list(lengths)
    if not lengths:
        raise ValueError("random_split: lengths must not be empty")
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        out = []
        for i, frac in enumerate(lengths):
            if not 0 <= frac <= 1:
                raise ValueError(f"Fraction at index {i} is not between 0 and 1")
            out.append(int(math.floor(n * frac)))
        remainder = n - sum(out)
        for i in range(remainder):
            out[i % len(out)] += 1
        for i, length in enumerate(out):
            if length == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an empty dataset.",
                              stacklevel=3)
        return out
    for i, length in enumerate(lengths):
        if not isinstance(length, numbers.Integral) or isinstance(length, bool) or length < 0:
            raise ValueError(f"random_split: length at index {i} must be a non-negative integer (or all lengths "
                             f"fractions summing to 1), got {length!r}")
    if sum(lengths) != n:
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    return [int(v) for v in lengths]


def random_split(dataset, lengths, generator=None, seed=None):
    """Splits ``dataset`` into non-overlapping ``Subset``s of the given lengths (ints summing
    to ``len(dataset)``, or fractions summing to 1) after a random permutation drawn
    from ``generator``/``seed`` (default: pydl's global generator)."""
    sizes = _split_lengths(len(dataset), lengths)
    perm = resolve_rng(generator, seed).permutation(len(dataset)).tolist()
    out, start = [], 0
    for size in sizes:
        out.append(Subset(dataset, perm[start:start + size]))
        start += size
    return out


def kfold_splits(n, k, shuffle=False, seed=None, generator=None):
    """``k`` (train_idx, val_idx) pairs of int64 numpy arrays covering ``range(n)``, as
    scikit-learn's ``KFold``: the first ``n % k`` validation folds have one sample more;
    without ``shuffle`` the folds are consecutive ranges."""
    if not isinstance(k, numbers.Integral) or isinstance(k, bool) or k < 2:
        raise ValueError(f"kfold_splits: k must be an integer >= 2, got {k!r}")
    if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < k:
        raise ValueError(f"kfold_splits: cannot make {k} folds of {n!r} samples (need n >= k)")
    if not shuffle and (seed is not None or generator is not None):
        raise ValueError("kfold_splits: seed/generator have no effect without shuffle=True")
    order = resolve_rng(generator, seed).permutation(n) if shuffle else np.arange(n)
    order = order.astype(np.int64)
    sizes = np.full(k, n // k, dtype=np.int64)
    sizes[: n % k] += 1
    folds, start = [], 0
    for size in sizes:
        val = order[start:start + size]
        in_train = np.ones(n, dtype=bool)
        in_train[val] = False
        train = np.flatnonzero(in_train).astype(np.int64)  # sorted, as KFold
        folds.append((train, val))
        start += size
    return folds
