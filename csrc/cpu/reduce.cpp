// Reduction kernels: sum, max, min, prod over rows or columns, and the sum of
// squared deviations used by the second pass of var/std.
//
// Compiled once per ISA (PYDL_ISA_NS = scalar | avx2 | avx512, see CMakeLists.txt);
// each copy fills the f32 / f64 / i64 reduce members of its CpuKernels table.
// b8 has none: the op layer casts bool to int64 before reducing.
//
// Two shapes, both single-threaded (the op layer splits rows/columns over threads):
//   reduce_rows  x[rows, R] contiguous, reduce along R   -> out[rows]
//   reduce_cols  x[R, inner] contiguous, reduce along R  -> out[inner]
//
// How each one works, and why:
//   * Sum over a row (f32). A single float accumulator loses ~R*eps relative
//     accuracy (1e6 elements: up to ~1e-1, typically ~1e-5). We keep
//     lanes<float>() independent float lanes (4 SIMD registers' worth, so the
//     adds pipeline) for kPerLaneBlock = 32 adds per lane, then fold the lane
//     partials into double lanes. Error: ~32*eps_f32 per block in the worst
//     case, nothing after; the result is rounded to float once (measured
//     ~3e-8 relative at R = 1e6 and 1e7). Speed is that of a plain vectorised
//     float sum (the double fold is 1/32 of the adds).
//   * Sum over a row (f64): same lane/block structure in double, and the block
//     partials are combined with Neumaier's compensated sum.
//   * Sum over columns: the same lanes/blocks transposed: a register-wide
//     group of columns sums kColRowBlock rows in registers, then folds into
//     per-column totals (double for f32).
//   * Max/Min: one vectorised pass keeps per-lane extremes and "saw a NaN"
//     flags; then, only if needed, a vectorised search for the first NaN (the
//     result is NaN) or for the first element equal to the extreme (the index
//     torch.argmax gives).
//   * Prod: lane products, f32 accumulated in double. int64 sums/products
//     wrap (two's complement, as PyTorch), computed in uint64 to avoid UB.
//   * sq_dev: sum of (x - mean)^2 with the same structure as Sum.
//
// Only raw loops and fixed-size local arrays here: this file is compiled with
// different ISA flags, and an out-of-line std template instantiated in two
// copies could be merged by the linker into the wrong ISA's code.
#include <cstdint>

#include "cpu/isa.h"
#include "cpu/kernels.h"

#ifndef PYDL_ISA_NS
#error "PYDL_ISA_NS must be defined (scalar, avx2 or avx512)"
#endif

