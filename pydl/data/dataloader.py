"""DataLoader, samplers and default_collate, with torch.utils.data's semantics.

``DataLoader(dataset, batch_size=1, shuffle=False, drop_last=False)`` yields
batches made by ``collate_fn`` (``default_collate``: tensors and arrays are
stacked, numbers become a tensor, tuples/lists/dicts are collated field by
field). Shuffling draws one permutation per epoch from ``generator``/``seed``
(reproducible, independent of the global state) or, by default, from pydl's
global generator (reproducible under ``pydl.manual_seed``).

``num_workers > 0`` loads batches in that many threads (not processes: pydl's
kernels release the GIL, and nothing has to be pickled), keeping up to
``prefetch_factor * num_workers`` batches in flight and yielding them in order.
Random transforms that use pydl's global generator then draw in thread
order, which is not reproducible: give such transforms a seed, or use
``num_workers=0`` when exact reproducibility matters.
"""
import collections
import numbers
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .. import _creation as C
from .. import _dtype as D
from ..ops.shape import stack
from .._tensor import Tensor
from ._random import resolve_rng
from .dataset import IterableDataset

__all__ = ["DataLoader", "default_collate", "default_convert", "Sampler", "SequentialSampler", "RandomSampler",
           "BatchSampler", "SubsetRandomSampler"]


