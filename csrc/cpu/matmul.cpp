// GEMM kernels: C[M,N] = alpha * A[M,K] @ B[K,N] + beta * C.
//
// A and B are strided (rs = row stride, cs = column stride, in elements), so a
// transposed operand is just a different stride pair and is never copied
// up front; C is row-major with leading dimension ldc. beta == 0 overwrites C
// (a NaN already in C does not leak into the result), as in BLAS and PyTorch.
//
// Compiled once per ISA (PYDL_ISA_NS = scalar | avx2 | avx512, see
// CMakeLists.txt). Variants, registered from the reference to the fastest
// (the op layer defaults to the last one):
//
//   reference  The textbook triple loop, accumulating in the element type.
//              Obviously right; the yardstick for the others.
//   blocked    Goto/BLIS-style cache blocking, written in portable C++:
//                for jc over N in NC-wide panels         (B panel -> L3)
//                  for pc over K in KC-deep slices       (pack B[kc, nc])
//                    for ic over M in MC-tall blocks     (pack A[mc, kc] -> L2; OpenMP)
//                      for jr over NR-wide strips of B   (B micro-panel -> L1)
//                        for ir over MR-tall strips of A
//                          micro-kernel: C[MR, NR] += A strip @ B strip
//              Packing turns any strides into unit-stride streams, so the
//              transposed operands cost nothing extra; zero padding makes
//              every micro-kernel call full width. The micro-kernel keeps the
//              MR x NR tile of C in registers (MR*NR/VL vector accumulators)
//              and, per k, loads NR/VL vectors of the packed B row and
//              broadcasts MR scalars of A: MR*NR/VL FMAs per MR+NR/VL loads,
//              which is what lets it run near the FMA peak instead of the
//              load/store limit of a row-by-row loop. It is written with
//              GCC/Clang vector extensions (no intrinsics), so the same
//              source is the SSE2, AVX2 and AVX-512 kernel; the compiler
//              contracts acc += b * a into FMAs (-ffp-contract=fast, GCC's
//              default for C++). MR x NR per ISA: AVX-512 12 x 32 (f32) /
//              12 x 16 (f64), AVX2 6 x 16 / 6 x 8, SSE2 4 x 8 / 4 x 4.
//              Bottom-edge strips use a micro-kernel instantiated for their
//              row count; right-edge strips compute NR wide and store nr.
//              (A narrow N, e.g. matrix @ vector, pays for NR columns: a
//              gemv path is future work.)
//              Threads split the M blocks (and the NR strips when M has
//              fewer blocks than threads) once M*N*K > 64^3.
//   packed     (cpu/gemm_packed.cpp) The same loop nest with micro-kernels
//              written in intrinsics per ISA: AVX-512 14 x 32 (f32) / 14 x 16
//              (f64) with mask-register edges, AVX2 6 x 16 / 6 x 8 with
//              maskload/maskstore edges, portable loops in the scalar copy;
//              blocking sized from the machine's caches. The default.
//
// Only raw loops, fixed-size locals and aligned_alloc here: this file is
// compiled with different ISA flags, and an out-of-line std template
// instantiated in two copies could be merged by the linker into the wrong
// ISA's code.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "cpu/isa.h"
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
inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// C = beta * C for an M x N tile (beta == 0 writes zeros, NaN in C or not).
template <class T>
void scale_c(int64_t M, int64_t N, T beta, T* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    T* c = C + i * ldc;
    if (beta == T(0)) {
      for (int64_t j = 0; j < N; ++j) c[j] = T(0);
    } else if (beta != T(1)) {
      for (int64_t j = 0; j < N; ++j) c[j] *= beta;
    }
  }
}

// ===========================================================================
// reference: C[i,j] = alpha * sum_k A[i,k] B[k,j] + beta * C[i,j]
// ===========================================================================
template <class T>
void gemm_reference(int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t rsA,
                    int64_t csA, const T* B, int64_t rsB, int64_t csB, T beta, T* C,
                    int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      T acc = 0;
      for (int64_t k = 0; k < K; ++k) acc += A[i * rsA + k * csA] * B[k * rsB + j * csB];
      T& c = C[i * ldc + j];
      c = beta == T(0) ? alpha * acc : alpha * acc + beta * c;
    }
  }
}

// ===========================================================================
// blocked
// ===========================================================================

// Micro-tile rows for this ISA copy (kVecBytes, the register width, is in cpu/isa.h).
#if defined(__AVX512F__)
constexpr int kMR = 12;  // 12 x 2 accumulators + 2 B vectors of 32 registers
#elif defined(__AVX2__)
constexpr int kMR = 6;   // 6 x 2 accumulators + 2 B + 1 broadcast of 16 registers
#else
constexpr int kMR = 4;   // SSE2 has no FMA: leave room for the product temporaries
#endif
constexpr int kNV = 2;   // vectors per micro-tile row

