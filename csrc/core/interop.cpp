// numpy and DLPack interop. Both directions share memory: the importing side
// keeps the exporter alive through the Storage's deleter (numpy: a reference
// to the array; DLPack: the producer's deleter), and the exporting side hands
// out a reference to our Storage.
#include "core/interop.h"

#include <cstring>

#include "core/dlpack.h"

namespace py = pybind11;

namespace pydl {

namespace {

DType dtype_from_numpy(const py::dtype& dt, bool* needs_cast) {
  *needs_cast = false;
  const char kind = dt.kind();
  const auto sz = dt.itemsize();
  if (kind == 'f' && sz == 4) return DType::Float32;
  if (kind == 'f' && sz == 8) return DType::Float64;
  if (kind == 'i' && sz == 8) return DType::Int64;
  if (kind == 'b') return DType::Bool;
  if (kind == 'f') { *needs_cast = true; return DType::Float32; }       // float16
  if (kind == 'i' || kind == 'u') { *needs_cast = true; return DType::Int64; }
  throw TypeError(str("can't convert np.ndarray of type ", std::string(py::str(dt)),
                      ". The only supported types are: float64, float32, int64 and bool"
                      " (other integer and float widths are converted)."));
}

py::dtype numpy_dtype(DType t) {
  switch (t) {
    case DType::Float32: return py::dtype::of<float>();
    case DType::Float64: return py::dtype::of<double>();
    case DType::Int64: return py::dtype::of<int64_t>();
    case DType::Bool: default: return py::dtype::of<bool>();
  }
}

}  // namespace

Tensor from_numpy(py::array arr) {
  bool cast = false;
  DType dt = dtype_from_numpy(arr.dtype(), &cast);
  if (cast) {
    // Other widths have no zero-copy equivalent: convert (a copy).
    py::array conv = arr.attr("astype")(numpy_dtype(dt));
    return from_numpy(conv);
  }
  const int64_t isz = static_cast<int64_t>(itemsize(dt));
  const int64_t nd = arr.ndim();
  Shape shape(nd), strides(nd);
  int64_t extent = 0;  // furthest element, in elements
  bool empty_arr = false;
  for (int64_t d = 0; d < nd; ++d) {
    shape[d] = arr.shape(d);
    int64_t sb = arr.strides(d);
    PYDL_CHECK(sb >= 0, ValueError,
               "At least one stride in the given numpy array is negative, and tensors with negative"
               " strides are not currently supported. (You can probably work around this by making a"
               " copy of your array  with array.copy().) ");
    PYDL_CHECK(sb % isz == 0, ValueError, "given numpy array strides not a multiple of the element byte"
               " size. Copy the numpy array to reallocate the memory.");
    strides[d] = sb / isz;
    if (shape[d] == 0) empty_arr = true;
    extent += (shape[d] - 1) * strides[d];
  }
  auto st = std::make_shared<Storage>();
  st->data = const_cast<void*>(arr.data());
  st->nbytes = empty_arr ? 0 : static_cast<size_t>(extent + 1) * isz;
  // Keep the array alive for as long as the storage; release it under the GIL.
  auto* keep = new py::object(arr);
  st->deleter = [keep](void*) {
    py::gil_scoped_acquire gil;
    delete keep;
  };
  Tensor t;
  t.storage = st;
  t.shape = shape;
  t.strides = strides;
  t.dtype = dt;
  if (!arr.writeable()) {
    // numpy would let us write into read-only memory; copy instead.
    return clone(t);
  }
  return t;
}

py::array to_numpy(const Tensor& t) {
  check_cpu(t, "numpy");
  const int64_t isz = static_cast<int64_t>(itemsize(t.dtype));
  std::vector<py::ssize_t> shape(t.shape.begin(), t.shape.end()), strides;
  for (int64_t s : t.strides) strides.push_back(s * isz);
  // The capsule holds a reference to the storage: numpy's base object.
  auto* keep = new std::shared_ptr<Storage>(t.storage);
  py::capsule base(keep, [](void* p) { delete static_cast<std::shared_ptr<Storage>*>(p); });
  return py::array(numpy_dtype(t.dtype), shape, strides, t.raw(), base);
}

// ---------------------------------------------------------------------------
// DLPack
// ---------------------------------------------------------------------------
namespace {
struct DLContext {
  std::shared_ptr<Storage> storage;
  Shape shape, strides;
  DLManagedTensor managed;
};

void dl_deleter(DLManagedTensor* self) { delete static_cast<DLContext*>(self->manager_ctx); }

void capsule_destructor(PyObject* cap) {
  // Only a capsule that was never consumed still owns its tensor.
  if (PyCapsule_IsValid(cap, "dltensor")) {
    auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(cap, "dltensor"));
    if (m && m->deleter) m->deleter(m);
  }
}
}  // namespace

