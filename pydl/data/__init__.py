"""pydl.data: datasets, loaders, splits and transforms, shaped like torch.utils.data.

``Dataset``/``TensorDataset``/``Subset``/``ConcatDataset``/``IterableDataset``,
``DataLoader`` with ``default_collate``, ``random_split``, ``kfold_splits``;
image transforms in ``pydl.data.transforms``; small embedded datasets in
``pydl.data.datasets``. Randomness comes from pydl's global generator or an
explicit seed (see ``pydl.data._random``).
"""
from .dataset import (  # noqa: F401
    ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset, kfold_splits, random_split,
)
from .dataloader import (  # noqa: F401
    BatchSampler, DataLoader, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler, default_collate,
    default_convert,
)
from . import datasets, transforms  # noqa: F401
