// Local response normalisation across channels (AlexNet), forward and backward.
//
// Compiled once per ISA (PYDL_ISA_NS = scalar | avx2 | avx512); fills the lrn
// members of the f32 / f64 tables. Single-threaded over one [C, inner] block;
// the op layer (core/ops_lrn.cpp) views x[N, C, *] as N blocks x[C, inner]
// (inner = product of the dims after C) and splits blocks / column ranges
// over OpenMP threads.
//
// Formula, exactly as torch.nn.functional.local_response_norm (which builds it
// from an average pool over a zero-padded channel axis):
//   S[c]  = sum of x[c']^2 over c' in [c - size/2, c + (size-1)/2] ∩ [0, C)
//           (the zero padding contributes nothing, but the average still
//            divides by size: alpha is effectively alpha / size)
//   d[c]  = (S[c] / size) * alpha + k
//   y[c]  = x[c] / d[c]^beta
// Backward (y = x d^-beta, dd[c]/dx[j] = 2 alpha / size * x[j] for j in c's window):
//   dx[j] = g[j] d[j]^-beta - (2 alpha beta / size) x[j] * sum_{c : j in window(c)} g[c] y[c] / d[c]
//   where j in window(c)  <=>  c in [j - (size-1)/2, j + size/2].
// The forward saves d (one tensor like x) so the backward needs no window sum
// of squares; d^beta is recomputed (exp(beta log d)), cheaper than storing it.
//
// Variants:
//   reference   per element, plain loops in double. Obviously right.
//   fast        columns [j0, j1) of the block, vectorised across the
//               contiguous inner columns: each window sum is `size` vector
//               multiply-adds; the power is two square roots for the usual
//               beta = 0.75 (one for 0.5, none for 1), else vmath exp / log in
//               the input's precision; the backward divides once per element.
//               inner == 1 (e.g. [N, C, 1, 1] after global pooling) runs the
//               same code with one column: scalar, but that input is small.
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "cpu/kernels.h"
#include "cpu/vmath.h"

