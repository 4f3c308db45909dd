"""pydl.save / pydl.load: round trips, torch interop, corrupted files, atomicity, resume.

Every corrupted-file row checks three things: the error type (ValueError or
RuntimeError), that the message names the file (and the tensor or key where
there is one), and that a model whose load was attempted is bit-for-bit
unchanged.
"""
import json
import os
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
import safetensors.numpy as stn
import safetensors.torch as stt
import torch

import pydl
import pydl.serialization as S
from pydl import nn


def np_of(t):
    return np.array(t.detach().numpy(), copy=True)


def pmlp(L, p_drop=0.0):
    layers = [L.nn.Linear(6, 16), L.nn.ReLU()]
    if p_drop:
        layers.append(L.nn.Dropout(p_drop))
    layers += [L.nn.Linear(16, 16), L.nn.ReLU(), L.nn.Linear(16, 3)]
    return L.nn.Sequential(*layers)


def snapshot(model):
    return {k: np_of(v) for k, v in model.state_dict().items()}


def assert_snapshot(model, snap):
    now = snapshot(model)
    assert list(now) == list(snap)
    for k in snap:
        assert now[k].dtype == snap[k].dtype and now[k].shape == snap[k].shape
        np.testing.assert_array_equal(now[k], snap[k], err_msg=k)


# ----------------------------------------------------------------------
# round trips
# ----------------------------------------------------------------------
SHAPES = [(), (0,), (1,), (7,), (3, 0, 2), (2, 3), (1, 33, 1), (4, 5, 6)]
DTYPES = [pydl.float32, pydl.float64, pydl.int64, pydl.bool]


def make_tensor(shape, dtype, rng):
    if dtype is pydl.bool:
        arr = rng.random(shape) < 0.5
    elif dtype is pydl.int64:
        arr = rng.integers(-2**62, 2**62, size=shape, dtype=np.int64)
    else:
        arr = rng.standard_normal(shape) * 1e30
    return pydl.tensor(np.asarray(arr), dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_round_trip_every_dtype_and_shape(tmp_path, dtype):
    rng = np.random.default_rng(0)
    obj = {f"t{i}": make_tensor(s, dtype, rng) for i, s in enumerate(SHAPES)}
    path = tmp_path / "x.safetensors"
    pydl.save(obj, path)
    back = pydl.load(path)
    assert list(back) == list(obj)
    for k, t in obj.items():
        b = back[k]
        assert isinstance(b, pydl.Tensor)
        assert b.dtype is t.dtype and tuple(b.shape) == tuple(t.shape), k
        np.testing.assert_array_equal(np_of(b), np_of(t))
    # any safetensors reader sees the same tensors under the same names
    raw = stn.load_file(str(path))
    assert sorted(raw) == sorted(obj)
    for k in obj:
        np.testing.assert_array_equal(raw[k], np_of(obj[k]))


def test_round_trip_special_floats_and_views(tmp_path):
    base = pydl.tensor([[1.0, float("nan")], [float("inf"), -float("inf")], [-0.0, 5e-45]])
    obj = {"t": base.t(), "row": base[1], "x": float("nan"), "y": float("inf"), "z": -float("inf")}
    pydl.save(obj, tmp_path / "f")
    back = pydl.load(tmp_path / "f")
    np.testing.assert_array_equal(np_of(back["t"]), np_of(base).T)
    np.testing.assert_array_equal(np_of(back["row"]), np_of(base)[1])
    assert np.signbit(np_of(back["t"])[0, 2])  # -0.0 kept
    assert np.isnan(back["x"]) and back["y"] == float("inf") and back["z"] == -float("inf")


def test_round_trip_nested_metadata(tmp_path):
    obj = {
        "model": {"w": pydl.ones(2, 2)},
        "epoch": 3, "lr": 0.1, "name": "run/1 \u00e9\u2603", "done": False, "none": None,
        "hist": [1.5, 2, [3, {"a": pydl.zeros(1)}]], "pair": (1, (2.5, "x")),
        "ints": {0: "a", 5: {"b": 1}}, "mixed": {1: 2, "k": 3, None: 4, (1, 2): 5, True: 6},
        "__reserved": {"__tensor__": "not-a-tensor"}, "big": 2**80, "empty": {}, "emptylist": [],
    }
    pydl.save(obj, tmp_path / "c")
    back = pydl.load(tmp_path / "c")
    tensors_out = {"model": back.pop("model"), "hist": back["hist"][2][1].pop("a")}
    expect = dict(obj)
    expect.pop("model")
    expect["hist"] = [1.5, 2, [3, {}]]
    assert back == expect
    assert type(back["pair"]) is tuple and type(back["pair"][1]) is tuple
    assert type(back["epoch"]) is int and type(back["lr"]) is float and type(back["done"]) is bool
    np.testing.assert_array_equal(np_of(tensors_out["model"]["w"]), np.ones((2, 2), np.float32))
    assert tensors_out["hist"].shape == (1,)
    # dotted keys in the file, the structure in the metadata
    assert sorted(stn.load_file(str(tmp_path / "c"))) == ["hist.2.1.a", "model.w"]


def _tensors():
    shapes = st.lists(st.integers(0, 3), max_size=3).map(tuple)
    return st.tuples(shapes, st.sampled_from(DTYPES), st.integers(0, 2**31)).map(
        lambda a: make_tensor(a[0], a[1], np.random.default_rng(a[2])))


_leaves = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=8)
           | _tensors())
