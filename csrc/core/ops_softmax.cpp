// Softmax / log_softmax op layer: checks, layout, threading (kernels in
// cpu/softmax.cpp).
//
// Any dim without a transpose copy: once contiguous, x is [outer, R, inner]
// with R the softmax dim. inner == 1 is the row kernel (rows split over
// threads); otherwise each [R, inner] block goes to the column kernel (blocks
// split over threads).
#include <omp.h>

#include <algorithm>

#include "core/iter.h"
#include "core/ops.h"

namespace pydl {
namespace {

// Outputs at least this big are written with streaming stores (see
// cpu/softmax.cpp): far beyond what a following op could still find in cache.
constexpr size_t kStreamBytes = size_t(8) << 20;

struct SoftmaxLayout {
  int64_t outer = 1, R = 1, inner = 1;
};

SoftmaxLayout layout_of(const Tensor& x, int64_t dim) {
  SoftmaxLayout L;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d < dim) L.outer *= x.shape[d];
    else if (d == dim) L.R = x.shape[d];
    else L.inner *= x.shape[d];
  }
  return L;
}

void check_softmax_input(const Tensor& x, const char* name) {
  check_cpu(x, name);
  PYDL_CHECK(is_floating(x.dtype), NotImplementedError, "\"", name, "_lastdim_kernel_impl\" not implemented for '",
             x.dtype == DType::Int64 ? "Long" : "Bool", "'");
}

}  // namespace

Tensor softmax(const Tensor& x_in, int64_t dim, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  check_softmax_input(x_in, name);
  dim = wrap_dim(dim, x_in.dim());
  Tensor x = contiguous(x_in);
  Tensor y = empty(x.shape, x.dtype);
  if (x.numel() == 0) return y;
  const SoftmaxLayout L = layout_of(x, dim);
  const bool parallel = x.numel() >= kParallelGrain && omp_get_max_threads() > 1;
  const bool stream = y.nbytes() >= kStreamBytes;
  dispatch_dtype(x.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    if constexpr (std::is_floating_point_v<T>) {
      const auto& k = cpu::typed<T>();
      const T* px = x.data<T>();
      T* py = y.data<T>();
      if (L.inner == 1) {
        const int64_t chunk = std::max<int64_t>(1, L.outer / (parallel ? omp_get_max_threads() * 4 : 1));
#pragma omp parallel for schedule(static) if (parallel)
        for (int64_t r0 = 0; r0 < L.outer; r0 += chunk)
          k.softmax_rows(px + r0 * L.R, py + r0 * L.R, std::min(chunk, L.outer - r0), L.R, log, stream);
      } else {
#pragma omp parallel for schedule(static) if (parallel && L.outer > 1)
        for (int64_t o = 0; o < L.outer; ++o)
          k.softmax_cols(px + o * L.R * L.inner, py + o * L.R * L.inner, L.R, L.inner, log);
      }
    }
  });
  return y;
}

Tensor softmax_reference(const Tensor& x_in, int64_t dim, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  check_softmax_input(x_in, name);
  dim = wrap_dim(dim, x_in.dim());
  const int64_t nd = x_in.dim();
  // The reference kernel works on rows: move dim last (a copy), then back.
  Tensor x = x_in;
  if (nd > 0 && dim != nd - 1) x = transpose(x, dim, nd - 1);
  x = contiguous(x);
  Tensor y = empty(x.shape, x.dtype);
  if (x.numel() > 0) {
    const int64_t R = nd ? x.shape[nd - 1] : 1;
    dispatch_dtype(x.dtype, [&](auto* tp) {
      using T = std::remove_pointer_t<decltype(tp)>;
      if constexpr (std::is_floating_point_v<T>)
        cpu::typed<T>().softmax_rows_reference(x.data<T>(), y.data<T>(), x.numel() / R, R, log);
    });
  }
  if (nd > 0 && dim != nd - 1) y = contiguous(transpose(y, dim, nd - 1));
  return y;
}

Tensor softmax_backward(const Tensor& y_in, const Tensor& dy_in, int64_t dim, bool log) {
  const char* name = log ? "log_softmax_backward" : "softmax_backward";
  check_cpu(y_in, name);
  check_cpu(dy_in, name);
  PYDL_CHECK(y_in.shape == dy_in.shape, RuntimeError, name, ": grad_output shape ",
             shape_str(dy_in.shape), " does not match output shape ", shape_str(y_in.shape));
  PYDL_CHECK(is_floating(y_in.dtype) && y_in.dtype == dy_in.dtype, RuntimeError, name,
             ": expected matching floating dtypes, got ", dtype_name(y_in.dtype), " and ",
             dtype_name(dy_in.dtype));
  dim = wrap_dim(dim, y_in.dim());
  Tensor y = contiguous(y_in), dy = contiguous(dy_in);
  Tensor dx = empty(y.shape, y.dtype);
  if (y.numel() == 0) return dx;
  const SoftmaxLayout L = layout_of(y, dim);
  const bool parallel = y.numel() >= kParallelGrain && omp_get_max_threads() > 1;
  dispatch_dtype(y.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    if constexpr (std::is_floating_point_v<T>) {
      const auto& k = cpu::typed<T>();
      const T* py = y.data<T>();
      const T* pg = dy.data<T>();
      T* pd = dx.data<T>();
      if (L.inner == 1) {
        const int64_t chunk = std::max<int64_t>(1, L.outer / (parallel ? omp_get_max_threads() * 4 : 1));
#pragma omp parallel for schedule(static) if (parallel)
        for (int64_t r0 = 0; r0 < L.outer; r0 += chunk)
          k.softmax_bwd_rows(py + r0 * L.R, pg + r0 * L.R, pd + r0 * L.R, std::min(chunk, L.outer - r0),
                             L.R, log);
      } else {
        const int64_t blk = L.R * L.inner;
#pragma omp parallel for schedule(static) if (parallel && L.outer > 1)
        for (int64_t o = 0; o < L.outer; ++o)
          k.softmax_bwd_cols(py + o * blk, pg + o * blk, pd + o * blk, L.R, L.inner, log);
      }
    }
  });
  return dx;
}

}  // namespace pydl
