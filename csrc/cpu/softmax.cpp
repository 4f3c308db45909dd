// Softmax and log_softmax kernels, forward and backward.
//
// Compiled once per ISA (PYDL_ISA_NS = scalar | avx2 | avx512); fills the
// softmax members of the f32 / f64 tables. Single-threaded: the op layer
// (core/ops_softmax.cpp) splits rows / column blocks over OpenMP threads.
//
// Two layouts, so that softmax over any dim needs no transpose copy:
//   rows  x[rows, R] contiguous, softmax along R (the last dim)
//   cols  one [R, inner] block of x[outer, R, inner], softmax along R; the
//         vector loops run across the inner (contiguous) columns.
//
// Variants, each next to the other:
//   reference   the textbook three loops per row in double: max, sum of
//               exp(x - max), normalise. Obviously right; used by the tests.
//   fast (rows) one row at a time while it sits in L1: a vectorised max pass,
//               then y = exp(x - max) stored while summed (vmath::exp, lanes
//               folded into double), then one scale pass (softmax) or
//               y = x - (max + log(sum)) (log_softmax, which never stores exp).
//               The row is read from memory once and written once: the other
//               passes hit L1. An online max+sum would need two exps per
//               element; this needs one.
//   fast (cols) the same three passes over a chunk of kColChunk columns with
//               per-column max / sum arrays.
// Stability: x - max <= 0, so exp never overflows (±1e4 inputs are fine);
// -inf entries give exp = 0; a row of only -inf gives -inf - -inf = NaN, which
// is what PyTorch returns.
// Backward: softmax dx = y * (dy - sum(dy * y)); log_softmax
// dx = dy - exp(y) * sum(dy).
#include <cstdint>

#include "cpu/kernels.h"
#include "cpu/row_math.h"

namespace pydl {
namespace cpu {
namespace PYDL_ISA_NS {
namespace {

constexpr int64_t kColChunk = 512;
// Longest row whose exps are staged on the stack when streaming (16 / 32 KiB).
constexpr int64_t kStageMax = 4096;

// exp(t) for the forward's t = x - max <= 0 (or NaN). float32: Cephes' expf
// (Cody-Waite reduction, degree-5 minimax polynomial, ~1 ulp) with 2^n put
// straight into the exponent bits; t is clamped below at -87 so 2^n stays a
// normal number (exp(-87) = 1.6e-38 is 0 next to the row's largest term, 1).
// The clamp is a compare that NaN fails, so NaN still poisons the row. About
// half the instructions of vmath::exp, which handles the whole real line.
// float64 keeps vmath::exp.
static inline __attribute__((always_inline)) float exp_nonpos(float t) {
  t = t < -87.0f ? -87.0f : t;
  const float kMagic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float nm = t * 1.44269504088896341f + kMagic;
  const float n = nm - kMagic;
  float r = t - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  const float r2 = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e = p * r2 + r + 1.0f;
  uint32_t ni, eb;
  __builtin_memcpy(&ni, &nm, 4);            // low bits of nm hold n (two's complement)
  __builtin_memcpy(&eb, &e, 4);
  eb += ni << 23;                            // e * 2^n, n in [-126, 0]
  float out;
  __builtin_memcpy(&out, &eb, 4);
  return out;
}
static inline __attribute__((always_inline)) double exp_nonpos(double t) { return vmath::exp(t); }

// ---------------------------------------------------------------------------
// reference: plain loops in double
// ---------------------------------------------------------------------------
template <class T>
void softmax_rows_reference(const T* x, T* y, int64_t rows, int64_t R, bool log) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * R;
    T* yr = y + r * R;
    double m = -__builtin_inf();
    for (int64_t i = 0; i < R; ++i) m = (double)xr[i] > m ? (double)xr[i] : m;
    double s = 0;
    for (int64_t i = 0; i < R; ++i) s += vmath::exp((double)xr[i] - m);
    const double lse = m + vmath::log(s);
    for (int64_t i = 0; i < R; ++i)
      yr[i] = log ? (T)((double)xr[i] - lse) : (T)(vmath::exp((double)xr[i] - m) / s);
  }
}

// ---------------------------------------------------------------------------
// fast: rows
// ---------------------------------------------------------------------------
template <class T>
void softmax_rows(const T* x, T* y, int64_t rows, int64_t R, bool log, bool stream) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * R;
    T* yr = y + r * R;
    const T m = row_max(xr, R);
    if (log) {
      const double s = row_sum<T>(R, [xr, m](int64_t i) { return exp_nonpos(xr[i] - m); });
      const T c = (T)vmath::log(s);  // (x - m) - log(s): m + log(s) would round away log(s) at |m| ~ 1e4
      row_store(yr, R, stream, [xr, m, c](int64_t i) { return (xr[i] - m) - c; });
    } else if (stream && R <= kStageMax) {
      // exp staged in L1, then y = e / sum streamed out: y is written once, never read.
      // (Recomputing exp in the last pass instead measured slower.)
      alignas(64) T e[kStageMax];
      const double s = row_sum<T>(R, [xr, &e, m](int64_t i) {
        const T v = exp_nonpos(xr[i] - m);
        e[i] = v;
        return v;
      });
      const T inv = (T)(1.0 / s);
#pragma omp simd
      for (int64_t i = 0; i < R; ++i) e[i] *= inv;
      stream_copy(yr, e, R);
    } else {
      const double s = row_sum<T>(R, [xr, yr, m](int64_t i) {
        const T e = exp_nonpos(xr[i] - m);
        yr[i] = e;
        return e;
      });
      const T inv = (T)(1.0 / s);
#pragma omp simd
      for (int64_t i = 0; i < R; ++i) yr[i] *= inv;
    }
  }
  if (stream) stream_fence();
}

