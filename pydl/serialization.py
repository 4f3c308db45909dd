"""pydl.save / pydl.load: checkpoints as one safetensors file, never pickle.

File layout
-----------
A checkpoint is a standard safetensors file (8-byte little-endian header
length, a JSON header, then the raw tensor bytes), so any safetensors reader
(``safetensors.torch.load_file``, ``safetensors.numpy.load_file``) opens it:

* every tensor in the saved object is one safetensors tensor, named by the
  dotted path of dict keys / list indices that leads to it. A model
  ``state_dict()`` saved on its own therefore has exactly torch's state_dict
  keys (``"0.weight"``, ``"fc1.bias"``, ...); the same state_dict nested as
  ``{"model": sd, "optimizer": osd, "rng": pydl.get_rng_state(), "epoch": 3}``
  gives ``"model.0.weight"``, ``"optimizer.state.0.exp_avg"``, ``"rng"``.
  Two paths that spell the same name (``{"a.b": t, "a": {"b": u}}``) are
  refused at save time rather than silently overwritten.
* everything that is not a tensor (the nesting itself, optimizer
  hyper-parameters, scheduler counters, epoch numbers, strings...) lives in the
  header's ``__metadata__`` string map, as one JSON document under the key
  ``"pydl.tree"`` (with ``"pydl.format": "1"`` and ``"format": "pt"``).
  In that JSON tree a tensor is ``{"__tensor__": "<name>"}``, and the few
  Python values JSON lacks are tagged: ``{"__tuple__": [...]}``,
  ``{"__float__": "nan" | "inf" | "-inf"}``, and
  ``{"__dict__": [[key, value], ...]}`` for a dict whose keys are not all
  strings (the optimizer's ``state`` is keyed by parameter index) or that has a
  key starting with ``"__"``. Plain dicts with string keys stay JSON objects.
* ``"pydl.crc32"`` holds a JSON map of each tensor's CRC-32 (of its bytes), so
  a flipped bit in the data section is reported with the tensor's name
  (safetensors itself has no checksum).

A safetensors file without ``pydl.tree`` (e.g. written by
``safetensors.torch.save_file(model.state_dict(), path)``) loads as a flat
``{name: Tensor}`` dict, ready for ``Module.load_state_dict``.

Supported values: pydl tensors (float32, float64, int64, bool; any shape
including 0-d and empty; views are saved contiguous), numpy arrays and CPU
torch tensors of those dtypes (loaded back as pydl tensors), and None, bool,
int, float, str, list, tuple, dict. Anything else is a TypeError naming its
path, raised before the disk is touched.

Safety
------
``save`` writes to a temporary file in the destination directory, fsyncs it
and renames it over the destination with ``os.replace`` (atomic on POSIX and
Windows): a crash or an exception leaves the previous checkpoint intact, and
the temporary file is removed on any error. ``load`` reads the whole file and
checks the header before decoding anything (length, JSON, dtypes, shapes,
offsets covering the data exactly, the metadata tree against the tensors), so
a truncated or corrupted file is a ValueError naming the file and the tensor
or key at fault, never a crash.
"""
import json
import math
import os
import tempfile
import zlib
from collections.abc import Mapping

import numpy as np

from . import _creation as C
from ._tensor import Tensor

__all__ = ["save", "load", "CheckpointNotFoundError"]

FORMAT_VERSION = "1"
_TREE_KEY = "pydl.tree"
_VERSION_KEY = "pydl.format"
_CRC_KEY = "pydl.crc32"

# safetensors dtype name -> numpy dtype, for the dtypes pydl has.
_DTYPES = {"F32": np.dtype(np.float32), "F64": np.dtype(np.float64), "I64": np.dtype(np.int64),
           "BOOL": np.dtype(np.bool_)}
# Dtypes the safetensors format knows but pydl has no tensor type for.
_FOREIGN_DTYPES = {"F16", "BF16", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64",
                   "I8", "I16", "I32", "U8", "U16", "U32", "U64"}


class CheckpointNotFoundError(FileNotFoundError, RuntimeError):
    """The checkpoint path does not exist (or is not a regular file). A
    FileNotFoundError, as ``open`` raises, and a RuntimeError, as every other
    load failure is a RuntimeError or ValueError."""


