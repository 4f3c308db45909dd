// conv2d kernels: y[N, OC, OH, OW] = conv(x[N, C, H, W], w[OC, C/groups, KH, KW]) + bias,
// and the two gradients dx = conv^T(dy, w), dw = corr(x, dy).
//
//   ih = oh * sh - ph + kh * dh,   iw = ow * sw - pw + kw * dw   (outside [0,H) x [0,W): zero)
//
// ph / pw are the top / left padding; the bottom / right padding only shows in OH / OW, which
// the op layer computes (so torch's asymmetric padding='same' needs nothing special here).
// All tensors are contiguous, NCHW; the op layer (core/ops_conv.cpp) checks every argument.
//
// Compiled once per ISA (PYDL_ISA_NS = scalar | avx2 | avx512). Variants, reference first:
//
//   direct   The definition, as loops. One output (or input-gradient / weight-gradient) plane
//            per OpenMP task, so no two threads write the same element; the inner loop runs
//            over a row of ow with the in-bounds range computed up front (no branch per tap),
//            which the compiler vectorises for stride 1. Obviously right, and for depthwise
//            convolutions (one input and one output channel per group) it is also the fast
//            one: a GEMM with M = 1 would waste its MR-row register tile.
//   im2col   Per (image, group): unfold the receptive fields into col[Cg*KH*KW, OH*OW] and
//            run the blocked, packed GEMM of this ISA (cpu/matmul.cpp):
//              forward      y_g[OCg, P]  = W_g[OCg, K] @ col[K, P]
//              grad input   col[K, P]    = W_g^T @ dy_g[OCg, P], then col2im (scatter-add)
//              grad weight  dW_g^T[K, OCg] += col @ dy_g^T         (summed over images)
//            The transposed operands are stride pairs, never copies. The unfold runs over
//            chunks of output rows sized so that col stays in L2 (see chunk_rows). A 1x1 /
//            stride 1 / no padding convolution skips the unfold: col is the input itself.
//            With at least as many (image, group) items as threads, items run one per
//            thread (each with its own col buffer and, for the weight gradient, its own
//            dW accumulator summed at the end); otherwise items run in turn and the GEMM
//            and the unfold parallelise inside.
//
//   winograd F(2x2, 3x3) for 3x3 / stride 1 / dilation 1 / groups 1 (see the section below):
//            16 GEMMs over channels on transformed tiles, 2.25x fewer multiplies; the input
//            gradient is the same scheme on the rotated filter, the weight gradient its adjoint.
//            Other shapes fall back to im2col.
//
// The op layer's default ("auto") picks per shape: direct for depthwise-style groups, winograd
// for 3x3 / stride 1 / groups 1 with >= 16 input and output channels, im2col otherwise; the GEMM
// is the fastest variant (packed, cpu/gemm_packed.cpp). Measured ratios are in the bench family
// (pydl/bench/families/conv2d.py).
//
// Only raw loops and aligned_alloc here, for the reason given at the top of matmul.cpp.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "cpu/kernels.h"

#ifndef PYDL_ISA_NS
#error "PYDL_ISA_NS must be defined (scalar, avx2 or avx512)"
#endif

