// Machine probes: the two numbers a roofline needs, measured on this machine.
//
// Compiled once per ISA (PYDL_ISA_NS = scalar | avx2 | avx512, see
// CMakeLists.txt), like the kernels, so each copy measures what code of its
// own vector width can reach; dispatch.cpp hands out the copy of the ISA in
// use. `python -m pydl.bench` calls them through _C.probe_fma_peak and
// _C.probe_triad_bandwidth and divides each kernel's rate by them.
//
//   fma_peak_gflops   Each OpenMP thread runs kChains independent chains
//                     acc[j] = acc[j] * a + b on full-width vectors (GCC
//                     vector types, so the same source is 16-, 32- or 64-byte
//                     code). One chain issues one FMA per FMA latency; the
//                     core has up to two FMA ports, so latency (4-5 cycles on
//                     current x86) x 2 ports = 8-10 chains keep every port
//                     busy. kChains = 12 covers that with room, and still
//                     fits in 16 registers for the SSE2 copy (12 chains + a, b).
//                     The scalar copy has no FMA instruction (x86-64 baseline
//                     is SSE2): the compiler emits a multiply and an add, so its
//                     "peak" is the mul+add peak that its kernels can reach.
//                     Each FMA counts 2 flops per lane. Each thread times its
//                     own loop (best of kRepeats); the result is the sum of the
//                     per-thread rates, i.e. the peak at the current thread count.
//   triad_gbs         STREAM's triad a[i] = b[i] + s * c[i] on float32 arrays of
//                     n elements each (make 3 * 4 * n bytes far larger than the
//                     last-level cache), OpenMP-parallel with the same static
//                     split as the first-touch initialisation, best of
//                     kTriadRepeats. Bytes moved are counted as STREAM counts
//                     them: 3 arrays x 4 bytes per element (read b, read c,
//                     write a); the write-allocate read of a is not counted.
//
// Only raw loops, fixed-size locals, aligned_alloc and clock_gettime here: this
// file is compiled with different ISA flags, and an out-of-line std template
// instantiated in two copies could be merged by the linker into the wrong
// ISA's code.
#include <time.h>

#include <cstdint>
#include <cstdlib>
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

// kVecBytes, the width of one SIMD register for this ISA copy, is in cpu/isa.h.

template <class T> struct VecOf;
template <> struct VecOf<float> { typedef float type __attribute__((vector_size(kVecBytes))); };
template <> struct VecOf<double> { typedef double type __attribute__((vector_size(kVecBytes))); };
template <class T> using Vec = typename VecOf<T>::type;

// asm operand constraint for a vector register of this width ("v" reaches zmm0-31).
#if defined(__AVX512F__)
#define PYDL_VREG(x) "+v"(x)
#else
#define PYDL_VREG(x) "+x"(x)
#endif

constexpr int kChains = 12;             // independent FMA chains per thread (see above)
constexpr int64_t kFmaIters = 1 << 23;  // 10-100 ms per repeat, depending on width and type
constexpr int kRepeats = 5;
constexpr int kTriadRepeats = 8;

double now_seconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// Runs `iters` rounds of kChains vector FMAs; returns a value that depends on
// every chain so the compiler cannot drop the work.
template <class T>
__attribute__((noinline)) T fma_chains(int64_t iters) {
  constexpr int L = kVecBytes / (int)sizeof(T);
  // a < 1 and b > 0: every chain converges to b / (1 - a) = 1e3 and stays a
  // normal number (denormals would slow the FMA units down).
  Vec<T> a, b;
  for (int l = 0; l < L; ++l) {
    a[l] = (T)0.999;
    b[l] = (T)1.0;
  }
  Vec<T> acc[kChains];
  for (int j = 0; j < kChains; ++j)
    for (int l = 0; l < L; ++l) acc[j][l] = (T)(j + l);
  for (int64_t it = 0; it < iters; ++it) {
    // An empty asm that "may change" a and b each round stops the compiler
    // from reasoning about the recurrence across iterations.
    __asm__ volatile("" : PYDL_VREG(a), PYDL_VREG(b));
    for (int j = 0; j < kChains; ++j) acc[j] = acc[j] * a + b;  // contracted to FMA
  }
  Vec<T> s = acc[0];
  for (int j = 1; j < kChains; ++j) s += acc[j];
  T r = 0;
  for (int l = 0; l < L; ++l) r += s[l];
  return r;
}

template <class T>
double fma_peak_gflops_t() {
  constexpr int L = kVecBytes / (int)sizeof(T);
  const double flops_per_thread = 2.0 * L * kChains * (double)kFmaIters;
  double total = 0;     // sum of the per-thread rates, GFLOP/s
  double checksum = 0;  // depends on every chain, so the work cannot be dropped
#ifdef _OPENMP
#pragma omp parallel reduction(+ : total, checksum)
#endif
  {
    T keep = fma_chains<T>(kFmaIters / 8);  // warm-up: clocks up, code in cache
    double best = 1e300;
    for (int r = 0; r < kRepeats; ++r) {
#ifdef _OPENMP
#pragma omp barrier
#endif
      const double t0 = now_seconds();
      keep += fma_chains<T>(kFmaIters);
      const double t = now_seconds() - t0;
      if (t < best) best = t;
    }
    total += flops_per_thread / best * 1e-9;
    checksum += (double)keep;
  }
  volatile double sink = checksum;
  (void)sink;
  return total;
}

double fma_peak_gflops(bool is_double) {
  return is_double ? fma_peak_gflops_t<double>() : fma_peak_gflops_t<float>();
}

double triad_gbs(int64_t n) {
  const size_t bytes = (((size_t)n * sizeof(float)) + 63) / 64 * 64;
  float* a = static_cast<float*>(std::aligned_alloc(64, bytes));
  float* b = static_cast<float*>(std::aligned_alloc(64, bytes));
  float* c = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (!a || !b || !c) {
    std::free(a);
    std::free(b);
    std::free(c);
    throw std::bad_alloc();
  }
  // First touch with the same static split as the triad, so that each thread's
  // pages are its own (matters on multi-socket machines).
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
  for (int64_t i = 0; i < n; ++i) {
    a[i] = 0.0f;
    b[i] = 1.0f;
    c[i] = 2.0f;
  }
  const float s = 3.0f;
  double best = 1e300;
  for (int r = 0; r < kTriadRepeats; ++r) {
    const double t0 = now_seconds();
#ifdef _OPENMP
#pragma omp parallel for simd schedule(static)
#else
#pragma omp simd
#endif
    for (int64_t i = 0; i < n; ++i) a[i] = b[i] + s * c[i];
    const double t = now_seconds() - t0;
    if (t < best) best = t;
  }
  // STREAM's byte count: 3 arrays x 4 bytes (float32) per element.
  const double moved = 3.0 * (double)sizeof(float) * (double)n;
  volatile float sink = a[n / 2];
  (void)sink;
  std::free(a);
  std::free(b);
  std::free(c);
  return moved / best * 1e-9;
}

}  // namespace

void fill_probe(CpuKernels& k) {
  k.probe_fma_gflops = &fma_peak_gflops;
  k.probe_triad_gbs = &triad_gbs;
}

}  // namespace PYDL_ISA_NS
}  // namespace cpu
}  // namespace pydl
