// Loss op layer: cross_entropy (fused with log_softmax; kernels in
// cpu/loss.cpp) and nll_loss. Checks follow PyTorch (exception types and
// messages), then the reductions:
//   none  per-element losses, shaped like the target (class indices) or like
//         the input without the class dim (probabilities)
//   sum   their sum
//   mean  class indices: sum / (sum of w[target] over non-ignored targets)
//         (all ignored: 0 / 0 = nan, as PyTorch); probabilities: sum / rows.
// Label smoothing e: (1 - e) * nll + e / C * smooth, both parts divided by
// the same denominator (PyTorch's formula).
// Layout: input (C,) unbatched, (N, C) or (N, C, d1, ...). The kernels want
// rows of C classes, so for d1... the class dim is moved last (one copy).
#include <omp.h>

#include <algorithm>
#include <cmath>

#include "core/iter.h"
#include "core/ops.h"

namespace pydl {
namespace {

enum Reduction : int64_t { kNone = 0, kMean = 1, kSum = 2 };

struct LossLayout {
  int64_t N = 1, C = 1, S = 1;   // batch, classes, spatial product
  bool batched = true;
  Shape out_shape;               // shape of the per-element loss (reduction none)
  bool probs = false;            // target holds class probabilities
};

bool defined(const Tensor* t) { return t && t->storage; }

LossLayout check_loss_args(const Tensor& input, const Tensor& target, const Tensor* weight,
                           double ls, bool allow_probs, const char* op) {
  check_cpu(input, op);
  check_cpu(target, op);
  PYDL_CHECK(is_floating(input.dtype), RuntimeError, op, ": expected a floating point input, got ",
             dtype_name(input.dtype));
  PYDL_CHECK(input.dim() >= 1, RuntimeError, op, ": input tensor should be 1D or more, got 0D");
  PYDL_CHECK(ls >= 0.0 && ls <= 1.0, RuntimeError, "label_smoothing must be between 0.0 and 1.0. Got: ", ls);
  LossLayout L;
  L.batched = input.dim() >= 2;
  L.C = L.batched ? input.shape[1] : input.shape[0];
  L.N = L.batched ? input.shape[0] : 1;
  for (int64_t d = 2; d < input.dim(); ++d) L.S *= input.shape[d];
  if (allow_probs && target.shape == input.shape && is_floating(target.dtype)) {
    L.probs = true;
    for (int64_t d = 0; d < input.dim(); ++d)
      if (d != (L.batched ? 1 : 0)) L.out_shape.push_back(input.shape[d]);
  } else {
    if (allow_probs && target.shape == input.shape)
      PYDL_CHECK(false, RuntimeError, "Expected floating point type for target with class probabilities, got ",
                 target.dtype == DType::Int64 ? "Long" : "Bool");
    if (L.batched) {
      PYDL_CHECK(target.dim() >= 1 && target.shape[0] == L.N, ValueError, "Expected input batch_size (", L.N,
                 ") to match target batch_size (", target.dim() ? target.shape[0] : 0, ").");
    }
    PYDL_CHECK(target.dtype == DType::Int64, RuntimeError,
               "expected target dtype to be Long or Byte, but got ",
               target.dtype == DType::Float32 ? "Float" : target.dtype == DType::Float64 ? "Double" : "Bool");
    Shape want;
    if (L.batched) {
      want.push_back(L.N);
      for (int64_t d = 2; d < input.dim(); ++d) want.push_back(input.shape[d]);
    }
    if (input.dim() == 2)
      PYDL_CHECK(target.dim() == 1, RuntimeError, "1D target tensor expected, multi-target not supported");
    PYDL_CHECK(target.shape == want, RuntimeError, "Expected target size ", shape_str(want), ", got ",
               shape_str(target.shape));
    L.out_shape = want;
  }
  if (defined(weight)) {
    check_cpu(*weight, op);
    PYDL_CHECK(weight->dim() == 1 && weight->numel() == L.C, RuntimeError,
               "weight tensor should be defined either for all ", L.C,
               " classes or no classes but got weight tensor of shape: ", shape_str(weight->shape));
  }
  return L;
}

// Rows of C classes: (N, C, S) -> (N, S, C) contiguous.
Tensor to_rows(const Tensor& x, const LossLayout& L) {
  Tensor c = contiguous(x);
  if (L.S == 1 || !L.batched) return reshape(c, {L.N * L.S, L.C});
  Tensor v = reshape(c, {L.N, L.C, L.S});
  return reshape(contiguous(transpose(v, 1, 2)), {L.N * L.S, L.C});
}

Tensor from_rows(const Tensor& rows, const LossLayout& L, const Shape& in_shape) {
  if (L.S == 1 || !L.batched) return reshape(rows, in_shape);
  Tensor v = reshape(rows, {L.N, L.S, L.C});
  return reshape(contiguous(transpose(v, 1, 2)), in_shape);
}

void check_targets(const int64_t* t, int64_t M, int64_t C, int64_t ignore_index) {
  for (int64_t i = 0; i < M; ++i)
    PYDL_CHECK(t[i] == ignore_index || (t[i] >= 0 && t[i] < C), IndexError, "Target ", t[i],
               " is out of bounds.");
}

// sum of w[t] (or the count) over non-ignored targets.
template <class T>
double weight_total(const int64_t* t, const T* w, int64_t M, int64_t ignore_index) {
  double s = 0;
  for (int64_t i = 0; i < M; ++i)
    if (t[i] != ignore_index) s += w ? (double)w[t[i]] : 1.0;
  return s;
}

// Per-row upstream scale from the loss gradient g.
template <class T>
Tensor row_scales(const Tensor& g, int64_t reduction, int64_t M, double denom, DType dt) {
  Tensor sc = empty({M}, dt);
  T* p = sc.data<T>();
  if (reduction == kNone) {
    Tensor gc = contiguous(g);
    const T* pg = gc.data<T>();
    for (int64_t i = 0; i < M; ++i) p[i] = pg[i];
  } else {
    const double v = item(g) / (reduction == kMean ? denom : 1.0);
    for (int64_t i = 0; i < M; ++i) p[i] = (T)v;
  }
  return sc;
}

template <class T>
Tensor finish(const std::vector<double>& per_row, int64_t reduction, double denom, const Shape& out_shape,
              DType dt) {
  if (reduction == kNone) {
    Tensor out = empty(out_shape, dt);
    T* p = out.data<T>();
    for (size_t i = 0; i < per_row.size(); ++i) p[i] = (T)per_row[i];
    return out;
  }
  double s = 0;
  for (double v : per_row) s += v;
  if (reduction == kMean) s /= denom;
  return scalar_tensor(s, dt);
}

}  // namespace

std::vector<Tensor> cross_entropy(const Tensor& input, const Tensor& target_in, const Tensor* weight,
                                  int64_t ignore_index, int64_t reduction, double ls, bool reference) {
  LossLayout L = check_loss_args(input, target_in, weight, ls, true, "cross_entropy");
  const int64_t M = L.N * L.S, C = L.C;
  Tensor x = to_rows(input, L);
  Tensor w = defined(weight) ? contiguous(to_dtype(*weight, input.dtype)) : Tensor();
  Tensor lse = empty({M, 2}, input.dtype);  // per row: (max, log-sum), see cpu/loss.cpp
  Tensor out;
  const bool parallel = x.numel() >= kParallelGrain && omp_get_max_threads() > 1;
  const int64_t chunk = std::max<int64_t>(1, M / (parallel ? omp_get_max_threads() * 4 : 1));
  dispatch_dtype(input.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    if constexpr (std::is_floating_point_v<T>) {
      const auto& k = cpu::typed<T>();
      const T* px = x.data<T>();
      const T* pw = w.storage ? w.data<T>() : nullptr;
      T* pl = lse.data<T>();
      std::vector<double> per_row(M);
      double denom = (double)M;
      if (L.probs) {
        Tensor q = to_rows(to_dtype(target_in, input.dtype), L);
        std::vector<T> loss(M);
#pragma omp parallel for schedule(static) if (parallel)
        for (int64_t r0 = 0; r0 < M; r0 += chunk)
          k.ce_prob_fwd_rows(px + r0 * C, q.data<T>() + r0 * C, pw, std::min(chunk, M - r0), C, ls,
                             pl + 2 * r0, loss.data() + r0);
        for (int64_t i = 0; i < M; ++i) per_row[i] = (double)loss[i];
      } else {
        Tensor t = contiguous(target_in);
        const int64_t* pt = t.data<int64_t>();
        check_targets(pt, M, C, ignore_index);
        std::vector<T> nll(M), smooth(M);
        auto fn = reference ? k.ce_fwd_rows_reference : k.ce_fwd_rows;
#pragma omp parallel for schedule(static) if (parallel)
        for (int64_t r0 = 0; r0 < M; r0 += chunk)
          fn(px + r0 * C, pt + r0, pw, std::min(chunk, M - r0), C, ignore_index, ls != 0.0, pl + 2 * r0,
             nll.data() + r0, smooth.data() + r0);
        for (int64_t i = 0; i < M; ++i)
          per_row[i] = (1.0 - ls) * (double)nll[i] + ls / (double)C * (double)smooth[i];
        denom = weight_total(pt, pw, M, ignore_index);
      }
      out = finish<T>(per_row, reduction, denom, L.out_shape, input.dtype);
    }
  });
  return {out, lse};
}

