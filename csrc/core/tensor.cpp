// Tensor core: storage, shape helpers, views and copies.
#include "core/tensor.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "core/iter.h"

namespace pydl {

// ---------------------------------------------------------------------------
// Storage
// ---------------------------------------------------------------------------
std::shared_ptr<Storage> allocate_cpu(size_t nbytes) {
  auto s = std::make_shared<Storage>();
  // 64-byte alignment: a cache line, and one AVX-512 register.
  size_t rounded = ((nbytes + 63) / 64) * 64;
  if (rounded == 0) rounded = 64;
  void* p = std::aligned_alloc(64, rounded);
  if (!p) throw std::runtime_error(str("out of memory: failed to allocate ", nbytes, " bytes"));
  s->data = p;
  s->nbytes = nbytes;
  s->deleter = [](void* q) { std::free(q); };
  return s;
}

// ---------------------------------------------------------------------------
// Shape helpers
// ---------------------------------------------------------------------------
int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t s : shape) {
    PYDL_CHECK(s >= 0, RuntimeError, "negative dimension ", s, " in shape ", shape_str(shape));
    if (s != 0 && n > INT64_MAX / s)
      throw std::overflow_error(str("shape ", shape_str(shape), " has too many elements"));
    n *= s;
  }
  return n;
}

std::string shape_str(const Shape& shape) {
  std::string r = "[";
  for (size_t i = 0; i < shape.size(); ++i) r += (i ? ", " : "") + std::to_string(shape[i]);
  return r + "]";
}

Shape contiguous_strides(const Shape& shape) {
  Shape st(shape.size());
  int64_t s = 1;
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    st[d] = s;
    s *= std::max<int64_t>(shape[d], 1);
  }
  return st;
}

int64_t wrap_dim(int64_t d, int64_t ndim) {
  int64_t n = std::max<int64_t>(ndim, 1);  // a 0-d tensor accepts dims -1 and 0
  PYDL_CHECK(d >= -n && d < n, IndexError, "Dimension out of range (expected to be in range of [",
             -n, ", ", n - 1, "], but got ", d, ")");
  return d < 0 ? d + n : d;
}

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    // Align from the right.
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    PYDL_CHECK(da == db || da == 1 || db == 1, RuntimeError, "The size of tensor a (", da,
               ") must match the size of tensor b (", db, ") at non-singleton dimension ", i);
    out[i] = da == 1 ? db : da;
  }
  return out;
}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int64_t d = dim() - 1; d >= 0; --d) {
    if (shape[d] == 0) return true;
    if (shape[d] != 1 && strides[d] != expected) return false;
    expected *= shape[d];
  }
  return true;
}

int64_t Tensor::size(int64_t d) const { return shape[wrap_dim(d, dim())]; }

void check_cpu(const Tensor& t, const char* op) {
  PYDL_CHECK(t.device().type == DeviceType::CPU, RuntimeError, op,
             ": expected a tensor on cpu, but got one on ", t.device().str());
}

void check_writable(const Tensor& t, const char* op) {
  // An expanded view (stride 0) would receive several results per element.
  for (int64_t d = 0; d < t.dim(); ++d)
    PYDL_CHECK(t.strides[d] != 0 || t.shape[d] <= 1, RuntimeError, op,
               ": unsupported operation: more than one element of the written-to tensor refers to a single"
               " memory location. Please clone() the tensor before performing the operation.");
}

void check_same_device(const Tensor& a, const Tensor& b, const char* op) {
  PYDL_CHECK(a.device() == b.device(), RuntimeError,
             "Expected all tensors to be on the same device, but found at least two devices, ",
             a.device().str(), " and ", b.device().str(), "! (when checking arguments for ", op, ")");
}

