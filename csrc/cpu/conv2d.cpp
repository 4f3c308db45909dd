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
// The op layer's default ("auto") is im2col, except for depthwise-style groups, where it is
// direct. At 1 thread on a Zen 4 EPYC (8x64x56x56, 3x3 -> 64, float32) direct runs at ~11
// GFLOP/s and im2col at ~70 (torch/oneDNN: 70-90). What im2col still pays for is three passes
// over the unfolded data (unfold, the GEMM's B packing, the GEMM); unfolding straight into the
// packed B layout (an implicit-GEMM kernel), or Winograd F(2,3) for 3x3 stride 1, is the next
// rung.
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

// Output rows per chunk: the im2col buffer of one chunk, K x (rows * OW), is sized to stay in
// L2 (~512 KiB), so the unfold writes and the GEMM's B packing reads it from cache instead of
// streaming a K x OH*OW matrix (7 MiB for a 64-channel 3x3 layer at 56x56) through DRAM.
template <class T>
int64_t chunk_rows(const ConvShape& s, int64_t K) {
  const int64_t row_bytes = max64(1, K * s.OW * (int64_t)sizeof(T));
  return max64(1, min64(s.OH, (int64_t(512) << 10) / row_bytes));
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
}

}  // namespace PYDL_ISA_NS
}  // namespace cpu
}  // namespace pydl