# ----------------------------------------------------------------------
# Encoding: Python object -> (tensors by name, JSON tree)
# ----------------------------------------------------------------------
def _as_array(value, where):
    """A tensor-like leaf as a contiguous numpy array, or None if it is not one."""
    if isinstance(value, Tensor):
        if value.device.type != "cpu":
            raise TypeError(f"pydl.save: tensor at '{where}' is on {value.device}; move it to the CPU first")
        arr = value.detach().numpy()
    elif isinstance(value, np.ndarray):
        arr = value
    elif type(value).__module__.startswith("torch") and hasattr(value, "detach") and hasattr(value, "numpy"):
        arr = value.detach().cpu().numpy()
    else:
        return None
    if arr.dtype not in _DTYPES.values():
        raise TypeError(f"pydl.save: tensor at '{where}' has dtype {arr.dtype}; pydl checkpoints hold "
                        "float32, float64, int64 and bool")
    # Serialised right away, so a contiguous array is used as is (no copy). (np.ascontiguousarray
    # would turn 0-d into 1-d; np.array(order="C") keeps the shape.)
    return arr if arr.flags.c_contiguous else np.array(arr, order="C")


def _encode(obj, path, tensors, owners):
    where = path or "<root>"
    arr = _as_array(obj, where)
    if arr is not None:
        name = path or "tensor"
        if name in owners:
            raise ValueError(f"pydl.save: two entries map to the tensor name '{name}' (dict keys containing '.' "
                             "collide with nesting); rename one of them")
        owners.add(name)
        tensors[name] = arr
        node = {"__tensor__": name}
        if isinstance(obj, Tensor) and obj.requires_grad:
            node["requires_grad"] = True
        return node
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, np.integer)) and not isinstance(obj, np.bool_):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        if math.isnan(f):
            return {"__float__": "nan"}
        if math.isinf(f):
            return {"__float__": "inf" if f > 0 else "-inf"}
        return f
    join = (lambda k: f"{path}.{k}") if path else str
    if isinstance(obj, list):
        return [_encode(v, join(i), tensors, owners) for i, v in enumerate(obj)]
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, join(i), tensors, owners) for i, v in enumerate(obj)]}
    if isinstance(obj, Mapping):
        plain = all(isinstance(k, str) and not k.startswith("__") for k in obj)
        if plain:
            return {k: _encode(v, join(k), tensors, owners) for k, v in obj.items()}
        pairs = []
        for k, v in obj.items():
            if not (k is None or isinstance(k, (bool, int, float, str, tuple))):
                raise TypeError(f"pydl.save: dict key {k!r} at '{where}' is a {type(k).__name__}; keys must be "
                                "str, int, float, bool, None or tuples of them")
            pairs.append([_encode(k, "", {}, set()), _encode(v, join(k), tensors, owners)])
        return {"__dict__": pairs}
    raise TypeError(f"pydl.save: cannot save a {type(obj).__module__}.{type(obj).__qualname__} at '{where}' "
                    "(checkpoints hold tensors, None, bool, int, float, str, list, tuple and dict; pydl never "
                    "pickles)")


def _umask():
    """The process umask (to give the checkpoint the mode ``open`` would)."""
    try:
        with open("/proc/self/status") as f:  # Linux: read without changing it (thread-safe)
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_bytes(f, data):
    """Writes the whole checkpoint (a seam: tests replace it to simulate a crash mid-write)."""
    f.write(data)


def save(obj, path):
    """Saves ``obj`` (a tensor, a state_dict, or a nested dict/list of them and
    plain Python values) to ``path`` as one safetensors file, atomically.
    See the module docstring for the layout."""
    import safetensors.numpy as stn

    if hasattr(path, "write"):
        raise TypeError("pydl.save: path must be a file name (str or os.PathLike); file objects cannot be "
                        "replaced atomically")
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"pydl.save: '{path}' is a directory")
    tensors = {}
    tree = _encode(obj, "", tensors, set())
    crcs = {name: zlib.crc32(memoryview(arr).cast("B")) if arr.size else 0 for name, arr in tensors.items()}
    metadata = {"format": "pt", _VERSION_KEY: FORMAT_VERSION,
                _TREE_KEY: json.dumps(tree, allow_nan=False, separators=(",", ":")),
                _CRC_KEY: json.dumps(crcs, separators=(",", ":"))}
    data = stn.save(tensors, metadata=metadata)

    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            _write_bytes(f, data)
            f.flush()
            os.fsync(f.fileno())
        try:
            mode = os.stat(path).st_mode & 0o7777
        except OSError:
            mode = 0o666 & ~_umask()
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable; best effort (not possible on every platform)
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


