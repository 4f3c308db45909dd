// GEMM variant "packed": C[M,N] = alpha * A[M,K] @ B[K,N] + beta * C, BLIS-style, with a
// register-blocked micro-kernel written in intrinsics for each ISA.
//
// Same interface and semantics as the other GEMM variants (cpu/matmul.cpp, which registers
// this one after "blocked"): A and B are strided (rs = row stride, cs = column stride, in
// elements), so the transposed operands of the linear/matmul backward (A^T, B^T views) are
// only different stride pairs and are never copied by the callers; packing reads them in
// whichever order is contiguous. C is row-major with leading dimension ldc; beta == 0
// overwrites C (a NaN already there does not leak), beta == 1 accumulates (conv2d's weight
// gradient and bias paths use that).
//
// The loop nest (Goto / BLIS), with the cache level each packed buffer is sized for:
//
//   for jc over N in NC-wide panels
//     for pc over K in KC-deep slices
//       pack B[pc:+KC, jc:+NC] into NR-wide strips [KC][NR]       -> L3 (shared by threads)
//       for ic over M in MC-tall blocks                            (threads split blocks x strips)
//         pack A[ic:+MC, pc:+KC] into MR-tall strips [KC][MR]      -> L2 (one per thread)
//         for jr over the NR strips of the panel                   (B strip -> L1)
//           for ir over the MR strips of the block                 (A strip streams from L2)
//             micro-kernel: C[ir:+MR, jr:+NR] (+)= A strip @ B strip, MR x NR tile in registers
//
// Packing turns any strides into two unit-stride streams and zero-pads the last strip, so the
// micro-kernel always computes a full MR x NR tile from packed data; it computes only the rows
// the edge has (one instantiation per row count) and writes only the columns it has (AVX-512
// mask registers; AVX2 maskload/maskstore; a small tile buffer in the scalar copy).
//
// Micro-kernel shapes (rows x columns of C, f32 / f64):
//   AVX-512  14 x 32 / 14 x 16: 14 rows x 2 zmm = 28 accumulators, 2 zmm for the B row, 2 left
//            for the A broadcasts (32 zmm registers). Per k: 2 vector loads + 14 broadcasts
//            feed 28 FMAs. Of the tiles that fit in 32 registers this is the one with the most
//            accumulators (so the most FMAs per loaded byte: 6.6 B/FMA against 11.7 for 6 x 64),
//            and its B micro-panel is only 128 bytes per k, half of 6 x 64's, which lets KC
//            go deeper for the same L1 footprint. Zen 4 issues one 512-bit FMA per cycle
//            (two 256-bit pipes) with 4-cycle latency, so 28 independent chains is plenty.
//   AVX2     6 x 16 / 6 x 8: 6 rows x 2 ymm = 12 accumulators + 2 B + 1 broadcast of 16 ymm
//            registers, the classic Haswell shape (two FMA ports x 5-cycle latency needs >= 10
//            chains).
//   scalar   4 x 8 / 4 x 4 plain C++ loops over a local tile (the x86-64 baseline copy, SSE2:
//            the compiler vectorises the tile rows; no FMA instruction exists there).
//
// Cache blocking, from this machine's caches (/sys/devices/system/cpu/cpu0/cache: L1d 32 KiB
// 8-way, L2 1 MiB 8-way private, L3 32 MiB 16-way shared; AMD Zen 4). Bytes are the same for
// f32 and f64 (f64 halves the element counts):
//   KC  depth of a K slice. The B micro-panel KC x NR (f32, AVX-512: KC * 128 B) is reused by
//       every A strip of the block, so it should stay in L1 next to the streaming A strip and
//       the C tile: KC = 256 -> 32 KiB would fill L1, KC = 192 -> 24 KiB leaves a quarter for
//       the rest. A deeper KC writes C fewer times (C is read and written once per slice), and
//       Zen 4's L2 (64 B/cycle) refills a strip that spills L1 without stalling the FMAs (one
//       128-byte B row per 28 FMA cycles). KC = 192 / 256 / 384 with MC = 182 / 378 measured
//       within the noise of this shared machine (+-10%) at 1024^3, so KC = 256 (f64: 128), the
//       deepest that keeps C traffic below 1% of the FMA time without leaving L1+L2 sizing.
//   MC  rows of A per block. The packed block MC x KC is reused by every B strip of the panel
//       and must stay in L2 with room for the B strips passing through: ~3/8 of the 1 MiB L2
//       -> MC x KC x 4 B ~ 384 KiB -> MC = 378 = 27 x 14 (AVX-512), 384 = 64 x 6 (AVX2).
//   NC  columns per B panel. The packed panel KC x NC lives in L3 and is shared by the threads:
//       NC = 4096 -> 4 MiB (f32), an eighth of the 32 MiB L3 (other tenants use it too).
//
// Threads (OpenMP): within one (jc, pc) step the work is a grid of M blocks x NR strips. The
// threads first pack disjoint strips of the shared B panel (barrier), then split the grid along
// the dimension with more blocks: M blocks when there are at least as many as threads (each
// thread packs its own A blocks), else groups of NR strips (threads working on the same M block
// pack it each, which costs MC x KC against MC x KC x NC / threads of FMAs). A call made from
// inside a parallel region (bmm's per-batch loop) runs serially and touches no OpenMP construct.
//
// Only raw loops, intrinsics and aligned_alloc here: this file is compiled with different ISA
// flags, and an out-of-line std template instantiated in two copies could be merged by the
// linker into the wrong ISA's code.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