template <class T>
void softmax_bwd_rows(const T* y, const T* dy, T* dx, int64_t rows, int64_t R, bool log) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* yr = y + r * R;
    const T* gr = dy + r * R;
    T* dr = dx + r * R;
    if (log) {
      const T s = (T)row_sum<T>(R, [gr](int64_t i) { return gr[i]; });
#pragma omp simd
      for (int64_t i = 0; i < R; ++i) dr[i] = gr[i] - vmath::exp(yr[i]) * s;
    } else {
      const T dot = (T)row_sum<T>(R, [gr, yr](int64_t i) { return gr[i] * yr[i]; });
#pragma omp simd
      for (int64_t i = 0; i < R; ++i) dr[i] = yr[i] * (gr[i] - dot);
    }
  }
}

// ---------------------------------------------------------------------------
// fast: columns of one [R, inner] block
// ---------------------------------------------------------------------------
template <class T>
void softmax_cols(const T* x, T* y, int64_t R, int64_t inner, bool log) {
  const T ninf = -(T)__builtin_inf();
  for (int64_t j0 = 0; j0 < inner; j0 += kColChunk) {
    const int64_t jb = inner - j0 < kColChunk ? inner - j0 : kColChunk;
    T mx[kColChunk];
    double s[kColChunk];
    for (int64_t j = 0; j < jb; ++j) { mx[j] = ninf; s[j] = 0; }
    for (int64_t r = 0; r < R; ++r) {
      const T* xr = x + r * inner + j0;
#pragma omp simd
      for (int64_t j = 0; j < jb; ++j) mx[j] = xr[j] > mx[j] ? xr[j] : mx[j];
    }
    for (int64_t r = 0; r < R; ++r) {
      const T* xr = x + r * inner + j0;
      T* yr = y + r * inner + j0;
      if (log) {
#pragma omp simd
        for (int64_t j = 0; j < jb; ++j) s[j] += (double)exp_nonpos(xr[j] - mx[j]);
      } else {
#pragma omp simd
        for (int64_t j = 0; j < jb; ++j) {
          const T e = exp_nonpos(xr[j] - mx[j]);
          yr[j] = e;
          s[j] += (double)e;
        }
      }
    }
    T c[kColChunk];
    if (log) {
      for (int64_t j = 0; j < jb; ++j) c[j] = (T)vmath::log(s[j]);
      for (int64_t r = 0; r < R; ++r) {
        const T* xr = x + r * inner + j0;
        T* yr = y + r * inner + j0;
#pragma omp simd
        for (int64_t j = 0; j < jb; ++j) yr[j] = (xr[j] - mx[j]) - c[j];
      }
    } else {
      for (int64_t j = 0; j < jb; ++j) c[j] = (T)(1.0 / s[j]);
      for (int64_t r = 0; r < R; ++r) {
        T* yr = y + r * inner + j0;
#pragma omp simd
        for (int64_t j = 0; j < jb; ++j) yr[j] *= c[j];
      }
    }
  }
}

template <class T>
void softmax_bwd_cols(const T* y, const T* dy, T* dx, int64_t R, int64_t inner, bool log) {
  for (int64_t j0 = 0; j0 < inner; j0 += kColChunk) {
    const int64_t jb = inner - j0 < kColChunk ? inner - j0 : kColChunk;
    double s[kColChunk];
    for (int64_t j = 0; j < jb; ++j) s[j] = 0;
    for (int64_t r = 0; r < R; ++r) {
      const T* yr = y + r * inner + j0;
      const T* gr = dy + r * inner + j0;
      if (log) {
#pragma omp simd
        for (int64_t j = 0; j < jb; ++j) s[j] += (double)gr[j];
      } else {
#pragma omp simd
        for (int64_t j = 0; j < jb; ++j) s[j] += (double)(gr[j] * yr[j]);
      }
    }
    T c[kColChunk];
    for (int64_t j = 0; j < jb; ++j) c[j] = (T)s[j];
    for (int64_t r = 0; r < R; ++r) {
      const T* yr = y + r * inner + j0;
      const T* gr = dy + r * inner + j0;
      T* dr = dx + r * inner + j0;
      if (log) {
#pragma omp simd
        for (int64_t j = 0; j < jb; ++j) dr[j] = gr[j] - vmath::exp(yr[j]) * c[j];
      } else {
#pragma omp simd
        for (int64_t j = 0; j < jb; ++j) dr[j] = yr[j] * (gr[j] - c[j]);
      }
    }
  }
}

template <class T>
void fill_typed(TypedKernels<T>& t) {
  t.softmax_rows = &softmax_rows<T>;
  t.softmax_rows_reference = &softmax_rows_reference<T>;
  t.softmax_cols = &softmax_cols<T>;
  t.softmax_bwd_rows = &softmax_bwd_rows<T>;
  t.softmax_bwd_cols = &softmax_bwd_cols<T>;
}

}  // namespace

void fill_softmax(CpuKernels& k) {
  fill_typed(k.f32);
  fill_typed(k.f64);
}

}  // namespace PYDL_ISA_NS
}  // namespace cpu
}  // namespace pydl