template <class T> struct Vec;
template <> struct Vec<float> { typedef float type __attribute__((vector_size(kVecBytes))); };
template <> struct Vec<double> { typedef double type __attribute__((vector_size(kVecBytes))); };

// Blocking parameters, in elements, for a core with 32 KiB L1d and 1 MiB L2
// (tuned on Zen 4; Intel server cores have the same or larger). Per k step
// the micro-kernel reads one packed B row (NR) and one packed A column (MR).
//   KC: depth of a slice. A larger KC reads and writes C less often; the B
//       micro-panel (KC x NR: 48 KiB for f32 on AVX-512, 24 KiB on AVX2)
//       then sits in L1/L2, which Zen 4 feeds fast enough: KC = 256, 384, 512
//       measured within noise at 512^3, 384 best at 1024^3.
//   MC: rows of A per block; the packed block (MC x KC, ~288 KiB for f32)
//       stays in L2 while the NR strips of B sweep past it. A multiple of MR.
//   NC: columns of B per panel; the packed panel (KC x NC) lives in L3.
template <class T> struct Blocking {
  static constexpr int VL = kVecBytes / (int)sizeof(T);  // lanes per vector
  static constexpr int MR = kMR;
  static constexpr int NR = kNV * VL;
  static constexpr int64_t KC = 1536 / (int)sizeof(T);   // f32: 384, f64: 192
  static constexpr int64_t MC = 192;                     // 16 x 12, 32 x 6, 48 x 4
  static constexpr int64_t NC = 4096;
  static_assert(MC % MR == 0, "MC must be a multiple of MR");
};

// Micro-kernel: the MR_ x NR tile C += alpha * Ap[kc, MR] (rows < MR_) @ Bp[kc, NR].
// Ap: packed A strip, MR values per k (this call uses the first MR_).
// Bp: packed B strip, NR values per k, 64-byte aligned.
// first: this is the first K slice, so C = alpha*AB + beta*C (beta == 0: C = alpha*AB).
// Later slices accumulate: C += alpha*AB. nr < NR: only nr columns are written.
template <class T, int MR_>
void micro_kernel(int64_t kc, const T* __restrict Ap, const T* __restrict Bp, T* C,
                  int64_t ldc, int64_t nr, T alpha, T beta, bool first) {
  using V = typename Vec<T>::type;
  using Bk = Blocking<T>;
  constexpr int VL = Bk::VL, NR = Bk::NR, MR = Bk::MR;
  V acc[MR_][kNV];
#pragma GCC unroll 16
  for (int i = 0; i < MR_; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < kNV; ++v) acc[i][v] = V{};

  for (int64_t k = 0; k < kc; ++k) {
    V b[kNV];
#pragma GCC unroll 4
    for (int v = 0; v < kNV; ++v) std::memcpy(&b[v], Bp + k * NR + v * VL, sizeof(V));
#pragma GCC unroll 16
    for (int i = 0; i < MR_; ++i) {
      const T a = Ap[k * MR + i];
#pragma GCC unroll 4
      for (int v = 0; v < kNV; ++v) acc[i][v] += b[v] * a;
    }
  }

  const T bt = first ? beta : T(1);
  if (nr == NR) {  // full width: vector read-modify-write of C
#pragma GCC unroll 16
    for (int i = 0; i < MR_; ++i) {
#pragma GCC unroll 4
      for (int v = 0; v < kNV; ++v) {
        T* c = C + i * ldc + v * VL;
        V r = acc[i][v] * alpha;
        if (bt != T(0)) {
          V cv;
          std::memcpy(&cv, c, sizeof(V));
          r += cv * bt;
        }
        std::memcpy(c, &r, sizeof(V));
      }
    }
  } else {  // right edge: spill the tile, write nr columns
    alignas(64) T tile[MR_][NR];
    std::memcpy(tile, acc, sizeof(tile));
    for (int i = 0; i < MR_; ++i) {
      T* c = C + i * ldc;
      if (bt == T(0)) {
        for (int64_t j = 0; j < nr; ++j) c[j] = alpha * tile[i][j];
      } else {
        for (int64_t j = 0; j < nr; ++j) c[j] = alpha * tile[i][j] + bt * c[j];
      }
    }
  }
}

template <class T>
using MicroKernelFn = void (*)(int64_t, const T*, const T*, T*, int64_t, int64_t, T, T, bool);

