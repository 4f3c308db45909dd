// layer_norm / batch_norm op layer: checks, layout, threading, running-stat
// updates (kernels in cpu/normalization.cpp).
#include <omp.h>

#include <algorithm>
#include <cmath>

#include "core/iter.h"
#include "core/ops.h"

namespace pydl {
namespace {

bool defined(const Tensor* t) { return t && t->storage; }

void check_param(const Tensor* p, const Tensor& x, int64_t n, const char* what, const char* op) {
  if (!defined(p)) return;
  check_cpu(*p, op);
  PYDL_CHECK(p->dtype == x.dtype, RuntimeError, op, ": expected ", what, " to have dtype ",
             dtype_name(x.dtype), ", got ", dtype_name(p->dtype));
  PYDL_CHECK(p->numel() == n, RuntimeError, what, " should contain ", n, " elements not ", p->numel());
}

template <class T>
const T* ptr_or_null(const Tensor& t) { return t.storage ? t.data<T>() : nullptr; }

}  // namespace

// ---------------------------------------------------------------------------
// layer_norm
// ---------------------------------------------------------------------------
std::vector<Tensor> layer_norm(const Tensor& x_in, const Shape& normalized_shape, const Tensor* w_in,
                               const Tensor* b_in, double eps, bool reference, bool save_stats) {
  check_cpu(x_in, "layer_norm");
  PYDL_CHECK(is_floating(x_in.dtype), RuntimeError, "layer_norm: expected a floating point input, got ",
             dtype_name(x_in.dtype));
  const int64_t k = static_cast<int64_t>(normalized_shape.size());
  PYDL_CHECK(k >= 1, RuntimeError, "Expected normalized_shape to be at least 1-dimensional, i.e., containing at "
             "least one element, but got normalized_shape = ", shape_str(normalized_shape));
  bool ok = x_in.dim() >= k;
  for (int64_t i = 0; ok && i < k; ++i) ok = x_in.shape[x_in.dim() - k + i] == normalized_shape[i];
  PYDL_CHECK(ok, RuntimeError, "Given normalized_shape=", shape_str(normalized_shape),
             ", expected input with shape [*", [&] {
               std::string s;
               for (int64_t d : normalized_shape) s += ", " + std::to_string(d);
               return s;
             }(), "], but got input of size", shape_str(x_in.shape));
  for (const Tensor* p : {w_in, b_in}) {
    if (!defined(p)) continue;
    PYDL_CHECK(p->shape == normalized_shape, RuntimeError, "Expected ", p == w_in ? "weight" : "bias",
               " to be of same shape as normalized_shape, but got ", p == w_in ? "weight" : "bias",
               " of shape ", shape_str(p->shape), " and normalized_shape = ", shape_str(normalized_shape));
    check_param(p, x_in, shape_numel(normalized_shape), p == w_in ? "weight" : "bias", "layer_norm");
  }
  const int64_t N = shape_numel(normalized_shape);
  const int64_t rows = N ? x_in.numel() / N : 0;
  Tensor x = contiguous(x_in);
  Tensor w = defined(w_in) ? contiguous(*w_in) : Tensor();
  Tensor b = defined(b_in) ? contiguous(*b_in) : Tensor();
  Shape stat_shape(x.shape.begin(), x.shape.end() - k);
  for (int64_t i = 0; i < k; ++i) stat_shape.push_back(1);
  // The small statistics first, then y: y then sits at the top of the heap,
  // and a freed y is reused next call without new page faults.
  Tensor mean = save_stats ? empty(stat_shape, x.dtype) : Tensor();
  Tensor rstd = save_stats ? empty(stat_shape, x.dtype) : Tensor();
  Tensor y = empty(x.shape, x.dtype);
  if (x.numel() == 0) return {y, mean, rstd};
  const bool parallel = x.numel() >= kParallelGrain && omp_get_max_threads() > 1;
  // Outputs this big are written with streaming stores (cpu/normalization.cpp).
  const bool stream = y.nbytes() >= (size_t(8) << 20);
  dispatch_dtype(x.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    if constexpr (std::is_floating_point_v<T>) {
      const auto& kt = cpu::typed<T>();
      auto fn = reference ? kt.layer_norm_rows_reference : kt.layer_norm_rows;
      const T* px = x.data<T>();
      T* py = y.data<T>();
      T* pm = save_stats ? mean.data<T>() : nullptr;
      T* pr = save_stats ? rstd.data<T>() : nullptr;
      const T* pw = ptr_or_null<T>(w);
      const T* pb = ptr_or_null<T>(b);
      const int64_t chunk = std::max<int64_t>(1, rows / (parallel ? omp_get_max_threads() * 4 : 1));
#pragma omp parallel for schedule(static) if (parallel)
      for (int64_t r0 = 0; r0 < rows; r0 += chunk)
        fn(px + r0 * N, pw, pb, py + r0 * N, pm ? pm + r0 : nullptr, pr ? pr + r0 : nullptr,
           std::min(chunk, rows - r0), N, eps, stream);
    }
  });
  return {y, mean, rstd};
}

