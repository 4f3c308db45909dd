// Normalization kernels: layer_norm (rows) and batch_norm (per channel),
// forward and backward.
//
// Compiled once per ISA (PYDL_ISA_NS = scalar | avx2 | avx512); fills the
// norm members of the f32 / f64 tables. Single-threaded: the op layer
// (core/ops_norm.cpp) splits rows / channels over OpenMP threads.
//
// layer_norm, x[rows, N] contiguous, normalised along N:
//   reference  plain loops in double: mean, biased variance, affine.
//   fast       one row at a time while it sits in L1: sum pass -> mean, then
//              sum of squared deviations from that mean -> variance (a
//              two-pass variance in cache costs no extra memory traffic and
//              does not cancel like E[x^2] - E[x]^2 when |mean| >> std),
//              then y = (x - mean) * rstd * w + b. Lanes fold into double
//              (row_math.h). mean and rstd are saved for the backward. For
//              outputs far larger than the caches y is written with streaming
//              stores (no read-for-ownership: 2 memory transfers per element,
//              not 3).
//   backward   xhat = (x - mean) * rstd, g = dy * w:
//              dx = rstd * (g - mean(g) - xhat * mean(g * xhat)),
//              dw += dy * xhat, db += dy (into the caller's per-thread rows).
// batch_norm, x[N, C, L] contiguous (L = H*W, or 1), per channel c: the
// channel's data is N runs of L contiguous elements.
//   stats      two-pass mean and sum of squared deviations over the runs.
//   apply      y = (x - mean) * scale + shift (scale = w * rstd).
//   bwd sums   sum(dy), sum(dy * (x - mean)).
//   bwd apply  dx = a * dy + b * (x - mean) + k (the op layer derives a, b, k
//              for training or eval mode).
#include <cstdint>

#include "cpu/kernels.h"
#include "cpu/row_math.h"

namespace pydl {
namespace cpu {
namespace PYDL_ISA_NS {
namespace {

// ---------------------------------------------------------------------------
// layer_norm reference
// ---------------------------------------------------------------------------
template <class T>
void layer_norm_rows_reference(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd,
                               int64_t rows, int64_t N, double eps, bool /*stream*/) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * N;
    double m = 0, v = 0;
    for (int64_t i = 0; i < N; ++i) m += (double)xr[i];
    m /= (double)N;
    for (int64_t i = 0; i < N; ++i) v += ((double)xr[i] - m) * ((double)xr[i] - m);
    v /= (double)N;
    const double rs = 1.0 / __builtin_sqrt(v + eps);
    for (int64_t i = 0; i < N; ++i) {
      double o = ((double)xr[i] - m) * rs;
      if (w) o *= (double)w[i];
      if (b) o += (double)b[i];
      y[r * N + i] = (T)o;
    }
    if (mean) mean[r] = (T)m;
    if (rstd) rstd[r] = (T)rs;
  }
}

// ---------------------------------------------------------------------------
// layer_norm fast
// ---------------------------------------------------------------------------
template <class T>
void layer_norm_rows(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, int64_t rows,
                     int64_t N, double eps, bool stream) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * N;
    T* yr = y + r * N;
    const T m = (T)(row_sum<T>(N, [xr](int64_t i) { return xr[i]; }) / (double)N);
    const double var = row_sum<T>(N, [xr, m](int64_t i) {
                         const T d = xr[i] - m;
                         return d * d;
                       }) / (double)N;
    const T rs = (T)(1.0 / __builtin_sqrt(var + eps));
    if (w && b) row_store(yr, N, stream, [xr, m, rs, w, b](int64_t i) { return (xr[i] - m) * rs * w[i] + b[i]; });
    else if (w) row_store(yr, N, stream, [xr, m, rs, w](int64_t i) { return (xr[i] - m) * rs * w[i]; });
    else if (b) row_store(yr, N, stream, [xr, m, rs, b](int64_t i) { return (xr[i] - m) * rs + b[i]; });
    else row_store(yr, N, stream, [xr, m, rs](int64_t i) { return (xr[i] - m) * rs; });
    if (mean) mean[r] = m;
    if (rstd) rstd[r] = rs;
  }
  if (stream) stream_fence();
}