Tensor cross_entropy_backward(const Tensor& grad, const Tensor& input, const Tensor& target_in,
                              const Tensor* weight, const Tensor& lse, int64_t ignore_index,
                              int64_t reduction, double ls) {
  LossLayout L = check_loss_args(input, target_in, weight, ls, true, "cross_entropy_backward");
  const int64_t M = L.N * L.S, C = L.C;
  Tensor x = to_rows(input, L);
  Tensor w = defined(weight) ? contiguous(to_dtype(*weight, input.dtype)) : Tensor();
  Tensor lc = contiguous(lse);
  Tensor dx = empty({M, C}, input.dtype);
  const bool parallel = x.numel() >= kParallelGrain && omp_get_max_threads() > 1;
  const int64_t chunk = std::max<int64_t>(1, M / (parallel ? omp_get_max_threads() * 4 : 1));
  dispatch_dtype(input.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    if constexpr (std::is_floating_point_v<T>) {
      const auto& k = cpu::typed<T>();
      const T* px = x.data<T>();
      const T* pw = w.storage ? w.data<T>() : nullptr;
      const T* pl = lc.data<T>();
      T* pd = dx.data<T>();
      if (L.probs) {
        Tensor q = to_rows(to_dtype(target_in, input.dtype), L);
        Tensor sc = row_scales<T>(grad, reduction, M, (double)M, input.dtype);
#pragma omp parallel for schedule(static) if (parallel)
        for (int64_t r0 = 0; r0 < M; r0 += chunk)
          k.ce_prob_bwd_rows(px + r0 * C, q.data<T>() + r0 * C, pw, pl + 2 * r0, sc.data<T>() + r0,
                             std::min(chunk, M - r0), C, ls, pd + r0 * C);
      } else {
        Tensor t = contiguous(target_in);
        const int64_t* pt = t.data<int64_t>();
        const double denom = weight_total(pt, pw, M, ignore_index);
        double wsum = (double)C;
        if (pw) { wsum = 0; for (int64_t c = 0; c < C; ++c) wsum += (double)pw[c]; }
        Tensor sc = row_scales<T>(grad, reduction, M, denom, input.dtype);
#pragma omp parallel for schedule(static) if (parallel)
        for (int64_t r0 = 0; r0 < M; r0 += chunk)
          k.ce_bwd_rows(px + r0 * C, pt + r0, pw, wsum, pl + 2 * r0, sc.data<T>() + r0, std::min(chunk, M - r0),
                        C, ignore_index, ls, pd + r0 * C);
      }
    }
  });
  return from_rows(dx, L, input.shape);
}