std::vector<Tensor> layer_norm_backward(const Tensor& dy_in, const Tensor& x_in, const Tensor& mean,
                                        const Tensor& rstd, const Tensor* w_in, bool need_dx,
                                        bool need_dw, bool need_db) {
  check_cpu(dy_in, "layer_norm_backward");
  PYDL_CHECK(dy_in.shape == x_in.shape && dy_in.dtype == x_in.dtype, RuntimeError,
             "layer_norm_backward: grad shape ", shape_str(dy_in.shape), " does not match input ",
             shape_str(x_in.shape));
  Tensor x = contiguous(x_in), dy = contiguous(dy_in);
  Tensor m = contiguous(mean), rs = contiguous(rstd);
  const int64_t rows = m.numel();
  const int64_t N = rows ? x.numel() / rows : 0;
  Tensor w = defined(w_in) ? contiguous(*w_in) : Tensor();
  Tensor dx = need_dx ? empty(x.shape, x.dtype) : Tensor();
  Shape pshape = defined(w_in) ? w_in->shape : Shape{N};
  Tensor dw = need_dw ? full(pshape, 0.0, x.dtype) : Tensor();
  Tensor db = need_db ? full(pshape, 0.0, x.dtype) : Tensor();
  if (x.numel() == 0) return {dx, dw, db};
  const bool parallel = x.numel() >= kParallelGrain && omp_get_max_threads() > 1;
  const int nt = parallel ? omp_get_max_threads() : 1;
  dispatch_dtype(x.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    if constexpr (std::is_floating_point_v<T>) {
      const auto& kt = cpu::typed<T>();
      // Per-thread dw / db rows, summed at the end (no atomics, deterministic
      // for a given thread count).
      std::vector<T> part_w(need_dw ? (size_t)nt * N : 0, T(0)), part_b(need_db ? (size_t)nt * N : 0, T(0));
      const T* pw = ptr_or_null<T>(w);
      const int64_t per = (rows + nt - 1) / nt;
#pragma omp parallel for schedule(static) num_threads(nt) if (parallel)
      for (int t = 0; t < nt; ++t) {
        const int64_t r0 = t * per, r1 = std::min(rows, r0 + per);
        if (r0 >= r1) continue;
        kt.layer_norm_bwd_rows(dy.data<T>() + r0 * N, x.data<T>() + r0 * N, m.data<T>() + r0,
                               rs.data<T>() + r0, pw, need_dx ? dx.data<T>() + r0 * N : nullptr,
                               need_dw ? part_w.data() + (size_t)t * N : nullptr,
                               need_db ? part_b.data() + (size_t)t * N : nullptr, r1 - r0, N);
      }
      for (int which = 0; which < 2; ++which) {
        if (which == 0 ? !need_dw : !need_db) continue;
        std::vector<T>& part = which == 0 ? part_w : part_b;
        T* out = (which == 0 ? dw : db).template data<T>();
        for (int64_t i = 0; i < N; ++i) {
          double s = 0;
          for (int t = 0; t < nt; ++t) s += (double)part[(size_t)t * N + i];
          out[i] = (T)s;
        }
      }
    }
  });
  return {dx, dw, db};
}