#include "cpu/isa.h"
#include "cpu/kernels.h"

namespace pydl {
namespace cpu {
namespace PYDL_ISA_NS {

void fill_gemm_packed(CpuKernels& k);  // called by fill_matmul (cpu/matmul.cpp)

namespace {

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// ===========================================================================
// Micro-kernels. Each computes, for R <= MR rows and nr <= NR columns,
//   C[i, j] = alpha * sum_k Ap[k*MR + i] * Bp[k*NR + j] + beta * C[i, j]
// (beta == 0: C is not read). Ap: packed A strip, MR values per k; Bp: packed B strip,
// NR values per k, 64-byte aligned, zero beyond the last column.
// ===========================================================================

#if defined(__AVX512F__)

constexpr int kMR = 14;

// Mask of the first n (0..16) lanes.
inline __mmask16 lanes16(int64_t n) {
  return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n < 0 ? 0 : n)) - 1u);
}
inline __mmask8 lanes8(int64_t n) {
  return n >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << (n < 0 ? 0 : n)) - 1u);
}

template <int R>
void ukernel_f32(int64_t kc, const float* __restrict Ap, const float* __restrict Bp, float* C,
                 int64_t ldc, int64_t nr, float alpha, float beta) {
  constexpr int MR = kMR, NR = 32;
  __m512 c0[R], c1[R];
#pragma GCC unroll 14
  for (int i = 0; i < R; ++i) c0[i] = c1[i] = _mm512_setzero_ps();
  // The C tile is touched only after the loop: start fetching it now.
#pragma GCC unroll 14
  for (int i = 0; i < R; ++i) {
    _mm_prefetch((const char*)(C + i * ldc), _MM_HINT_T0);
    _mm_prefetch((const char*)(C + i * ldc + 16), _MM_HINT_T0);
  }
#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_load_ps(Bp), b1 = _mm512_load_ps(Bp + 16);
    _mm_prefetch((const char*)(Ap + 8 * MR), _MM_HINT_T0);
#pragma GCC unroll 14
    for (int i = 0; i < R; ++i) {
      const __m512 a = _mm512_set1_ps(Ap[i]);
      c0[i] = _mm512_fmadd_ps(a, b0, c0[i]);
      c1[i] = _mm512_fmadd_ps(a, b1, c1[i]);
    }
    Ap += MR;
    Bp += NR;
  }
  const __mmask16 m0 = lanes16(nr), m1 = lanes16(nr - 16);
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 14
  for (int i = 0; i < R; ++i) {
    float* c = C + i * ldc;
    __m512 r0 = _mm512_mul_ps(c0[i], va), r1 = _mm512_mul_ps(c1[i], va);
    if (beta != 0.0f) {
      r0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m0, c), vb, r0);
      r1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m1, c + 16), vb, r1);
    }
    _mm512_mask_storeu_ps(c, m0, r0);
    _mm512_mask_storeu_ps(c + 16, m1, r1);
  }
}