# ----------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------
def _no_duplicates(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _parse_header(path, blob):
    """Validates the safetensors header of ``blob``; returns (entries, metadata, data_start)."""
    size = len(blob)
    if size < 8:
        raise ValueError(f"pydl.load: '{path}' is not a safetensors checkpoint: {size} bytes, too short for the "
                         "8-byte header length (truncated or empty file?)")
    n = int.from_bytes(blob[:8], "little")
    if n > size - 8:
        raise ValueError(f"pydl.load: '{path}' is truncated or corrupted: the header claims {n} bytes but the "
                         f"file has only {size - 8} after the length field")
    try:
        header = json.loads(blob[8:8 + n].decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ValueError(f"pydl.load: '{path}' has a corrupted header (not valid JSON: {e})") from None
    if not isinstance(header, dict):
        raise ValueError(f"pydl.load: '{path}' has a corrupted header (a JSON {type(header).__name__}, "
                         "expected an object)")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                 for k, v in metadata.items()):
        raise ValueError(f"pydl.load: '{path}': __metadata__ must map strings to strings")
    data_len = size - 8 - n
    entries = {}
    for name, info in header.items():
        bad = f"pydl.load: '{path}': tensor '{name}'"
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise ValueError(f"{bad} has a malformed header entry {info!r}")
        dt, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dt not in _DTYPES:
            if dt in _FOREIGN_DTYPES:
                raise ValueError(f"{bad} has dtype {dt}, which pydl does not support (float32, float64, int64, "
                                 "bool); convert it before saving")
            raise ValueError(f"{bad} has unknown dtype {dt!r}")
        if (not isinstance(shape, list)
                or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape)):
            raise ValueError(f"{bad} has an invalid shape {shape!r}")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)):
            raise ValueError(f"{bad} has invalid data_offsets {offsets!r}")
        begin, end = offsets
        if not 0 <= begin <= end <= data_len:
            raise ValueError(f"{bad} has data offsets [{begin}, {end}] outside the {data_len} data bytes "
                             "(truncated or corrupted file)")
        nbytes = math.prod(shape) * _DTYPES[dt].itemsize
        if end - begin != nbytes:
            raise ValueError(f"{bad}: shape {shape} of {dt} needs {nbytes} bytes but its data offsets span "
                             f"{end - begin}")
        entries[name] = (_DTYPES[dt], tuple(shape), begin, end)
    # The tensors must tile the data section exactly: no overlap, no gap, nothing after.
    pos = 0
    for name, (_, _, begin, end) in sorted(entries.items(), key=lambda e: (e[1][2], e[1][3])):
        if begin != pos:
            what = "overlaps another tensor" if begin < pos else f"leaves a gap of {begin - pos} bytes"
            raise ValueError(f"pydl.load: '{path}': tensor '{name}' {what} (corrupted file)")
        pos = end
    if pos != data_len:
        raise ValueError(f"pydl.load: '{path}' has {data_len - pos} bytes after the last tensor "
                         "(corrupted file, or the header was changed)")
    return entries, metadata, 8 + n


def _decode(node, path, tensors, used, where):
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if isinstance(node, list):
        return [_decode(v, path, tensors, used, f"{where}[{i}]") for i, v in enumerate(node)]
    if not isinstance(node, dict):
        raise ValueError(f"pydl.load: '{path}': metadata entry at {where} is a {type(node).__name__}")
    bad = f"pydl.load: '{path}': inconsistent metadata at {where}"
    if "__tensor__" in node:
        name = node["__tensor__"]
        if not isinstance(name, str) or set(node) - {"__tensor__", "requires_grad"}:
            raise ValueError(f"{bad}: malformed tensor reference {node!r}")
        if name not in tensors:
            raise ValueError(f"{bad}: it refers to tensor '{name}', which is not in the file")
        if name in used:
            raise ValueError(f"{bad}: tensor '{name}' is referred to twice")
        used.add(name)
        t = tensors[name]
        if node.get("requires_grad"):
            if not t.is_floating_point():
                raise ValueError(f"{bad}: tensor '{name}' of dtype {t.dtype} marked requires_grad")
            t.requires_grad_(True)
        return t
    if "__tuple__" in node:
        if len(node) != 1 or not isinstance(node["__tuple__"], list):
            raise ValueError(f"{bad}: malformed tuple {node!r}")
        return tuple(_decode(v, path, tensors, used, f"{where}[{i}]") for i, v in enumerate(node["__tuple__"]))
    if "__float__" in node:
        special = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
        if len(node) != 1 or node["__float__"] not in special:
            raise ValueError(f"{bad}: malformed float {node!r}")
        return special[node["__float__"]]
    if "__dict__" in node:
        pairs = node["__dict__"]
        if len(node) != 1 or not isinstance(pairs, list) or not all(
                isinstance(p, list) and len(p) == 2 for p in pairs):
            raise ValueError(f"{bad}: malformed dict {node!r}")
        out = {}
        for k, v in pairs:
            key = _decode(k, path, {}, set(), where)
            if isinstance(key, list):
                raise ValueError(f"{bad}: unhashable dict key {k!r}")
            if isinstance(key, Tensor):
                raise ValueError(f"{bad}: tensor used as a dict key")
            out[key] = _decode(v, path, tensors, used, f"{where}[{key!r}]")
        return out
    if any(k.startswith("__") for k in node):
        raise ValueError(f"{bad}: unknown tag in {sorted(node)}")
    return {k: _decode(v, path, tensors, used, f"{where}[{k!r}]") for k, v in node.items()}