// ---------------------------------------------------------------------------
// batch_norm: x is [N, C, *]; statistics per channel over N and *.
// Returns {y, save_mean, save_rstd} (the statistics used: batch ones in
// training, running ones in eval).
// ---------------------------------------------------------------------------
std::vector<Tensor> batch_norm(const Tensor& x_in, Tensor* running_mean, Tensor* running_var,
                               const Tensor* w_in, const Tensor* b_in, bool training, double momentum,
                               double eps) {
  check_cpu(x_in, "batch_norm");
  PYDL_CHECK(is_floating(x_in.dtype), RuntimeError, "batch_norm: expected a floating point input, got ",
             dtype_name(x_in.dtype));
  PYDL_CHECK(x_in.dim() >= 2, ValueError, "batch_norm: expected 2D or higher input (got ", x_in.dim(),
             "D input)");
  const int64_t N = x_in.shape[0], C = x_in.shape[1];
  const int64_t L = C && N ? x_in.numel() / (N * C) : 0;
  check_param(running_mean && running_mean->storage ? running_mean : nullptr, x_in, C, "running_mean", "batch_norm");
  check_param(running_var && running_var->storage ? running_var : nullptr, x_in, C, "running_var", "batch_norm");
  check_param(w_in, x_in, C, "weight", "batch_norm");
  check_param(b_in, x_in, C, "bias", "batch_norm");
  const bool have_rm = running_mean && running_mean->storage;
  const bool have_rv = running_var && running_var->storage;
  PYDL_CHECK(training || (have_rm && have_rv), RuntimeError,
             "running_mean and running_var must be defined in evaluation mode");
  Tensor x = contiguous(x_in);
  Tensor y = empty(x.shape, x.dtype);
  Tensor smean = empty({C}, x.dtype), srstd = empty({C}, x.dtype);
  Tensor w = defined(w_in) ? contiguous(*w_in) : Tensor();
  Tensor b = defined(b_in) ? contiguous(*b_in) : Tensor();
  const int64_t M = N * L;  // values per channel
  const bool parallel = x.numel() >= kParallelGrain && omp_get_max_threads() > 1;
  dispatch_dtype(x.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    if constexpr (std::is_floating_point_v<T>) {
      const auto& kt = cpu::typed<T>();
      const T* px = x.data<T>();
      T* py = y.data<T>();
      T* pm = smean.data<T>();
      T* pr = srstd.data<T>();
      const T* pw = ptr_or_null<T>(w);
      const T* pb = ptr_or_null<T>(b);
      std::vector<double> var_unbiased(C, 0.0);
      Tensor rm, rv;
      if (!training) { rm = contiguous(to_dtype(*running_mean, x.dtype)); rv = contiguous(to_dtype(*running_var, x.dtype)); }
#pragma omp parallel for schedule(dynamic) if (parallel && C > 1)
      for (int64_t c = 0; c < C; ++c) {
        double mu, var;
        if (training) {
          double sq = 0;
          kt.bn_channel_stats(px, N, C, L, c, &mu, &sq);
          var = M > 0 ? sq / (double)M : std::nan("");
          var_unbiased[c] = M > 1 ? sq / (double)(M - 1) : std::nan("");
          if (M == 0) mu = std::nan("");
        } else {
          mu = (double)rm.data<T>()[c];
          var = (double)rv.data<T>()[c];
        }
        const double rstd = 1.0 / std::sqrt(var + eps);
        pm[c] = (T)mu;
        pr[c] = (T)rstd;
        const double scale = (pw ? (double)pw[c] : 1.0) * rstd;
        const double shift = pb ? (double)pb[c] : 0.0;
        if (M > 0) kt.bn_channel_apply(px, py, N, C, L, c, (T)mu, (T)scale, (T)shift);
      }
      if (training && M > 0) {
        // running = (1 - momentum) * running + momentum * batch (unbiased var), as PyTorch.
        for (int which = 0; which < 2; ++which) {
          Tensor* run = which == 0 ? running_mean : running_var;
          if (!run || !run->storage) continue;
          Tensor cur = contiguous(to_dtype(*run, DType::Float64));
          double* pc = cur.data<double>();
          for (int64_t c = 0; c < C; ++c) {
            const double batch = which == 0 ? (double)pm[c] : var_unbiased[c];
            pc[c] = (1.0 - momentum) * pc[c] + momentum * batch;
          }
          copy_(*run, cur);
        }
      }
    }
  });
  return {y, smean, srstd};
}

