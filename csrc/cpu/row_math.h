// Row helpers shared by the softmax, normalization and loss kernels.
//
// Included only by the per-ISA kernel sources (softmax.cpp, normalization.cpp,
// loss.cpp): everything here is in an anonymous namespace inside
// pydl::cpu::PYDL_ISA_NS, so each ISA copy (and each file) has its own code
// and the linker never merges an AVX-512 helper into the scalar build.
#pragma once
#include <cstdint>

#include "cpu/vmath.h"

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#ifndef PYDL_ISA_NS
#error "PYDL_ISA_NS must be defined (scalar, avx2 or avx512)"
#endif

namespace pydl {
namespace cpu {
namespace PYDL_ISA_NS {
namespace {

#if defined(__AVX512F__)
constexpr int kRowVecBytes = 64;
#elif defined(__AVX__)
constexpr int kRowVecBytes = 32;
#else
constexpr int kRowVecBytes = 16;
#endif

// Independent accumulator lanes: four registers' worth, so adds pipeline.
template <class T>
constexpr int row_lanes() { return 4 * kRowVecBytes / (int)sizeof(T); }

// Lane partials fold into double every kFoldLen elements per lane: a float32
// row sum then has ~kFoldLen*eps error, independent of the row length.
constexpr int64_t kFoldLen = 32;

template <class A, int L>
inline A lane_tree_sum(A (&a)[L]) {
  for (int w = L / 2; w > 0; w /= 2)
    for (int l = 0; l < w; ++l) a[l] += a[l + w];
  return a[0];
}

// sum_{i<n} f(i) in T lanes folded into double. f may have side effects on
// element i only (e.g. store exp(x[i]) while summing it).
template <class T, class F>
inline double row_sum(int64_t n, F f) {
  constexpr int L = row_lanes<T>();
  constexpr int64_t kBlock = L * kFoldLen;
  double total = 0;
  int64_t i = 0;
  const int64_t nfull = n - n % L;
  if (nfull > 0) {
    double dacc[L] = {};
    while (i < nfull) {
      const int64_t end = (i + kBlock < nfull) ? i + kBlock : nfull;
      T acc[L] = {};
      for (; i < end; i += L) {
#pragma omp simd
        for (int l = 0; l < L; ++l) acc[l] += f(i + l);
      }
#pragma omp simd
      for (int l = 0; l < L; ++l) dacc[l] += (double)acc[l];
    }
    total = lane_tree_sum(dacc);
  }
  for (; i < n; ++i) total += (double)f(i);
  return total;
}

// max_{i<n} x[i], NaN skipped (the caller's exp(NaN - m) makes the row NaN
// anyway); -inf for an empty or all-NaN row.
template <class T>
inline T row_max(const T* x, int64_t n) {
  constexpr int L = row_lanes<T>();
  const T ninf = -(T)__builtin_inf();
  T best = ninf;
  int64_t i = 0;
  const int64_t nfull = n - n % L;
  if (nfull > 0) {
    T m[L];
    for (int l = 0; l < L; ++l) m[l] = ninf;
    for (; i < nfull; i += L) {
#pragma omp simd
      for (int l = 0; l < L; ++l) m[l] = x[i + l] > m[l] ? x[i + l] : m[l];
    }
    for (int l = 0; l < L; ++l) best = m[l] > best ? m[l] : best;
  }
  for (; i < n; ++i) best = x[i] > best ? x[i] : best;
  return best;
}

// ---------------------------------------------------------------------------
// Streaming (non-temporal) stores for outputs much larger than the caches: a
// plain store first reads the destination line into cache (read-for-ownership),
// so writing y costs two memory transfers; a streaming store costs one. A
// memory-bound row kernel (softmax, layer_norm) then moves 2 bytes per element
// byte instead of 3. Callers end with stream_fence() before returning.
// ---------------------------------------------------------------------------
constexpr int64_t kStreamChunk = 256;  // elements staged in L1 before a streaming copy

inline void stream_copy(float* dst, const float* src, int64_t n) {
  int64_t i = 0;
#if defined(__AVX512F__)
  for (; i < n && ((uintptr_t)(dst + i) & 63) != 0; ++i) dst[i] = src[i];
  for (; i + 16 <= n; i += 16) _mm512_stream_ps(dst + i, _mm512_loadu_ps(src + i));
#elif defined(__AVX2__)
  for (; i < n && ((uintptr_t)(dst + i) & 31) != 0; ++i) dst[i] = src[i];
  for (; i + 8 <= n; i += 8) _mm256_stream_ps(dst + i, _mm256_loadu_ps(src + i));
#endif
  for (; i < n; ++i) dst[i] = src[i];
}

inline void stream_copy(double* dst, const double* src, int64_t n) {
  int64_t i = 0;
#if defined(__AVX512F__)
  for (; i < n && ((uintptr_t)(dst + i) & 63) != 0; ++i) dst[i] = src[i];
  for (; i + 8 <= n; i += 8) _mm512_stream_pd(dst + i, _mm512_loadu_pd(src + i));
#elif defined(__AVX2__)
  for (; i < n && ((uintptr_t)(dst + i) & 31) != 0; ++i) dst[i] = src[i];
  for (; i + 4 <= n; i += 4) _mm256_stream_pd(dst + i, _mm256_loadu_pd(src + i));
#endif
  for (; i < n; ++i) dst[i] = src[i];
}

inline void stream_fence() {
#if defined(__AVX512F__) || defined(__AVX2__)
  _mm_sfence();
#endif
}

// dst[i] = f(i), i < n: computed into an L1 stage by a vector loop, then
// streamed out (stream = true), or stored directly.
template <class T, class F>
inline void row_store(T* dst, int64_t n, bool stream, F f) {
  if (!stream) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) dst[i] = f(i);
    return;
  }
  alignas(64) T stage[kStreamChunk];
  for (int64_t i0 = 0; i0 < n; i0 += kStreamChunk) {
    const int64_t len = n - i0 < kStreamChunk ? n - i0 : kStreamChunk;
#pragma omp simd
    for (int64_t k = 0; k < len; ++k) stage[k] = f(i0 + k);
    stream_copy(dst + i0, stage, len);
  }
}

}  // namespace
}  // namespace PYDL_ISA_NS
}  // namespace cpu
}  // namespace pydl