def load(path, map_location=None):
    """Loads a checkpoint written by :func:`save` (the saved object, tensors as
    pydl tensors) or any safetensors file of float32/float64/int64/bool tensors
    (a flat ``{name: Tensor}`` dict). ``map_location`` may only be None/"cpu"."""
    import safetensors.numpy as stn

    if map_location not in (None, "cpu"):
        raise ValueError(f"pydl.load: map_location={map_location!r} is not supported (tensors load on the CPU)")
    if hasattr(path, "read"):
        raise TypeError("pydl.load: path must be a file name (str or os.PathLike)")
    path = os.fspath(path)
    if os.path.isdir(path):
        raise CheckpointNotFoundError(2, f"pydl.load: '{path}' is a directory, not a checkpoint file", path)
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except FileNotFoundError:
        raise CheckpointNotFoundError(2, f"pydl.load: no checkpoint at '{path}'", path) from None
    except OSError as e:
        raise RuntimeError(f"pydl.load: cannot read '{path}': {e}") from None

    entries, metadata, _ = _parse_header(path, blob)
    try:
        arrays = stn.load(blob)
    except Exception as e:  # noqa: BLE001 (safetensors' own error types; header already validated)
        raise ValueError(f"pydl.load: '{path}' could not be decoded: {e}") from None
    tensors = {}
    for name, (dt, shape, _, _) in entries.items():
        arr = arrays.get(name)
        if arr is None or arr.dtype != dt or arr.shape != shape:
            raise ValueError(f"pydl.load: '{path}': tensor '{name}' decoded inconsistently with its header")
        if not arr.flags.writeable or not arr.flags.c_contiguous:
            arr = np.array(arr, order="C", copy=True)
        tensors[name] = C.from_numpy(arr) if arr.size else C.tensor(arr)

    if _TREE_KEY not in metadata:
        if _VERSION_KEY in metadata:
            raise ValueError(f"pydl.load: '{path}': pydl metadata key '{_TREE_KEY}' is missing")
        return tensors  # a plain safetensors file (e.g. safetensors.torch.save_file(state_dict))
    version = metadata.get(_VERSION_KEY)
    if version != FORMAT_VERSION:
        raise ValueError(f"pydl.load: '{path}': unsupported pydl checkpoint format {version!r} (this pydl reads "
                         f"format {FORMAT_VERSION})")
    try:
        tree = json.loads(metadata[_TREE_KEY], object_pairs_hook=_no_duplicates)
        crcs = json.loads(metadata.get(_CRC_KEY, "null"))
    except (ValueError, RecursionError) as e:
        raise ValueError(f"pydl.load: '{path}': pydl metadata is not valid JSON ({e})") from None
    if crcs is not None:
        if not isinstance(crcs, dict) or set(crcs) != set(tensors):
            raise ValueError(f"pydl.load: '{path}': inconsistent metadata: '{_CRC_KEY}' does not list exactly the "
                             "file's tensors")
        for name, t in tensors.items():
            arr = t.numpy()
            crc = zlib.crc32(memoryview(arr).cast("B")) if arr.size else 0
            if crcs[name] != crc:
                raise ValueError(f"pydl.load: '{path}': tensor '{name}' is corrupted (its data fails the CRC-32 "
                                 "check)")
    used = set()
    try:
        obj = _decode(tree, path, tensors, used, "<root>")
    except RecursionError:
        raise ValueError(f"pydl.load: '{path}': metadata key '{_TREE_KEY}' is nested too deeply") from None
    unused = sorted(set(tensors) - used)
    if unused:
        raise ValueError(f"pydl.load: '{path}': inconsistent metadata: tensor(s) {unused[:5]} are in the file "
                         f"but not in '{_TREE_KEY}'")
    return obj