// ---------------------------------------------------------------------------
// Creation of uninitialised / constant tensors
// ---------------------------------------------------------------------------
Tensor empty(const Shape& shape, DType dtype, Device device) {
  PYDL_CHECK(device.type == DeviceType::CPU, RuntimeError,
             "cannot allocate on ", device.str(), ": this build of the tensor core allocates on cpu only"
             " (see pydl.cuda.status())");
  int64_t n = shape_numel(shape);
  if (static_cast<uint64_t>(n) > (UINT64_MAX / 16))
    throw std::overflow_error("tensor too large");
  Tensor t;
  t.storage = allocate_cpu(static_cast<size_t>(n) * itemsize(dtype));
  t.shape = shape;
  t.strides = contiguous_strides(shape);
  t.dtype = dtype;
  return t;
}

// ---------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------
Tensor as_strided(const Tensor& t, const Shape& shape, const Shape& strides, int64_t offset) {
  PYDL_CHECK(shape.size() == strides.size(), RuntimeError, "mismatch in length of strides and shape");
  PYDL_CHECK(offset >= 0, RuntimeError, "as_strided: negative storage offset ", offset);
  int64_t n = shape_numel(shape);
  if (n > 0) {  // the view must stay inside the storage
    int64_t hi = offset;
    for (size_t d = 0; d < shape.size(); ++d) {
      PYDL_CHECK(strides[d] >= 0, RuntimeError, "as_strided: negative strides are not supported");
      hi += (shape[d] - 1) * strides[d];
    }
    PYDL_CHECK(static_cast<size_t>(hi + 1) * itemsize(t.dtype) <= t.storage->nbytes, RuntimeError,
               "setStorage: sizes ", shape_str(shape), ", strides ", shape_str(strides),
               " and storage offset ", offset, " require more than the storage holds (",
               t.storage->nbytes, " bytes)");
  }
  Tensor r = t;
  r.shape = shape;
  r.strides = strides;
  r.offset = offset;
  return r;
}

// Fills in a single -1 and checks the element count.
static Shape infer_size(Shape shape, int64_t numel) {
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      PYDL_CHECK(infer < 0, RuntimeError, "only one dimension can be inferred");
      infer = static_cast<int64_t>(i);
    } else {
      PYDL_CHECK(shape[i] >= 0, RuntimeError, "invalid shape dimension ", shape[i]);
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    PYDL_CHECK(known != 0 && numel % known == 0, RuntimeError, "shape '", shape_str(shape),
               "' is invalid for input of size ", numel);
    shape[infer] = numel / known;
  } else {
    PYDL_CHECK(known == numel, RuntimeError, "shape '", shape_str(shape),
               "' is invalid for input of size ", numel);
  }
  return shape;
}

