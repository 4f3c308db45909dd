// Cross-entropy kernels, fused with log_softmax, forward and backward.
//
// Compiled once per ISA (PYDL_ISA_NS = scalar | avx2 | avx512); fills the loss
// members of the f32 / f64 tables. Rows are x[M, C] contiguous logits (the op
// layer, core/ops_loss.cpp, moves the class dim last and splits rows over
// threads; it also validates targets, so every non-ignored target here is in
// [0, C)).
//
// Why fused: the loss needs only lse = log(sum(exp(x))) per row plus a few
// dot products, so the forward reads x once and writes M numbers -- never the
// [M, C] log-probabilities that log_softmax + nll_loss would store and read
// back. The backward recomputes p = exp(x - lse) on the fly and writes dx once.
//
// lse is stored per row as the pair (max, log-sum): lse[2r], lse[2r + 1].
// Class-index targets t, class weights w (1 when absent, W = sum w), label
// smoothing e (PyTorch's formula):
//   nll_i    = -w[t] * (x_t - lse)
//   smooth_i = -sum_c w_c (x_c - lse)                     (0 when e == 0)
//   loss_i   = (1 - e) nll_i + e / C * smooth_i           (combined in the op layer)
//   dloss_i/dx_c = p_c ((1 - e) w[t] + e W / C) - e / C w_c - (1 - e) w[t] [c == t]
// Probability targets q, q' = (1 - e) q + e / C:
//   loss_i = -sum_c w_c q'_c (x_c - lse);  dloss_i/dx_c = p_c sum_j w_j q'_j - w_c q'_c
// reference: the same formulas, plain loops in double.
#include <cstdint>

#include "cpu/kernels.h"
#include "cpu/row_math.h"