// nll_loss: input holds log-probabilities; loss_i = -w[t_i] * input[i, t_i].
Tensor nll_loss(const Tensor& input, const Tensor& target_in, const Tensor* weight, int64_t ignore_index,
                int64_t reduction) {
  LossLayout L = check_loss_args(input, target_in, weight, 0.0, false, "nll_loss");
  const int64_t M = L.N * L.S, C = L.C, S = L.S;
  Tensor x = contiguous(input);
  Tensor t = contiguous(target_in);
  Tensor w = defined(weight) ? contiguous(to_dtype(*weight, input.dtype)) : Tensor();
  const int64_t* pt = t.data<int64_t>();
  check_targets(pt, M, C, ignore_index);
  Tensor out;
  dispatch_dtype(input.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    if constexpr (std::is_floating_point_v<T>) {
      const T* px = x.data<T>();
      const T* pw = w.storage ? w.data<T>() : nullptr;
      std::vector<double> per_row(M, 0.0);
      for (int64_t i = 0; i < M; ++i) {
        const int64_t tt = pt[i];
        if (tt == ignore_index) continue;
        const int64_t n = i / S, s = i % S;
        per_row[i] = -(pw ? (double)pw[tt] : 1.0) * (double)px[(n * C + tt) * S + s];
      }
      out = finish<T>(per_row, reduction, weight_total(pt, pw, M, ignore_index), L.out_shape, input.dtype);
    }
  });
  return out;
}

Tensor nll_loss_backward(const Tensor& grad, const Tensor& input, const Tensor& target_in,
                         const Tensor* weight, int64_t ignore_index, int64_t reduction) {
  LossLayout L = check_loss_args(input, target_in, weight, 0.0, false, "nll_loss_backward");
  const int64_t M = L.N * L.S, C = L.C, S = L.S;
  Tensor t = contiguous(target_in);
  Tensor w = defined(weight) ? contiguous(to_dtype(*weight, input.dtype)) : Tensor();
  const int64_t* pt = t.data<int64_t>();
  Tensor dx = full(input.shape, 0.0, input.dtype);
  dispatch_dtype(input.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    if constexpr (std::is_floating_point_v<T>) {
      const T* pw = w.storage ? w.data<T>() : nullptr;
      Tensor sc = row_scales<T>(grad, reduction, M, weight_total(pt, pw, M, ignore_index), input.dtype);
      const T* ps = sc.data<T>();
      T* pd = dx.data<T>();
      for (int64_t i = 0; i < M; ++i) {
        const int64_t tt = pt[i];
        if (tt == ignore_index) continue;
        const int64_t n = i / S, s = i % S;
        pd[(n * C + tt) * S + s] = (T)(-(pw ? (double)pw[tt] : 1.0) * (double)ps[i]);
      }
    }
  });
  return dx;
}

}  // namespace pydl