template <int R>
void ukernel_f64(int64_t kc, const double* __restrict Ap, const double* __restrict Bp, double* C,
                 int64_t ldc, int64_t nr, double alpha, double beta) {
  constexpr int MR = kMR, NR = 16;
  __m512d c0[R], c1[R];
#pragma GCC unroll 14
  for (int i = 0; i < R; ++i) c0[i] = c1[i] = _mm512_setzero_pd();
#pragma GCC unroll 14
  for (int i = 0; i < R; ++i) {
    _mm_prefetch((const char*)(C + i * ldc), _MM_HINT_T0);
    _mm_prefetch((const char*)(C + i * ldc + 8), _MM_HINT_T0);
  }
#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    const __m512d b0 = _mm512_load_pd(Bp), b1 = _mm512_load_pd(Bp + 8);
    _mm_prefetch((const char*)(Ap + 8 * MR), _MM_HINT_T0);
#pragma GCC unroll 14
    for (int i = 0; i < R; ++i) {
      const __m512d a = _mm512_set1_pd(Ap[i]);
      c0[i] = _mm512_fmadd_pd(a, b0, c0[i]);
      c1[i] = _mm512_fmadd_pd(a, b1, c1[i]);
    }
    Ap += MR;
    Bp += NR;
  }
  const __mmask8 m0 = lanes8(nr), m1 = lanes8(nr - 8);
  const __m512d va = _mm512_set1_pd(alpha), vb = _mm512_set1_pd(beta);
#pragma GCC unroll 14
  for (int i = 0; i < R; ++i) {
    double* c = C + i * ldc;
    __m512d r0 = _mm512_mul_pd(c0[i], va), r1 = _mm512_mul_pd(c1[i], va);
    if (beta != 0.0) {
      r0 = _mm512_fmadd_pd(_mm512_maskz_loadu_pd(m0, c), vb, r0);
      r1 = _mm512_fmadd_pd(_mm512_maskz_loadu_pd(m1, c + 8), vb, r1);
    }
    _mm512_mask_storeu_pd(c, m0, r0);
    _mm512_mask_storeu_pd(c + 8, m1, r1);
  }
}

constexpr int64_t kKCBytes = 1024;   // KC * sizeof(T): f32 256, f64 128
constexpr int64_t kMC = 378;         // 27 x 14

#elif defined(__AVX2__)

constexpr int kMR = 6;

// maskload/maskstore masks: lanes with the sign bit set are read / written. A window of
// kLaneMask32 starting at 8 - n has its first n lanes on (n in 0..8).
alignas(64) constexpr int32_t kLaneMask32[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                                  0,  0,  0,  0,  0,  0,  0,  0};
alignas(64) constexpr int64_t kLaneMask64[8] = {-1, -1, -1, -1, 0, 0, 0, 0};
inline __m256i lanes8x32(int64_t n) {
  n = n < 0 ? 0 : (n > 8 ? 8 : n);
  return _mm256_loadu_si256((const __m256i*)(kLaneMask32 + 8 - n));
}
inline __m256i lanes4x64(int64_t n) {
  n = n < 0 ? 0 : (n > 4 ? 4 : n);
  return _mm256_loadu_si256((const __m256i*)(kLaneMask64 + 4 - n));
}