py::capsule to_dlpack(const Tensor& t) {
  auto* ctx = new DLContext;
  ctx->storage = t.storage;
  ctx->shape = t.shape;
  ctx->strides = t.strides;
  DLTensor& d = ctx->managed.dl_tensor;
  d.data = t.storage->data;
  d.byte_offset = static_cast<uint64_t>(t.offset) * itemsize(t.dtype);
  d.device = {t.device().type == DeviceType::CPU ? kDLCPU : kDLCUDA,
              t.device().type == DeviceType::CPU ? 0 : std::max(0, t.device().index)};
  d.ndim = static_cast<int32_t>(t.dim());
  switch (t.dtype) {
    case DType::Float32: d.dtype = {kDLFloat, 32, 1}; break;
    case DType::Float64: d.dtype = {kDLFloat, 64, 1}; break;
    case DType::Int64: d.dtype = {kDLInt, 64, 1}; break;
    case DType::Bool: d.dtype = {kDLBool, 8, 1}; break;
  }
  d.shape = ctx->shape.data();
  d.strides = ctx->strides.data();
  ctx->managed.manager_ctx = ctx;
  ctx->managed.deleter = dl_deleter;
  PyObject* cap = PyCapsule_New(&ctx->managed, "dltensor", capsule_destructor);
  if (!cap) {
    delete ctx;
    throw py::error_already_set();
  }
  return py::reinterpret_steal<py::capsule>(cap);
}

Tensor from_dlpack(py::capsule cap) {
  PYDL_CHECK(PyCapsule_IsValid(cap.ptr(), "dltensor"), ValueError,
             "from_dlpack: expected an unconsumed DLPack capsule named 'dltensor'");
  auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(cap.ptr(), "dltensor"));
  const DLTensor& d = m->dl_tensor;
  PYDL_CHECK(d.device.device_type == kDLCPU, RuntimeError,
             "from_dlpack: only cpu tensors can be imported by this build (device type ",
             d.device.device_type, ")");
  PYDL_CHECK(d.dtype.lanes == 1, TypeError, "from_dlpack: vector dtypes are not supported");
  DType dt;
  if (d.dtype.code == kDLFloat && d.dtype.bits == 32) dt = DType::Float32;
  else if (d.dtype.code == kDLFloat && d.dtype.bits == 64) dt = DType::Float64;
  else if (d.dtype.code == kDLInt && d.dtype.bits == 64) dt = DType::Int64;
  else if (d.dtype.code == kDLBool && d.dtype.bits == 8) dt = DType::Bool;
  else
    throw TypeError(str("from_dlpack: unsupported dtype (code ", int(d.dtype.code), ", ",
                        int(d.dtype.bits), " bits); pydl has float32, float64, int64 and bool"));
  PYDL_CHECK(d.ndim >= 0, ValueError, "from_dlpack: negative ndim");
  Tensor t;
  t.dtype = dt;
  t.shape.assign(d.shape, d.shape + d.ndim);
  if (d.strides) t.strides.assign(d.strides, d.strides + d.ndim);
  else t.strides = contiguous_strides(t.shape);
  int64_t extent = 0;
  bool empty_t = false;
  for (int32_t i = 0; i < d.ndim; ++i) {
    PYDL_CHECK(t.strides[i] >= 0 || t.shape[i] <= 1, ValueError,
               "from_dlpack: negative strides are not supported");
    if (t.shape[i] <= 1) t.strides[i] = std::max<int64_t>(t.strides[i], 0);
    if (t.shape[i] == 0) empty_t = true;
    extent += (t.shape[i] - 1) * t.strides[i];
  }
  auto st = std::make_shared<Storage>();
  st->data = static_cast<char*>(d.data) + d.byte_offset;
  st->nbytes = empty_t ? 0 : static_cast<size_t>(extent + 1) * itemsize(dt);
  st->deleter = [m](void*) {
    if (m->deleter) m->deleter(m);
  };
  t.storage = st;
  // The capsule is now consumed: its destructor must not free the tensor.
  PyCapsule_SetName(cap.ptr(), "used_dltensor");
  return t;
}

}  // namespace pydl
