// Local response norm op layer: checks, [N, C, inner] layout, threading
// (kernels in cpu/lrn.cpp).
//
// x[N, C, d2, ...] (3-D or more, as torch) is N blocks [C, inner] with inner
// the product of the trailing dims. Work items are (block, column chunk)
// pairs, so both many small images and one large image split over threads.
#include <omp.h>

#include <algorithm>

#include "core/iter.h"
#include "core/ops.h"
#include "core/variant_switch.h"

namespace pydl {

namespace {
RefFastSwitch g_lrn_variant("lrn");  // pydl.kernels.variants("lrn")
}  // namespace
namespace {

// Columns per work item: the window rows of a chunk stay in L1/L2.
constexpr int64_t kLrnCols = 512;

void check_lrn_args(const Tensor& x, int64_t size, const char* op) {
  check_cpu(x, op);
  PYDL_CHECK(x.dim() >= 3, ValueError, "Expected 3D or higher dimensionality input (got ", x.dim(),
             " dimensions)");
  PYDL_CHECK(is_floating(x.dtype), RuntimeError, op, ": expected a floating point input, got ",
             dtype_name(x.dtype));
  PYDL_CHECK(size >= 1, RuntimeError, op, ": size must be a positive integer, got ", size);
}

struct LrnLayout {
  int64_t N, C, inner;
};

LrnLayout layout_of(const Tensor& x) {
  LrnLayout L{x.shape[0], x.shape[1], 1};
  for (int64_t d = 2; d < x.dim(); ++d) L.inner *= x.shape[d];
  return L;
}

template <class F>
void for_each_item(const LrnLayout& L, int64_t numel, F&& f) {
  const int64_t per = (L.inner + kLrnCols - 1) / kLrnCols;
  const bool parallel = numel >= kParallelGrain && omp_get_max_threads() > 1;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t t = 0; t < L.N * per; ++t) {
    const int64_t nb = t / per, j0 = (t % per) * kLrnCols;
    f(nb, j0, std::min(L.inner, j0 + kLrnCols));
  }
}

}  // namespace

std::vector<Tensor> local_response_norm(const Tensor& x_in, int64_t size, double alpha, double beta, double k,
                                        bool reference) {
  reference = g_lrn_variant.reference(reference);
  check_lrn_args(x_in, size, "local_response_norm");
  Tensor x = contiguous(x_in);
  Tensor y = empty(x.shape, x.dtype), den = empty(x.shape, x.dtype);
  if (x.numel() == 0) return {y, den};
  const LrnLayout L = layout_of(x);
  const cpu::LrnParams p{size, alpha, beta, k};
  const int64_t blk = L.C * L.inner;
  dispatch_dtype(x.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    if constexpr (std::is_floating_point_v<T>) {
      const auto& kt = cpu::typed<T>();
      const T* px = x.data<T>();
      T* py = y.data<T>();
      T* pd = den.data<T>();
      if (reference) {
        for (int64_t nb = 0; nb < L.N; ++nb)
          kt.lrn_fwd_reference(px + nb * blk, py + nb * blk, pd + nb * blk, L.C, L.inner, p);
        return;
      }
      for_each_item(L, x.numel(), [&](int64_t nb, int64_t j0, int64_t j1) {
        kt.lrn_fwd(px + nb * blk, py + nb * blk, pd + nb * blk, L.C, L.inner, j0, j1, p);
      });
    }
  });
  return {y, den};
}

Tensor local_response_norm_backward(const Tensor& g_in, const Tensor& x_in, const Tensor& y_in,
                                    const Tensor& den_in, int64_t size, double alpha, double beta, double k,
                                    bool reference) {
  reference = g_lrn_variant.reference(reference);
  check_lrn_args(x_in, size, "local_response_norm_backward");
  for (const Tensor* t : {&g_in, &y_in, &den_in}) {
    check_cpu(*t, "local_response_norm_backward");
    PYDL_CHECK(t->shape == x_in.shape && t->dtype == x_in.dtype, RuntimeError,
               "local_response_norm_backward: expected tensors of shape ", shape_str(x_in.shape), " and dtype ",
               dtype_name(x_in.dtype), ", got ", shape_str(t->shape), " ", dtype_name(t->dtype));
  }
  Tensor g = contiguous(g_in), x = contiguous(x_in), y = contiguous(y_in), den = contiguous(den_in);
  Tensor dx = empty(x.shape, x.dtype);
  if (x.numel() == 0) return dx;
  const LrnLayout L = layout_of(x);
  const cpu::LrnParams p{size, alpha, beta, k};
  const int64_t blk = L.C * L.inner;
  dispatch_dtype(x.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    if constexpr (std::is_floating_point_v<T>) {
      const auto& kt = cpu::typed<T>();
      const T *pg = g.data<T>(), *px = x.data<T>(), *py = y.data<T>(), *pd = den.data<T>();
      T* po = dx.data<T>();
      if (reference) {
        for (int64_t nb = 0; nb < L.N; ++nb)
          kt.lrn_bwd_reference(pg + nb * blk, px + nb * blk, py + nb * blk, pd + nb * blk, po + nb * blk, L.C,
                               L.inner, p);
        return;
      }
      for_each_item(L, x.numel(), [&](int64_t nb, int64_t j0, int64_t j1) {
        kt.lrn_bwd(pg + nb * blk, px + nb * blk, py + nb * blk, pd + nb * blk, po + nb * blk, L.C, L.inner, j0,
                   j1, p);
      });
    }
  });
  return dx;
}

std::vector<std::string> lrn_variants(DType) { return g_lrn_variant.names(); }
void set_lrn_variant(const std::string& name) { g_lrn_variant.set(name); }
std::string lrn_variant() { return g_lrn_variant.current(); }

}  // namespace pydl
