// Pooling kernels: max / average pooling over [H, W] planes (NCHW input seen
// as `planes` = N*C contiguous planes), their backwards, and adaptive pooling.
//
// Compiled once per ISA (PYDL_ISA_NS = scalar | avx2 | avx512, see CMakeLists.txt);
// each copy fills the f32 / f64 pooling members of its CpuKernels table. The op
// layer (core/ops_pooling.cpp) checks every argument and splits planes over
// OpenMP threads; these kernels are single-threaded.
//
// Variants, each next to the one before it:
//   *_reference  one output element at a time, in PyTorch's own loop order
//                (ih outer, iw inner). Obviously right; the tests compare the
//                SIMD version against it as well as against torch.
//   SIMD         vectorised across the W output positions of one output row.
//                For every kernel tap (i, j) the inner loop walks a block of
//                output columns ow, reading x[ih, ow*sw - pw + j*dw]: for sw = 1
//                that is a contiguous load, for sw = 2 two loads and a
//                de-interleave. The stride and kernel width are template
//                constants for the common shapes (2x2 s2, 3x3 s2, 3x3 s1), so
//                the tap loop unrolls and the strided access is known.
//                Output columns whose window crosses the left/right border are
//                few (at most ceil(pw/sw) + a tail) and take the reference path;
//                kernel rows outside the input are skipped per output row, so
//                the interior loop has no bounds checks at all.
//                Per output element the taps are visited in the reference's
//                order with the same update rule, so results, argmax indices
//                (first max wins; a NaN always wins, the last NaN is kept, as
//                torch) and float sums are bit-identical to the reference.
//                Without indices (inference) max pooling keeps no index lanes,
//                and for the specialised shapes folds the kernel rows first
//                (contiguous loads), then takes a KW-wide strided max.
//   backward     avg: the adjoint scatter, vectorised the same way (for a
//                fixed tap, distinct ow hit distinct iw, so the simd loop has
//                no conflicts). max: dx[idx] += dy (windows may overlap: scalar).
//   adaptive     windows [floor(o*I/O), ceil((o+1)*I/O)); plain loops with a
//                contiguous inner sum. (The op layer runs the global 1x1 case as
//                a row sum through reduce_rows.)
//
// Only raw loops and fixed-size local arrays here (see reduce.cpp for why).
#include <cstdint>
#include <limits>

#include "cpu/kernels.h"

#ifndef PYDL_ISA_NS
#error "PYDL_ISA_NS must be defined (scalar, avx2 or avx512)"
#endif

// The AVX-512 copy uses 256-bit vectors (with AVX-512VL masks for the tails):
// the stride-2 de-interleaves become cross-lane permutes at 512 bits, and on the
// machine we measured (AMD EPYC, 1 thread, 8x64x112x112) the 512-bit build of
// this file was 1.5-2.5x slower than the 256-bit one.
#if defined(__AVX512F__)
#pragma GCC target("prefer-vector-width=256")
#endif