_keys = st.text(max_size=6) | st.integers(-5, 5) | st.booleans() | st.none()
_objects = st.recursive(_leaves, lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner)
                        | st.dictionaries(_keys, inner, max_size=3), max_leaves=12)


def _same(a, b):
    if isinstance(a, pydl.Tensor):
        return (isinstance(b, pydl.Tensor) and a.dtype is b.dtype and tuple(a.shape) == tuple(b.shape)
                and np.array_equal(np_of(a), np_of(b)))
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(obj=_objects)
def test_round_trip_random_nested_objects(tmp_path, obj):
    path = tmp_path / "h.safetensors"
    try:
        pydl.save(obj, path)
    except ValueError as e:  # two paths spelling one tensor name ("a.1" vs ["a"][1]) are refused
        assert "map to the tensor name" in str(e)
        return
    assert _same(obj, pydl.load(path))


def test_requires_grad_and_numpy_torch_leaves(tmp_path):
    p = nn.Parameter(pydl.randn(3))
    obj = {"p": p, "np": np.arange(4, dtype=np.int64), "pt": torch.tensor([1.5, 2.5], dtype=torch.float64)}
    pydl.save(obj, tmp_path / "g")
    back = pydl.load(tmp_path / "g")
    assert back["p"].requires_grad and back["p"].is_leaf
    np.testing.assert_array_equal(np_of(back["p"]), np_of(p))
    assert back["np"].dtype is pydl.int64 and back["np"].tolist() == [0, 1, 2, 3]
    assert back["pt"].dtype is pydl.float64 and back["pt"].tolist() == [1.5, 2.5]


def test_bare_tensor_and_loaded_tensors_are_independent(tmp_path):
    t = pydl.arange(6).reshape(2, 3)
    pydl.save(t, tmp_path / "t")
    a, b = pydl.load(tmp_path / "t"), pydl.load(tmp_path / "t")
    a.add_(1)
    assert b.tolist() == t.tolist() and a.tolist() != b.tolist()


@pytest.mark.parametrize("obj, match", [
    ({"f": lambda: 0}, "'f'"),
    ({"a": [1, object()]}, r"'a\.1'"),
    ({"s": {1, 2}}, "'s'"),
    ({"b": b"bytes"}, "'b'"),
    ({"h": np.zeros(2, np.float16)}, "'h'.*float16"),
    ({"i": torch.zeros(2, dtype=torch.int32)}, "'i'.*int32"),
    ({"k": {object(): 1}}, "key"),
])
def test_save_refuses_unsupported_values(tmp_path, obj, match):
    with pytest.raises(TypeError, match=match):
        pydl.save(obj, tmp_path / "x")
    assert os.listdir(tmp_path) == []  # nothing written, not even a temp file