namespace pydl {
namespace cpu {
namespace PYDL_ISA_NS {
namespace {

// kVecBytes, the width of one SIMD register for this ISA copy, is in cpu/isa.h.

// Independent accumulator lanes per type: four registers' worth, enough to hide
// the add latency without spilling (scalar/SSE has only 16 registers).
template <class T>
constexpr int lanes() { return 4 * kVecBytes / (int)sizeof(T); }

// Elements per lane between folds of the f32 lane sums into double.
constexpr int64_t kPerLaneBlock = 32;
// Columns handled together by the column kernels (per-column accumulators:
// 16 KiB of doubles, in L1). Wide, so that a block of rows is one long
// contiguous stretch of memory for typical widths (the prefetchers' best case).
constexpr int64_t kColChunk = 2048;
// Rows per block in the column sums (register lanes fold into the totals after
// each block). Few rows = few concurrent memory streams: 8 measured best.
constexpr int64_t kColRowBlock = 8;

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

template <class T>
inline bool is_nan(T v) { return v != v; }  // always false for integers

// Pairwise (tree) sum of a lane array, in place; returns the total.
template <class A, int L>
inline A tree_sum(A (&a)[L]) {
  for (int w = L / 2; w > 0; w /= 2)
    for (int l = 0; l < w; ++l) a[l] += a[l + w];
  return a[0];
}

// ---------------------------------------------------------------------------
// Sum of f(i), i < n, for a contiguous run. f yields the element (Sum) or the
// squared deviation (sq_dev). Returns the sum in the accumulation type.
// ---------------------------------------------------------------------------

// f32: float lanes over blocks of kPerLaneBlock per lane, folded into double
// lanes. Runs shorter than one lane group take the scalar tail loop only.
template <class F>
double sum_run_f32(int64_t n, F f) {
  constexpr int L = lanes<float>();
  constexpr int64_t kBlockLen = L * kPerLaneBlock;
  double total = 0;
  int64_t i = 0;
  const int64_t nfull = n - n % L;  // multiple of L handled by the lanes
  if (nfull > 0) {
    double dacc[L] = {};
    while (i < nfull) {
      const int64_t end = min64(i + kBlockLen, nfull);
      float acc[L] = {};
      for (; i < end; i += L) {
#pragma omp simd
        for (int l = 0; l < L; ++l) acc[l] += f(i + l);
      }
#pragma omp simd
      for (int l = 0; l < L; ++l) dacc[l] += (double)acc[l];
    }
    total = tree_sum(dacc);
  }
  for (; i < n; ++i) total += (double)f(i);
  return total;
}

// f64: double lanes per block; block partials combined with Neumaier's sum.
template <class F>
double sum_run_f64(int64_t n, F f) {
  constexpr int L = lanes<double>();
  constexpr int64_t kBlockLen = L * kPerLaneBlock;
  const int64_t nfull = n - n % L;
  if (nfull == 0) {  // short run: plain sum
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += f(i);
    return s;
  }
  double s = 0, c = 0;  // running sum and its compensation
  auto add = [&](double v) {
    const double t = s + v;
    if (t - t == 0) {  // t finite: an infinite or NaN sum needs no (and gets no NaN) correction
      if ((s < 0 ? -s : s) >= (v < 0 ? -v : v)) c += (s - t) + v;
      else c += (v - t) + s;
    }
    s = t;
  };
  int64_t i = 0;
  while (i < nfull) {
    const int64_t end = min64(i + kBlockLen, nfull);
    double acc[L] = {};
    for (; i < end; i += L) {
#pragma omp simd
      for (int l = 0; l < L; ++l) acc[l] += f(i + l);
    }
    add(tree_sum(acc));
  }
  double tail = 0;
  for (; i < n; ++i) tail += f(i);
  add(tail);
  return s + c;
}

// i64: wrapping sum in uint64 lanes.
template <class F>
uint64_t sum_run_i64(int64_t n, F f) {
  constexpr int L = lanes<int64_t>();
  uint64_t s = 0;
  int64_t i = 0;
  const int64_t nfull = n - n % L;
  if (nfull > 0) {
    uint64_t acc[L] = {};
    for (; i < nfull; i += L) {
#pragma omp simd
      for (int l = 0; l < L; ++l) acc[l] += (uint64_t)f(i + l);
    }
    s = tree_sum(acc);
  }
  for (; i < n; ++i) s += (uint64_t)f(i);
  return s;
}

// One entry point per element type, used by both Sum and sq_dev.
template <class F> inline float sum_run(const float*, int64_t n, F f) { return (float)sum_run_f32(n, f); }
template <class F> inline double sum_run(const double*, int64_t n, F f) { return sum_run_f64(n, f); }
template <class F> inline int64_t sum_run(const int64_t*, int64_t n, F f) { return (int64_t)sum_run_i64(n, f); }

// ---------------------------------------------------------------------------
// Product of a contiguous run: lane products; f32 accumulates in double.
// ---------------------------------------------------------------------------
template <class T> struct ProdAcc { using type = T; };
template <> struct ProdAcc<float> { using type = double; };
template <> struct ProdAcc<int64_t> { using type = uint64_t; };

template <class T>
T prod_run(const T* x, int64_t n) {
  using A = typename ProdAcc<T>::type;
  constexpr int L = lanes<T>();
  A p = 1;
  int64_t i = 0;
  const int64_t nfull = n - n % L;
  if (nfull > 0) {
    A acc[L];
    for (int l = 0; l < L; ++l) acc[l] = 1;
    for (; i < nfull; i += L) {
#pragma omp simd
      for (int l = 0; l < L; ++l) acc[l] *= (A)x[i + l];
    }
    for (int w = L / 2; w > 0; w /= 2)
      for (int l = 0; l < w; ++l) acc[l] *= acc[l + w];
    p = acc[0];
  }
  for (; i < n; ++i) p *= (A)x[i];
  return (T)p;
}

// ---------------------------------------------------------------------------
// Max / Min of a contiguous run (n >= 1), with the index of the first extreme.
// One vectorised pass keeps per-lane extremes (a plain max/min, which skips
// NaN) and per-lane "saw a NaN" flags. Then, only when asked for: the first
// NaN if there was one (the result is NaN, as in PyTorch), else the first
// element equal to the extreme (the index torch.argmax gives).
// ---------------------------------------------------------------------------
template <bool kMax, class T>
inline bool beats(T v, T best) { return kMax ? v > best : v < best; }

// Integer lane the width of T, for NaN flags that vectorise alongside T.
template <class T> struct FlagOf { using type = int64_t; };
template <> struct FlagOf<float> { using type = int32_t; };

// Index of the first x[k] with pred(x[k]), or n if none.
// Tests a lane group at a time (vectorised), then finds the lane.
template <class T, class P>
int64_t find_first(const T* x, int64_t n, P pred) {
  constexpr int L = lanes<T>();
  int64_t k = 0;
  for (; k + L <= n; k += L) {
    int any = 0;
#pragma omp simd reduction(|:any)
    for (int l = 0; l < L; ++l) any |= pred(x[k + l]) ? 1 : 0;
    if (any) break;
  }
  while (k < n && !pred(x[k])) ++k;
  return k;
}

template <bool kMax, class T>
void minmax_run(const T* x, int64_t n, T* out, int64_t* idx) {
  using Flag = typename FlagOf<T>::type;
  constexpr int L = lanes<T>();
  T best = x[0];
  bool saw_nan = false;
  int64_t i = 0;
  const int64_t nfull = n - n % L;
  if (nfull > 0) {
    T m[L];
    Flag nan_lane[L] = {};
    for (int l = 0; l < L; ++l) m[l] = x[0];
    for (; i < nfull; i += L) {
#pragma omp simd
      for (int l = 0; l < L; ++l) {
        const T v = x[i + l];
        m[l] = beats<kMax>(v, m[l]) ? v : m[l];
        nan_lane[l] |= is_nan(v) ? 1 : 0;
      }
    }
    for (int l = 0; l < L; ++l) {
      best = beats<kMax>(m[l], best) ? m[l] : best;
      saw_nan |= nan_lane[l] != 0;
    }
  }
  for (; i < n; ++i) {
    best = beats<kMax>(x[i], best) ? x[i] : best;
    saw_nan |= is_nan(x[i]);
  }

  if (saw_nan || is_nan(best)) {  // the first NaN wins
    const int64_t k = find_first(x, n, [](T v) { return is_nan(v); });
    *out = x[k];
    if (idx) *idx = k;
    return;
  }
  if (idx) {  // first occurrence of the extreme (-0.0 == +0.0, as in PyTorch)
    const int64_t k = find_first(x, n, [best](T v) { return v == best; });
    *idx = k;
    *out = x[k];
    return;
  }
  *out = best;
}

// ---------------------------------------------------------------------------
// reduce_rows: out[r] = reduce(x[r*R .. r*R+R))
// ---------------------------------------------------------------------------
template <class T>
void reduce_rows(ReduceOp op, const T* x, int64_t rows, int64_t R, T* out, int64_t* idx) {
  switch (op) {
    case ReduceOp::Sum:
      for (int64_t r = 0; r < rows; ++r) {
        const T* xr = x + r * R;
        out[r] = sum_run(xr, R, [xr](int64_t i) { return xr[i]; });
      }
      break;
    case ReduceOp::Prod:
      for (int64_t r = 0; r < rows; ++r) out[r] = prod_run(x + r * R, R);
      break;
    case ReduceOp::Max:
      if (R <= 0) return;  // the op layer raises before this; write nothing
      for (int64_t r = 0; r < rows; ++r)
        minmax_run<true>(x + r * R, R, out + r, idx ? idx + r : nullptr);
      break;
    case ReduceOp::Min:
      if (R <= 0) return;
      for (int64_t r = 0; r < rows; ++r)
        minmax_run<false>(x + r * R, R, out + r, idx ? idx + r : nullptr);
      break;
    default:
      break;
  }
}

// ---------------------------------------------------------------------------
// Column sums: out[j] = sum_r f(r, j) over an [R, inner] block.
// Same accuracy scheme as the row sums, transposed: for a block of
// kColRowBlock rows, a register-sized group of columns (lanes<T>()) sums in
// lane accumulators held in registers, then folds into the per-column totals
// (f32 -> double). The block's rows (kColRowBlock x kColChunk) stay in L1/L2
// while the column groups sweep them. Columns left over after the last full
// group (and inner < one group) use a lane array with a variable trip count.
// ---------------------------------------------------------------------------
template <class T> struct SumAcc { using lane = T; using total = T; };
template <> struct SumAcc<float> { using lane = float; using total = double; };
template <> struct SumAcc<int64_t> { using lane = uint64_t; using total = uint64_t; };

template <class T, class F>
void col_sum(int64_t R, int64_t inner, T* out, F f) {
  using Lane = typename SumAcc<T>::lane;
  using Total = typename SumAcc<T>::total;
  constexpr int L = lanes<T>();
  for (int64_t j0 = 0; j0 < inner; j0 += kColChunk) {
    const int64_t jb = min64(kColChunk, inner - j0);
    const int64_t jfull = jb - jb % L;  // columns handled by register groups
    Total tot[kColChunk];
    for (int64_t j = 0; j < jb; ++j) tot[j] = 0;
    for (int64_t r0 = 0; r0 < R; r0 += kColRowBlock) {
      const int64_t r1 = min64(r0 + kColRowBlock, R);
      for (int64_t j = 0; j < jfull; j += L) {
        Lane acc[L] = {};
        for (int64_t r = r0; r < r1; ++r) {
#pragma omp simd
          for (int l = 0; l < L; ++l) acc[l] += (Lane)f(r, j0 + j + l);
        }
#pragma omp simd
        for (int l = 0; l < L; ++l) tot[j + l] += (Total)acc[l];
      }
      if (jfull < jb) {
        const int64_t nt = jb - jfull;
        Lane acc[L] = {};
        for (int64_t r = r0; r < r1; ++r) {
#pragma omp simd
          for (int64_t l = 0; l < nt; ++l) acc[l] += (Lane)f(r, j0 + jfull + l);
        }
        for (int64_t l = 0; l < nt; ++l) tot[jfull + l] += (Total)acc[l];
      }
    }
    for (int64_t j = 0; j < jb; ++j) out[j0 + j] = (T)tot[j];
  }
}

template <class T>
void col_prod(const T* x, int64_t R, int64_t inner, T* out) {
  using A = typename ProdAcc<T>::type;
  for (int64_t j0 = 0; j0 < inner; j0 += kColChunk) {
    const int64_t jb = min64(kColChunk, inner - j0);
    A acc[kColChunk];
    for (int64_t j = 0; j < jb; ++j) acc[j] = 1;
    for (int64_t r = 0; r < R; ++r) {
      const T* xr = x + r * inner + j0;
#pragma omp simd
      for (int64_t j = 0; j < jb; ++j) acc[j] *= (A)xr[j];
    }
    for (int64_t j = 0; j < jb; ++j) out[j0 + j] = (T)acc[j];
  }
}

// Column max/min, vectorised across the columns of a chunk. With idx, each
// column keeps (extreme, row) with a "sticky NaN" rule: take v if the column
// has no NaN yet and v is NaN or strictly beats it, so the first NaN or the
// first row reaching the extreme wins. Without idx, a plain extreme plus NaN
// flags (cheaper: no row bookkeeping).
template <bool kMax, class T>
void col_minmax(const T* x, int64_t R, int64_t inner, T* out, int64_t* idx) {
  if (R <= 0) return;  // never called (the op layer raises); write nothing
  for (int64_t j0 = 0; j0 < inner; j0 += kColChunk) {
    const int64_t jb = min64(kColChunk, inner - j0);
    T best[kColChunk];
    for (int64_t j = 0; j < jb; ++j) best[j] = x[j0 + j];
    if (idx) {
      int64_t bi[kColChunk];
      for (int64_t j = 0; j < jb; ++j) bi[j] = 0;
      for (int64_t r = 1; r < R; ++r) {
        const T* xr = x + r * inner + j0;
#pragma omp simd
        for (int64_t j = 0; j < jb; ++j) {
          const T v = xr[j];
          const bool take = !is_nan(best[j]) && (is_nan(v) || beats<kMax>(v, best[j]));
          best[j] = take ? v : best[j];
          bi[j] = take ? r : bi[j];
        }
      }
      for (int64_t j = 0; j < jb; ++j) idx[j0 + j] = bi[j];
    } else {  // plain extreme plus NaN flags, as in minmax_run
      using Flag = typename FlagOf<T>::type;
      Flag saw_nan[kColChunk];
      for (int64_t j = 0; j < jb; ++j) saw_nan[j] = 0;
      for (int64_t r = 1; r < R; ++r) {
        const T* xr = x + r * inner + j0;
#pragma omp simd
        for (int64_t j = 0; j < jb; ++j) {
          const T v = xr[j];
          best[j] = beats<kMax>(v, best[j]) ? v : best[j];
          saw_nan[j] |= is_nan(v) ? 1 : 0;
        }
      }
      for (int64_t j = 0; j < jb; ++j) {
        if (saw_nan[j] && !is_nan(best[j])) {
          int64_t r = 1;
          while (!is_nan(x[r * inner + j0 + j])) ++r;
          best[j] = x[r * inner + j0 + j];
        }
      }
    }
    for (int64_t j = 0; j < jb; ++j) out[j0 + j] = best[j];
  }
}

// reduce_cols: out[j] = reduce_r x[r*inner + j]
template <class T>
void reduce_cols(ReduceOp op, const T* x, int64_t R, int64_t inner, T* out, int64_t* idx) {
  switch (op) {
    case ReduceOp::Sum:
      col_sum(R, inner, out, [x, inner](int64_t r, int64_t j) { return x[r * inner + j]; });
      break;
    case ReduceOp::Prod:
      col_prod(x, R, inner, out);
      break;
    case ReduceOp::Max:
      col_minmax<true>(x, R, inner, out, idx);
      break;
    case ReduceOp::Min:
      col_minmax<false>(x, R, inner, out, idx);
      break;
    default:
      break;
  }
}

// ---------------------------------------------------------------------------
// Sum of squared deviations (second pass of a two-pass variance).
// ---------------------------------------------------------------------------
// (a - b)^2 in the element type; int64 wraps (computed in uint64, no UB).
template <class T>
inline T sq_diff(T a, T b) {
  const T d = a - b;
  return d * d;
}
inline int64_t sq_diff(int64_t a, int64_t b) {
  const uint64_t d = (uint64_t)a - (uint64_t)b;
  return (int64_t)(d * d);
}

template <class T>
void sq_dev_rows(const T* x, int64_t rows, int64_t R, const T* mean, T* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * R;
    const T m = mean[r];
    out[r] = sum_run(xr, R, [xr, m](int64_t i) { return sq_diff(xr[i], m); });
  }
}

template <class T>
void sq_dev_cols(const T* x, int64_t R, int64_t inner, const T* mean, T* out) {
  col_sum(R, inner, out,
          [x, inner, mean](int64_t r, int64_t j) { return sq_diff(x[r * inner + j], mean[j]); });
}

template <class T>
void fill_typed(TypedKernels<T>& t) {
  t.reduce_rows = &reduce_rows<T>;
  t.reduce_cols = &reduce_cols<T>;
  t.sq_dev_rows = &sq_dev_rows<T>;
  t.sq_dev_cols = &sq_dev_cols<T>;
}

}  // namespace

void fill_reduce(CpuKernels& k) {
  fill_typed(k.f32);
  fill_typed(k.f64);
  fill_typed(k.i64);
  // k.b8 reductions stay null: the op layer casts bool to int64 first.
}

}  // namespace PYDL_ISA_NS
}  // namespace cpu
}  // namespace pydl