// Strides that let `t` be seen with `shape` without a copy, or false. Same
// algorithm as PyTorch's computeStride: chunks of dims that are contiguous
// among themselves can be re-split freely.
static bool view_strides(const Tensor& t, const Shape& shape, Shape& out) {
  out.assign(shape.size(), 0);
  if (t.numel() == 0 || t.dim() == 0) {  // nothing to preserve: any layout is a view
    out = contiguous_strides(shape);
    return true;
  }
  int64_t view_d = static_cast<int64_t>(shape.size()) - 1;
  int64_t chunk_base_stride = t.strides.empty() ? 1 : t.strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t td = t.dim() - 1; td >= 0; --td) {
    tensor_numel *= t.shape[td];
    if (td == 0 || (t.shape[td - 1] != 1 && t.strides[td - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return false;
      if (td > 0) {
        chunk_base_stride = t.strides[td - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return false;
  return true;
}

Tensor view(const Tensor& t, Shape shape) {
  shape = infer_size(shape, t.numel());
  Shape st;
  PYDL_CHECK(view_strides(t, shape, st), RuntimeError,
             "view size is not compatible with input tensor's size and stride (at least one dimension"
             " spans across two contiguous subspaces). Use .reshape(...) instead.");
  Tensor r = t;
  r.shape = shape;
  r.strides = st;
  return r;
}

Tensor reshape(const Tensor& t, Shape shape) {
  shape = infer_size(shape, t.numel());
  Shape st;
  if (view_strides(t, shape, st)) {
    Tensor r = t;
    r.shape = shape;
    r.strides = st;
    return r;
  }
  Tensor c = contiguous(t);
  c.shape = shape;
  c.strides = contiguous_strides(shape);
  return c;
}

Tensor permute(const Tensor& t, Shape dims) {
  PYDL_CHECK(static_cast<int64_t>(dims.size()) == t.dim(), RuntimeError,
             "permute(sparse_coo): number of dimensions in the tensor input does not match the length"
             " of the desired ordering of dimensions i.e. input.dim() = ", t.dim(),
             " is not equal to len(dims) = ", dims.size());
  Tensor r = t;
  std::vector<bool> seen(dims.size(), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    int64_t d = wrap_dim(dims[i], t.dim());
    PYDL_CHECK(!seen[d], RuntimeError, "permute(): duplicate dims are not allowed.");
    seen[d] = true;
    r.shape[i] = t.shape[d];
    r.strides[i] = t.strides[d];
  }
  return r;
}

Tensor transpose(const Tensor& t, int64_t d0, int64_t d1) {
  Tensor r = t;
  if (t.dim() == 0) {
    wrap_dim(d0, 0);
    wrap_dim(d1, 0);
    return r;
  }
  d0 = wrap_dim(d0, t.dim());
  d1 = wrap_dim(d1, t.dim());
  std::swap(r.shape[d0], r.shape[d1]);
  std::swap(r.strides[d0], r.strides[d1]);
  return r;
}

Tensor expand(const Tensor& t, const Shape& shape) {
  PYDL_CHECK(static_cast<int64_t>(shape.size()) >= t.dim(), RuntimeError,
             "expand(", shape_str(t.shape), ", size=", shape_str(shape),
             "): the number of sizes provided (", shape.size(),
             ") must be greater or equal to the number of dimensions in the tensor (", t.dim(), ")");
  Tensor r = t;
  const int64_t lead = static_cast<int64_t>(shape.size()) - t.dim();
  r.shape.assign(shape.size(), 0);
  r.strides.assign(shape.size(), 0);
  for (int64_t i = 0; i < static_cast<int64_t>(shape.size()); ++i) {
    int64_t want = shape[i];
    if (i < lead) {
      PYDL_CHECK(want >= 0, RuntimeError, "expand: the expanded size of the tensor (", want,
                 ") isn't allowed in a leading, non-existing dimension ", i);
      r.shape[i] = want;
      r.strides[i] = 0;
      continue;
    }
    int64_t have = t.shape[i - lead];
    if (want == -1) want = have;
    PYDL_CHECK(have == want || have == 1, RuntimeError, "The expanded size of the tensor (", want,
               ") must match the existing size (", have, ") at non-singleton dimension ", i,
               ".  Target sizes: ", shape_str(shape), ".  Tensor sizes: ", shape_str(t.shape));
    PYDL_CHECK(want >= 0, RuntimeError, "expand: invalid size ", want);
    r.shape[i] = want;
    r.strides[i] = have == want ? t.strides[i - lead] : 0;
  }
  return r;
}

Tensor squeeze(const Tensor& t, const Shape& dims) {
  std::vector<bool> drop(t.dim(), false);
  if (dims.empty()) {
    for (int64_t d = 0; d < t.dim(); ++d) drop[d] = t.shape[d] == 1;
  } else {
    for (int64_t d : dims) {
      int64_t w = wrap_dim(d, t.dim());
      if (t.dim() > 0 && t.shape[w] == 1) drop[w] = true;
    }
  }
  Tensor r = t;
  r.shape.clear();
  r.strides.clear();
  for (int64_t d = 0; d < t.dim(); ++d) {
    if (drop[d]) continue;
    r.shape.push_back(t.shape[d]);
    r.strides.push_back(t.strides[d]);
  }
  return r;
}

Tensor unsqueeze(const Tensor& t, int64_t d) {
  d = wrap_dim(d, t.dim() + 1);
  Tensor r = t;
  int64_t st = d < t.dim() ? t.shape[d] * t.strides[d] : 1;
  r.shape.insert(r.shape.begin() + d, 1);
  r.strides.insert(r.strides.begin() + d, st);
  return r;
}

Tensor slice(const Tensor& t, int64_t d, int64_t start, int64_t stop, int64_t step) {
  PYDL_CHECK(t.dim() > 0, IndexError, "slice() cannot be applied to a 0-dim tensor.");
  d = wrap_dim(d, t.dim());
  PYDL_CHECK(step > 0, ValueError, "step must be greater than zero");
  const int64_t n = t.shape[d];
  // Python slice semantics: clamp to [0, n].
  if (start < 0) start += n;
  if (stop < 0) stop += n;
  start = std::min(std::max<int64_t>(start, 0), n);
  stop = std::min(std::max<int64_t>(stop, start), n);
  Tensor r = t;
  r.offset = t.offset + (start < n ? start * t.strides[d] : 0);
  r.shape[d] = (stop - start + step - 1) / step;
  r.strides[d] = t.strides[d] * step;
  return r;
}

Tensor select(const Tensor& t, int64_t d, int64_t index) {
  PYDL_CHECK(t.dim() > 0, IndexError, "select() cannot be applied to a 0-dim tensor.");
  d = wrap_dim(d, t.dim());
  const int64_t n = t.shape[d];
  PYDL_CHECK(index >= -n && index < n, IndexError, "index ", index,
             " is out of bounds for dimension ", d, " with size ", n);
  if (index < 0) index += n;
  Tensor r = t;
  r.offset = t.offset + index * t.strides[d];
  r.shape.erase(r.shape.begin() + d);
  r.strides.erase(r.strides.begin() + d);
  return r;
}

Tensor diagonal(const Tensor& t, int64_t off, int64_t d0, int64_t d1) {
  PYDL_CHECK(t.dim() >= 2, RuntimeError, "diagonal expects a tensor with at least 2 dimensions");
  d0 = wrap_dim(d0, t.dim());
  d1 = wrap_dim(d1, t.dim());
  PYDL_CHECK(d0 != d1, RuntimeError, "diagonal dimensions cannot be identical ", d0, ", ", d1);
  int64_t len;
  Tensor r = t;
  if (off >= 0) {
    len = std::max<int64_t>(std::min(t.shape[d0], t.shape[d1] - off), 0);
    if (len > 0) r.offset += off * t.strides[d1];
  } else {
    len = std::max<int64_t>(std::min(t.shape[d0] + off, t.shape[d1]), 0);
    if (len > 0) r.offset -= off * t.strides[d0];
  }
  r.shape.clear();
  r.strides.clear();
  for (int64_t d = 0; d < t.dim(); ++d) {
    if (d == d0 || d == d1) continue;
    r.shape.push_back(t.shape[d]);
    r.strides.push_back(t.strides[d]);
  }
  r.shape.push_back(len);
  r.strides.push_back(t.strides[d0] + t.strides[d1]);
  return r;
}

// ---------------------------------------------------------------------------
// Copies
// ---------------------------------------------------------------------------
template <class D, class S>
static void copy_typed(const Tensor& dst, const Tensor& src) {
  auto L = make_loop<2>(dst.shape, {dst.strides, broadcast_strides(src, dst.shape)});
  D* pd = dst.data<D>();
  const S* ps = src.data<S>();
  const int64_t sd = L.inner_stride(0), ss = L.inner_stride(1);
  for_each_run(L, [&](const int64_t* off, int64_t n) {
    D* o = pd + off[0];
    const S* i = ps + off[1];
    if (sd == 1 && ss == 1) {
      for (int64_t j = 0; j < n; ++j) o[j] = static_cast<D>(i[j]);
    } else {
      for (int64_t j = 0; j < n; ++j) o[j * sd] = static_cast<D>(i[j * ss]);
    }
  });
}

void copy_(Tensor& dst, const Tensor& src) {
  check_same_device(dst, src, "copy_");
  check_cpu(dst, "copy_");
  check_writable(dst, "copy_");
  broadcast_shapes(dst.shape, src.shape);  // raises on mismatch
  PYDL_CHECK(static_cast<int64_t>(src.dim()) <= dst.dim(), RuntimeError, "output with shape ",
             shape_str(dst.shape), " doesn't match the broadcast shape ",
             shape_str(broadcast_shapes(dst.shape, src.shape)));
  PYDL_CHECK(broadcast_shapes(dst.shape, src.shape) == dst.shape, RuntimeError, "output with shape ",
             shape_str(dst.shape), " doesn't match the broadcast shape ",
             shape_str(broadcast_shapes(dst.shape, src.shape)));
  // Overlapping source and destination (e.g. x.copy_(x.flip())) would read
  // already-written values: copy the source first.
  Tensor s = src;
  if (src.storage == dst.storage && !(src.offset == dst.offset && src.strides == dst.strides))
    s = clone(src);
  dispatch_dtype(dst.dtype, [&](auto* dp) {
    using D = std::remove_pointer_t<decltype(dp)>;
    dispatch_dtype(s.dtype, [&](auto* sp) {
      using S = std::remove_pointer_t<decltype(sp)>;
      copy_typed<D, S>(dst, s);
    });
  });
}

Tensor contiguous(const Tensor& t) {
  if (t.is_contiguous()) return t;
  return clone(t);
}

Tensor clone(const Tensor& t) {
  check_cpu(t, "clone");
  Tensor r = empty(t.shape, t.dtype);
  copy_(r, t);
  return r;
}

Tensor to_dtype(const Tensor& t, DType dtype) {
  Tensor r = empty(t.shape, dtype);
  copy_(r, t);
  return r;
}

Tensor cat(const std::vector<Tensor>& ts, int64_t d) {
  PYDL_CHECK(!ts.empty(), RuntimeError, "torch.cat(): expected a non-empty list of Tensors");
  // Legacy rule kept by PyTorch: 1-D empty tensors are skipped.
  const Tensor* ref = nullptr;
  for (const Tensor& t : ts)
    if (!(t.dim() == 1 && t.shape[0] == 0)) { ref = &t; break; }
  if (!ref) return empty({0}, ts[0].dtype);
  PYDL_CHECK(ref->dim() > 0, RuntimeError, "zero-dimensional tensor cannot be concatenated");
  d = wrap_dim(d, ref->dim());
  DType dt = ts[0].dtype;
  Shape out_shape = ref->shape;
  out_shape[d] = 0;
  for (size_t i = 0; i < ts.size(); ++i) {
    const Tensor& t = ts[i];
    dt = promote(dt, t.dtype);
    check_same_device(*ref, t, "cat");
    if (t.dim() == 1 && t.shape[0] == 0) continue;
    PYDL_CHECK(t.dim() == ref->dim(), RuntimeError,
               "Tensors must have same number of dimensions: got ", ref->dim(), " and ", t.dim());
    for (int64_t k = 0; k < t.dim(); ++k)
      PYDL_CHECK(k == d || t.shape[k] == ref->shape[k], RuntimeError,
                 "Sizes of tensors must match except in dimension ", d, ". Expected size ",
                 ref->shape[k], " but got size ", t.shape[k], " for tensor number ", i, " in the list.");
    out_shape[d] += t.shape[d];
  }
  Tensor out = empty(out_shape, dt);
  int64_t pos = 0;
  for (const Tensor& t : ts) {
    if (t.dim() == 1 && t.shape[0] == 0) continue;
    Tensor part = slice(out, d, pos, pos + t.shape[d], 1);
    copy_(part, t);
    pos += t.shape[d];
  }
  return out;
}

static void check_index_tensor(const Tensor& index, const char* op) {
  PYDL_CHECK(index.dtype == DType::Int64, TypeError, op, "(): Expected dtype int64 for index, got ",
             dtype_name(index.dtype));
}

Tensor index_select(const Tensor& t, int64_t d, const Tensor& index) {
  check_index_tensor(index, "index_select");
  PYDL_CHECK(index.dim() <= 1, IndexError, "index_select(): Index is supposed to be a vector");
  d = wrap_dim(d, t.dim());
  const int64_t n = t.dim() == 0 ? 1 : t.shape[d];
  Tensor idx = contiguous(index);
  const int64_t k = idx.numel();
  const int64_t* ip = idx.data<int64_t>();
  for (int64_t i = 0; i < k; ++i)
    PYDL_CHECK(ip[i] >= -n && ip[i] < n, IndexError, "index ", ip[i],
               " is out of bounds for dimension ", d, " with size ", n);
  if (t.dim() == 0) return clone(t);
  Shape out_shape = t.shape;
  out_shape[d] = k;
  Tensor out = empty(out_shape, t.dtype);
  for (int64_t i = 0; i < k; ++i) {
    int64_t j = ip[i] < 0 ? ip[i] + n : ip[i];
    Tensor dst = select(out, d, i);
    copy_(dst, select(t, d, j));
  }
  return out;
}

Tensor index_add(const Shape& shape, int64_t d, const Tensor& index, const Tensor& src) {
  check_index_tensor(index, "index_add");
  Tensor out = full(shape, 0.0, src.dtype);
  if (shape.empty()) {
    if (index.numel() > 0) copy_(out, src.dim() ? select(src, 0, 0) : src);
    return out;
  }
  d = wrap_dim(d, static_cast<int64_t>(shape.size()));
  const int64_t n = shape[d];
  PYDL_CHECK(index.dim() <= 1, IndexError, "index_add_(): Index is supposed to be a vector");
  PYDL_CHECK(src.dim() == static_cast<int64_t>(shape.size()), RuntimeError,
             "index_add_(): source ", shape_str(src.shape), " and self ", shape_str(shape),
             " must have the same number of dimensions");
  for (int64_t k = 0; k < src.dim(); ++k)
    PYDL_CHECK(k == d ? src.shape[k] == index.numel() : src.shape[k] == shape[k], RuntimeError,
               "index_add_(): source ", shape_str(src.shape), " does not match self ", shape_str(shape),
               " with ", index.numel(), " indices along dim ", d);
  Tensor idx = contiguous(index);
  const int64_t* ip = idx.data<int64_t>();
  Tensor s = contiguous(src);
  dispatch_dtype(src.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    for (int64_t i = 0; i < idx.numel(); ++i) {
      int64_t j = ip[i] < 0 ? ip[i] + n : ip[i];
      PYDL_CHECK(j >= 0 && j < n, IndexError, "index ", ip[i], " is out of bounds for dimension ", d,
                 " with size ", n);
      Tensor dst = select(out, d, j);
      Tensor from = contiguous(select(s, d, i));
      // dst is a strided view; accumulate element by element in order.
      auto L = make_loop<2>(dst.shape, {dst.strides, from.strides});
      T* pd = dst.data<T>();
      const T* ps = from.data<T>();
      for (int64_t r = 0; r < L.rows; ++r) {
        int64_t off[2];
        L.row_offsets(r, off);
        for (int64_t q = 0; q < L.inner; ++q)
          pd[off[0] + q * L.inner_stride(0)] += ps[off[1] + q * L.inner_stride(1)];
      }
    }
  });
  return out;
}

// gather / scatter_add: element e of the index tensor (contiguous strides
// cs) addresses, in a tensor with `strides`, the position with e's own
// coordinates except along dim d, where it takes the index value j.
static int64_t indexed_offset(int64_t e, const Shape& cs, int64_t d, int64_t j, int64_t n,
                              const Shape& strides) {
  PYDL_CHECK(j >= -n && j < n, RuntimeError, "index ", j, " is out of bounds for dimension ", d,
             " with size ", n);
  int64_t off = 0;
  for (size_t k = 0; k < cs.size(); ++k) {
    int64_t i = e / cs[k];
    e %= cs[k];
    if (static_cast<int64_t>(k) == d) i = j < 0 ? j + n : j;
    off += i * strides[k];
  }
  return off;
}

Tensor gather(const Tensor& t, int64_t d, const Tensor& index) {
  check_index_tensor(index, "gather");
  d = wrap_dim(d, t.dim());
  PYDL_CHECK(index.dim() == t.dim(), RuntimeError,
             "Index tensor must have the same number of dimensions as input tensor");
  for (int64_t k = 0; k < index.dim(); ++k)
    PYDL_CHECK(k == d || index.shape[k] <= t.shape[k], RuntimeError, "Size does not match at dimension ",
               k, " expected index ", shape_str(index.shape), " to be smaller than self ",
               shape_str(t.shape), " apart from dimension ", d);
  Tensor idx = contiguous(index);
  Tensor out = empty(index.shape, t.dtype);
  const int64_t n = t.dim() ? t.shape[d] : 1;
  const int64_t* ip = idx.data<int64_t>();
  const int64_t total = idx.numel();
  Shape cs = contiguous_strides(index.shape);
  dispatch_dtype(t.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    const T* src = t.data<T>();
    T* o = out.data<T>();
    for (int64_t e = 0; e < total; ++e) o[e] = src[indexed_offset(e, cs, d, ip[e], n, t.strides)];
  });
  return out;
}

Tensor scatter_add(const Shape& shape, int64_t d, const Tensor& index, const Tensor& src) {
  check_index_tensor(index, "scatter_add");
  Tensor out = full(shape, 0.0, src.dtype);
  const int64_t nd = static_cast<int64_t>(shape.size());
  d = wrap_dim(d, nd);
  Tensor idx = contiguous(index);
  Tensor s = contiguous(src);
  PYDL_CHECK(idx.shape == s.shape, RuntimeError, "scatter_add: index ", shape_str(idx.shape),
             " and src ", shape_str(s.shape), " must have the same shape");
  PYDL_CHECK(idx.dim() == nd, RuntimeError,
             "Index tensor must have the same number of dimensions as self tensor");
  for (int64_t k = 0; k < idx.dim() && nd > 0; ++k)
    PYDL_CHECK(k == d || idx.shape[k] <= shape[k], RuntimeError, "Size does not match at dimension ", k,
               " expected index ", shape_str(idx.shape), " to be smaller than self ", shape_str(shape),
               " apart from dimension ", d);
  const int64_t n = nd ? shape[d] : 1;
  const int64_t* ip = idx.data<int64_t>();
  Shape cs = contiguous_strides(idx.shape);
  dispatch_dtype(src.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    T* o = out.data<T>();
    const T* sp = s.data<T>();
    for (int64_t e = 0; e < idx.numel(); ++e) {
      const int64_t off = indexed_offset(e, cs, d, ip[e], n, out.strides);
      if constexpr (std::is_same_v<T, bool>) o[off] = o[off] || sp[e];
      else o[off] += sp[e];
    }
  });
  return out;
}

double item(const Tensor& t) {
  PYDL_CHECK(t.numel() == 1, RuntimeError, "a Tensor with ", t.numel(),
             " elements cannot be converted to Scalar");
  check_cpu(t, "item");
  return dispatch_dtype(t.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    return static_cast<double>(*t.data<T>());
  });
}

}  // namespace pydl