def test_save_refuses_colliding_names(tmp_path):
    with pytest.raises(ValueError, match="a.b"):
        pydl.save({"a.b": pydl.zeros(1), "a": {"b": pydl.ones(1)}}, tmp_path / "x")
    assert os.listdir(tmp_path) == []


def test_save_to_directory_or_file_object(tmp_path):
    with pytest.raises(IsADirectoryError):
        pydl.save({"a": pydl.zeros(1)}, tmp_path)
    with open(tmp_path / "f", "wb") as f, pytest.raises(TypeError, match="file name"):
        pydl.save({"a": pydl.zeros(1)}, f)


# ----------------------------------------------------------------------
# torch interop
# ----------------------------------------------------------------------
def test_pydl_checkpoint_loads_into_torch(tmp_path):
    pydl.manual_seed(3)
    pm = pmlp(pydl)
    path = tmp_path / "pydl.safetensors"
    pydl.save(pm.state_dict(), path)
    sd = stt.load_file(str(path))
    tm = pmlp(torch)
    assert sorted(sd) == sorted(tm.state_dict())  # exactly torch's keys, no prefixes
    assert tm.load_state_dict(sd).missing_keys == []
    x = np.random.default_rng(1).standard_normal((5, 6)).astype(np.float32)
    torch.testing.assert_close(torch.from_numpy(np_of(pm(pydl.tensor(x)))),
                               tm(torch.from_numpy(x)).detach())


def test_torch_checkpoint_loads_into_pydl(tmp_path):
    torch.manual_seed(4)
    tm = pmlp(torch).double()
    path = tmp_path / "torch.safetensors"
    stt.save_file(tm.state_dict(), str(path))
    sd = pydl.load(path)
    assert isinstance(sd, dict) and sorted(sd) == sorted(tm.state_dict())
    pm = pmlp(pydl).double()
    assert repr(pm.load_state_dict(sd)) == "<All keys matched successfully>"
    for k, v in tm.state_dict().items():
        np.testing.assert_array_equal(np_of(pm.state_dict()[k]), v.numpy())
    x = np.random.default_rng(2).standard_normal((4, 6))
    torch.testing.assert_close(torch.from_numpy(np_of(pm(pydl.tensor(x, dtype=pydl.float64)))),
                               tm(torch.from_numpy(x)).detach())


def test_nested_checkpoint_model_section_loads_into_torch(tmp_path):
    pm = pmlp(pydl)
    opt = pydl.optim.Adam(pm.parameters(), lr=1e-2)
    pm(pydl.randn(3, 6)).sum().backward()
    opt.step()
    pydl.save({"model": pm.state_dict(), "optimizer": opt.state_dict(), "epoch": 1}, tmp_path / "c")
    flat = stt.load_file(str(tmp_path / "c"))
    model_sd = {k[len("model."):]: v for k, v in flat.items() if k.startswith("model.")}
    tm = pmlp(torch)
    tm.load_state_dict(model_sd)
    assert "optimizer.state.0.exp_avg" in flat and "optimizer.state.0.step" in flat
    # the optimizer section loads into torch's Adam too (after pydl.load restores the structure)
    ck = pydl.load(tmp_path / "c")
    topt = torch.optim.Adam(tm.parameters(), lr=1e-3)
    topt.load_state_dict({"state": {i: {k: torch.from_numpy(np_of(v)) for k, v in s.items()}
                                    for i, s in ck["optimizer"]["state"].items()},
                          "param_groups": ck["optimizer"]["param_groups"]})
    assert topt.param_groups[0]["lr"] == 1e-2 and topt.param_groups[0]["betas"] == (0.9, 0.999)


# ----------------------------------------------------------------------
# corrupted files: a clear error, the model untouched
# ----------------------------------------------------------------------
@pytest.fixture
def good_file(tmp_path):
    pydl.manual_seed(5)
    m = pmlp(pydl)
    path = tmp_path / "good.safetensors"
    pydl.save({"model": m.state_dict(), "epoch": 2}, path)
    return path, path.read_bytes()


