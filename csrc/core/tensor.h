// The tensor core: reference-counted storage plus a strided view of it.
//
//   Storage  owns (or borrows, for numpy / DLPack interop) one block of memory
//            on one device; CPU blocks are 64-byte aligned so SIMD loads of a
//            fresh tensor are aligned.
//   Tensor   shape, strides (in elements), offset (in elements), dtype.
//            Views (reshape, permute, slicing, expand) share the Storage.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"

namespace pydl {

using Shape = std::vector<int64_t>;

struct Storage {
  void* data = nullptr;
  size_t nbytes = 0;
  Device device;
  std::function<void(void*)> deleter;  // empty: memory is not ours to free
  Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage() {
    if (deleter) deleter(data);
  }
};

std::shared_ptr<Storage> allocate_cpu(size_t nbytes);

class Tensor {
 public:
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;
  int64_t offset = 0;
  DType dtype = DType::Float32;

  int64_t dim() const { return static_cast<int64_t>(shape.size()); }
  int64_t numel() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * itemsize(dtype); }
  const Device& device() const { return storage->device; }
  bool is_contiguous() const;
  // Address of element 0 of this view.
  void* raw() const { return static_cast<char*>(storage->data) + offset * static_cast<int64_t>(itemsize(dtype)); }
  template <class T> T* data() const { return static_cast<T*>(raw()); }
  // Size of dim d, which may be negative (counted from the end).
  int64_t size(int64_t d) const;
};

// Shape helpers ------------------------------------------------------------
Shape contiguous_strides(const Shape& shape);
int64_t shape_numel(const Shape& shape);  // throws on overflow / negative sizes
std::string shape_str(const Shape& shape);  // "[2, 3]"
// Wraps a possibly negative dim, raising IndexError like PyTorch when out of range.
int64_t wrap_dim(int64_t d, int64_t ndim);
// Broadcast two shapes with PyTorch's rules (RuntimeError naming the sizes).
Shape broadcast_shapes(const Shape& a, const Shape& b);

// Creation -------------------------------------------------------------------
Tensor empty(const Shape& shape, DType dtype, Device device = {});
Tensor full(const Shape& shape, double value, DType dtype, Device device = {});
Tensor scalar_tensor(double value, DType dtype);
Tensor full_i64(const Shape& shape, int64_t value);
Tensor arange_i64(int64_t start, int64_t end, int64_t step);
Tensor arange(double start, double end, double step, DType dtype);
Tensor linspace(double start, double end, int64_t steps, DType dtype);

// Random numbers: one global generator, seeded by manual_seed. Sequential
// (mt19937_64), so a seed gives the same numbers whatever the thread count.
void manual_seed(uint64_t seed);
uint64_t initial_seed();
std::vector<uint8_t> get_rng_state();
void set_rng_state(const std::vector<uint8_t>& state);
Tensor rand(const Shape& shape, DType dtype);
Tensor randn(const Shape& shape, DType dtype);
Tensor randint(int64_t low, int64_t high, const Shape& shape, DType dtype);
Tensor bernoulli(const Tensor& p);
Tensor randperm(int64_t n);
void uniform_(Tensor& t, double low, double high);
void normal_(Tensor& t, double mean, double std);

// Views: share storage -------------------------------------------------------
Tensor as_strided(const Tensor& t, const Shape& shape, const Shape& strides, int64_t offset);
Tensor view(const Tensor& t, Shape shape);      // RuntimeError if not expressible as a view
Tensor reshape(const Tensor& t, Shape shape);   // a view when possible, else a copy
Tensor permute(const Tensor& t, Shape dims);
Tensor transpose(const Tensor& t, int64_t d0, int64_t d1);
Tensor expand(const Tensor& t, const Shape& shape);
Tensor squeeze(const Tensor& t, const Shape& dims);  // empty dims: all size-1 dims
Tensor unsqueeze(const Tensor& t, int64_t d);
Tensor slice(const Tensor& t, int64_t d, int64_t start, int64_t stop, int64_t step);
Tensor select(const Tensor& t, int64_t d, int64_t index);
Tensor diagonal(const Tensor& t, int64_t offset, int64_t d0, int64_t d1);

// Copies -----------------------------------------------------------------------
Tensor contiguous(const Tensor& t);
Tensor clone(const Tensor& t);
Tensor to_dtype(const Tensor& t, DType dtype);  // always a new tensor
void copy_(Tensor& dst, const Tensor& src);      // src broadcast to dst, dtype cast
Tensor cat(const std::vector<Tensor>& ts, int64_t d);
Tensor index_select(const Tensor& t, int64_t d, const Tensor& index);
// out = zeros(shape); out.index_add_(d, index, src)
Tensor index_add(const Shape& shape, int64_t d, const Tensor& index, const Tensor& src);
Tensor gather(const Tensor& t, int64_t d, const Tensor& index);
Tensor scatter_add(const Shape& shape, int64_t d, const Tensor& index, const Tensor& src);
Tensor masked_fill(const Tensor& t, const Tensor& mask, double value);

// Scalar access
double item(const Tensor& t);

// Checks shared by the ops
void check_cpu(const Tensor& t, const char* op);
void check_same_device(const Tensor& a, const Tensor& b, const char* op);
void check_writable(const Tensor& t, const char* op);  // no stride-0 (expanded) dims

}  // namespace pydl