namespace pydl {
namespace cpu {
namespace PYDL_ISA_NS {
namespace {

// lse is kept as the pair (max, log(sum exp(x - max))): x - lse is then
// evaluated as (x - max) - logsum, which stays exact for |x| ~ 1e4 where
// max + logsum would round logsum away in float32.
template <class T>
inline void row_lse(const T* xr, int64_t C, T* lse2) {
  const T m = row_max(xr, C);
  const double s = row_sum<T>(C, [xr, m](int64_t i) { return vmath::exp(xr[i] - m); });
  lse2[0] = m;
  lse2[1] = (T)vmath::log(s);
}

// ---------------------------------------------------------------------------
// reference (class indices, forward)
// ---------------------------------------------------------------------------
template <class T>
void ce_fwd_rows_reference(const T* x, const int64_t* target, const T* w, int64_t M, int64_t C,
                           int64_t ignore_index, bool smooth_too, T* lse, T* nll, T* smooth) {
  for (int64_t r = 0; r < M; ++r) {
    const T* xr = x + r * C;
    double m = -__builtin_inf(), s = 0;
    for (int64_t c = 0; c < C; ++c) m = (double)xr[c] > m ? (double)xr[c] : m;
    for (int64_t c = 0; c < C; ++c) s += vmath::exp((double)xr[c] - m);
    const double ls = vmath::log(s);
    lse[2 * r] = (T)m;
    lse[2 * r + 1] = (T)ls;
    const int64_t t = target[r];
    if (t == ignore_index) { nll[r] = 0; smooth[r] = 0; continue; }
    nll[r] = (T)(-(w ? (double)w[t] : 1.0) * (((double)xr[t] - m) - ls));
    double sm = 0;
    if (smooth_too)
      for (int64_t c = 0; c < C; ++c) sm -= (w ? (double)w[c] : 1.0) * (((double)xr[c] - m) - ls);
    smooth[r] = (T)sm;
  }
}

// ---------------------------------------------------------------------------
// fast (class indices)
// ---------------------------------------------------------------------------
template <class T>
void ce_fwd_rows(const T* x, const int64_t* target, const T* w, int64_t M, int64_t C,
                 int64_t ignore_index, bool smooth_too, T* lse, T* nll, T* smooth) {
  for (int64_t r = 0; r < M; ++r) {
    const T* xr = x + r * C;
    row_lse(xr, C, lse + 2 * r);
    const T m = lse[2 * r], l = lse[2 * r + 1];
    const int64_t t = target[r];
    if (t == ignore_index) { nll[r] = 0; smooth[r] = 0; continue; }
    nll[r] = -(w ? w[t] : (T)1) * ((xr[t] - m) - l);
    double sm = 0;
    if (smooth_too) {
      if (w) sm = -row_sum<T>(C, [xr, w, m, l](int64_t c) { return w[c] * ((xr[c] - m) - l); });
      else sm = -row_sum<T>(C, [xr, m, l](int64_t c) { return (xr[c] - m) - l; });
    }
    smooth[r] = (T)sm;
  }
}

template <class T>
void ce_bwd_rows(const T* x, const int64_t* target, const T* w, double wsum, const T* lse,
                 const T* scale, int64_t M, int64_t C, int64_t ignore_index, double ls, T* dx) {
  for (int64_t r = 0; r < M; ++r) {
    const T* xr = x + r * C;
    T* dr = dx + r * C;
    const int64_t t = target[r];
    if (t == ignore_index) {
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) dr[c] = 0;
      continue;
    }
    const double sc = (double)scale[r];
    const double wt = w ? (double)w[t] : 1.0;
    const T coef = (T)(sc * ((1.0 - ls) * wt + ls / (double)C * wsum));
    const T e = (T)(sc * ls / (double)C);
    const T m = lse[2 * r], l = lse[2 * r + 1];
    if (w && ls != 0) {
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) dr[c] = vmath::exp((xr[c] - m) - l) * coef - e * w[c];
    } else {
      const T e1 = w ? (T)0 : e;  // without weights w_c = 1
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) dr[c] = vmath::exp((xr[c] - m) - l) * coef - e1;
    }
    dr[t] -= (T)(sc * (1.0 - ls) * wt);
  }
}

// ---------------------------------------------------------------------------
// probability targets
// ---------------------------------------------------------------------------
template <class T>
void ce_prob_fwd_rows(const T* x, const T* q, const T* w, int64_t M, int64_t C, double ls, T* lse,
                      T* loss) {
  const T a = (T)(1.0 - ls), b = (T)(ls / (double)C);
  for (int64_t r = 0; r < M; ++r) {
    const T* xr = x + r * C;
    const T* qr = q + r * C;
    row_lse(xr, C, lse + 2 * r);
    const T m = lse[2 * r], l = lse[2 * r + 1];
    double s;
    if (w) s = row_sum<T>(C, [xr, qr, w, m, l, a, b](int64_t c) { return w[c] * (qr[c] * a + b) * ((xr[c] - m) - l); });
    else s = row_sum<T>(C, [xr, qr, m, l, a, b](int64_t c) { return (qr[c] * a + b) * ((xr[c] - m) - l); });
    loss[r] = (T)(-s);
  }
}

template <class T>
void ce_prob_bwd_rows(const T* x, const T* q, const T* w, const T* lse, const T* scale, int64_t M,
                      int64_t C, double ls, T* dx) {
  const T a = (T)(1.0 - ls), b = (T)(ls / (double)C);
  for (int64_t r = 0; r < M; ++r) {
    const T* xr = x + r * C;
    const T* qr = q + r * C;
    T* dr = dx + r * C;
    const T sc = scale[r], m = lse[2 * r], l = lse[2 * r + 1];
    if (w) {
      const T S = (T)row_sum<T>(C, [qr, w, a, b](int64_t c) { return w[c] * (qr[c] * a + b); });
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) dr[c] = sc * (vmath::exp((xr[c] - m) - l) * S - w[c] * (qr[c] * a + b));
    } else {
      const T S = (T)row_sum<T>(C, [qr, a, b](int64_t c) { return qr[c] * a + b; });
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) dr[c] = sc * (vmath::exp((xr[c] - m) - l) * S - (qr[c] * a + b));
    }
  }
}

template <class T>
void fill_typed(TypedKernels<T>& t) {
  t.ce_fwd_rows = &ce_fwd_rows<T>;
  t.ce_fwd_rows_reference = &ce_fwd_rows_reference<T>;
  t.ce_bwd_rows = &ce_bwd_rows<T>;
  t.ce_prob_fwd_rows = &ce_prob_fwd_rows<T>;
  t.ce_prob_bwd_rows = &ce_prob_bwd_rows<T>;
}

}  // namespace

void fill_loss(CpuKernels& k) {
  fill_typed(k.f32);
  fill_typed(k.f64);
}

}  // namespace PYDL_ISA_NS
}  // namespace cpu
}  // namespace pydl