def header_of(blob):
    n = struct.unpack("<Q", blob[:8])[0]
    return n, json.loads(blob[8:8 + n])


def with_header(blob, header):
    n = struct.unpack("<Q", blob[:8])[0]
    hb = json.dumps(header).encode()
    return struct.pack("<Q", len(hb)) + hb + blob[8 + n:]


def try_load_into_fresh_model(path):
    pydl.manual_seed(99)
    target = pmlp(pydl)
    snap = snapshot(target)
    with pytest.raises((ValueError, RuntimeError)) as info:
        ck = pydl.load(path)
        target.load_state_dict(ck["model"])
    assert_snapshot(target, snap)
    assert str(path) in str(info.value)
    return str(info.value)


@pytest.mark.parametrize("fraction", [0.0, 0.001, 0.03, 0.2, 0.5, 0.9, 0.999])
def test_truncated_file(good_file, fraction):
    path, blob = good_file
    cut = max(1, int(len(blob) * fraction)) if fraction else 0
    path.write_bytes(blob[:cut])
    msg = try_load_into_fresh_model(path)
    assert "truncated" in msg or "too short" in msg or "header" in msg


def test_one_byte_short(good_file):
    path, blob = good_file
    path.write_bytes(blob[:-1])
    msg = try_load_into_fresh_model(path)
    assert "outside" in msg and "model." in msg  # names the tensor whose data is cut


def test_trailing_bytes(good_file):
    path, blob = good_file
    path.write_bytes(blob + b"\0" * 4)
    assert "after the last tensor" in try_load_into_fresh_model(path)


@pytest.mark.parametrize("pos", [8, 9, 20, 40, -30, -10])
def test_flipped_byte_in_header(good_file, pos):
    path, blob = good_file
    n, _ = header_of(blob)
    i = pos if pos >= 0 else 8 + n + pos
    data = bytearray(blob)
    data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    try_load_into_fresh_model(path)


@pytest.mark.parametrize("where", [0.0, 0.3, 0.7, 1.0])
def test_flipped_bit_in_data_is_caught_by_the_checksum(good_file, where):
    path, blob = good_file
    n, _ = header_of(blob)
    data = bytearray(blob)
    data[min(8 + n + int((len(blob) - 8 - n) * where), len(blob) - 1)] ^= 0x01
    path.write_bytes(bytes(data))
    msg = try_load_into_fresh_model(path)
    assert "CRC-32" in msg and "tensor 'model." in msg


def test_deeply_nested_json_is_an_error_not_a_crash(good_file, tmp_path):
    header = b"[" * 100000 + b"]" * 100000
    path = tmp_path / "deep"
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    try_load_into_fresh_model(path)
    path, blob = good_file
    _, h = header_of(blob)
    h["__metadata__"]["pydl.tree"] = "[" * 100000 + "]" * 100000
    path.write_bytes(with_header(blob, h))
    try_load_into_fresh_model(path)


def test_header_length_huge(good_file):
    path, blob = good_file
    for n in (2**63, 2**64 - 1, len(blob)):
        path.write_bytes(struct.pack("<Q", n) + blob[8:])
        assert "header claims" in try_load_into_fresh_model(path)


@pytest.mark.parametrize("dtype, match", [("F16", "does not support"), ("Q7", "unknown dtype"),
                                          (7, "unknown dtype"), ("I32", "does not support")])
def test_wrong_dtype_string(good_file, dtype, match):
    path, blob = good_file
    _, h = header_of(blob)
    h["model.0.weight"]["dtype"] = dtype
    path.write_bytes(with_header(blob, h))
    msg = try_load_into_fresh_model(path)
    assert match in msg and "model.0.weight" in msg


@pytest.mark.parametrize("edit, match", [
    (lambda e: e.update(shape=[16, 7]), "needs"),
    (lambda e: e.update(shape=[-1, 6]), "invalid shape"),
    (lambda e: e.update(shape="16x6"), "invalid shape"),
    (lambda e: e.update(data_offsets=[0, 10**12]), "outside"),
    (lambda e: e.update(data_offsets=[-4, 0]), "outside"),
    (lambda e: e.update(data_offsets=[0]), "data_offsets"),
    (lambda e: e.pop("shape"), "malformed"),
    (lambda e: e.update(extra=1), "malformed"),
])
def test_shape_and_offset_mismatch(good_file, edit, match):
    path, blob = good_file
    _, h = header_of(blob)
    edit(h["model.0.weight"])
    path.write_bytes(with_header(blob, h))
    msg = try_load_into_fresh_model(path)
    assert "model.0.weight" in msg and match in msg