template <int R>
void ukernel_f32(int64_t kc, const float* __restrict Ap, const float* __restrict Bp, float* C,
                 int64_t ldc, int64_t nr, float alpha, float beta) {
  constexpr int MR = kMR, NR = 16;
  __m256 c0[R], c1[R];
#pragma GCC unroll 6
  for (int i = 0; i < R; ++i) c0[i] = c1[i] = _mm256_setzero_ps();
#pragma GCC unroll 6
  for (int i = 0; i < R; ++i) _mm_prefetch((const char*)(C + i * ldc), _MM_HINT_T0);
#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_load_ps(Bp), b1 = _mm256_load_ps(Bp + 8);
#pragma GCC unroll 6
    for (int i = 0; i < R; ++i) {
      const __m256 a = _mm256_broadcast_ss(Ap + i);
      c0[i] = _mm256_fmadd_ps(a, b0, c0[i]);
      c1[i] = _mm256_fmadd_ps(a, b1, c1[i]);
    }
    Ap += MR;
    Bp += NR;
  }
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
  if (nr == NR) {
#pragma GCC unroll 6
    for (int i = 0; i < R; ++i) {
      float* c = C + i * ldc;
      __m256 r0 = _mm256_mul_ps(c0[i], va), r1 = _mm256_mul_ps(c1[i], va);
      if (beta != 0.0f) {
        r0 = _mm256_fmadd_ps(_mm256_loadu_ps(c), vb, r0);
        r1 = _mm256_fmadd_ps(_mm256_loadu_ps(c + 8), vb, r1);
      }
      _mm256_storeu_ps(c, r0);
      _mm256_storeu_ps(c + 8, r1);
    }
  } else {  // right edge: masked, so no byte past column nr is touched
    const __m256i m0 = lanes8x32(nr), m1 = lanes8x32(nr - 8);
#pragma GCC unroll 6
    for (int i = 0; i < R; ++i) {
      float* c = C + i * ldc;
      __m256 r0 = _mm256_mul_ps(c0[i], va), r1 = _mm256_mul_ps(c1[i], va);
      if (beta != 0.0f) {
        r0 = _mm256_fmadd_ps(_mm256_maskload_ps(c, m0), vb, r0);
        r1 = _mm256_fmadd_ps(_mm256_maskload_ps(c + 8, m1), vb, r1);
      }
      _mm256_maskstore_ps(c, m0, r0);
      _mm256_maskstore_ps(c + 8, m1, r1);
    }
  }
}

template <int R>
void ukernel_f64(int64_t kc, const double* __restrict Ap, const double* __restrict Bp, double* C,
                 int64_t ldc, int64_t nr, double alpha, double beta) {
  constexpr int MR = kMR, NR = 8;
  __m256d c0[R], c1[R];
#pragma GCC unroll 6
  for (int i = 0; i < R; ++i) c0[i] = c1[i] = _mm256_setzero_pd();
#pragma GCC unroll 6
  for (int i = 0; i < R; ++i) _mm_prefetch((const char*)(C + i * ldc), _MM_HINT_T0);
#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    const __m256d b0 = _mm256_load_pd(Bp), b1 = _mm256_load_pd(Bp + 4);
#pragma GCC unroll 6
    for (int i = 0; i < R; ++i) {
      const __m256d a = _mm256_broadcast_sd(Ap + i);
      c0[i] = _mm256_fmadd_pd(a, b0, c0[i]);
      c1[i] = _mm256_fmadd_pd(a, b1, c1[i]);
    }
    Ap += MR;
    Bp += NR;
  }
  const __m256d va = _mm256_set1_pd(alpha), vb = _mm256_set1_pd(beta);
  // (Every loop over the rows is unrolled: a rolled one makes GCC keep the accumulator
  // arrays in memory, storing them back on every k.)
  const __m256i m0 = lanes4x64(nr), m1 = lanes4x64(nr - 4);
#pragma GCC unroll 6
  for (int i = 0; i < R; ++i) {
    double* c = C + i * ldc;
    __m256d r0 = _mm256_mul_pd(c0[i], va), r1 = _mm256_mul_pd(c1[i], va);
    if (beta != 0.0) {
      r0 = _mm256_fmadd_pd(_mm256_maskload_pd(c, m0), vb, r0);
      r1 = _mm256_fmadd_pd(_mm256_maskload_pd(c + 4, m1), vb, r1);
    }
    _mm256_maskstore_pd(c, m0, r0);
    _mm256_maskstore_pd(c + 4, m1, r1);
  }
}

constexpr int64_t kKCBytes = 1024;   // f32 256, f64 128: B micro-panel 16 KiB, half of L1
constexpr int64_t kMC = 384;         // 64 x 6

#else  // scalar (SSE2 baseline): portable loops over a local tile

constexpr int kMR = 4;

template <class T, int R>
void ukernel_generic(int64_t kc, const T* __restrict Ap, const T* __restrict Bp, T* C,
                     int64_t ldc, int64_t nr, T alpha, T beta) {
  constexpr int MR = kMR, NR = 2 * vec_lanes<T>();
  T acc[R][NR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    for (int i = 0; i < R; ++i) {
      const T a = Ap[i];
#pragma omp simd
      for (int j = 0; j < NR; ++j) acc[i][j] += a * Bp[j];
    }
    Ap += MR;
    Bp += NR;
  }
  for (int i = 0; i < R; ++i) {
    T* c = C + i * ldc;
    if (beta == T(0)) {
      for (int64_t j = 0; j < nr; ++j) c[j] = alpha * acc[i][j];
    } else {
      for (int64_t j = 0; j < nr; ++j) c[j] = alpha * acc[i][j] + beta * c[j];
    }
  }
}
template <int R>
void ukernel_f32(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc, int64_t nr,
                 float alpha, float beta) {
  ukernel_generic<float, R>(kc, Ap, Bp, C, ldc, nr, alpha, beta);
}
template <int R>
void ukernel_f64(int64_t kc, const double* Ap, const double* Bp, double* C, int64_t ldc,
                 int64_t nr, double alpha, double beta) {
  ukernel_generic<double, R>(kc, Ap, Bp, C, ldc, nr, alpha, beta);
}

