// Fused dropout: mask generation and scaling in one pass, y = x * keep * scale.
//
// Compiled once per ISA (PYDL_ISA_NS = scalar | avx2 | avx512); fills the
// dropout members of the f32 / f64 tables. Single-threaded over a range of
// elements; the op layer (core/ops_dropout.cpp) splits the flat index range
// over OpenMP threads.
//
// Random numbers: Philox4x32-10 (Salmon et al., "Parallel random numbers: as
// easy as 1, 2, 3", SC'11), a counter-based generator: the 4 x 32 random bits
// of counter c under key k are a pure function philox(c, k). The flat
// (contiguous) index space is cut into blocks of 64 elements; element
// e = 64 b + 16 j + l of block b takes word j of philox(counter = 16 b + l,
// key = seed). (Word j of lane l rather than 4 consecutive words per counter:
// each of the four words then covers 16 consecutive elements, so the mask
// store is four contiguous vector stores, no interleaving shuffle.) Hence
//   * the mask depends only on (seed, e): the same for any thread count or
//     split, and the backward can *regenerate* it instead of storing it
//     (dx = dropout(dy) with the same seed: no mask tensor kept alive);
//   * every lane is independent, so the ten rounds vectorise across counters.
// The seed comes from pydl's global generator (one draw per call, so
// pydl.manual_seed makes runs reproducible and successive calls differ).
//
// Keep test: element kept iff r < thr with thr = floor((1 - p) * 2^32), an
// integer compare (P(keep) = thr / 2^32, within 2^-32 of 1 - p). The kept
// value is x * scale, scale = 1 / (1 - p); dropped elements are x * 0, which
// keeps NaN / inf inputs NaN, as torch's input * mask * scale does.
//
// Variants:
//   reference   one Philox call per element, plain loop. Obviously right.
//   fast        blocks of 16 counters (64 elements): the ten rounds run on
//               16 lanes at once (`omp simd` loops, whose 32x32->64 multiplies
//               become vpmuludq under AVX2; AVX-512 intrinsics, see
//               philox_rounds16), then four contiguous vector multiply-stores.
//               Bitwise equal to the reference.
#include <cstdint>