def test_consistent_file_with_wrong_shape_for_the_model(good_file):
    # the file is valid (same byte count, other shape): load works, load_state_dict refuses it
    path, blob = good_file
    _, h = header_of(blob)
    h["model.0.weight"]["shape"] = [96]
    path.write_bytes(with_header(blob, h))
    pydl.manual_seed(99)
    target = pmlp(pydl)
    snap = snapshot(target)
    ck = pydl.load(path)
    assert tuple(ck["model"]["0.weight"].shape) == (96,)
    with pytest.raises(RuntimeError, match=r"size mismatch for 0.weight"):
        target.load_state_dict(ck["model"])
    assert_snapshot(target, snap)


def test_overlapping_tensors(good_file):
    path, blob = good_file
    _, h = header_of(blob)
    a, b = h["model.0.bias"], h["model.2.bias"]  # both 16 float32
    b["data_offsets"] = list(a["data_offsets"])
    path.write_bytes(with_header(blob, h))
    assert "overlaps" in try_load_into_fresh_model(path)


@pytest.mark.parametrize("meta_edit, match", [
    (lambda m: m.pop("pydl.tree"), "missing"),
    (lambda m: m.update({"pydl.tree": "{not json"}), "not valid JSON"),
    (lambda m: m.update({"pydl.crc32": "[1]"}), "does not list exactly"),
    (lambda m: m.update({"pydl.crc32": m["pydl.crc32"].replace('"model.0.bias"', '"other"')}),
     "does not list exactly"),
    (lambda m: m.update({"pydl.format": "99"}), "unsupported pydl checkpoint format"),
    (lambda m: m.update({"pydl.tree": json.dumps({"model": {"0.weight": {"__tensor__": "nope"}}})}), "nope"),
    (lambda m: m.update({"pydl.tree": json.dumps({"epoch": 2})}), "not in 'pydl.tree'"),
    (lambda m: m.update({"pydl.tree": m["pydl.tree"].replace('"epoch":2', '"epoch":{"__weird__":1}')}),
     "unknown tag"),
    (lambda m: m.update({"pydl.tree": m["pydl.tree"].replace('"epoch":2',
                                                             '"epoch":{"__tensor__":"model.0.bias"}')}),
     "twice"),
    (lambda m: m.update({"pydl.tree": m["pydl.tree"].replace('"epoch":2', '"epoch":{"__float__":"big"}')}),
     "malformed float"),
    (lambda m: m.update({"pydl.tree": m["pydl.tree"].replace('"epoch":2', '"epoch":{"__dict__":[[1]]}')}),
     "malformed dict"),
    (lambda m: m.update({"pydl.tree": m["pydl.tree"].replace('"epoch":2', '"epoch":{"__dict__":[[[1],2]]}')}),
     "unhashable"),
    (lambda m: m.update({"pydl.tree": m["pydl.tree"].replace('"epoch":2', '"epoch":{"__tuple__":3}')}),
     "malformed tuple"),
    (lambda m: m.update({"pydl.tree": m["pydl.tree"].replace('"epoch":2', '"epoch":2,"epoch":3')}),
     "duplicate"),
    (lambda m: m.update({"x": 5}), "strings to strings"),
])
def test_metadata_missing_or_inconsistent(good_file, meta_edit, match):
    path, blob = good_file
    _, h = header_of(blob)
    meta_edit(h["__metadata__"])
    path.write_bytes(with_header(blob, h))
    assert match in try_load_into_fresh_model(path)


@pytest.mark.parametrize("header", [b"[1, 2]", b"\xff\xfe{}", b"{\"a\": 1}", b"{\"a\": {}, \"a\": {}}", b"   "])
def test_bad_header_json(tmp_path, header):
    path = tmp_path / "bad"
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    try_load_into_fresh_model(path)