template <class T>
void layer_norm_bwd_rows(const T* dy, const T* x, const T* mean, const T* rstd, const T* w, T* dx,
                         T* dw, T* db, int64_t rows, int64_t N) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * N;
    const T* gr = dy + r * N;
    const T m = mean[r], rs = rstd[r];
    if (dx) {
      double sg, sgx;
      if (w) {
        sg = row_sum<T>(N, [gr, w](int64_t i) { return gr[i] * w[i]; });
        sgx = row_sum<T>(N, [gr, w, xr, m](int64_t i) { return gr[i] * w[i] * (xr[i] - m); });
      } else {
        sg = row_sum<T>(N, [gr](int64_t i) { return gr[i]; });
        sgx = row_sum<T>(N, [gr, xr, m](int64_t i) { return gr[i] * (xr[i] - m); });
      }
      const T mg = (T)(sg / (double)N);
      const T c = (T)(sgx * (double)rs * (double)rs / (double)N);  // mean(g * xhat) * rstd
      T* dr = dx + r * N;
      if (w) {
#pragma omp simd
        for (int64_t i = 0; i < N; ++i) dr[i] = rs * (gr[i] * w[i] - mg - (xr[i] - m) * c);
      } else {
#pragma omp simd
        for (int64_t i = 0; i < N; ++i) dr[i] = rs * (gr[i] - mg - (xr[i] - m) * c);
      }
    }
    if (dw) {
#pragma omp simd
      for (int64_t i = 0; i < N; ++i) dw[i] += gr[i] * (xr[i] - m) * rs;
    }
    if (db) {
#pragma omp simd
      for (int64_t i = 0; i < N; ++i) db[i] += gr[i];
    }
  }
}

// ---------------------------------------------------------------------------
// batch_norm, one channel c of x[N, C, L]
// ---------------------------------------------------------------------------
template <class T>
void bn_channel_stats(const T* x, int64_t N, int64_t C, int64_t L, int64_t c, double* mean,
                      double* sq_dev) {
  double s = 0;
  for (int64_t n = 0; n < N; ++n) {
    const T* xr = x + (n * C + c) * L;
    s += row_sum<T>(L, [xr](int64_t i) { return xr[i]; });
  }
  const double md = s / (double)(N * L);
  const T m = (T)md;
  double q = 0;
  for (int64_t n = 0; n < N; ++n) {
    const T* xr = x + (n * C + c) * L;
    q += row_sum<T>(L, [xr, m](int64_t i) {
      const T d = xr[i] - m;
      return d * d;
    });
  }
  *mean = md;
  *sq_dev = q;
}

template <class T>
void bn_channel_apply(const T* x, T* y, int64_t N, int64_t C, int64_t L, int64_t c, T mean, T scale,
                      T shift) {
  for (int64_t n = 0; n < N; ++n) {
    const T* xr = x + (n * C + c) * L;
    T* yr = y + (n * C + c) * L;
#pragma omp simd
    for (int64_t i = 0; i < L; ++i) yr[i] = (xr[i] - mean) * scale + shift;
  }
}

template <class T>
void bn_channel_bwd_sums(const T* dy, const T* x, int64_t N, int64_t C, int64_t L, int64_t c, T mean,
                         double* sum_dy, double* sum_dy_xmu) {
  double a = 0, b = 0;
  for (int64_t n = 0; n < N; ++n) {
    const T* xr = x + (n * C + c) * L;
    const T* gr = dy + (n * C + c) * L;
    a += row_sum<T>(L, [gr](int64_t i) { return gr[i]; });
    b += row_sum<T>(L, [gr, xr, mean](int64_t i) { return gr[i] * (xr[i] - mean); });
  }
  *sum_dy = a;
  *sum_dy_xmu = b;
}

template <class T>
void bn_channel_bwd_apply(const T* dy, const T* x, T* dx, int64_t N, int64_t C, int64_t L, int64_t c,
                          T mean, T a, T b, T k) {
  for (int64_t n = 0; n < N; ++n) {
    const T* xr = x + (n * C + c) * L;
    const T* gr = dy + (n * C + c) * L;
    T* dr = dx + (n * C + c) * L;
#pragma omp simd
    for (int64_t i = 0; i < L; ++i) dr[i] = a * gr[i] + b * (xr[i] - mean) + k;
  }
}

template <class T>
void fill_typed(TypedKernels<T>& t) {
  t.layer_norm_rows = &layer_norm_rows<T>;
  t.layer_norm_rows_reference = &layer_norm_rows_reference<T>;
  t.layer_norm_bwd_rows = &layer_norm_bwd_rows<T>;
  t.bn_channel_stats = &bn_channel_stats<T>;
  t.bn_channel_apply = &bn_channel_apply<T>;
  t.bn_channel_bwd_sums = &bn_channel_bwd_sums<T>;
  t.bn_channel_bwd_apply = &bn_channel_bwd_apply<T>;
}

}  // namespace

void fill_norm(CpuKernels& k) {
  fill_typed(k.f32);
  fill_typed(k.f64);
}

}  // namespace PYDL_ISA_NS
}  // namespace cpu
}  // namespace pydl