namespace pydl {
namespace cpu {
namespace PYDL_ISA_NS {
namespace {

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

// floor(a / b) and ceil(a / b) for b > 0 and any sign of a.
inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
inline int64_t ceil_div_any(int64_t a, int64_t b) { return -floor_div(-a, b); }

// The range [lo, hi) of output positions o whose input position o*s + off lies in [0, n).
inline void valid_range(int64_t off, int64_t s, int64_t n, int64_t out, int64_t& lo, int64_t& hi) {
  lo = max64(0, ceil_div_any(-off, s));
  hi = min64(out, floor_div(n - 1 - off, s) + 1);
  if (hi < lo) hi = lo;
}

inline int max_threads() {
#ifdef _OPENMP
  return omp_in_parallel() ? 1 : omp_get_max_threads();
#else
  return 1;
#endif
}
inline int thread_id() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

template <class T>
T* alloc_buffer(int64_t count) {
  size_t bytes = (size_t)(max64(count, 1) * (int64_t)sizeof(T));
  bytes = (bytes + 63) / 64 * 64;
  T* p = static_cast<T*>(std::aligned_alloc(64, bytes));
  if (!p) throw std::bad_alloc();
  return p;
}

// ===========================================================================
// direct
// ===========================================================================

// y[n, oc] = bias[oc] + sum_{c, kh, kw} w[oc, c, kh, kw] * x[n, g*Cg + c, ih, iw]
template <class T>
void conv_direct_forward(const ConvShape& s, const T* x, const T* w, const T* bias, T* y,
                         GemmFn<T>) {
  const int64_t Cg = s.C / s.groups, OCg = s.OC / s.groups;
  const int64_t HW = s.H * s.W, P = s.OH * s.OW;
#pragma omp parallel for schedule(static) if (s.N * s.OC > 1 && max_threads() > 1)
  for (int64_t t = 0; t < s.N * s.OC; ++t) {
    const int64_t n = t / s.OC, oc = t % s.OC, g = oc / OCg;
    T* yp = y + t * P;
    const T b = bias ? bias[oc] : T(0);
    for (int64_t i = 0; i < P; ++i) yp[i] = b;
    for (int64_t c = 0; c < Cg; ++c) {
      const T* xc = x + (n * s.C + g * Cg + c) * HW;
      const T* wc = w + (oc * Cg + c) * s.KH * s.KW;
      for (int64_t kh = 0; kh < s.KH; ++kh) {
        int64_t oh0, oh1;
        valid_range(kh * s.dh - s.ph, s.sh, s.H, s.OH, oh0, oh1);
        for (int64_t kw = 0; kw < s.KW; ++kw) {
          const int64_t off_w = kw * s.dw - s.pw;
          int64_t ow0, ow1;
          valid_range(off_w, s.sw, s.W, s.OW, ow0, ow1);
          const T wv = wc[kh * s.KW + kw];
          for (int64_t oh = oh0; oh < oh1; ++oh) {
            const T* xr = xc + (oh * s.sh - s.ph + kh * s.dh) * s.W + off_w;
            T* yr = yp + oh * s.OW;
            if (s.sw == 1) {
              for (int64_t ow = ow0; ow < ow1; ++ow) yr[ow] += wv * xr[ow];
            } else {
              for (int64_t ow = ow0; ow < ow1; ++ow) yr[ow] += wv * xr[ow * s.sw];
            }
          }
        }
      }
    }
  }
}

// dx[n, c] = sum_{oc in c's group, kh, kw} w[oc, c', kh, kw] * dy[n, oc] scattered back.
template <class T>
void conv_direct_backward_input(const ConvShape& s, const T* dy, const T* w, T* dx, GemmFn<T>) {
  const int64_t Cg = s.C / s.groups, OCg = s.OC / s.groups;
  const int64_t HW = s.H * s.W, P = s.OH * s.OW;
#pragma omp parallel for schedule(static) if (s.N * s.C > 1 && max_threads() > 1)
  for (int64_t t = 0; t < s.N * s.C; ++t) {
    const int64_t n = t / s.C, ci = t % s.C, g = ci / Cg, c = ci % Cg;
    T* xp = dx + t * HW;
    for (int64_t i = 0; i < HW; ++i) xp[i] = T(0);
    for (int64_t o = 0; o < OCg; ++o) {
      const int64_t oc = g * OCg + o;
      const T* yp = dy + (n * s.OC + oc) * P;
      const T* wc = w + (oc * Cg + c) * s.KH * s.KW;
      for (int64_t kh = 0; kh < s.KH; ++kh) {
        int64_t oh0, oh1;
        valid_range(kh * s.dh - s.ph, s.sh, s.H, s.OH, oh0, oh1);
        for (int64_t kw = 0; kw < s.KW; ++kw) {
          const int64_t off_w = kw * s.dw - s.pw;
          int64_t ow0, ow1;
          valid_range(off_w, s.sw, s.W, s.OW, ow0, ow1);
          const T wv = wc[kh * s.KW + kw];
          for (int64_t oh = oh0; oh < oh1; ++oh) {
            T* xr = xp + (oh * s.sh - s.ph + kh * s.dh) * s.W + off_w;
            const T* yr = yp + oh * s.OW;
            if (s.sw == 1) {
              for (int64_t ow = ow0; ow < ow1; ++ow) xr[ow] += wv * yr[ow];
            } else {
              for (int64_t ow = ow0; ow < ow1; ++ow) xr[ow * s.sw] += wv * yr[ow];
            }
          }
        }
      }
    }
  }
}

// dw[oc, c, kh, kw] = sum_{n, oh, ow} dy[n, oc, oh, ow] * x[n, g*Cg + c, ih, iw]
template <class T>
void conv_direct_backward_weight(const ConvShape& s, const T* x, const T* dy, T* dw, GemmFn<T>) {
  const int64_t Cg = s.C / s.groups, OCg = s.OC / s.groups;
  const int64_t HW = s.H * s.W, P = s.OH * s.OW;
#pragma omp parallel for schedule(static) if (s.OC * Cg > 1 && max_threads() > 1)
  for (int64_t t = 0; t < s.OC * Cg; ++t) {
    const int64_t oc = t / Cg, c = t % Cg, g = oc / OCg;
    T* wp = dw + t * s.KH * s.KW;
    for (int64_t kh = 0; kh < s.KH; ++kh) {
      int64_t oh0, oh1;
      valid_range(kh * s.dh - s.ph, s.sh, s.H, s.OH, oh0, oh1);
      for (int64_t kw = 0; kw < s.KW; ++kw) {
        const int64_t off_w = kw * s.dw - s.pw;
        int64_t ow0, ow1;
        valid_range(off_w, s.sw, s.W, s.OW, ow0, ow1);
        T acc = 0;
        for (int64_t n = 0; n < s.N; ++n) {
          const T* xc = x + (n * s.C + g * Cg + c) * HW;
          const T* yp = dy + (n * s.OC + oc) * P;
          for (int64_t oh = oh0; oh < oh1; ++oh) {
            const T* xr = xc + (oh * s.sh - s.ph + kh * s.dh) * s.W + off_w;
            const T* yr = yp + oh * s.OW;
            T row = 0;
            if (s.sw == 1) {  // (simd: lets the compiler split the sum into vector lanes)
#pragma omp simd reduction(+ : row)
              for (int64_t ow = ow0; ow < ow1; ++ow) row += yr[ow] * xr[ow];
            } else {
              for (int64_t ow = ow0; ow < ow1; ++ow) row += yr[ow] * xr[ow * s.sw];
            }
            acc += row;
          }
        }
        wp[kh * s.KW + kw] = acc;
      }
    }
  }
}

// ===========================================================================
// im2col
// ===========================================================================

// A 1x1 kernel with stride 1 and no padding reads the input plane as it is.
inline bool is_pointwise(const ConvShape& s) {
  return s.KH == 1 && s.KW == 1 && s.sh == 1 && s.sw == 1 && s.ph == 0 && s.pw == 0 &&
         s.OH == s.H && s.OW == s.W;
}

// Output rows per chunk: the im2col buffer of one chunk, K x (rows * OW), is sized to ~2 MiB
// (L2 plus a share of L3), so the unfold writes and the GEMM's B packing reads it from cache
// instead of streaming a K x OH*OW matrix (7 MiB for a 64-channel 3x3 layer at 56x56) through
// DRAM. Not smaller: the chunk is the GEMM's N, and a narrow N wastes part of the last NR-wide
// strip of the packed GEMM (196 columns = 6 x 32 + 4, 12% of its FMAs) and re-packs the
// weights per chunk; 512 KiB measured 0.77x torch on the 3x3 stride-2 ResNet layer, 2 MiB 1.0x.
template <class T>
int64_t chunk_rows(const ConvShape& s, int64_t K) {
  const int64_t row_bytes = max64(1, K * s.OW * (int64_t)sizeof(T));
  return max64(1, min64(s.OH, (int64_t(2048) << 10) / row_bytes));
}

// col[(c*KH + kh)*KW + kw, (oh - oh_a)*OW + ow] = xg[c, ih, iw] (0 outside), for output rows
// [oh_a, oh_b) of one image and group.
template <class T>
void im2col(const ConvShape& s, int64_t Cg, const T* xg, T* col, int64_t oh_a, int64_t oh_b,
            bool par) {
  const int64_t rows = Cg * s.KH * s.KW, Pc = (oh_b - oh_a) * s.OW;
#pragma omp parallel for schedule(static) if (par)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t c = r / (s.KH * s.KW), kh = (r / s.KW) % s.KH, kw = r % s.KW;
    const T* xc = xg + c * s.H * s.W;
    T* dst = col + r * Pc - oh_a * s.OW;  // indexed by oh * OW + ow
    int64_t oh0, oh1, ow0, ow1;
    const int64_t off_h = kh * s.dh - s.ph, off_w = kw * s.dw - s.pw;
    valid_range(off_h, s.sh, s.H, s.OH, oh0, oh1);
    valid_range(off_w, s.sw, s.W, s.OW, ow0, ow1);
    for (int64_t oh = oh_a; oh < oh_b; ++oh) {
      T* d = dst + oh * s.OW;
      if (oh < oh0 || oh >= oh1) {
        for (int64_t ow = 0; ow < s.OW; ++ow) d[ow] = T(0);
        continue;
      }
      const T* xr = xc + (oh * s.sh + off_h) * s.W + off_w;
      for (int64_t ow = 0; ow < ow0; ++ow) d[ow] = T(0);
      if (s.sw == 1) {
        if (ow1 > ow0) std::memcpy(d + ow0, xr + ow0, (size_t)(ow1 - ow0) * sizeof(T));
      } else {
        for (int64_t ow = ow0; ow < ow1; ++ow) d[ow] = xr[ow * s.sw];
      }
      for (int64_t ow = ow1; ow < s.OW; ++ow) d[ow] = T(0);
    }
  }
}

// dxg[c, ih, iw] += col[(c*KH + kh)*KW + kw, (oh - oh_a)*OW + ow]: the adjoint of im2col for
// output rows [oh_a, oh_b) (dxg is zeroed by the caller). Parallel over channels: the KH*KW
// rows of one channel write the same plane.
template <class T>
void col2im(const ConvShape& s, int64_t Cg, const T* col, T* dxg, int64_t oh_a, int64_t oh_b,
            bool par) {
  const int64_t Pc = (oh_b - oh_a) * s.OW, HW = s.H * s.W;
#pragma omp parallel for schedule(static) if (par)
  for (int64_t c = 0; c < Cg; ++c) {
    T* xc = dxg + c * HW;
    for (int64_t kh = 0; kh < s.KH; ++kh) {
      for (int64_t kw = 0; kw < s.KW; ++kw) {
        const T* src = col + ((c * s.KH + kh) * s.KW + kw) * Pc - oh_a * s.OW;
        int64_t oh0, oh1, ow0, ow1;
        const int64_t off_h = kh * s.dh - s.ph, off_w = kw * s.dw - s.pw;
        valid_range(off_h, s.sh, s.H, s.OH, oh0, oh1);
        valid_range(off_w, s.sw, s.W, s.OW, ow0, ow1);
        for (int64_t oh = max64(oh0, oh_a); oh < min64(oh1, oh_b); ++oh) {
          T* xr = xc + (oh * s.sh + off_h) * s.W + off_w;
          const T* sr = src + oh * s.OW;
          if (s.sw == 1) {
            for (int64_t ow = ow0; ow < ow1; ++ow) xr[ow] += sr[ow];
          } else {
            for (int64_t ow = ow0; ow < ow1; ++ow) xr[ow * s.sw] += sr[ow];
          }
        }
      }
    }
  }
}

// How the (image, group) items are spread: one per thread when there are enough of them.
inline int outer_threads(int64_t items) {
  const int nth = max_threads();
  return (nth > 1 && items >= nth) ? nth : 1;
}

template <class T>
void conv_im2col_forward(const ConvShape& s, const T* x, const T* w, const T* bias, T* y,
                         GemmFn<T> gemm) {
  const int64_t G = s.groups, Cg = s.C / G, OCg = s.OC / G;
  const int64_t K = Cg * s.KH * s.KW, P = s.OH * s.OW, HW = s.H * s.W;
  const int64_t items = s.N * G;
  const bool pointwise = is_pointwise(s);
  const int64_t rows = pointwise ? s.OH : chunk_rows<T>(s, K);
  const int nth = outer_threads(items);
  const bool inner_par = nth == 1 && max_threads() > 1;
  T* cols = pointwise ? nullptr : alloc_buffer<T>((int64_t)nth * K * rows * s.OW);
#pragma omp parallel for schedule(dynamic) num_threads(nth) if (nth > 1)
  for (int64_t t = 0; t < items; ++t) {
    const int64_t n = t / G, g = t % G;
    const T* xg = x + (n * s.C + g * Cg) * HW;
    T* yg = y + (n * s.OC + g * OCg) * P;
    if (bias) {
      for (int64_t o = 0; o < OCg; ++o) {
        const T b = bias[g * OCg + o];
        T* yr = yg + o * P;
        for (int64_t i = 0; i < P; ++i) yr[i] = b;
      }
    }
    const T beta = bias ? T(1) : T(0);
    const T* wg = w + g * OCg * K;
    if (pointwise) {  // y_g[OCg, P] = W_g @ x_g: no unfold at all
      gemm(OCg, P, K, T(1), wg, K, 1, xg, P, 1, beta, yg, P);
      continue;
    }
    T* buf = cols + (nth > 1 ? thread_id() : 0) * K * rows * s.OW;
    for (int64_t oh = 0; oh < s.OH; oh += rows) {
      const int64_t oe = min64(s.OH, oh + rows), Pc = (oe - oh) * s.OW;
      im2col(s, Cg, xg, buf, oh, oe, inner_par);
      gemm(OCg, Pc, K, T(1), wg, K, 1, buf, Pc, 1, beta, yg + oh * s.OW, P);
    }
  }
  std::free(cols);
}

template <class T>
void conv_im2col_backward_input(const ConvShape& s, const T* dy, const T* w, T* dx,
                                GemmFn<T> gemm) {
  const int64_t G = s.groups, Cg = s.C / G, OCg = s.OC / G;
  const int64_t K = Cg * s.KH * s.KW, P = s.OH * s.OW, HW = s.H * s.W;
  const int64_t items = s.N * G;
  const bool pointwise = is_pointwise(s);
  const int64_t rows = pointwise ? s.OH : chunk_rows<T>(s, K);
  const int nth = outer_threads(items);
  const bool inner_par = nth == 1 && max_threads() > 1;
  T* cols = pointwise ? nullptr : alloc_buffer<T>((int64_t)nth * K * rows * s.OW);
#pragma omp parallel for schedule(dynamic) num_threads(nth) if (nth > 1)
  for (int64_t t = 0; t < items; ++t) {
    const int64_t n = t / G, g = t % G;
    const T* dyg = dy + (n * s.OC + g * OCg) * P;
    T* dxg = dx + (n * s.C + g * Cg) * HW;
    const T* wg = w + g * OCg * K;
    if (pointwise) {  // dx_g[Cg, HW] = W_g^T @ dy_g
      gemm(K, P, OCg, T(1), wg, 1, K, dyg, P, 1, T(0), dxg, P);
      continue;
    }
    for (int64_t i = 0; i < Cg * HW; ++i) dxg[i] = T(0);
    T* buf = cols + (nth > 1 ? thread_id() : 0) * K * rows * s.OW;
    for (int64_t oh = 0; oh < s.OH; oh += rows) {
      const int64_t oe = min64(s.OH, oh + rows), Pc = (oe - oh) * s.OW;
      // col[K, Pc] = W_g^T @ dy_g[:, chunk], then scatter-add into dx_g
      gemm(K, Pc, OCg, T(1), wg, 1, K, dyg + oh * s.OW, P, 1, T(0), buf, Pc);
      col2im(s, Cg, buf, dxg, oh, oe, inner_par);
    }
  }
  std::free(cols);
}

// The GEMM's B operand is packed from a transposed view, column by column, its slowest
// packing; so the weight gradient puts the narrower of dy^T (OCg columns) and col^T (K
// columns) there: dW_g^T[K, OCg] += col[K, Pc] @ dy_g^T[Pc, OCg] when OCg <= K (any 3x3
// layer: K = 9 Cg), else dW_g[OCg, K] += dy_g[OCg, Pc] @ col^T[Pc, K] (1x1 expansions). The
// accumulators (one per thread, in that layout) are summed, and transposed if need be, into dw.
template <class T>
void conv_im2col_backward_weight(const ConvShape& s, const T* x, const T* dy, T* dw,
                                 GemmFn<T> gemm) {
  const int64_t G = s.groups, Cg = s.C / G, OCg = s.OC / G;
  const int64_t K = Cg * s.KH * s.KW, P = s.OH * s.OW, HW = s.H * s.W;
  const int64_t items = s.N * G, WN = s.OC * K;
  const bool pointwise = is_pointwise(s);
  const int64_t rows = pointwise ? s.OH : chunk_rows<T>(s, K);
  const int nth = outer_threads(items);
  const bool inner_par = nth == 1 && max_threads() > 1;
  if (items == 0 || P == 0) {  // nothing to sum over
    for (int64_t i = 0; i < WN; ++i) dw[i] = T(0);
    return;
  }
  T* cols = pointwise ? nullptr : alloc_buffer<T>((int64_t)nth * K * rows * s.OW);
  const bool tr = OCg <= K;
  T* acc = alloc_buffer<T>((int64_t)nth * WN);  // per thread: [G][K][OCg] (tr) or [G][OCg][K]
  for (int64_t i = 0; i < (int64_t)nth * WN; ++i) acc[i] = T(0);
#pragma omp parallel for schedule(dynamic) num_threads(nth) if (nth > 1)
  for (int64_t t = 0; t < items; ++t) {
    const int64_t n = t / G, g = t % G;
    const int tid = nth > 1 ? thread_id() : 0;
    const T* xg = x + (n * s.C + g * Cg) * HW;
    const T* dyg = dy + (n * s.OC + g * OCg) * P;
    T* accg = acc + tid * WN + g * K * OCg;
    for (int64_t oh = 0; oh < s.OH; oh += rows) {
      const int64_t oe = min64(s.OH, oh + rows), Pc = (oe - oh) * s.OW;
      const T* col = xg;  // pointwise: the input plane is col (one chunk, Pc = P)
      if (!pointwise) {
        T* buf = cols + tid * K * rows * s.OW;
        im2col(s, Cg, xg, buf, oh, oe, inner_par);
        col = buf;
      }
      const int64_t ldcol = pointwise ? P : Pc;
      if (tr)
        gemm(K, OCg, Pc, T(1), col, ldcol, 1, dyg + oh * s.OW, 1, P, T(1), accg, OCg);
      else
        gemm(OCg, K, Pc, T(1), dyg + oh * s.OW, P, 1, col, 1, ldcol, T(1), accg, K);
    }
  }
  // dw[g*OCg + o, k] = sum over threads of acc[t][g][k][o] (tr) or acc[t][g][o][k]
#pragma omp parallel for schedule(static) if (max_threads() > 1 && WN > 4096)
  for (int64_t i = 0; i < WN; ++i) {
    const int64_t oc = i / K, k = i % K, g = oc / OCg, o = oc % OCg;
    const int64_t j = g * K * OCg + (tr ? k * OCg + o : o * K + k);
    T sum = 0;
    for (int t = 0; t < nth; ++t) sum += acc[t * WN + j];
    dw[i] = sum;
  }
  std::free(acc);
  std::free(cols);
}

// ===========================================================================
// winograd: F(2x2, 3x3) for 3x3 / stride 1 / dilation 1 / groups 1
// ===========================================================================
//
// Each 2x2 output tile is y_t = A^T [ (G g G^T) (.) (B^T d_t B) ] A, where d_t is the 4x4 input
// patch under the tile, g a 3x3 filter and (.) the elementwise product; summed over channels,
// the 16 elementwise products become 16 independent GEMMs over the channel dimension:
//   U[xi][OC][C]  = (G g G^T)[xi]          weights, transformed once per call
//   V[xi][C][T]   = (B^T d_t B)[xi]        input tiles of a chunk (T tiles)
//   M[xi][OC][T]  = U[xi] @ V[xi]          16 GEMMs (the packed GEMM of this ISA)
//   y tile        = A^T M[.][oc][t] A      (+ bias)
// 16 multiplies per 4 outputs against 36: 2.25x fewer flops in the GEMMs, at the price of the
// two transforms (adds only, O(C T + OC T) against the GEMMs' O(C OC T)). Why F(2x2) and not
// F(4x4, 3x3) (4x fewer): F(4x4)'s transforms carry coefficients up to 8 and its float32 error
// is ~10x that of direct convolution, while F(2x2)'s coefficients are 0, +-1, +-1/2, so its
// error stays at the direct one's level (and integer-valued inputs stay exact). Why not an
// implicit-GEMM direct kernel: it would still do all 9 C x OC multiplies per output, so at best
// it removes im2col's extra passes (~1.2x); Winograd removes more than half of the work.
//
// The gradients reuse the same machinery:
//   input   dx = conv(dy, w'), w'[c, oc] = w[oc, c] rotated 180 degrees, padding 2 - p (needs
//           p <= 2: otherwise im2col's path). Same tiles, the roles of C and OC swapped.
//   weight  y_t is linear in U, so dL/dU[xi][oc][c] = sum_t Z[xi][oc][t] V[xi][c][t] with
//           Z_t = A dy_t A^T (dy's 2x2 tile lifted to 4x4): 16 GEMMs with a transposed B
//           operand, then dw = G^T dU G. The same 2.25x saving, exact in exact arithmetic.
//
// Tiles are processed in chunks of tile rows of one image, sized so that the chunk's V and M
// (16 x (C + OC) x T values) stay within ~2 MiB (L2 + a share of L3): the transforms write
// them and the GEMMs read them back from cache rather than DRAM. With at least as many
// (image, chunk) items as threads each thread takes whole items (its own buffers, serial
// GEMMs); otherwise items run in turn and the GEMMs parallelise inside.
// Shapes Winograd cannot take fall back to im2col (is_winograd_shape).

inline bool is_winograd_shape(const ConvShape& s) {
  return s.KH == 3 && s.KW == 3 && s.sh == 1 && s.sw == 1 && s.dh == 1 && s.dw == 1 &&
         s.groups == 1;
}

// U[xi][oc][c] = (G g G^T)[xi] for g = w[oc, c] (flip: g = w[c, oc] rotated 180 degrees, the
// filter of the input gradient). G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]].
template <class T>
void winograd_filter(const T* w, int64_t OC, int64_t C, bool flip, T* U) {
  const int64_t plane = OC * C;
#pragma omp parallel for schedule(static) if (plane > 256 && max_threads() > 1)
  for (int64_t i = 0; i < plane; ++i) {
    const int64_t oc = i / C, c = i % C;
    T g[3][3];
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b)
        g[a][b] = flip ? w[(c * OC + oc) * 9 + (2 - a) * 3 + (2 - b)] : w[i * 9 + a * 3 + b];
    T t[4][3];  // G g
    for (int b = 0; b < 3; ++b) {
      t[0][b] = g[0][b];
      t[1][b] = T(0.5) * (g[0][b] + g[1][b] + g[2][b]);
      t[2][b] = T(0.5) * (g[0][b] - g[1][b] + g[2][b]);
      t[3][b] = g[2][b];
    }
    for (int a = 0; a < 4; ++a) {  // (G g) G^T
      T* u = U + (a * 4) * plane + i;
      u[0 * plane] = t[a][0];
      u[1 * plane] = T(0.5) * (t[a][0] + t[a][1] + t[a][2]);
      u[2 * plane] = T(0.5) * (t[a][0] - t[a][1] + t[a][2]);
      u[3 * plane] = t[a][2];
    }
  }
}

// dw[oc, c] = G^T dU[.][oc][c] G (dU: [16][OC][C]), the adjoint of winograd_filter.
template <class T>
void winograd_filter_grad(const T* dU, int64_t OC, int64_t C, T* dw) {
  const int64_t plane = OC * C;
  for (int64_t i = 0; i < plane; ++i) {
    T u[4][4];
    for (int xi = 0; xi < 16; ++xi) u[xi / 4][xi % 4] = dU[xi * plane + i];
    T t[3][4];  // G^T u: rows (u0 + (u1 + u2)/2), (u1 - u2)/2, ((u1 + u2)/2 + u3)
    for (int b = 0; b < 4; ++b) {
      t[0][b] = u[0][b] + T(0.5) * (u[1][b] + u[2][b]);
      t[1][b] = T(0.5) * (u[1][b] - u[2][b]);
      t[2][b] = T(0.5) * (u[1][b] + u[2][b]) + u[3][b];
    }
    T* g = dw + i * 9;
    for (int a = 0; a < 3; ++a) {
      g[a * 3 + 0] = t[a][0] + T(0.5) * (t[a][1] + t[a][2]);
      g[a * 3 + 1] = T(0.5) * (t[a][1] - t[a][2]);
      g[a * 3 + 2] = T(0.5) * (t[a][1] + t[a][2]) + t[a][3];
    }
  }
}

// Tile geometry of one call: TH x TW tiles of 2x2 outputs per image; chunks of `rows` tile rows.
struct WinoTiles {
  int64_t TH, TW, rows;
};
template <class T>
WinoTiles wino_tiles(const ConvShape& s, int64_t cin, int64_t cout) {
  WinoTiles w;
  w.TH = (s.OH + 1) / 2;
  w.TW = (s.OW + 1) / 2;
  const int64_t row_bytes = 16 * (cin + cout) * w.TW * (int64_t)sizeof(T);
  w.rows = max64(1, min64(w.TH, (int64_t(2) << 20) / max64(1, row_bytes)));
  return w;
}

// V[xi][c][t] = (B^T d B)[xi] for the tiles of tile rows [ty0, ty1) of one image x[C, H, W],
// t = (ty - ty0) * TW + tx, d = x[c, 2 ty - ph + (0..3), 2 tx - pw + (0..3)] (zero outside).
// B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]. The four input rows of a
// tile row are first split into even / odd columns (E, O; zero-padded), so the tile loop reads
// d[r][0..3] = E[tx], O[tx], E[tx + 1], O[tx + 1]: unit stride, vectorised over tx.
template <class T>
void winograd_input(const ConvShape& s, const WinoTiles& wt, const T* x, int64_t C, int64_t ty0,
                    int64_t ty1, T* V, T* eo) {
  const int64_t TW = wt.TW, T_ = (ty1 - ty0) * TW, cstride = T_;
  T* E = eo;                 // [4][TW + 1]
  T* O = eo + 4 * (TW + 1);  // [4][TW + 1]
  for (int64_t c = 0; c < C; ++c) {
    const T* xc = x + c * s.H * s.W;
    for (int64_t ty = ty0; ty < ty1; ++ty) {
      for (int r = 0; r < 4; ++r) {
        const int64_t ih = 2 * ty - s.ph + r;
        T* e = E + r * (TW + 1);
        T* o = O + r * (TW + 1);
        if (ih < 0 || ih >= s.H) {
          for (int64_t m = 0; m <= TW; ++m) e[m] = o[m] = T(0);
          continue;
        }
        const T* xr = xc + ih * s.W;
        // m in [m0, m1): both 2m - pw and 2m - pw + 1 inside the row (no checks; vectorised
        // de-interleave); the few columns around it take the checked path.
        const int64_t m0 = min64(TW + 1, (s.pw + 1) / 2);
        const int64_t m1 = max64(m0, min64(TW + 1, floor_div(s.W - 2 + s.pw, 2) + 1));
        auto edge = [&](int64_t m) {
          const int64_t iw = 2 * m - s.pw;
          e[m] = (iw >= 0 && iw < s.W) ? xr[iw] : T(0);
          o[m] = (iw + 1 >= 0 && iw + 1 < s.W) ? xr[iw + 1] : T(0);
        };
        for (int64_t m = 0; m < m0; ++m) edge(m);
        const T* xm = xr - s.pw;
#pragma omp simd
        for (int64_t m = m0; m < m1; ++m) {
          e[m] = xm[2 * m];
          o[m] = xm[2 * m + 1];
        }
        for (int64_t m = m1; m <= TW; ++m) edge(m);
      }
      T* __restrict v = V + c * cstride + (ty - ty0) * TW;
      const int64_t xs = C * cstride;  // stride between xi planes
      const int64_t L = TW + 1;
      const T* __restrict Er = E;
      const T* __restrict Or = O;
      // (Plain scalars only in this loop body, so that it vectorises over tx.)
#pragma omp simd
      for (int64_t tx = 0; tx < TW; ++tx) {
        // d B per input row r: (d0 - d2, d1 + d2, d2 - d1, d1 - d3), d = E[tx], O[tx], E[tx+1], O[tx+1]
#define PYDL_WINO_ROW(r)                                                        \
  const T a##r = Er[r * L + tx], b##r = Or[r * L + tx], c##r = Er[r * L + tx + 1], \
          d##r = Or[r * L + tx + 1];                                            \
  const T h##r##0 = a##r - c##r, h##r##1 = b##r + c##r, h##r##2 = c##r - b##r,     \
          h##r##3 = b##r - d##r;
        PYDL_WINO_ROW(0)
        PYDL_WINO_ROW(1)
        PYDL_WINO_ROW(2)
        PYDL_WINO_ROW(3)
#undef PYDL_WINO_ROW
        // B^T (d B), column j
#define PYDL_WINO_COL(j)                                \
  v[(0 * 4 + j) * xs + tx] = h0##j - h2##j;             \
  v[(1 * 4 + j) * xs + tx] = h1##j + h2##j;             \
  v[(2 * 4 + j) * xs + tx] = h2##j - h1##j;             \
  v[(3 * 4 + j) * xs + tx] = h1##j - h3##j;
        PYDL_WINO_COL(0)
        PYDL_WINO_COL(1)
        PYDL_WINO_COL(2)
        PYDL_WINO_COL(3)
#undef PYDL_WINO_COL
      }
    }
  }
}

// y[oc, 2 ty + (0, 1), 2 tx + (0, 1)] = (A^T M A) (+ bias) for the chunk's tiles, clipped at
// OH / OW. A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]. Row pairs are formed in yr[2][2][TW] (even /
// odd output columns), then interleaved into the output rows.
template <class T>
void winograd_output(const ConvShape& s, const WinoTiles& wt, const T* M, int64_t OC,
                     const T* bias, int64_t ty0, int64_t ty1, T* y, T* buf) {
  const int64_t TW = wt.TW, T_ = (ty1 - ty0) * TW, xs = OC * T_;
  for (int64_t oc = 0; oc < OC; ++oc) {
    const T b = bias ? bias[oc] : T(0);
    T* yo = y + oc * s.OH * s.OW;
    for (int64_t ty = ty0; ty < ty1; ++ty) {
      const T* __restrict m = M + oc * T_ + (ty - ty0) * TW;
      T* __restrict y0e = buf;
      T* __restrict y0o = buf + TW;
      T* __restrict y1e = buf + 2 * TW;
      T* __restrict y1o = buf + 3 * TW;
#pragma omp simd
      for (int64_t tx = 0; tx < TW; ++tx) {
        // (m A) per row i: (m0 + m1 + m2, m1 - m2 - m3)
#define PYDL_WINO_ROW(i)                                                             \
  const T p##i = m[(i * 4 + 0) * xs + tx], q##i = m[(i * 4 + 1) * xs + tx];          \
  const T r##i = m[(i * 4 + 2) * xs + tx], t##i = m[(i * 4 + 3) * xs + tx];          \
  const T s##i##0 = p##i + q##i + r##i, s##i##1 = q##i - r##i - t##i;
        PYDL_WINO_ROW(0)
        PYDL_WINO_ROW(1)
        PYDL_WINO_ROW(2)
        PYDL_WINO_ROW(3)
#undef PYDL_WINO_ROW
        y0e[tx] = s00 + s10 + s20 + b;
        y0o[tx] = s01 + s11 + s21 + b;
        y1e[tx] = s10 - s20 - s30 + b;
        y1o[tx] = s11 - s21 - s31 + b;
      }
      for (int a = 0; a < 2; ++a) {
        const int64_t oh = 2 * ty + a;
        if (oh >= s.OH) break;
        T* row = yo + oh * s.OW;
        const T* ev = a ? y1e : y0e;
        const T* od = a ? y1o : y0o;
        const int64_t full = s.OW / 2;
        for (int64_t tx = 0; tx < full; ++tx) {
          row[2 * tx] = ev[tx];
          row[2 * tx + 1] = od[tx];
        }
        if (s.OW & 1) row[s.OW - 1] = ev[full];
      }
    }
  }
}

// Z[xi][oc][t] = (A dy_t A^T)[xi]: the 2x2 output-gradient tiles lifted to 4x4 (zero past
// OH / OW), the operand of the weight gradient. A = [[1, 0], [1, 1], [1, -1], [0, -1]].
template <class T>
void winograd_lift(const ConvShape& s, const WinoTiles& wt, const T* dy, int64_t OC, int64_t ty0,
                   int64_t ty1, T* Z, T* buf) {
  const int64_t TW = wt.TW, T_ = (ty1 - ty0) * TW, xs = OC * T_;
  for (int64_t oc = 0; oc < OC; ++oc) {
    const T* dyo = dy + oc * s.OH * s.OW;
    for (int64_t ty = ty0; ty < ty1; ++ty) {
      T* g[2][2] = {{buf, buf + TW}, {buf + 2 * TW, buf + 3 * TW}};  // [row a][even/odd col]
      for (int a = 0; a < 2; ++a) {
        const int64_t oh = 2 * ty + a;
        for (int64_t tx = 0; tx < TW; ++tx) {
          const int64_t ow = 2 * tx;
          const bool in = oh < s.OH;
          g[a][0][tx] = in ? dyo[oh * s.OW + ow] : T(0);
          g[a][1][tx] = (in && ow + 1 < s.OW) ? dyo[oh * s.OW + ow + 1] : T(0);
        }
      }
      T* __restrict z = Z + oc * T_ + (ty - ty0) * TW;
      const T* __restrict g00 = g[0][0];
      const T* __restrict g01 = g[0][1];
      const T* __restrict g10 = g[1][0];
      const T* __restrict g11 = g[1][1];
#pragma omp simd
      for (int64_t tx = 0; tx < TW; ++tx) {
        // rows of A dy: (r0, r0 + r1, r0 - r1, -r1); each row times A^T: (c0, c0 + c1, c0 - c1, -c1)
        const T a00 = g00[tx], a01 = g01[tx], a10 = g10[tx], a11 = g11[tx];
#define PYDL_WINO_ROW(i, c0, c1)                    \
  z[(i * 4 + 0) * xs + tx] = (c0);                  \
  z[(i * 4 + 1) * xs + tx] = (c0) + (c1);           \
  z[(i * 4 + 2) * xs + tx] = (c0) - (c1);           \
  z[(i * 4 + 3) * xs + tx] = -(c1);
        PYDL_WINO_ROW(0, a00, a01)
        PYDL_WINO_ROW(1, a00 + a10, a01 + a11)
        PYDL_WINO_ROW(2, a00 - a10, a01 - a11)
        PYDL_WINO_ROW(3, -a10, -a11)
#undef PYDL_WINO_ROW
      }
    }
  }
}

// y[N, cout, OH, OW] = conv(x[N, cin, H, W]) with filters already transformed into U
// [16][cout][cin]; s gives H, W, OH, OW and the padding (its C / OC fields are not read).
template <class T>
void winograd_run(const ConvShape& s, int64_t cin, int64_t cout, const T* x, const T* U,
                  const T* bias, T* y, GemmFn<T> gemm) {
  const WinoTiles wt = wino_tiles<T>(s, cin, cout);
  const int64_t chunks = (wt.TH + wt.rows - 1) / wt.rows, items = s.N * chunks;
  const int64_t tmax = wt.rows * wt.TW;
  const int nth = outer_threads(items);
  const int64_t per = 16 * (cin + cout) * tmax + 8 * (wt.TW + 1);
  T* bufs = alloc_buffer<T>((int64_t)nth * per);
#pragma omp parallel for schedule(dynamic) num_threads(nth) if (nth > 1)
  for (int64_t it = 0; it < items; ++it) {
    const int64_t n = it / chunks, ty0 = (it % chunks) * wt.rows, ty1 = min64(wt.TH, ty0 + wt.rows);
    const int64_t T_ = (ty1 - ty0) * wt.TW;
    T* V = bufs + (nth > 1 ? thread_id() : 0) * per;
    T* M = V + 16 * cin * tmax;
    T* scratch = M + 16 * cout * tmax;
    winograd_input(s, wt, x + n * cin * s.H * s.W, cin, ty0, ty1, V, scratch);
    for (int xi = 0; xi < 16; ++xi)
      gemm(cout, T_, cin, T(1), U + xi * cout * cin, cin, 1, V + xi * cin * T_, T_, 1, T(0),
           M + xi * cout * T_, T_);
    winograd_output(s, wt, M, cout, bias, ty0, ty1, y + n * cout * s.OH * s.OW, scratch);
  }
  std::free(bufs);
}

template <class T>
void conv_winograd_forward(const ConvShape& s, const T* x, const T* w, const T* bias, T* y,
                           GemmFn<T> gemm) {
  if (!is_winograd_shape(s)) return conv_im2col_forward(s, x, w, bias, y, gemm);
  T* U = alloc_buffer<T>(16 * s.OC * s.C);
  winograd_filter(w, s.OC, s.C, false, U);
  winograd_run(s, s.C, s.OC, x, U, bias, y, gemm);
  std::free(U);
}

template <class T>
void conv_winograd_backward_input(const ConvShape& s, const T* dy, const T* w, T* dx,
                                  GemmFn<T> gemm) {
  if (!is_winograd_shape(s) || s.ph > 2 || s.pw > 2)
    return conv_im2col_backward_input(s, dy, w, dx, gemm);
  // dx = conv(dy, w') over an OH x OW "input", padding 2 - p, producing H x W.
  ConvShape t = s;
  t.H = s.OH; t.W = s.OW; t.OH = s.H; t.OW = s.W;
  t.C = s.OC; t.OC = s.C;
  t.ph = 2 - s.ph; t.pw = 2 - s.pw;
  T* U = alloc_buffer<T>(16 * s.OC * s.C);
  winograd_filter(w, s.C, s.OC, true, U);  // U[xi][c][oc]
  winograd_run(t, s.OC, s.C, dy, U, (const T*)nullptr, dx, gemm);
  std::free(U);
}

template <class T>
void conv_winograd_backward_weight(const ConvShape& s, const T* x, const T* dy, T* dw,
                                   GemmFn<T> gemm) {
  if (!is_winograd_shape(s)) return conv_im2col_backward_weight(s, x, dy, dw, gemm);
  const int64_t C = s.C, OC = s.OC, plane = OC * C;
  const WinoTiles wt = wino_tiles<T>(s, C, OC);
  const int64_t chunks = (wt.TH + wt.rows - 1) / wt.rows, items = s.N * chunks;
  const int64_t tmax = wt.rows * wt.TW;
  const int nth = outer_threads(items);
  const int64_t per = 16 * (C + OC) * tmax + 8 * (wt.TW + 1);
  T* bufs = alloc_buffer<T>((int64_t)nth * per);
  T* dU = alloc_buffer<T>((int64_t)nth * 16 * plane);  // per thread [16][OC][C]
  for (int64_t i = 0; i < (int64_t)nth * 16 * plane; ++i) dU[i] = T(0);
#pragma omp parallel for schedule(dynamic) num_threads(nth) if (nth > 1)
  for (int64_t it = 0; it < items; ++it) {
    const int64_t n = it / chunks, ty0 = (it % chunks) * wt.rows, ty1 = min64(wt.TH, ty0 + wt.rows);
    const int64_t T_ = (ty1 - ty0) * wt.TW;
    const int tid = nth > 1 ? thread_id() : 0;
    T* V = bufs + tid * per;
    T* Z = V + 16 * C * tmax;
    T* scratch = Z + 16 * OC * tmax;
    winograd_input(s, wt, x + n * C * s.H * s.W, C, ty0, ty1, V, scratch);
    winograd_lift(s, wt, dy + n * OC * s.OH * s.OW, OC, ty0, ty1, Z, scratch);
    T* acc = dU + tid * 16 * plane;
    // dU[xi][OC][C] += Z[xi][OC][T] @ V[xi][C][T]^T
    for (int xi = 0; xi < 16; ++xi)
      gemm(OC, C, T_, T(1), Z + xi * OC * T_, T_, 1, V + xi * C * T_, 1, T_, T(1),
           acc + xi * plane, C);
  }
  for (int t = 1; t < nth; ++t)
    for (int64_t i = 0; i < 16 * plane; ++i) dU[i] += dU[t * 16 * plane + i];
  winograd_filter_grad(dU, OC, C, dw);
  std::free(dU);
  std::free(bufs);
}

template <class T>
ConvFns<T> winograd_fns() {
  return {&conv_winograd_forward<T>, &conv_winograd_backward_input<T>,
          &conv_winograd_backward_weight<T>};
}

template <class T>
ConvFns<T> direct_fns() {
  return {&conv_direct_forward<T>, &conv_direct_backward_input<T>,
          &conv_direct_backward_weight<T>};
}
template <class T>
ConvFns<T> im2col_fns() {
  return {&conv_im2col_forward<T>, &conv_im2col_backward_input<T>,
          &conv_im2col_backward_weight<T>};
}

}  // namespace

void fill_conv(CpuKernels& k) {
  k.conv_f32.add("direct", direct_fns<float>());
  k.conv_f32.add("im2col", im2col_fns<float>());
  k.conv_f64.add("direct", direct_fns<double>());
  k.conv_f64.add("im2col", im2col_fns<double>());
  k.conv_f32.add("winograd", winograd_fns<float>());
  k.conv_f64.add("winograd", winograd_fns<double>());
}

}  // namespace PYDL_ISA_NS
}  // namespace cpu
}  // namespace pydl