def test_not_a_file_and_directory(tmp_path):
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(RuntimeError, match="nope.safetensors"):
        pydl.load(missing)
    with pytest.raises(FileNotFoundError):  # also what open() would raise
        pydl.load(missing)
    with pytest.raises(RuntimeError, match="directory"):
        pydl.load(tmp_path)
    (tmp_path / "text.txt").write_text("hello, this is not a checkpoint at all")
    try_load_into_fresh_model(tmp_path / "text.txt")
    with pytest.raises(ValueError, match="map_location"):
        pydl.load(missing, map_location="cuda")


def test_foreign_file_without_pydl_metadata_is_flat_dict(tmp_path):
    stn.save_file({"a.b": np.arange(3, dtype=np.int64), "c": np.zeros((2, 0), np.float64)}, str(tmp_path / "f"),
                  metadata={"format": "np"})
    back = pydl.load(tmp_path / "f")
    assert set(back) == {"a.b", "c"} and back["a.b"].tolist() == [0, 1, 2] and back["c"].shape == (2, 0)


# ----------------------------------------------------------------------
# load_state_dict validates everything before copying anything
# ----------------------------------------------------------------------
def test_module_load_state_dict_is_all_or_nothing():
    pydl.manual_seed(6)
    src, dst = pmlp(pydl), pmlp(pydl)
    snap = snapshot(dst)
    sd = dict(src.state_dict())
    sd["4.weight"] = pydl.zeros(3, 15)  # the LAST layer is wrong: earlier layers would be copied by torch
    with pytest.raises(RuntimeError, match="size mismatch for 4.weight"):
        dst.load_state_dict(sd)
    assert_snapshot(dst, snap)
    sd = dict(src.state_dict())
    sd["4.bias"] = "not a tensor"
    with pytest.raises(RuntimeError, match="4.bias"):
        dst.load_state_dict(sd)
    assert_snapshot(dst, snap)
    sd = dict(src.state_dict())
    del sd["4.bias"]
    with pytest.raises(RuntimeError, match="Missing key"):
        dst.load_state_dict(sd)
    assert_snapshot(dst, snap)
    dst.load_state_dict(src.state_dict())
    assert_snapshot(dst, snapshot(src))


def test_post_hooks_see_loaded_values():
    m = pmlp(pydl)
    seen = []
    m[0].register_load_state_dict_post_hook(lambda mod, inc: seen.append(np_of(mod.weight).sum()))
    src = pmlp(pydl)
    m.load_state_dict(src.state_dict())
    assert seen == [np_of(src[0].weight).sum()]


def test_optimizer_load_state_dict_validates_first():
    pm = pmlp(pydl)
    opt = pydl.optim.Adam(pm.parameters(), lr=1e-2)
    pm(pydl.randn(3, 6)).sum().backward()
    opt.step()
    good = opt.state_dict()
    before = {i: {k: np_of(v) for k, v in s.items()} for i, s in opt.state_dict()["state"].items()}
    bad = {"state": dict(good["state"]), "param_groups": good["param_groups"]}
    bad["state"][5] = dict(bad["state"][5], exp_avg=pydl.zeros(2))  # last parameter, wrong shape
    other = pydl.optim.Adam(pmlp(pydl).parameters(), lr=0.5)
    with pytest.raises(ValueError, match="exp_avg.*parameter 5"):
        other.load_state_dict(bad)
    assert other.param_groups[0]["lr"] == 0.5 and len(other.state) == 0
    for b in ({"state": {}}, {"param_groups": []}, {"state": [], "param_groups": []},
              {"state": {}, "param_groups": [{"lr": 1}]}):
        with pytest.raises(ValueError):
            other.load_state_dict(b)
        assert other.param_groups[0]["lr"] == 0.5 and len(other.state) == 0
    other.load_state_dict(good)
    after = {i: {k: np_of(v) for k, v in s.items()} for i, s in other.state_dict()["state"].items()}
    assert before.keys() == after.keys()
    for i in before:
        for k in before[i]:
            np.testing.assert_array_equal(before[i][k], after[i][k])