// The micro-kernel for mr rows (1..MR): the bottom edge (and M < MR) computes
// only the rows it has instead of MR rows of zero padding.
template <class T, int R = 1>
MicroKernelFn<T> micro_kernel_for_rows(int64_t mr) {
  if constexpr (R == kMR) {
    return &micro_kernel<T, R>;
  } else {
    return mr == R ? &micro_kernel<T, R> : micro_kernel_for_rows<T, R + 1>(mr);
  }
}

// Pack A[mc, kc] (strided) into ceil(mc/MR) strips of [kc][MR], zero-padded rows.
template <class T>
void pack_a(int64_t mc, int64_t kc, const T* A, int64_t rsA, int64_t csA, T* Ap) {
  constexpr int MR = Blocking<T>::MR;
  for (int64_t i0 = 0; i0 < mc; i0 += MR) {
    const int64_t mr = min64(MR, mc - i0);
    T* dst = Ap + i0 * kc;
    const T* src = A + i0 * rsA;
    if (csA == 1 && mr == MR) {  // row-major A: read each row contiguously
      for (int i = 0; i < MR; ++i)
        for (int64_t k = 0; k < kc; ++k) dst[k * MR + i] = src[i * rsA + k];
    } else if (rsA == 1 && mr == MR) {  // column-major (transposed) A: columns are contiguous
      for (int64_t k = 0; k < kc; ++k)
#pragma omp simd
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
void pack_b_strips(int64_t s0, int64_t s1, int64_t kc, int64_t nc, const T* B, int64_t rsB,
                   int64_t csB, T* Bp) {
  constexpr int NR = Blocking<T>::NR;
  for (int64_t s = s0; s < s1; ++s) {
    const int64_t j0 = s * NR;
    const int64_t nr = min64(NR, nc - j0);
    T* dst = Bp + j0 * kc;
    const T* src = B + j0 * csB;
    if (csB == 1 && nr == NR) {  // row-major B: rows of the strip are contiguous
      for (int64_t k = 0; k < kc; ++k)
#pragma omp simd
        for (int j = 0; j < NR; ++j) dst[k * NR + j] = src[k * rsB + j];
    } else if (rsB == 1 && nr == NR) {  // transposed B: each column is contiguous
      for (int j = 0; j < NR; ++j)
        for (int64_t k = 0; k < kc; ++k) dst[k * NR + j] = src[j * csB + k];
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

// Everything one call needs; shared by the threads.
template <class T>
struct GemmPlan {
  int64_t M, N, K;
  T alpha, beta;
  const T* A;
  int64_t rsA, csA;
  const T* B;
  int64_t rsB, csB;
  T* C;
  int64_t ldc;
  int64_t mc;      // rows per M block (multiple of MR)
  int64_t mb;      // number of M blocks
  int64_t ng;      // NR-strip groups per B panel (> 1 only when mb < threads)
  int64_t kc_max;  // = min(K, KC)
  T* Bp;           // packed B panel, kc_max x round_up(min(N, NC), NR)
  T* Ap;           // packed A blocks, one of mc x kc_max per thread
};

// Thread tid's share [lo, hi) of n items split evenly over nth threads.
inline void split_range(int64_t n, int tid, int nth, int64_t& lo, int64_t& hi) {
  lo = n * tid / nth;
  hi = n * (tid + 1) / nth;
}

// The loop nest above, run by each of nth threads (thread tid). The work is
// split by hand and the barriers are taken only when nth > 1, so a call made
// from inside someone else's parallel region (nth == 1) never binds an
// OpenMP construct to that outer team.
template <class T>
void gemm_blocked_body(const GemmPlan<T>& p, int tid, int nth) {
  using Bk = Blocking<T>;
  constexpr int MR = Bk::MR, NR = Bk::NR;
  const MicroKernelFn<T> full_kernel = micro_kernel_for_rows<T>(MR);
  T* Ap = p.Ap + (int64_t)tid * p.mc * p.kc_max;

  for (int64_t jc = 0; jc < p.N; jc += Bk::NC) {
    const int64_t nc = min64(Bk::NC, p.N - jc);
    const int64_t nstrips = ceil_div(nc, NR);
    for (int64_t pc = 0; pc < p.K; pc += Bk::KC) {
      const int64_t kc = min64(Bk::KC, p.K - pc);
      const bool first = pc == 0;
      int64_t lo, hi;

      // Pack the B panel, threads sharing the strips.
      split_range(nstrips, tid, nth, lo, hi);
      pack_b_strips(lo, hi, kc, nc, p.B + pc * p.rsB + jc * p.csB, p.rsB, p.csB, p.Bp);
      if (nth > 1) {
#pragma omp barrier
      }

      // Tasks: one M block x one group of NR strips; a thread's tasks are
      // consecutive, so it packs each of its A blocks once.
      split_range(p.mb * p.ng, tid, nth, lo, hi);
      int64_t packed_ib = -1;
      for (int64_t t = lo; t < hi; ++t) {
        const int64_t ib = t / p.ng, g = t % p.ng;
        const int64_t ic = ib * p.mc;
        const int64_t mc = min64(p.mc, p.M - ic);
        if (ib != packed_ib) {
          pack_a(mc, kc, p.A + ic * p.rsA + pc * p.csA, p.rsA, p.csA, Ap);
          packed_ib = ib;
        }
        const int64_t s0 = nstrips * g / p.ng, s1 = nstrips * (g + 1) / p.ng;
        for (int64_t s = s0; s < s1; ++s) {
          const int64_t jr = s * NR;
          const int64_t nr = min64(NR, nc - jr);
          const T* Bs = p.Bp + jr * kc;
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int64_t mr = min64(MR, mc - ir);
            const MicroKernelFn<T> kernel = mr == MR ? full_kernel : micro_kernel_for_rows<T>(mr);
            kernel(kc, Ap + ir * kc, Bs, p.C + (ic + ir) * p.ldc + jc + jr, p.ldc, nr, p.alpha,
                   p.beta, first);
          }
        }
      }
      if (nth > 1) {  // the B panel is rewritten next
#pragma omp barrier
      }
    }
  }
}

template <class T>
void gemm_blocked(int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t rsA,
                  int64_t csA, const T* B, int64_t rsB, int64_t csB, T beta, T* C,
                  int64_t ldc) {
  using Bk = Blocking<T>;
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    scale_c(M, N, beta, C, ldc);
    return;
  }

  int nthreads = 1;
#ifdef _OPENMP
  // Threads only for work worth a team's start-up, and never nested inside
  // the op layer's own parallel region.
  if ((double)M * (double)N * (double)K > 64.0 * 64.0 * 64.0 && !omp_in_parallel())
    nthreads = omp_get_max_threads();
#endif

  GemmPlan<T> p;
  p.M = M; p.N = N; p.K = K;
  p.alpha = alpha; p.beta = beta;
  p.A = A; p.rsA = rsA; p.csA = csA;
  p.B = B; p.rsB = rsB; p.csB = csB;
  p.C = C; p.ldc = ldc;
  p.kc_max = min64(K, Bk::KC);

  // M blocks: at most MC rows; with threads, a multiple of the thread count
  // when M allows, so the blocks divide evenly. If there are still fewer
  // blocks than threads (small M), split the NR strips as well.
  p.mb = ceil_div(M, Bk::MC);
  if (nthreads > 1) {
    const int64_t max_blocks = ceil_div(M, Bk::MR);
    p.mb = min64(round_up(p.mb, nthreads), max_blocks);
  }
  p.mc = round_up(ceil_div(M, p.mb), Bk::MR);
  p.mb = ceil_div(M, p.mc);
  p.ng = 1;
  if (nthreads > 1 && p.mb < nthreads) {
    const int64_t strips = ceil_div(min64(N, Bk::NC), Bk::NR);
    p.ng = min64(ceil_div(nthreads, p.mb), strips);
  }
  if (nthreads > 1 && p.mb * p.ng < 2) nthreads = 1;

  p.Bp = alloc_aligned<T>(p.kc_max * round_up(min64(N, Bk::NC), Bk::NR));
  p.Ap = alloc_aligned<T>((int64_t)nthreads * p.mc * p.kc_max);
  if (!p.Bp || !p.Ap) {
    std::free(p.Bp);
    std::free(p.Ap);
    throw std::bad_alloc();
  }

#ifdef _OPENMP
  if (nthreads > 1) {
#pragma omp parallel num_threads(nthreads)
    gemm_blocked_body(p, omp_get_thread_num(), omp_get_num_threads());
  } else
#endif
  {
    gemm_blocked_body(p, 0, 1);
  }
  std::free(p.Bp);
  std::free(p.Ap);
}

}  // namespace

void fill_gemm_packed(CpuKernels& k);  // cpu/gemm_packed.cpp

void fill_matmul(CpuKernels& k) {
  k.gemm_f32.add("reference", &gemm_reference<float>);
  k.gemm_f32.add("blocked", &gemm_blocked<float>);
  k.gemm_f64.add("reference", &gemm_reference<double>);
  k.gemm_f64.add("blocked", &gemm_blocked<double>);
  fill_gemm_packed(k);  // "packed" (cpu/gemm_packed.cpp): last, so the default
}

}  // namespace PYDL_ISA_NS
}  // namespace cpu
}  // namespace pydl