std::vector<Tensor> batch_norm_backward(const Tensor& dy_in, const Tensor& x_in, const Tensor& smean,
                                        const Tensor& srstd, const Tensor* w_in, bool training,
                                        bool need_dx, bool need_dw, bool need_db) {
  check_cpu(dy_in, "batch_norm_backward");
  PYDL_CHECK(dy_in.shape == x_in.shape && dy_in.dtype == x_in.dtype, RuntimeError,
             "batch_norm_backward: grad shape ", shape_str(dy_in.shape), " does not match input ",
             shape_str(x_in.shape));
  Tensor x = contiguous(x_in), dy = contiguous(dy_in);
  const int64_t N = x.shape[0], C = x.shape[1];
  const int64_t L = C && N ? x.numel() / (N * C) : 0;
  const int64_t M = N * L;
  Tensor w = defined(w_in) ? contiguous(*w_in) : Tensor();
  Tensor dx = need_dx ? empty(x.shape, x.dtype) : Tensor();
  Tensor dw = need_dw ? empty({C}, x.dtype) : Tensor();
  Tensor db = need_db ? empty({C}, x.dtype) : Tensor();
  const bool parallel = x.numel() >= kParallelGrain && omp_get_max_threads() > 1;
  dispatch_dtype(x.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    if constexpr (std::is_floating_point_v<T>) {
      const auto& kt = cpu::typed<T>();
      const T* px = x.data<T>();
      const T* pg = dy.data<T>();
      Tensor mc = contiguous(smean), rc = contiguous(srstd);
      const T* pm = mc.data<T>();
      const T* pr = rc.data<T>();
      const T* pw = ptr_or_null<T>(w);
#pragma omp parallel for schedule(dynamic) if (parallel && C > 1)
      for (int64_t c = 0; c < C; ++c) {
        double sdy = 0, sdyx = 0;
        if (M > 0) kt.bn_channel_bwd_sums(pg, px, N, C, L, c, pm[c], &sdy, &sdyx);
        const double rstd = (double)pr[c];
        const double wc = pw ? (double)pw[c] : 1.0;
        if (need_dw) dw.data<T>()[c] = (T)(sdyx * rstd);
        if (need_db) db.data<T>()[c] = (T)sdy;
        if (need_dx && M > 0) {
          // training: dx = w rstd (dy - mean(dy) - (x - mu) rstd^2 mean(dy (x - mu)))
          // eval:     dx = w rstd dy (the statistics are constants)
          const double a = wc * rstd;
          const double bcoef = training ? -a * rstd * rstd * sdyx / (double)M : 0.0;
          const double kcoef = training ? -a * sdy / (double)M : 0.0;
          kt.bn_channel_bwd_apply(pg, px, dx.data<T>(), N, C, L, c, pm[c], (T)a, (T)bcoef, (T)kcoef);
        }
      }
    }
  });
  return {dx, dw, db};
}

}  // namespace pydl