# ----------------------------------------------------------------------
# collate
# ----------------------------------------------------------------------
def default_convert(data):
    """numpy arrays and numpy scalars become pydl tensors; containers are converted element-wise."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray) and data.dtype.kind in "fiub":
        return C.tensor(data)
    if isinstance(data, np.generic) and data.dtype.kind in "fiub":
        return C.tensor(data)
    if isinstance(data, collections.abc.Mapping):
        converted = {k: default_convert(v) for k, v in data.items()}
        try:
            return type(data)(converted)
        except TypeError:  # mappings that cannot be built from a dict (e.g. defaultdict)
            return converted
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, (list, tuple)):
        return type(data)(default_convert(d) for d in data)
    return data


def default_collate(batch):
    """Stacks a list of samples into a batch, as torch's default_collate:
    tensors/arrays → stacked tensor (new first dim); float → float64 tensor;
    int → int64 tensor; bool → bool tensor; str → left as is; Mapping → dict of collated
    fields; namedtuple → same type; tuple/list → list of collated fields (each
    sample must have the same number of fields)."""
    if not isinstance(batch, (list, tuple)):
        raise TypeError(f"default_collate: batch must be a list of samples, got {type(batch).__name__}")
    if len(batch) == 0:
        raise ValueError("default_collate: cannot collate an empty batch")
    elem = batch[0]
    if isinstance(elem, Tensor):
        for i, b in enumerate(batch):
            if not isinstance(b, Tensor):
                raise TypeError(f"default_collate: batch mixes pydl.Tensor and {type(b).__name__}")
            if tuple(b.shape) != tuple(elem.shape):
                raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(elem.shape)} "
                                   f"at entry 0 and {list(b.shape)} at entry {i}")
        return stack([b.detach() for b in batch], 0)
    if isinstance(elem, (np.ndarray, np.generic)):
        if elem.dtype.kind not in "fiub":
            raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
                            f"found numpy dtype {elem.dtype}")
        return default_collate([C.tensor(b) for b in batch])
    if isinstance(elem, bool):
        return C.tensor(list(batch), dtype=D.bool_)
    if isinstance(elem, numbers.Integral):
        return C.tensor(list(batch), dtype=D.int64)
    if isinstance(elem, numbers.Real):
        return C.tensor([float(b) for b in batch], dtype=D.float64)
    if isinstance(elem, (str, bytes)):
        return batch  # as torch: strings are left as the sequence they came in
    if isinstance(elem, collections.abc.Mapping):
        return {key: default_collate([d[key] for d in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(samples) for samples in zip(*batch)))
    if isinstance(elem, (list, tuple)):
        size = len(elem)
        if any(len(b) != size for b in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        return [default_collate(samples) for samples in zip(*batch)]
    raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
                    f"found {type(elem).__name__}")


# ----------------------------------------------------------------------
# samplers
# ----------------------------------------------------------------------
class Sampler:
    """Iterable of dataset indices."""

    def __iter__(self):
        raise NotImplementedError


class SequentialSampler(Sampler):
    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """A fresh permutation each epoch (or ``num_samples`` draws with replacement)."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None, seed=None):
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        if not isinstance(replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got replacement={replacement}")
        if not isinstance(self.num_samples, numbers.Integral) or self.num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={self.num_samples}")
        # A seeded stream advances across epochs; without one each epoch seeds from pydl's generator.
        self._rng = None if (generator is None and seed is None) else resolve_rng(generator, seed)

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        rng = self._rng if self._rng is not None else resolve_rng()
        n = len(self.data_source)
        if self.replacement:
            return iter(rng.integers(0, n, size=self.num_samples).tolist())
        out = []
        while len(out) < self.num_samples:
            out.extend(rng.permutation(n).tolist())
        return iter(out[: self.num_samples])

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a random order each epoch."""

    def __init__(self, indices, generator=None, seed=None):
        self.indices = list(indices)
        self._rng = None if (generator is None and seed is None) else resolve_rng(generator, seed)

    def __iter__(self):
        rng = self._rng if self._rng is not None else resolve_rng()
        return iter([self.indices[i] for i in rng.permutation(len(self.indices))])

    def __len__(self):
        return len(self.indices)


def _check_batch_size(batch_size):
    if not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool) or batch_size <= 0:
        raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")


class BatchSampler(Sampler):
    """Groups a sampler's indices into lists of ``batch_size``."""

    def __init__(self, sampler, batch_size, drop_last):
        _check_batch_size(batch_size)
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler, self.batch_size, self.drop_last = sampler, int(batch_size), drop_last

    def __iter__(self):
        batch = []
        for idx in self.sampler:
            batch.append(idx)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else (n + self.batch_size - 1) // self.batch_size


# ----------------------------------------------------------------------
# DataLoader
# ----------------------------------------------------------------------
class DataLoader:
    """Iterates over ``dataset`` in batches (see the module docstring)."""

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 generator=None, *, seed=None, prefetch_factor=None, persistent_workers=False):
        if not isinstance(num_workers, numbers.Integral) or num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable "
                             "multiprocessing.")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing.let num_workers > "
                             "0 to enable multiprocessing, otherwise set prefetch_factor to None.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        self.dataset = dataset
        self.num_workers = int(num_workers)
        self.prefetch_factor = 2 if (num_workers > 0 and prefetch_factor is None) else prefetch_factor
        self.worker_init_fn = worker_init_fn
        self.drop_last = drop_last
        self.generator = generator
        self._iterable = isinstance(dataset, IterableDataset)

        if self._iterable:
            if shuffle not in (None, False):
                raise ValueError("DataLoader with IterableDataset: expected unspecified shuffle option, but got "
                                 f"shuffle={shuffle}")
            if sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified sampler option, but got "
                                 f"sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified batch_sampler option, but "
                                 f"got batch_sampler={batch_sampler}")
        else:
            shuffle = bool(shuffle)
            if sampler is not None and shuffle:
                raise ValueError("sampler option is mutually exclusive with shuffle")
            if batch_sampler is not None:
                if batch_size != 1 or shuffle or sampler is not None or drop_last:
                    raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, "
                                     "and drop_last")
                batch_size, drop_last = None, False
            elif batch_size is None and drop_last:
                raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with "
                                 "drop_last")
            if sampler is None:
                sampler = (RandomSampler(dataset, generator=generator, seed=seed) if shuffle
                           else SequentialSampler(dataset))
            elif generator is not None or seed is not None:
                raise ValueError("generator/seed only apply to the default shuffling sampler")
            if batch_size is not None and batch_sampler is None:
                batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        if batch_size is not None:
            _check_batch_size(batch_size)
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        if collate_fn is None:
            collate_fn = default_collate if self._auto_batching else default_convert
        self.collate_fn = collate_fn

    @property
    def _auto_batching(self):
        return self.batch_size is not None or self.batch_sampler is not None

    def __len__(self):
        if self._iterable:
            n = len(self.dataset)  # TypeError if the stream has no length, as torch
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        return len(self.sampler)

    # -- fetching ------------------------------------------------------
    def _fetch(self, indices):
        if self._auto_batching:
            getitems = getattr(self.dataset, "__getitems__", None)
            samples = getitems(indices) if getitems is not None else [self.dataset[i] for i in indices]
            return self.collate_fn(samples)
        return self.collate_fn(self.dataset[indices])

    def _iter_iterable(self):
        it = iter(self.dataset)
        if not self._auto_batching:
            for sample in it:
                yield self.collate_fn(sample)
            return
        batch = []
        for sample in it:
            batch.append(sample)
            if len(batch) == self.batch_size:
                yield self.collate_fn(batch)
                batch = []
        if batch and not self.drop_last:
            yield self.collate_fn(batch)

    def _index_stream(self):
        return iter(self.batch_sampler) if self._auto_batching else iter(self.sampler)

    def __iter__(self):
        if self._iterable:
            return self._iter_iterable()
        if self.num_workers == 0:
            return (self._fetch(idx) for idx in self._index_stream())
        return self._iter_threads()

    def _iter_threads(self):
        window = self.num_workers * self.prefetch_factor
        pool = ThreadPoolExecutor(max_workers=self.num_workers, thread_name_prefix="pydl-data")
        try:
            if self.worker_init_fn is not None:
                for wid in range(self.num_workers):
                    pool.submit(self.worker_init_fn, wid).result()
            pending = collections.deque()
            stream = self._index_stream()
            for idx in stream:
                pending.append(pool.submit(self._fetch, idx))
                if len(pending) >= window:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