constexpr int64_t kKCBytes = 1024;
constexpr int64_t kMC = 256;

#endif

template <class T>
using UkernelFn = void (*)(int64_t, const T*, const T*, T*, int64_t, int64_t, T, T);

// Blocking for element type T on this ISA (see the header comment for the reasoning).
template <class T>
struct Blocking {
  static constexpr int MR = kMR;
  static constexpr int NR = 2 * vec_lanes<T>();
  static constexpr int64_t KC = kKCBytes / (int64_t)sizeof(T);
  static constexpr int64_t MC = kMC;
  static constexpr int64_t NC = 4096;
  static_assert(MC % MR == 0, "MC must be a multiple of MR");
};

// The micro-kernel for R rows, R = 1..MR (the bottom edge computes only the rows it has).
template <class T, int R> struct UkernelOf;
template <int R> struct UkernelOf<float, R> { static constexpr UkernelFn<float> fn = &ukernel_f32<R>; };
template <int R> struct UkernelOf<double, R> { static constexpr UkernelFn<double> fn = &ukernel_f64<R>; };

template <class T, int R = 1>
UkernelFn<T> ukernel_for_rows(int64_t mr) {
  if constexpr (R == kMR) {
    return UkernelOf<T, R>::fn;
  } else {
    return mr == R ? UkernelOf<T, R>::fn : ukernel_for_rows<T, R + 1>(mr);
  }
}

// ===========================================================================
// Packing
// ===========================================================================

// Pack A[mc, kc] (strided) into ceil(mc/MR) strips of [kc][MR], zero-padded rows.
template <class T>
void pack_a(int64_t mc, int64_t kc, const T* A, int64_t rsA, int64_t csA, T* Ap) {
  constexpr int MR = Blocking<T>::MR;
  for (int64_t i0 = 0; i0 < mc; i0 += MR) {
    const int64_t mr = min64(MR, mc - i0);
    T* dst = Ap + i0 * kc;
    const T* src = A + i0 * rsA;
    if (csA == 1 && mr == MR) {
      // Row-major A: MR rows are read in parallel, each contiguously; the strip is written
      // in order, one k at a time.
      for (int64_t k = 0; k < kc; ++k)
#pragma GCC unroll 14
        for (int i = 0; i < MR; ++i) dst[k * MR + i] = src[i * rsA + k];
    } else if (rsA == 1 && mr == MR) {
      // Transposed A (a column-major view): each k's MR values are contiguous already.
      for (int64_t k = 0; k < kc; ++k)
#pragma GCC unroll 14
        for (int i = 0; i < MR; ++i) dst[k * MR + i] = src[k * csA + i];
    } else {
      for (int64_t k = 0; k < kc; ++k) {
        for (int64_t i = 0; i < mr; ++i) dst[k * MR + i] = src[i * rsA + k * csA];
        for (int64_t i = mr; i < MR; ++i) dst[k * MR + i] = T(0);
      }
    }
  }
}