#include "cpu/kernels.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace pydl {
namespace cpu {
namespace PYDL_ISA_NS {
namespace {

constexpr uint32_t kPhiloxM0 = 0xD2511F53u, kPhiloxM1 = 0xCD9E8D57u;
constexpr uint32_t kPhiloxW0 = 0x9E3779B9u, kPhiloxW1 = 0xBB67AE85u;  // key bumps (golden ratio, sqrt 3)
constexpr int kRounds = 10;

// The 4 words of philox(counter = ctr, key = seed).
static inline void philox4x32(uint64_t ctr, uint64_t seed, uint32_t out[4]) {
  uint32_t c0 = (uint32_t)ctr, c1 = (uint32_t)(ctr >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
  for (int r = 0; r < kRounds; ++r) {
    const uint64_t p0 = (uint64_t)kPhiloxM0 * c0;
    const uint64_t p1 = (uint64_t)kPhiloxM1 * c2;
    const uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
    const uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
    c1 = (uint32_t)p1;
    c3 = (uint32_t)p0;
    c0 = n0;
    c2 = n2;
    k0 += kPhiloxW0;
    k1 += kPhiloxW1;
  }
  out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

// ---------------------------------------------------------------------------
// reference
// ---------------------------------------------------------------------------
// x, y: elements [begin, begin + n) of the flat tensor (x[0] is element `begin`).
template <class T>
void dropout_reference(const T* x, T* y, int64_t begin, int64_t n, uint64_t seed, uint32_t thr, T scale) {
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t e = (uint64_t)(begin + i);
    uint32_t r[4];
    philox4x32((e >> 6) * 16 + (e & 15), seed, r);   // block e / 64, lane e % 16
    y[i] = x[i] * (r[(e >> 4) & 3] < thr ? scale : T(0));  // word (e % 64) / 16
  }
}

// ---------------------------------------------------------------------------
// fast
// ---------------------------------------------------------------------------
constexpr int kLanes = 16;               // counters per block
constexpr int64_t kBlock = 4 * kLanes;   // elements per block

// The ten rounds on 16 counters at once (c0..c3: word k of each lane).
#if defined(__AVX512F__)
// AVX-512 by hand: gcc vectorises the portable loop below with vpmullq (a
// full 64x64 multiply, 3 uops) on zero-extended halves; the 32x32->64
// products only need vpmuludq, on the even lanes and on the odd lanes shifted
// down, with the high / low halves put back together by two blends.
static inline void mulhilo16(__m512i a, __m512i m, __m512i& hi, __m512i& lo) {
  const __m512i pe = _mm512_mul_epu32(a, m);                         // even lanes, 64-bit products
  const __m512i po = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), m);  // odd lanes
  lo = _mm512_mask_blend_epi32(0xAAAA, pe, _mm512_slli_epi64(po, 32));
  hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(pe, 32), po);
}

static inline void philox_rounds16(uint32_t* c0, uint32_t* c1, uint32_t* c2, uint32_t* c3, uint32_t k0,
                                   uint32_t k1) {
  __m512i x0 = _mm512_loadu_si512(c0), x1 = _mm512_loadu_si512(c1);
  __m512i x2 = _mm512_loadu_si512(c2), x3 = _mm512_loadu_si512(c3);
  const __m512i m0 = _mm512_set1_epi32((int)kPhiloxM0), m1 = _mm512_set1_epi32((int)kPhiloxM1);
  for (int r = 0; r < kRounds; ++r) {
    __m512i hi0, lo0, hi2, lo2;
    mulhilo16(x0, m0, hi0, lo0);
    mulhilo16(x2, m1, hi2, lo2);
    // 0x96: a ^ b ^ c
    const __m512i n0 = _mm512_ternarylogic_epi32(hi2, x1, _mm512_set1_epi32((int)k0), 0x96);
    const __m512i n2 = _mm512_ternarylogic_epi32(hi0, x3, _mm512_set1_epi32((int)k1), 0x96);
    x1 = lo2;
    x3 = lo0;
    x0 = n0;
    x2 = n2;
    k0 += kPhiloxW0;
    k1 += kPhiloxW1;
  }
  _mm512_storeu_si512(c0, x0);
  _mm512_storeu_si512(c1, x1);
  _mm512_storeu_si512(c2, x2);
  _mm512_storeu_si512(c3, x3);
}
#else
static inline void philox_rounds16(uint32_t* c0, uint32_t* c1, uint32_t* c2, uint32_t* c3, uint32_t k0,
                                   uint32_t k1) {
  for (int r = 0; r < kRounds; ++r) {
#pragma omp simd
    for (int l = 0; l < kLanes; ++l) {
      const uint64_t p0 = (uint64_t)kPhiloxM0 * c0[l];   // AVX2: vpmuludq
      const uint64_t p1 = (uint64_t)kPhiloxM1 * c2[l];
      const uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[l] ^ k0;
      const uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3[l] ^ k1;
      c1[l] = (uint32_t)p1;
      c3[l] = (uint32_t)p0;
      c0[l] = n0;
      c2[l] = n2;
    }
    k0 += kPhiloxW0;
    k1 += kPhiloxW1;
  }
}
#endif

template <class T>
void dropout_fwd(const T* x, T* y, int64_t begin, int64_t n, uint64_t seed, uint32_t thr, T scale) {
  // Head up to the next block boundary of the global index, so blocks start at
  // counters that are multiples of kLanes.
  int64_t head = (kBlock - begin % kBlock) % kBlock;
  if (head > n) head = n;
  dropout_reference(x, y, begin, head, seed, thr, scale);
  int64_t i = head;
  const uint32_t k0s = (uint32_t)seed, k1s = (uint32_t)(seed >> 32);
  for (; i + kBlock <= n; i += kBlock) {
    const uint64_t ctr0 = ((uint64_t)(begin + i) >> 6) * kLanes;
    uint32_t c0[kLanes], c1[kLanes], c2[kLanes], c3[kLanes];
    for (int l = 0; l < kLanes; ++l) {
      const uint64_t c = ctr0 + (uint64_t)l;
      c0[l] = (uint32_t)c;
      c1[l] = (uint32_t)(c >> 32);
      c2[l] = 0;
      c3[l] = 0;
    }
    philox_rounds16(c0, c1, c2, c3, k0s, k1s);
    // Element 16 j + l of the block takes word j of lane l.
    const T* xb = x + i;
    T* yb = y + i;
#pragma omp simd
    for (int l = 0; l < kLanes; ++l) {
      yb[l] = xb[l] * ((T)(c0[l] < thr) * scale);
      yb[kLanes + l] = xb[kLanes + l] * ((T)(c1[l] < thr) * scale);
      yb[2 * kLanes + l] = xb[2 * kLanes + l] * ((T)(c2[l] < thr) * scale);
      yb[3 * kLanes + l] = xb[3 * kLanes + l] * ((T)(c3[l] < thr) * scale);
    }
  }
  dropout_reference(x + i, y + i, begin + i, n - i, seed, thr, scale);
}

template <class T>
void fill_typed(TypedKernels<T>& t) {
  t.dropout_fwd = &dropout_fwd<T>;
  t.dropout_reference = &dropout_reference<T>;
}

}  // namespace

void fill_dropout(CpuKernels& k) {
  fill_typed(k.f32);
  fill_typed(k.f64);
}

}  // namespace PYDL_ISA_NS
}  // namespace cpu
}  // namespace pydl