# ----------------------------------------------------------------------
# atomic writes
# ----------------------------------------------------------------------
@pytest.mark.parametrize("where", ["write", "fsync", "replace"])
def test_failure_mid_write_keeps_old_checkpoint(tmp_path, monkeypatch, where):
    path = tmp_path / "ck.safetensors"
    pydl.save({"v": pydl.arange(10), "epoch": 1}, path)
    old = path.read_bytes()

    def half_then_fail(f, data):
        f.write(data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    def fail(*a, **k):
        raise OSError(5, "I/O error")

    if where == "write":
        monkeypatch.setattr(S, "_write_bytes", half_then_fail)
    elif where == "fsync":
        monkeypatch.setattr(S.os, "fsync", fail)
    else:
        monkeypatch.setattr(S.os, "replace", fail)
    with pytest.raises(OSError):
        pydl.save({"v": pydl.arange(1000), "epoch": 2}, path)
    monkeypatch.undo()
    assert path.read_bytes() == old
    assert os.listdir(tmp_path) == ["ck.safetensors"]  # no temp file left behind
    assert pydl.load(path)["epoch"] == 1


def test_keyboard_interrupt_mid_write(tmp_path, monkeypatch):
    path = tmp_path / "ck"
    monkeypatch.setattr(S, "_write_bytes", lambda f, d: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        pydl.save({"a": pydl.zeros(3)}, path)
    assert os.listdir(tmp_path) == []


def test_overwrite_replaces_and_keeps_mode(tmp_path):
    path = tmp_path / "ck"
    pydl.save({"a": pydl.zeros(3)}, path)
    os.chmod(path, 0o640)
    pydl.save({"a": pydl.ones(3)}, path)
    assert pydl.load(path)["a"].tolist() == [1.0, 1.0, 1.0]
    assert (os.stat(path).st_mode & 0o777) == 0o640
    assert os.listdir(tmp_path) == ["ck"]


# ----------------------------------------------------------------------
# resume: bit-identical continuation
# ----------------------------------------------------------------------
def train_steps(model, opt, sched, data, steps):
    x, y = data
    losses = []
    for _ in range(steps):
        idx = pydl.randint(0, x.shape[0], (16,))  # minibatch drawn from pydl's generator
        opt.zero_grad()
        loss = pydl.nn.functional.cross_entropy(model(x.index_select(0, idx)), y.index_select(0, idx))
        loss.backward()
        opt.step()
        sched.step()
        losses.append(np_of(loss).item())
    return losses


def make_run(seed):
    pydl.manual_seed(seed)
    model = pmlp(pydl, p_drop=0.3)
    opt = pydl.optim.Adam(model.parameters(), lr=3e-2, weight_decay=1e-4)
    sched = pydl.optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.5)
    return model, opt, sched


def test_resume_is_bit_identical(tmp_path):
    rng = np.random.default_rng(7)
    data = (pydl.tensor(rng.standard_normal((64, 6)).astype(np.float32)), pydl.tensor(rng.integers(0, 3, 64)))
    model, opt, sched = make_run(11)
    train_steps(model, opt, sched, data, 7)
    path = tmp_path / "resume.safetensors"
    pydl.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
               "rng": pydl.get_rng_state(), "step": 7}, path)
    expected = train_steps(model, opt, sched, data, 10)
    final_expected = snapshot(model)

    model2, opt2, sched2 = make_run(12345)  # different init and RNG position
    pydl.randn(100)
    ck = pydl.load(path)
    model2.load_state_dict(ck["model"])
    opt2.load_state_dict(ck["optimizer"])
    sched2.load_state_dict(ck["scheduler"])
    pydl.set_rng_state(ck["rng"])
    assert ck["step"] == 7
    got = train_steps(model2, opt2, sched2, data, 10)
    assert got == expected  # bit-identical, not just close
    assert len(set(got)) > 1 and opt2.param_groups[0]["lr"] != opt.defaults["lr"]
    assert_snapshot(model2, final_expected)