// Pack strips [s0, s1) of B[kc, nc] (strided) into [kc][NR] strips, zero-padded columns.
template <class T>
void pack_b(int64_t s0, int64_t s1, int64_t kc, int64_t nc, const T* B, int64_t rsB,
            int64_t csB, T* Bp) {
  constexpr int NR = Blocking<T>::NR;
  constexpr int kTk = 8;  // k rows per tile in the transposed case
  for (int64_t s = s0; s < s1; ++s) {
    const int64_t j0 = s * NR;
    const int64_t nr = min64(NR, nc - j0);
    T* dst = Bp + j0 * kc;
    const T* src = B + j0 * csB;
    if (csB == 1 && nr == NR) {
      // Row-major B: each k's NR values are contiguous: a copy of kc short rows.
      for (int64_t k = 0; k < kc; ++k)
#pragma omp simd
        for (int j = 0; j < NR; ++j) dst[k * NR + j] = src[k * rsB + j];
    } else if (rsB == 1 && nr == NR) {
      // Transposed B (B^T stored row-major, as linear's weight): column j is contiguous in k.
      // Read kTk consecutive k of every column (one cache line or less each), write kTk full
      // rows of the strip: both sides touch whole lines.
      int64_t k = 0;
      for (; k + kTk <= kc; k += kTk)
        for (int j = 0; j < NR; ++j)
#pragma GCC unroll 8
          for (int t = 0; t < kTk; ++t) dst[(k + t) * NR + j] = src[j * csB + k + t];
      for (; k < kc; ++k)
        for (int j = 0; j < NR; ++j) dst[k * NR + j] = src[j * csB + k];
    } else {
      for (int64_t k = 0; k < kc; ++k) {
        for (int64_t j = 0; j < nr; ++j) dst[k * NR + j] = src[k * rsB + j * csB];
        for (int64_t j = nr; j < NR; ++j) dst[k * NR + j] = T(0);
      }
    }
  }
}

template <class T>
T* alloc_aligned(int64_t count) {
  size_t bytes = (size_t)round_up(max64(count, 1) * (int64_t)sizeof(T), 64);
  return static_cast<T*>(std::aligned_alloc(64, bytes));
}

// ===========================================================================
// Driver
// ===========================================================================

// C = beta * C for an M x N tile (beta == 0 writes zeros, NaN in C or not).
template <class T>
void scale_c(int64_t M, int64_t N, T beta, T* C, int64_t ldc) {
  if (beta == T(1)) return;
  for (int64_t i = 0; i < M; ++i) {
    T* c = C + i * ldc;
    if (beta == T(0)) {
      for (int64_t j = 0; j < N; ++j) c[j] = T(0);
    } else {
      for (int64_t j = 0; j < N; ++j) c[j] *= beta;
    }
  }
}

// Everything one call needs; shared by the threads.
template <class T>
struct Plan {
  int64_t M, N, K;
  T alpha, beta;
  const T* A;
  int64_t rsA, csA;
  const T* B;
  int64_t rsB, csB;
  T* C;
  int64_t ldc;
  int64_t mc;      // rows per M block (multiple of MR)
  int64_t mb;      // M blocks
  int64_t ng;      // NR-strip groups per B panel: > 1 when the threads split N
  int64_t kc_max;  // min(K, KC)
  T* Bp;           // packed B panel: kc_max x round_up(min(N, NC), NR)
  T* Ap;           // packed A blocks: mc x kc_max per thread
};

// Thread tid's share [lo, hi) of n items split evenly over nth threads.
inline void split_range(int64_t n, int tid, int nth, int64_t& lo, int64_t& hi) {
  lo = n * tid / nth;
  hi = n * (tid + 1) / nth;
}