namespace pydl {
namespace cpu {
namespace PYDL_ISA_NS {
namespace {

// Window of channel c: [c - lead, c + trail] with lead = size / 2, trail = (size - 1) / 2.
static inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }
static inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }

// ---------------------------------------------------------------------------
// reference
// ---------------------------------------------------------------------------
// One block x[C, inner]; y, den like x.
template <class T>
void lrn_fwd_reference(const T* x, T* y, T* den, int64_t C, int64_t inner, const LrnParams& p) {
  const int64_t lead = p.size / 2, trail = (p.size - 1) / 2;
  for (int64_t c = 0; c < C; ++c)
    for (int64_t j = 0; j < inner; ++j) {
      double s = 0;
      for (int64_t c2 = imax(0, c - lead); c2 <= imin(C - 1, c + trail); ++c2) {
        const double v = (double)x[c2 * inner + j];
        s += v * v;
      }
      const double d = s / (double)p.size * p.alpha + p.k;
      den[c * inner + j] = (T)d;
      y[c * inner + j] = (T)((double)x[c * inner + j] / vmath::exp(p.beta * vmath::log(d)));
    }
}

template <class T>
void lrn_bwd_reference(const T* g, const T* x, const T* y, const T* den, T* dx, int64_t C, int64_t inner,
                       const LrnParams& p) {
  const int64_t lead = p.size / 2, trail = (p.size - 1) / 2;
  const double coef = 2.0 * p.alpha * p.beta / (double)p.size;
  for (int64_t j0 = 0; j0 < C; ++j0)
    for (int64_t i = 0; i < inner; ++i) {
      double s = 0;
      for (int64_t c = imax(0, j0 - trail); c <= imin(C - 1, j0 + lead); ++c)
        s += (double)g[c * inner + i] * (double)y[c * inner + i] / (double)den[c * inner + i];
      const int64_t e = j0 * inner + i;
      const double pw = vmath::exp(p.beta * vmath::log((double)den[e]));
      dx[e] = (T)((double)g[e] / pw - coef * (double)x[e] * s);
    }
}

// ---------------------------------------------------------------------------
// fast: columns [j0, j1) of one block whose channel c starts at c * cs (cs is
// the channel stride: inner for a contiguous [C, inner] block)
// ---------------------------------------------------------------------------
// d^beta. The common exponents are exact-ish hardware square roots (AlexNet
// uses 0.75: d^0.75 = sqrt(d * sqrt(d)), ~1.5 ulp); any other beta is
// exp(beta log d) in the input's precision (vmath, <= 2 ulp each: ~3 ulp
// for the d of LRN, which sit near k). The mode is a template parameter so
// each loop is compiled branch-free.
enum PowMode { kPowGeneral, kPow075, kPow05, kPow1 };

template <int MODE, class T>
static inline __attribute__((always_inline)) T pow_beta(T d, T beta) {
  if constexpr (MODE == kPow075) {
    return __builtin_sqrt(d * __builtin_sqrt(d));
  } else if constexpr (MODE == kPow05) {
    return __builtin_sqrt(d);
  } else if constexpr (MODE == kPow1) {
    return d;
  } else {
    return vmath::exp(beta * vmath::log(d));
  }
}

template <class F>
static inline void with_pow_mode(double beta, F&& f) {
  if (beta == 0.75) f(std::integral_constant<int, kPow075>());
  else if (beta == 0.5) f(std::integral_constant<int, kPow05>());
  else if (beta == 1.0) f(std::integral_constant<int, kPow1>());
  else f(std::integral_constant<int, kPowGeneral>());
}

template <class T>
void lrn_fwd(const T* x, T* y, T* den, int64_t C, int64_t cs, int64_t j0, int64_t j1, const LrnParams& p) {
  const int64_t lead = p.size / 2, trail = (p.size - 1) / 2;
  const T inv_size = (T)(1.0 / (double)p.size);
  const T alpha = (T)p.alpha, k = (T)p.k, beta = (T)p.beta;
  with_pow_mode(p.beta, [&](auto mode) {
    constexpr int M = decltype(mode)::value;
    for (int64_t c = 0; c < C; ++c) {
      const int64_t lo = imax(0, c - lead), hi = imin(C - 1, c + trail);
      T* yc = y + c * cs;
      T* dc = den + c * cs;
      const T* xc = x + c * cs;
      // window sum of squares into den (as scratch), one channel row at a time: contiguous loads
#pragma omp simd
      for (int64_t j = j0; j < j1; ++j) dc[j] = T(0);
      for (int64_t c2 = lo; c2 <= hi; ++c2) {
        const T* xr = x + c2 * cs;
#pragma omp simd
        for (int64_t j = j0; j < j1; ++j) dc[j] += xr[j] * xr[j];
      }
      // torch's order: (S / size) * alpha + k, then x / d^beta
#pragma omp simd
      for (int64_t j = j0; j < j1; ++j) {
        const T d = dc[j] * inv_size * alpha + k;
        dc[j] = d;
        yc[j] = xc[j] / pow_beta<M>(d, beta);
      }
    }
  });
}

// Backward in two passes over the columns: t[c] = g[c] y[c] / d[c] once per
// element (into a scratch block; a window sum straight from g, y, d would
// divide `size` times per element), then dx[c0] = g / d^beta - coef x * (window sum of t).
template <class T>
void lrn_bwd(const T* g, const T* x, const T* y, const T* den, T* dx, int64_t C, int64_t cs, int64_t j0,
             int64_t j1, const LrnParams& p) {
  const int64_t lead = p.size / 2, trail = (p.size - 1) / 2;
  const T coef = (T)(2.0 * p.alpha * p.beta / (double)p.size);
  const T beta = (T)p.beta;
  const int64_t w = j1 - j0;
  std::vector<T> tbuf(static_cast<std::size_t>(C * w));
  T* t = tbuf.data();
  for (int64_t c = 0; c < C; ++c) {
    const T* gr = g + c * cs + j0;
    const T* yr = y + c * cs + j0;
    const T* dr = den + c * cs + j0;
    T* tr = t + c * w;
#pragma omp simd
    for (int64_t j = 0; j < w; ++j) tr[j] = gr[j] * yr[j] / dr[j];
  }
  with_pow_mode(p.beta, [&](auto mode) {
    constexpr int M = decltype(mode)::value;
    for (int64_t c0 = 0; c0 < C; ++c0) {
      const int64_t lo = imax(0, c0 - trail), hi = imin(C - 1, c0 + lead);
      T* dxc = dx + c0 * cs + j0;
      const T* gc = g + c0 * cs + j0;
      const T* xc = x + c0 * cs + j0;
      const T* dc = den + c0 * cs + j0;
      // window sum of t accumulates in dx, then dx = g / d^beta - coef * x * sum
#pragma omp simd
      for (int64_t j = 0; j < w; ++j) dxc[j] = T(0);
      for (int64_t c = lo; c <= hi; ++c) {
        const T* tr = t + c * w;
#pragma omp simd
        for (int64_t j = 0; j < w; ++j) dxc[j] += tr[j];
      }
#pragma omp simd
      for (int64_t j = 0; j < w; ++j) dxc[j] = gc[j] / pow_beta<M>(dc[j], beta) - coef * xc[j] * dxc[j];
    }
  });
}

template <class T>
void fill_typed(TypedKernels<T>& t) {
  t.lrn_fwd = &lrn_fwd<T>;
  t.lrn_bwd = &lrn_bwd<T>;
  t.lrn_fwd_reference = &lrn_fwd_reference<T>;
  t.lrn_bwd_reference = &lrn_bwd_reference<T>;
}

}  // namespace

void fill_lrn(CpuKernels& k) {
  fill_typed(k.f32);
  fill_typed(k.f64);
}

}  // namespace PYDL_ISA_NS
}  // namespace cpu
}  // namespace pydl