namespace pydl {
namespace cpu {
namespace PYDL_ISA_NS {
namespace {

// Output columns handled per block of the SIMD loops (accumulators live on the stack).
constexpr int64_t kColBlock = 64;

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
// floor(a / b) for b > 0
inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// ---------------------------------------------------------------------------
// Max pooling
// ---------------------------------------------------------------------------

// One output element, torch's loop (aten/src/ATen/native/cpu/MaxPoolKernel.cpp).
template <class T>
inline void max_window(const T* x, const Pool2dParams& p, int64_t oh, int64_t ow, T* out,
                       int64_t* out_idx) {
  int64_t hs = oh * p.sh - p.ph, ws = ow * p.sw - p.pw;
  const int64_t he = min64(hs + (p.kh - 1) * p.dh + 1, p.H);
  const int64_t we = min64(ws + (p.kw - 1) * p.dw + 1, p.W);
  while (hs < 0) hs += p.dh;
  while (ws < 0) ws += p.dw;
  T m = -std::numeric_limits<T>::infinity();
  int64_t mi = hs * p.W + ws;
  for (int64_t ih = hs; ih < he; ih += p.dh)
    for (int64_t iw = ws; iw < we; iw += p.dw) {
      const T v = x[ih * p.W + iw];
      if (v > m || v != v) { m = v; mi = ih * p.W + iw; }
    }
  *out = m;
  if (out_idx) *out_idx = mi;
}

template <class T>
void max_pool2d_reference(const T* x, int64_t planes, const Pool2dParams& p, T* y, int64_t* idx) {
  const int64_t in_plane = p.H * p.W, out_plane = p.OH * p.OW;
  for (int64_t c = 0; c < planes; ++c)
    for (int64_t oh = 0; oh < p.OH; ++oh)
      for (int64_t ow = 0; ow < p.OW; ++ow) {
        const int64_t o = c * out_plane + oh * p.OW + ow;
        max_window(x + c * in_plane, p, oh, ow, y + o, idx ? idx + o : nullptr);
      }
}

// An integer type as wide as the element type (argmax offset lanes).
template <int Bytes> struct IndexLane { using type = int64_t; };
template <> struct IndexLane<4> { using type = int32_t; };

// Interior output columns [lo, hi): windows entirely inside the input along W.
inline void interior_cols(const Pool2dParams& p, int64_t kw_extent, int64_t* lo, int64_t* hi) {
  *lo = min64(p.OW, (p.pw + p.sw - 1) / p.sw);
  // ow*sw - pw + kw_extent - 1 <= W - 1
  *hi = min64(p.OW, max64(0, floor_div(p.W - kw_extent + p.pw, p.sw) + 1));
  if (*hi < *lo) *hi = *lo;
}

// One output row's interior columns. SW / KW: compile-time stride and kernel
// width (0: use p's). WithIdx: track argmax indices.
template <class T, int SW, int KW, bool WithIdx>
void max_row_interior(const T* x, const Pool2dParams& p, int64_t oh, int64_t lo, int64_t hi, T* y,
                      int64_t* idx) {
  const int64_t sw = SW ? SW : p.sw;
  const int64_t kw = KW ? KW : p.kw;
  const int64_t dw = p.dw, W = p.W;
  int64_t hs = oh * p.sh - p.ph;
  const int64_t he = min64(hs + (p.kh - 1) * p.dh + 1, p.H);
  while (hs < 0) hs += p.dh;
  if constexpr (!WithIdx && SW != 0 && KW != 0) {
    // Values only: max is separable (the result is the max, or NaN if any tap
    // is NaN, whatever the order), so first fold the kernel rows into one
    // contiguous row (full-width loads), then take the KW-wide strided max of
    // that row: KW strided taps per output instead of KH * KW.
    constexpr int64_t kSpan = (kColBlock - 1) * SW + KW;
    for (int64_t b0 = lo; b0 < hi; b0 += kColBlock) {
      const int64_t nb = min64(kColBlock, hi - b0);
      const int64_t span = (nb - 1) * SW + KW;
      const T* base = x + b0 * SW - p.pw;
      T v[kSpan];
      for (int64_t i = 0; i < span; ++i) v[i] = -std::numeric_limits<T>::infinity();
      for (int64_t ih = hs; ih < he; ih += p.dh) {
        const T* r = base + ih * W;
#pragma omp simd
        for (int64_t i = 0; i < span; ++i) v[i] = (r[i] > v[i] || r[i] != r[i]) ? r[i] : v[i];
      }
#pragma omp simd
      for (int64_t b = 0; b < nb; ++b) {
        T m = v[b * SW];
        for (int64_t j = 1; j < KW; ++j) {
          const T t = v[b * SW + j];
          m = (t > m || t != t) ? t : m;
        }
        y[b0 + b] = m;
      }
    }
    return;
  }
  // With indices, each lane tracks the argmax as an offset from its window's
  // first valid element, in an integer as wide as T (int32 lanes for float, so
  // the compare mask blends them directly); the op layer guarantees an [H, W]
  // plane fits in int32. The flat index is rebuilt once per output.
  using Off = typename IndexLane<sizeof(T)>::type;
  for (int64_t b0 = lo; b0 < hi; b0 += kColBlock) {
    const int64_t nb = min64(kColBlock, hi - b0);
    T acc[kColBlock];
    Off ai[kColBlock];
    const int64_t col0 = b0 * sw - p.pw;  // input column of tap j = 0 for ow = b0
    for (int64_t b = 0; b < nb; ++b) acc[b] = -std::numeric_limits<T>::infinity();
    if (WithIdx)
      for (int64_t b = 0; b < nb; ++b) ai[b] = 0;
    for (int64_t ih = hs; ih < he; ih += p.dh) {
      const T* row = x + ih * W + col0;
      for (int64_t j = 0; j < kw; ++j) {
        const T* r = row + j * dw;
        if (WithIdx) {
          const Off off = static_cast<Off>((ih - hs) * W + j * dw);
#pragma omp simd
          for (int64_t b = 0; b < nb; ++b) {
            const T v = r[b * sw];
            const bool take = v > acc[b] || v != v;
            acc[b] = take ? v : acc[b];
            ai[b] = take ? off : ai[b];
          }
        } else {
#pragma omp simd
          for (int64_t b = 0; b < nb; ++b) {
            const T v = r[b * sw];
            acc[b] = (v > acc[b] || v != v) ? v : acc[b];
          }
        }
      }
    }
    for (int64_t b = 0; b < nb; ++b) y[b0 + b] = acc[b];
    if (WithIdx)
      for (int64_t b = 0; b < nb; ++b) idx[b0 + b] = hs * W + col0 + b * sw + static_cast<int64_t>(ai[b]);
  }
}

template <class T, int SW, int KW, bool WithIdx>
void max_pool2d_simd_impl(const T* x, int64_t planes, const Pool2dParams& p, T* y, int64_t* idx) {
  const int64_t in_plane = p.H * p.W, out_plane = p.OH * p.OW;
  int64_t lo, hi;
  interior_cols(p, (p.kw - 1) * p.dw + 1, &lo, &hi);
  for (int64_t c = 0; c < planes; ++c) {
    const T* xc = x + c * in_plane;
    for (int64_t oh = 0; oh < p.OH; ++oh) {
      T* yr = y + c * out_plane + oh * p.OW;
      int64_t* ir = WithIdx ? idx + c * out_plane + oh * p.OW : nullptr;
      for (int64_t ow = 0; ow < lo; ++ow) max_window(xc, p, oh, ow, yr + ow, WithIdx ? ir + ow : nullptr);
      max_row_interior<T, SW, KW, WithIdx>(xc, p, oh, lo, hi, yr, ir);
      for (int64_t ow = hi; ow < p.OW; ++ow) max_window(xc, p, oh, ow, yr + ow, WithIdx ? ir + ow : nullptr);
    }
  }
}

template <class T, bool WithIdx>
void max_pool2d_simd_pick(const T* x, int64_t planes, const Pool2dParams& p, T* y, int64_t* idx) {
  const bool d1 = p.dw == 1;
  if (d1 && p.sw == 2 && p.kw == 2) return max_pool2d_simd_impl<T, 2, 2, WithIdx>(x, planes, p, y, idx);
  if (d1 && p.sw == 2 && p.kw == 3) return max_pool2d_simd_impl<T, 2, 3, WithIdx>(x, planes, p, y, idx);
  if (d1 && p.sw == 1 && p.kw == 3) return max_pool2d_simd_impl<T, 1, 3, WithIdx>(x, planes, p, y, idx);
  if (p.sw == 1) return max_pool2d_simd_impl<T, 1, 0, WithIdx>(x, planes, p, y, idx);
  if (p.sw == 2) return max_pool2d_simd_impl<T, 2, 0, WithIdx>(x, planes, p, y, idx);
  return max_pool2d_simd_impl<T, 0, 0, WithIdx>(x, planes, p, y, idx);
}

template <class T>
void max_pool2d_simd(const T* x, int64_t planes, const Pool2dParams& p, T* y, int64_t* idx) {
  if (idx) max_pool2d_simd_pick<T, true>(x, planes, p, y, idx);
  else max_pool2d_simd_pick<T, false>(x, planes, p, y, nullptr);
}

// dx[idx[o]] += dy[o] per plane (dx zeroed here). Windows may overlap, so scalar.
template <class T>
void max_pool2d_backward(const T* dy, const int64_t* idx, int64_t planes, int64_t in_plane,
                         int64_t out_plane, T* dx) {
  for (int64_t c = 0; c < planes; ++c) {
    T* d = dx + c * in_plane;
    for (int64_t i = 0; i < in_plane; ++i) d[i] = T(0);
    const T* g = dy + c * out_plane;
    const int64_t* ix = idx + c * out_plane;
    for (int64_t o = 0; o < out_plane; ++o) d[ix[o]] += g[o];
  }
}

// ---------------------------------------------------------------------------
// Average pooling (no dilation, as torch)
// ---------------------------------------------------------------------------

// Window rows of output row oh, clipped to the input, and the row count of the
// divisor's pool size (torch: the window clipped to the padded input).
inline void avg_rows(const Pool2dParams& p, int64_t oh, int64_t* hs, int64_t* he, int64_t* pool_h) {
  int64_t s = oh * p.sh - p.ph;
  int64_t e = min64(s + p.kh, p.H + p.ph);
  *pool_h = e - s;
  *hs = max64(s, 0);
  *he = min64(e, p.H);
}
inline void avg_cols(const Pool2dParams& p, int64_t ow, int64_t* ws, int64_t* we, int64_t* pool_w) {
  int64_t s = ow * p.sw - p.pw;
  int64_t e = min64(s + p.kw, p.W + p.pw);
  *pool_w = e - s;
  *ws = max64(s, 0);
  *we = min64(e, p.W);
}
inline int64_t avg_divisor(const Pool2dParams& p, int64_t pool_h, int64_t pool_w, int64_t hs, int64_t he,
                           int64_t ws, int64_t we) {
  if (p.divisor_override) return p.divisor_override;
  return p.count_include_pad ? pool_h * pool_w : (he - hs) * (we - ws);
}

// One output element, torch's loop (AvgPoolKernel.cpp): sum in order, then divide.
template <class T>
inline T avg_window(const T* x, const Pool2dParams& p, int64_t oh, int64_t ow) {
  int64_t hs, he, ph_, ws, we, pw_;
  avg_rows(p, oh, &hs, &he, &ph_);
  avg_cols(p, ow, &ws, &we, &pw_);
  if (hs >= he || ws >= we) return T(0);
  T s = 0;
  for (int64_t ih = hs; ih < he; ++ih)
    for (int64_t iw = ws; iw < we; ++iw) s += x[ih * p.W + iw];
  return s / T(avg_divisor(p, ph_, pw_, hs, he, ws, we));
}

template <class T>
void avg_pool2d_reference(const T* x, int64_t planes, const Pool2dParams& p, T* y) {
  const int64_t in_plane = p.H * p.W, out_plane = p.OH * p.OW;
  for (int64_t c = 0; c < planes; ++c)
    for (int64_t oh = 0; oh < p.OH; ++oh)
      for (int64_t ow = 0; ow < p.OW; ++ow)
        y[c * out_plane + oh * p.OW + ow] = avg_window(x + c * in_plane, p, oh, ow);
}

template <class T, int SW, int KW>
void avg_pool2d_simd_impl(const T* x, int64_t planes, const Pool2dParams& p, T* y) {
  const int64_t sw = SW ? SW : p.sw;
  const int64_t kw = KW ? KW : p.kw;
  const int64_t in_plane = p.H * p.W, out_plane = p.OH * p.OW, W = p.W;
  int64_t lo, hi;
  interior_cols(p, p.kw, &lo, &hi);
  for (int64_t c = 0; c < planes; ++c) {
    const T* xc = x + c * in_plane;
    for (int64_t oh = 0; oh < p.OH; ++oh) {
      T* yr = y + c * out_plane + oh * p.OW;
      for (int64_t ow = 0; ow < lo; ++ow) yr[ow] = avg_window(xc, p, oh, ow);
      int64_t hs, he, pool_h;
      avg_rows(p, oh, &hs, &he, &pool_h);
      if (hs >= he) {
        for (int64_t ow = lo; ow < hi; ++ow) yr[ow] = T(0);
      } else {
        // Interior columns: the window is kw wide and unclipped along W.
        const T div = T(avg_divisor(p, pool_h, kw, hs, he, 0, kw));
        for (int64_t b0 = lo; b0 < hi; b0 += kColBlock) {
          const int64_t nb = min64(kColBlock, hi - b0);
          const int64_t col0 = b0 * sw - p.pw;
          T acc[kColBlock];
          for (int64_t b = 0; b < nb; ++b) acc[b] = T(0);
          for (int64_t ih = hs; ih < he; ++ih) {
            const T* row = xc + ih * W + col0;
            for (int64_t j = 0; j < kw; ++j) {
              const T* r = row + j;
#pragma omp simd
              for (int64_t b = 0; b < nb; ++b) acc[b] += r[b * sw];
            }
          }
#pragma omp simd
          for (int64_t b = 0; b < nb; ++b) yr[b0 + b] = acc[b] / div;
        }
      }
      for (int64_t ow = hi; ow < p.OW; ++ow) yr[ow] = avg_window(xc, p, oh, ow);
    }
  }
}

template <class T>
void avg_pool2d_simd(const T* x, int64_t planes, const Pool2dParams& p, T* y) {
  if (p.sw == 2 && p.kw == 2) return avg_pool2d_simd_impl<T, 2, 2>(x, planes, p, y);
  if (p.sw == 2 && p.kw == 3) return avg_pool2d_simd_impl<T, 2, 3>(x, planes, p, y);
  if (p.sw == 1 && p.kw == 3) return avg_pool2d_simd_impl<T, 1, 3>(x, planes, p, y);
  if (p.sw == 1) return avg_pool2d_simd_impl<T, 1, 0>(x, planes, p, y);
  if (p.sw == 2) return avg_pool2d_simd_impl<T, 2, 0>(x, planes, p, y);
  return avg_pool2d_simd_impl<T, 0, 0>(x, planes, p, y);
}

// Adjoint of one output element: its gradient / divisor added over the window.
template <class T>
inline void avg_window_backward(T g, const Pool2dParams& p, int64_t oh, int64_t ow, T* dx) {
  int64_t hs, he, ph_, ws, we, pw_;
  avg_rows(p, oh, &hs, &he, &ph_);
  avg_cols(p, ow, &ws, &we, &pw_);
  if (hs >= he || ws >= we) return;
  const T v = g / T(avg_divisor(p, ph_, pw_, hs, he, ws, we));
  for (int64_t ih = hs; ih < he; ++ih)
    for (int64_t iw = ws; iw < we; ++iw) dx[ih * p.W + iw] += v;
}

template <class T>
void avg_pool2d_backward_reference(const T* dy, int64_t planes, const Pool2dParams& p, T* dx) {
  const int64_t in_plane = p.H * p.W, out_plane = p.OH * p.OW;
  for (int64_t i = 0; i < planes * in_plane; ++i) dx[i] = T(0);
  for (int64_t c = 0; c < planes; ++c)
    for (int64_t oh = 0; oh < p.OH; ++oh)
      for (int64_t ow = 0; ow < p.OW; ++ow)
        avg_window_backward(dy[c * out_plane + oh * p.OW + ow], p, oh, ow, dx + c * in_plane);
}

template <class T>
void avg_pool2d_backward_simd(const T* dy, int64_t planes, const Pool2dParams& p, T* dx) {
  const int64_t in_plane = p.H * p.W, out_plane = p.OH * p.OW, W = p.W, sw = p.sw, kw = p.kw;
  for (int64_t i = 0; i < planes * in_plane; ++i) dx[i] = T(0);
  int64_t lo, hi;
  interior_cols(p, p.kw, &lo, &hi);
  for (int64_t c = 0; c < planes; ++c) {
    T* dc = dx + c * in_plane;
    for (int64_t oh = 0; oh < p.OH; ++oh) {
      const T* gr = dy + c * out_plane + oh * p.OW;
      for (int64_t ow = 0; ow < lo; ++ow) avg_window_backward(gr[ow], p, oh, ow, dc);
      for (int64_t ow = hi; ow < p.OW; ++ow) avg_window_backward(gr[ow], p, oh, ow, dc);
      int64_t hs, he, pool_h;
      avg_rows(p, oh, &hs, &he, &pool_h);
      if (hs >= he) continue;
      const T div = T(avg_divisor(p, pool_h, kw, hs, he, 0, kw));
      for (int64_t b0 = lo; b0 < hi; b0 += kColBlock) {
        const int64_t nb = min64(kColBlock, hi - b0);
        const int64_t col0 = b0 * sw - p.pw;
        T g[kColBlock];
#pragma omp simd
        for (int64_t b = 0; b < nb; ++b) g[b] = gr[b0 + b] / div;
        for (int64_t ih = hs; ih < he; ++ih) {
          T* row = dc + ih * W + col0;
          for (int64_t j = 0; j < kw; ++j) {
            T* r = row + j;
            // For a fixed tap, distinct b write distinct columns (sw >= 1): no conflicts.
#pragma omp simd
            for (int64_t b = 0; b < nb; ++b) r[b * sw] += g[b];
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Adaptive pooling: output o of O covers [floor(o*I/O), ceil((o+1)*I/O)).
// ---------------------------------------------------------------------------
inline int64_t ad_start(int64_t o, int64_t I, int64_t O) { return (o * I) / O; }
inline int64_t ad_end(int64_t o, int64_t I, int64_t O) { return ((o + 1) * I + O - 1) / O; }

template <class T>
void adaptive_avg_pool2d(const T* x, int64_t planes, const Pool2dParams& p, T* y) {
  const int64_t in_plane = p.H * p.W, out_plane = p.OH * p.OW;
  for (int64_t c = 0; c < planes; ++c) {
    const T* xc = x + c * in_plane;
    for (int64_t oh = 0; oh < p.OH; ++oh) {
      const int64_t h0 = ad_start(oh, p.H, p.OH), h1 = ad_end(oh, p.H, p.OH);
      for (int64_t ow = 0; ow < p.OW; ++ow) {
        const int64_t w0 = ad_start(ow, p.W, p.OW), w1 = ad_end(ow, p.W, p.OW);
        T s = 0;
        for (int64_t ih = h0; ih < h1; ++ih) {
          const T* r = xc + ih * p.W;
          for (int64_t iw = w0; iw < w1; ++iw) s += r[iw];
        }
        y[c * out_plane + oh * p.OW + ow] = s / T(h1 - h0) / T(w1 - w0);
      }
    }
  }
}

template <class T>
void adaptive_avg_pool2d_backward(const T* dy, int64_t planes, const Pool2dParams& p, T* dx) {
  const int64_t in_plane = p.H * p.W, out_plane = p.OH * p.OW;
  for (int64_t i = 0; i < planes * in_plane; ++i) dx[i] = T(0);
  for (int64_t c = 0; c < planes; ++c) {
    T* dc = dx + c * in_plane;
    for (int64_t oh = 0; oh < p.OH; ++oh) {
      const int64_t h0 = ad_start(oh, p.H, p.OH), h1 = ad_end(oh, p.H, p.OH);
      for (int64_t ow = 0; ow < p.OW; ++ow) {
        const int64_t w0 = ad_start(ow, p.W, p.OW), w1 = ad_end(ow, p.W, p.OW);
        const T g = dy[c * out_plane + oh * p.OW + ow] / T(h1 - h0) / T(w1 - w0);
        for (int64_t ih = h0; ih < h1; ++ih) {
          T* r = dc + ih * p.W;
#pragma omp simd
          for (int64_t iw = w0; iw < w1; ++iw) r[iw] += g;
        }
      }
    }
  }
}

template <class T>
void adaptive_max_pool2d(const T* x, int64_t planes, const Pool2dParams& p, T* y, int64_t* idx) {
  const int64_t in_plane = p.H * p.W, out_plane = p.OH * p.OW;
  for (int64_t c = 0; c < planes; ++c) {
    const T* xc = x + c * in_plane;
    for (int64_t oh = 0; oh < p.OH; ++oh) {
      const int64_t h0 = ad_start(oh, p.H, p.OH), h1 = ad_end(oh, p.H, p.OH);
      for (int64_t ow = 0; ow < p.OW; ++ow) {
        const int64_t w0 = ad_start(ow, p.W, p.OW), w1 = ad_end(ow, p.W, p.OW);
        T m = -std::numeric_limits<T>::infinity();
        int64_t mi = h0 * p.W + w0;
        for (int64_t ih = h0; ih < h1; ++ih)
          for (int64_t iw = w0; iw < w1; ++iw) {
            const T v = xc[ih * p.W + iw];
            if (v > m || v != v) { m = v; mi = ih * p.W + iw; }
          }
        const int64_t o = c * out_plane + oh * p.OW + ow;
        y[o] = m;
        if (idx) idx[o] = mi;
      }
    }
  }
}

template <class T>
void fill_typed(TypedKernels<T>& k) {
  k.max_pool2d_reference = &max_pool2d_reference<T>;
  k.max_pool2d = &max_pool2d_simd<T>;
  k.max_pool2d_backward = &max_pool2d_backward<T>;
  k.avg_pool2d_reference = &avg_pool2d_reference<T>;
  k.avg_pool2d = &avg_pool2d_simd<T>;
  k.avg_pool2d_backward_reference = &avg_pool2d_backward_reference<T>;
  k.avg_pool2d_backward = &avg_pool2d_backward_simd<T>;
  k.adaptive_avg_pool2d = &adaptive_avg_pool2d<T>;
  k.adaptive_avg_pool2d_backward = &adaptive_avg_pool2d_backward<T>;
  k.adaptive_max_pool2d = &adaptive_max_pool2d<T>;
}

}  // namespace

void fill_pooling(CpuKernels& k) {
  fill_typed(k.f32);
  fill_typed(k.f64);
}

}  // namespace PYDL_ISA_NS
}  // namespace cpu
}  // namespace pydl