// The loop nest, run by each of nth threads (thread tid). Work is split by hand and the
// barriers are taken only when nth > 1, so a serial call never binds an OpenMP construct.
template <class T>
void gemm_packed_body(const Plan<T>& p, int tid, int nth) {
  using Bk = Blocking<T>;
  constexpr int MR = Bk::MR, NR = Bk::NR;
  const UkernelFn<T> full = ukernel_for_rows<T>(MR);
  T* Ap = p.Ap + (int64_t)tid * p.mc * p.kc_max;

  for (int64_t jc = 0; jc < p.N; jc += Bk::NC) {
    const int64_t nc = min64(Bk::NC, p.N - jc);
    const int64_t nstrips = ceil_div(nc, NR);
    for (int64_t pc = 0; pc < p.K; pc += Bk::KC) {
      const int64_t kc = min64(Bk::KC, p.K - pc);
      // The first slice applies beta; the later ones accumulate.
      const T beta = pc == 0 ? p.beta : T(1);
      int64_t lo, hi;
      split_range(nstrips, tid, nth, lo, hi);
      pack_b(lo, hi, kc, nc, p.B + pc * p.rsB + jc * p.csB, p.rsB, p.csB, p.Bp);
      if (nth > 1) {
#pragma omp barrier
      }
      // Tasks: (M block, strip group); a thread's tasks are consecutive, so it packs each of
      // its A blocks once per slice.
      split_range(p.mb * p.ng, tid, nth, lo, hi);
      int64_t packed = -1;
      for (int64_t t = lo; t < hi; ++t) {
        const int64_t ib = t / p.ng, g = t % p.ng;
        const int64_t ic = ib * p.mc, mc = min64(p.mc, p.M - ic);
        if (ib != packed) {
          pack_a(mc, kc, p.A + ic * p.rsA + pc * p.csA, p.rsA, p.csA, Ap);
          packed = ib;
        }
        const int64_t s0 = nstrips * g / p.ng, s1 = nstrips * (g + 1) / p.ng;
        for (int64_t s = s0; s < s1; ++s) {
          const int64_t jr = s * NR, nr = min64(NR, nc - jr);
          const T* Bs = p.Bp + jr * kc;
          T* Cs = p.C + ic * p.ldc + jc + jr;
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int64_t mr = min64(MR, mc - ir);
            const UkernelFn<T> kern = mr == MR ? full : ukernel_for_rows<T>(mr);
            kern(kc, Ap + ir * kc, Bs, Cs + ir * p.ldc, p.ldc, nr, p.alpha, beta);
          }
        }
      }
      if (nth > 1) {  // the B panel is overwritten next
#pragma omp barrier
      }
    }
  }
}

template <class T>
void gemm_packed(int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t rsA, int64_t csA,
                 const T* B, int64_t rsB, int64_t csB, T beta, T* C, int64_t ldc) {
  using Bk = Blocking<T>;
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == T(0)) {
    scale_c(M, N, beta, C, ldc);
    return;
  }

  int nth = 1;
#ifdef _OPENMP
  // Threads only for work worth a team's start-up, never nested in an outer parallel region.
  if ((double)M * (double)N * (double)K > 64.0 * 64.0 * 64.0 && !omp_in_parallel())
    nth = omp_get_max_threads();
#endif

  Plan<T> p;
  p.M = M; p.N = N; p.K = K;
  p.alpha = alpha; p.beta = beta;
  p.A = A; p.rsA = rsA; p.csA = csA;
  p.B = B; p.rsB = rsB; p.csB = csB;
  p.C = C; p.ldc = ldc;
  p.kc_max = min64(K, Bk::KC);

  // Split the dimension with more blocks. M blocks of at most MC rows; with threads, as many
  // as M allows up to a multiple of the thread count (even shares). If M still has fewer blocks
  // than threads, the strips of N are split too, into enough groups to occupy every thread.
  p.mb = ceil_div(M, Bk::MC);
  const int64_t strips = ceil_div(min64(N, Bk::NC), Bk::NR);
  if (nth > 1) {
    const int64_t m_units = ceil_div(M, Bk::MR);
    if (m_units >= (int64_t)nth && (p.mb >= nth || m_units >= strips))
      p.mb = min64(round_up(p.mb, nth), m_units);
  }
  p.mc = round_up(ceil_div(M, p.mb), Bk::MR);
  p.mb = ceil_div(M, p.mc);
  p.ng = 1;
  if (nth > 1 && p.mb < nth) p.ng = min64(ceil_div(nth, p.mb), strips);
  if (nth > 1 && p.mb * p.ng < 2) nth = 1;

  p.Bp = alloc_aligned<T>(p.kc_max * round_up(min64(N, Bk::NC), Bk::NR));
  p.Ap = alloc_aligned<T>((int64_t)nth * p.mc * p.kc_max);
  if (!p.Bp || !p.Ap) {
    std::free(p.Bp);
    std::free(p.Ap);
    throw std::bad_alloc();
  }
#ifdef _OPENMP
  if (nth > 1) {
#pragma omp parallel num_threads(nth)
    gemm_packed_body(p, omp_get_thread_num(), omp_get_num_threads());
  } else
#endif
  {
    gemm_packed_body(p, 0, 1);
  }
  std::free(p.Bp);
  std::free(p.Ap);
}

}  // namespace

void fill_gemm_packed(CpuKernels& k) {
  k.gemm_f32.add("packed", &gemm_packed<float>);
  k.gemm_f64.add("packed", &gemm_packed<double>);
}

}  // namespace PYDL_ISA_NS
}  // namespace cpu
}  // namespace pydl
