// Scaled dot-product attention kernels, forward and backward.
//
// Compiled once per ISA (PYDL_ISA_NS = scalar | avx2 | avx512); fills the
// sdpa members of the f32 / f64 tables. Each call handles one (batch, head)
// slice bh (or a block of its rows); the op layer (core/ops_attention.cpp)
// checks arguments, resolves broadcasting into per-slice offsets and splits
// the work over OpenMP threads. Shapes of one slice:
//   q[L, E]  k[S, E]  v[S, Ev]  (rows strided by ldq / ldk / ldv, columns unit-stride)
//   out[L, Ev] lse[L] contiguous; mask element (i, j) at m_off[bh] + i*m_rs + j*m_cs.
//
//   score s_ij = scale * q_i . k_j  (+ mask_ij when additive; -inf where a bool
//                mask is false or, causal, where j > i: top-left alignment)
//   P = softmax_j(s)     out = dropout(P) @ v     lse_i = log sum_j exp(s_ij)
// A row whose scores are all -inf has no softmax; it gives out = 0 and
// lse = -inf, and no gradient (PyTorch >= 2.5's math path returns 0 there too).
//
// Variants, each next to the other:
//   reference  per slice: the whole L x S score matrix in double, a textbook
//              softmax, then P @ v; backward materialises P and dP the same
//              way. O(L*S) memory; obviously right; used by the tests.
//   flash      FlashAttention-2 on the CPU. Forward: a block of kBlockQ query
//              rows meets k / v in tiles of kBlockK keys; scores of one tile
//              go to a kBlockQ x kBlockK scratch, then an online softmax keeps
//              a running max m and sum l per row and rescales the output
//              accumulator by exp(m_old - m_new) whenever the max grows. The
//              L x S matrix never exists: memory is O(kBlockQ * (kBlockK + Ev))
//              per thread, plus lse (L floats per slice) saved for backward.
//              Backward: one k / v tile at a time (its dK, dV accumulate in
//              scratch), walking all query blocks and recomputing
//              P = exp(s - lse) from the saved lse; D_i = rowsum(dO_i * O_i)
//              (from the op layer) gives dS = P * (dP - D), dP = dO v^T,
//              dV += P^T dO, dK += dS^T q, dQ += dS k (added into dq_acc).
//              Causal tiles entirely above the diagonal are skipped.
// The tile products are one register-blocked micro-kernel, gemm_acc: C[M, N]
// += A[M, K] B[K, N] with B rows contiguous and N a multiple of the vector
// width. A is read one scalar at a time (broadcast), so it may have any
// strides: that is how P^T and dS^T are used without transposing them. The
// vector type is gcc's vector extension sized per ISA (64 bytes on AVX-512,
// 32 on AVX2, 16 on the baseline), so the same source vectorises at each width;
// a block of 4 rows x kNR vectors (8 rows when the output is only 1-3 vectors
// wide) of accumulators stays in registers while the k loop streams one B row
// and one broadcast per row: 4*kNR FMAs per kNR loads + 4 broadcasts.
// The softmax's exps use exp_nonpos (arguments are <= 0): half the cost of the
// general vmath::exp for float32, which matters at small E where the exps
// rival the products.
// Operands are packed so that the vector runs along the output's contiguous
// dim: k^T as [E, kBlockK] for the scores (vectors across keys), v as
// [kBlockK, Ev padded] for P @ v (vectors across E); zero padding makes tails
// (E, Ev, S not multiples of anything) ordinary lanes that are never stored.
//
// Dropout: keep(bh, i, j) = u >= p with u a counter-based hash of (seed, flat
// index (bh*L + i)*S + j), so the forward and the backward regenerate the same
// mask independently of tiling and thread count (the seed comes from pydl's
// generator in Python). Kept weights are scaled by 1/(1-p); p = 1 drops all.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "cpu/kernels.h"
#include "cpu/vmath.h"

namespace pydl {
namespace cpu {
namespace PYDL_ISA_NS {
namespace {

#if defined(__AVX512F__)
constexpr int kVecBytes = 64;
constexpr int kNR = 4;  // 4 x 4 zmm accumulators of 32 registers
#elif defined(__AVX2__)
constexpr int kVecBytes = 32;
constexpr int kNR = 2;  // 4 x 2 ymm accumulators of 16 registers
#else
constexpr int kVecBytes = 16;
constexpr int kNR = 2;
#endif
constexpr int kMR = 4;

constexpr int64_t kBlockQ = kSdpaBlockQ;
constexpr int64_t kBlockK = kSdpaBlockK;

template <class T>
struct VecOf {
  typedef T type __attribute__((vector_size(kVecBytes)));
};
template <class T>
using Vec = typename VecOf<T>::type;
template <class T>
constexpr int64_t lanes() { return kVecBytes / (int64_t)sizeof(T); }

template <class T>
static inline __attribute__((always_inline)) Vec<T> vload(const T* p) {
  Vec<T> v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
template <class T>
static inline __attribute__((always_inline)) void vstore(T* p, Vec<T> v) {
  __builtin_memcpy(p, &v, sizeof v);
}

static inline int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// ---------------------------------------------------------------------------
// micro-kernel: C[MR, NR vectors] (+)= A[MR, K] @ B[K, NR vectors]
// (ACC: add to C; else overwrite it, without reading C first)
// ---------------------------------------------------------------------------
template <class T, int MR, int NR, bool ACC>
static inline __attribute__((always_inline)) void mk(int64_t K, const T* A, int64_t ars, int64_t acs, const T* B,
                                                     int64_t ldb, T* C, int64_t ldc) {
  constexpr int64_t W = lanes<T>();
  Vec<T> acc[MR][NR];
  for (int r = 0; r < MR; ++r)
    for (int n = 0; n < NR; ++n) acc[r][n] = ACC ? vload(C + r * ldc + n * W) : Vec<T>{};
  for (int64_t k = 0; k < K; ++k) {
    Vec<T> b[NR];
    for (int n = 0; n < NR; ++n) b[n] = vload(B + k * ldb + n * W);
    for (int r = 0; r < MR; ++r) {
      const Vec<T> a = Vec<T>{} + A[r * ars + k * acs];
      for (int n = 0; n < NR; ++n) acc[r][n] += a * b[n];
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int n = 0; n < NR; ++n) vstore(C + r * ldc + n * W, acc[r][n]);
}

// Rows in blocks of MRB (4 or 8), then a block of 4, then 3 / 2 / 1. With few
// vector columns (NR <= 3, e.g. P @ v at Ev = 16) 8-row blocks keep more FMAs
// in flight per B load than 4-row blocks would.
template <class T, int MRB, int NR, bool ACC>
static void mk_rows(int64_t M, int64_t K, const T* A, int64_t ars, int64_t acs, const T* B, int64_t ldb, T* C,
                    int64_t ldc) {
  int64_t r = 0;
  for (; r + MRB <= M; r += MRB) mk<T, MRB, NR, ACC>(K, A + r * ars, ars, acs, B, ldb, C + r * ldc, ldc);
  if (MRB > kMR && M - r >= kMR) {
    mk<T, kMR, NR, ACC>(K, A + r * ars, ars, acs, B, ldb, C + r * ldc, ldc);
    r += kMR;
  }
  switch (M - r) {
    case 3: mk<T, 3, NR, ACC>(K, A + r * ars, ars, acs, B, ldb, C + r * ldc, ldc); break;
    case 2: mk<T, 2, NR, ACC>(K, A + r * ars, ars, acs, B, ldb, C + r * ldc, ldc); break;
    case 1: mk<T, 1, NR, ACC>(K, A + r * ars, ars, acs, B, ldb, C + r * ldc, ldc); break;
    default: break;
  }
}

// C[M, NV*W] (+)= A[M, K] @ B[K, NV*W]; A element (r, k) at A[r*ars + k*acs].
template <class T, bool ACC>
static void gemm_mk(int64_t M, int64_t NV, int64_t K, const T* A, int64_t ars, int64_t acs, const T* B,
                     int64_t ldb, T* C, int64_t ldc) {
  constexpr int64_t W = lanes<T>();
  for (int64_t n0 = 0; n0 < NV; n0 += kNR) {
    const int64_t nr = NV - n0 < kNR ? NV - n0 : kNR;
    const T* Bn = B + n0 * W;
    T* Cn = C + n0 * W;
#if defined(__AVX512F__)
    // 32 zmm registers: 4 x 4, 8 x 3, 8 x 2 or 8 x 1 accumulators
    if (nr == 4) mk_rows<T, 4, 4, ACC>(M, K, A, ars, acs, Bn, ldb, Cn, ldc);
    else if (nr == 3) mk_rows<T, 8, 3, ACC>(M, K, A, ars, acs, Bn, ldb, Cn, ldc);
    else if (nr == 2) mk_rows<T, 8, 2, ACC>(M, K, A, ars, acs, Bn, ldb, Cn, ldc);
    else mk_rows<T, 8, 1, ACC>(M, K, A, ars, acs, Bn, ldb, Cn, ldc);
#else
    // 16 ymm / xmm registers: 4 x 2 or 8 x 1 accumulators
    if (nr == 2) mk_rows<T, 4, 2, ACC>(M, K, A, ars, acs, Bn, ldb, Cn, ldc);
    else mk_rows<T, 8, 1, ACC>(M, K, A, ars, acs, Bn, ldb, Cn, ldc);
#endif
  }
}
template <class T>
static void gemm_acc(int64_t M, int64_t NV, int64_t K, const T* A, int64_t ars, int64_t acs, const T* B,
                     int64_t ldb, T* C, int64_t ldc) {
  gemm_mk<T, true>(M, NV, K, A, ars, acs, B, ldb, C, ldc);
}
// C = A @ B: the score tiles, with no zero-fill pass.
template <class T>
static void gemm_set(int64_t M, int64_t NV, int64_t K, const T* A, int64_t ars, int64_t acs, const T* B,
                     int64_t ldb, T* C, int64_t ldc) {
  gemm_mk<T, false>(M, NV, K, A, ars, acs, B, ldb, C, ldc);
}

// ---------------------------------------------------------------------------
// exp(t) for t <= 0, -inf or NaN: the softmax's arguments (score - running max).
// float32: Cody-Waite reduction t = n ln2 + r, a degree-5 polynomial for e^r
// (Cephes' expf coefficients, ~1 ulp) and 2^n written straight into the exponent
// bits: about half the work of vmath::exp, which must handle the whole real
// line. t below -87 (exp < 1.7e-38, nothing next to the row's largest term 1)
// gives exactly 0, so -inf scores (masked keys) give exact zeros. The selects
// vectorise as blends (this file is compiled with -fno-trapping-math).
static inline __attribute__((always_inline)) float exp_nonpos(float t) {
  const float tc = t < -87.0f ? -87.0f : t;
  const float kMagic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float nm = tc * 1.44269504088896341f + kMagic;
  const float n = nm - kMagic;
  float r = tc - n * 0.693359375f;
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
  __builtin_memcpy(&ni, &nm, 4);  // the low bits of nm hold n (two's complement)
  __builtin_memcpy(&eb, &e, 4);
  eb += ni << 23;                  // e * 2^n, n in [-126, 0]
  float out;
  __builtin_memcpy(&out, &eb, 4);
  return t < -87.0f ? 0.0f : out;
}
static inline __attribute__((always_inline)) double exp_nonpos(double t) { return vmath::exp(t); }

// ---------------------------------------------------------------------------
// dropout: a counter-based hash (splitmix64's finaliser), u in [0, 1)
// ---------------------------------------------------------------------------
static inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
static inline double dropout_u(uint64_t seed, uint64_t idx) {
  return (double)(mix64(seed + (idx + 1) * 0x9E3779B97F4A7C15ULL) >> 11) * 0x1.0p-53;
}
// Factor applied to weight (i, j): 0 (dropped) or 1/(1-p).
template <class T>
static inline T drop_factor(const SdpaArgs<T>& a, int64_t bh, int64_t i, int64_t j, T keep_scale) {
  const uint64_t idx = ((uint64_t)bh * (uint64_t)a.L + (uint64_t)i) * (uint64_t)a.S + (uint64_t)j;
  return dropout_u(a.seed, idx) >= a.dropout_p ? keep_scale : T(0);
}
template <class T>
static inline T keep_scale_of(const SdpaArgs<T>& a) {
  return a.dropout_p >= 1.0 ? T(0) : (T)(1.0 / (1.0 - a.dropout_p));
}

// Scores of row i over keys j0 .. j0+n (n <= kBlockK) from raw dot products
// s[0..n): scale, mask, causal; entries n .. kBlockK become -inf.
template <class T>
static inline void finish_scores(const SdpaArgs<T>& a, int64_t bh, int64_t i, int64_t j0, int64_t n, T* s) {
  const T ninf = -(T)__builtin_inf();
  const T scale = a.scale;
  // causal, top-left: keys j <= i survive, so only the first i - j0 + 1 of the tile.
  int64_t live = n;
  if (a.causal) live = i - j0 + 1 < n ? (i - j0 + 1 < 0 ? 0 : i - j0 + 1) : n;
#pragma omp simd
  for (int64_t c = 0; c < live; ++c) s[c] *= scale;
  if (a.mask_kind == 1) {
    const bool* m = static_cast<const bool*>(a.mask) + a.m_off[bh] + i * a.m_rs + j0 * a.m_cs;
    for (int64_t c = 0; c < live; ++c)
      if (!m[c * a.m_cs]) s[c] = ninf;
  } else if (a.mask_kind == 2) {
    const T* m = static_cast<const T*>(a.mask) + a.m_off[bh] + i * a.m_rs + j0 * a.m_cs;
    const int64_t cs = a.m_cs;
    if (cs == 1) {
#pragma omp simd
      for (int64_t c = 0; c < live; ++c) s[c] += m[c];
    } else {
      for (int64_t c = 0; c < live; ++c) s[c] += m[c * cs];
    }
  }
  for (int64_t c = live; c < kBlockK; ++c) s[c] = ninf;
}

// ---------------------------------------------------------------------------
// reference: whole score matrix in double
// ---------------------------------------------------------------------------
template <class T>
static double ref_score(const SdpaArgs<T>& a, int64_t bh, int64_t i, int64_t j) {
  if (a.causal && j > i) return -__builtin_inf();
  const T* q = a.q + a.q_off[bh] + i * a.ldq;
  const T* k = a.k + a.k_off[bh] + j * a.ldk;
  double d = 0;
  for (int64_t e = 0; e < a.E; ++e) d += (double)q[e] * (double)k[e];
  d *= (double)a.scale;
  const int64_t mo = a.m_off ? a.m_off[bh] + i * a.m_rs + j * a.m_cs : 0;
  if (a.mask_kind == 1 && !static_cast<const bool*>(a.mask)[mo]) return -__builtin_inf();
  if (a.mask_kind == 2) d += (double)static_cast<const T*>(a.mask)[mo];
  return d;
}

// P[L, S] (softmax of the scores; rows of only -inf are 0) and lse[L].
template <class T>
static void ref_probs(const SdpaArgs<T>& a, int64_t bh, std::vector<double>& P, std::vector<double>& lse) {
  const int64_t L = a.L, S = a.S;
  P.assign(L * S, 0.0);
  lse.assign(L, -__builtin_inf());
  for (int64_t i = 0; i < L; ++i) {
    double* p = P.data() + i * S;
    double m = -__builtin_inf();
    for (int64_t j = 0; j < S; ++j) {
      p[j] = ref_score(a, bh, i, j);
      m = p[j] > m ? p[j] : m;
    }
    if (m == -__builtin_inf()) {
      for (int64_t j = 0; j < S; ++j) p[j] = 0;
      continue;
    }
    double sum = 0;
    for (int64_t j = 0; j < S; ++j) sum += (p[j] = std::exp(p[j] - m));
    for (int64_t j = 0; j < S; ++j) p[j] /= sum;
    lse[i] = m + std::log(sum);
  }
}

template <class T>
void sdpa_fwd_reference(const SdpaArgs<T>& a, int64_t bh) {
  std::vector<double> P, lse;
  ref_probs(a, bh, P, lse);
  const T ks = keep_scale_of(a);
  const T* v = a.v + a.v_off[bh];
  T* out = a.out + bh * a.L * a.Ev;
  for (int64_t i = 0; i < a.L; ++i) {
    for (int64_t e = 0; e < a.Ev; ++e) {
      double o = 0;
      for (int64_t j = 0; j < a.S; ++j) {
        double w = P[i * a.S + j];
        if (a.dropout_p > 0) w *= (double)drop_factor(a, bh, i, j, ks);
        o += w * (double)v[j * a.ldv + e];
      }
      out[i * a.Ev + e] = (T)o;
    }
    a.lse[bh * a.L + i] = (T)lse[i];
  }
}

// dq[L, E] (contiguous) written; dk, dv rows of slice bh written.
template <class T>
void sdpa_bwd_reference(const SdpaArgs<T>& a, int64_t bh, T* dq) {
  const int64_t L = a.L, S = a.S, E = a.E, Ev = a.Ev;
  std::vector<double> P, lse;
  ref_probs(a, bh, P, lse);
  const T ks = keep_scale_of(a);
  const T* q = a.q + a.q_off[bh];
  const T* k = a.k + a.k_off[bh];
  const T* v = a.v + a.v_off[bh];
  const T* dO = a.dout + bh * L * Ev;
  T* dk = a.dk + bh * S * E;
  T* dv = a.dv + bh * S * Ev;
  std::vector<double> dS(L * S), Pd(L * S);
  for (int64_t i = 0; i < L; ++i) {
    // dP_ij = dO_i . v_j (through the dropout factor); D_i = sum_j P_ij dP_ij
    double D = 0;
    for (int64_t j = 0; j < S; ++j) {
      const double f = a.dropout_p > 0 ? (double)drop_factor(a, bh, i, j, ks) : 1.0;
      double dp = 0;
      for (int64_t e = 0; e < Ev; ++e) dp += (double)dO[i * Ev + e] * (double)v[j * a.ldv + e];
      dp *= f;
      Pd[i * S + j] = P[i * S + j] * f;
      dS[i * S + j] = dp;
      D += P[i * S + j] * dp;
    }
    for (int64_t j = 0; j < S; ++j) dS[i * S + j] = P[i * S + j] * (dS[i * S + j] - D) * (double)a.scale;
  }
  for (int64_t i = 0; i < L; ++i)
    for (int64_t e = 0; e < E; ++e) {
      double g = 0;
      for (int64_t j = 0; j < S; ++j) g += dS[i * S + j] * (double)k[j * a.ldk + e];
      dq[i * E + e] = (T)g;
    }
  for (int64_t j = 0; j < S; ++j) {
    for (int64_t e = 0; e < E; ++e) {
      double g = 0;
      for (int64_t i = 0; i < L; ++i) g += dS[i * S + j] * (double)q[i * a.ldq + e];
      dk[j * E + e] = (T)g;
    }
    for (int64_t e = 0; e < Ev; ++e) {
      double g = 0;
      for (int64_t i = 0; i < L; ++i) g += Pd[i * S + j] * (double)dO[i * Ev + e];
      dv[j * Ev + e] = (T)g;
    }
  }
}

// ---------------------------------------------------------------------------
// flash forward: query rows [i0, i1) (at most kBlockQ) of slice bh
// ---------------------------------------------------------------------------
template <class T>
void sdpa_fwd_flash(const SdpaArgs<T>& a, int64_t bh, int64_t i0, int64_t i1) {
  constexpr int64_t W = lanes<T>();
  const int64_t E = a.E, Ev = a.Ev, Evp = round_up(Ev > 0 ? Ev : 1, W);
  const int64_t nr = i1 - i0;
  const T ninf = -(T)__builtin_inf();
  const T ks = keep_scale_of(a);
  const bool dropout = a.dropout_p > 0;
  const T* q = a.q + a.q_off[bh] + i0 * a.ldq;
  const T* k = a.k + a.k_off[bh];
  const T* v = a.v + a.v_off[bh];

  // Scratch: k^T tile [E, kBlockK], v tile [kBlockK, Evp], scores / weights
  // [kBlockQ, kBlockK], output accumulator [kBlockQ, Evp], row max / sum.
  std::vector<T> buf(E * kBlockK + kBlockK * Evp + kBlockQ * kBlockK + kBlockQ * Evp + 2 * kBlockQ);
  T* Kt = buf.data();
  T* Vp = Kt + E * kBlockK;
  T* Sb = Vp + kBlockK * Evp;
  T* Ob = Sb + kBlockQ * kBlockK;
  T* mrow = Ob + kBlockQ * Evp;
  T* lrow = mrow + kBlockQ;
  for (int64_t r = 0; r < nr; ++r) { mrow[r] = ninf; lrow[r] = 0; }

  // Causal: row i1-1 is the last to see anything, it sees keys j < i1.
  const int64_t jend = a.causal ? (i1 < a.S ? i1 : a.S) : a.S;
  for (int64_t j0 = 0; j0 < jend; j0 += kBlockK) {
    const int64_t nc = jend - j0 < kBlockK ? jend - j0 : kBlockK;
    // pack k^T: vectors run across the keys of the tile
    for (int64_t e = 0; e < E; ++e) {
      T* dst = Kt + e * kBlockK;
      for (int64_t c = 0; c < nc; ++c) dst[c] = k[(j0 + c) * a.ldk + e];
      for (int64_t c = nc; c < kBlockK; ++c) dst[c] = 0;
    }
    gemm_set<T>(nr, kBlockK / W, E, q, a.ldq, 1, Kt, kBlockK, Sb, kBlockK);

    for (int64_t r = 0; r < nr; ++r) {
      const int64_t i = i0 + r;
      T* s = Sb + r * kBlockK;
      finish_scores(a, bh, i, j0, nc, s);
      T mx = ninf;
#pragma omp simd reduction(max : mx)
      for (int64_t c = 0; c < kBlockK; ++c) mx = s[c] > mx ? s[c] : mx;
      const T m_old = mrow[r];
      const T m_new = mx > m_old ? mx : m_old;
      // All -inf so far: subtract 0 instead, so exp(-inf - 0) = 0, not NaN.
      const T m_use = m_new == ninf ? T(0) : m_new;
      T sum = 0;
#pragma omp simd reduction(+ : sum)
      for (int64_t c = 0; c < kBlockK; ++c) {
        const T p = exp_nonpos(s[c] - m_use);
        s[c] = p;
        sum += p;
      }
      const T alpha = exp_nonpos(m_old - m_use);  // 0 while m_old = -inf
      lrow[r] = lrow[r] * alpha + sum;
      mrow[r] = m_new;
      T* o = Ob + r * Evp;
      if (j0 == 0) {
        for (int64_t e = 0; e < Evp; ++e) o[e] = 0;
      } else if (alpha != T(1)) {
#pragma omp simd
        for (int64_t e = 0; e < Evp; ++e) o[e] *= alpha;
      }
      if (dropout)
        for (int64_t c = 0; c < nc; ++c) s[c] *= drop_factor(a, bh, i, j0 + c, ks);
    }
    // pack v: vectors run across Ev (zero padded)
    for (int64_t c = 0; c < nc; ++c) {
      const T* src = v + (j0 + c) * a.ldv;
      T* dst = Vp + c * Evp;
      for (int64_t e = 0; e < Ev; ++e) dst[e] = src[e];
      for (int64_t e = Ev; e < Evp; ++e) dst[e] = 0;
    }
    gemm_acc<T>(nr, Evp / W, nc, Sb, kBlockK, 1, Vp, Evp, Ob, Evp);
  }

  T* out = a.out + (bh * a.L + i0) * Ev;
  T* lse = a.lse + bh * a.L + i0;
  for (int64_t r = 0; r < nr; ++r) {
    const T l = lrow[r];
    if (jend == 0 || !(l > 0)) {  // no key survived: 0 output, lse -inf
      for (int64_t e = 0; e < Ev; ++e) out[r * Ev + e] = 0;
      lse[r] = ninf;
      continue;
    }
    const T inv = T(1) / l;
    for (int64_t e = 0; e < Ev; ++e) out[r * Ev + e] = Ob[r * Evp + e] * inv;
    lse[r] = mrow[r] + (T)std::log((double)l);
  }
}

// ---------------------------------------------------------------------------
// flash backward: key rows [j0s, j1s) of slice bh (tiles of kBlockK)
// ---------------------------------------------------------------------------
template <class T>
void sdpa_bwd_flash(const SdpaArgs<T>& a, int64_t bh, int64_t j0s, int64_t j1s, T* dq_acc) {
  constexpr int64_t W = lanes<T>();
  const int64_t L = a.L, E = a.E, Ev = a.Ev;
  const int64_t Ep = round_up(E > 0 ? E : 1, W), Evp = round_up(Ev > 0 ? Ev : 1, W);
  const T ks = keep_scale_of(a);
  const bool dropout = a.dropout_p > 0;
  const T scale = a.scale;
  const T* q = a.q + a.q_off[bh];
  const T* k = a.k + a.k_off[bh];
  const T* v = a.v + a.v_off[bh];
  const T* dO = a.dout + bh * L * Ev;
  const T* lse = a.lse + bh * L;
  const T* Dr = a.delta + bh * L;

  // Scratch: k^T [E, BK], v^T [Ev, BK], k [BK, Ep], q block [BQ, Ep], dO block
  // [BQ, Evp], P, P*dropout, dP/dS [BQ, BK], dK [BK, Ep], dV [BK, Evp], dQ block [BQ, Ep].
  const int64_t BK = kBlockK, BQ = kBlockQ;
  std::vector<T> buf(E * BK + Ev * BK + BK * Ep + BQ * Ep + BQ * Evp + 3 * BQ * BK + BK * Ep + BK * Evp +
                     BQ * Ep);
  T* Kt = buf.data();
  T* Vt = Kt + E * BK;
  T* Kp = Vt + Ev * BK;
  T* Qp = Kp + BK * Ep;
  T* dOp = Qp + BQ * Ep;
  T* Pb = dOp + BQ * Evp;
  T* Pd = Pb + BQ * BK;
  T* dSb = Pd + BQ * BK;
  T* dKa = dSb + BQ * BK;
  T* dVa = dKa + BK * Ep;
  T* dQt = dVa + BK * Evp;

  for (int64_t j0 = j0s; j0 < j1s; j0 += BK) {
    const int64_t nc = j1s - j0 < BK ? j1s - j0 : BK;
    for (int64_t e = 0; e < E; ++e) {
      for (int64_t c = 0; c < nc; ++c) Kt[e * BK + c] = k[(j0 + c) * a.ldk + e];
      for (int64_t c = nc; c < BK; ++c) Kt[e * BK + c] = 0;
    }
    for (int64_t e = 0; e < Ev; ++e) {
      for (int64_t c = 0; c < nc; ++c) Vt[e * BK + c] = v[(j0 + c) * a.ldv + e];
      for (int64_t c = nc; c < BK; ++c) Vt[e * BK + c] = 0;
    }
    for (int64_t c = 0; c < nc; ++c) {
      for (int64_t e = 0; e < E; ++e) Kp[c * Ep + e] = k[(j0 + c) * a.ldk + e];
      for (int64_t e = E; e < Ep; ++e) Kp[c * Ep + e] = 0;
    }
    std::memset(dKa, 0, sizeof(T) * BK * Ep);
    std::memset(dVa, 0, sizeof(T) * BK * Evp);

    // Causal: query rows i < j0 see none of these keys.
    for (int64_t i0 = a.causal ? j0 : 0; i0 < L; i0 += BQ) {
      const int64_t nr = L - i0 < BQ ? L - i0 : BQ;
      for (int64_t r = 0; r < nr; ++r) {
        const T* qs = q + (i0 + r) * a.ldq;
        for (int64_t e = 0; e < E; ++e) Qp[r * Ep + e] = qs[e];
        for (int64_t e = E; e < Ep; ++e) Qp[r * Ep + e] = 0;
        const T* gs = dO + (i0 + r) * Ev;
        for (int64_t e = 0; e < Ev; ++e) dOp[r * Evp + e] = gs[e];
        for (int64_t e = Ev; e < Evp; ++e) dOp[r * Evp + e] = 0;
      }
      // P = exp(s - lse), recomputed from the scores
      gemm_set<T>(nr, BK / W, E, Qp, Ep, 1, Kt, BK, Pb, BK);
      for (int64_t r = 0; r < nr; ++r) {
        const int64_t i = i0 + r;
        T* p = Pb + r * BK;
        finish_scores(a, bh, i, j0, nc, p);
        // a row without any surviving key (lse = -inf) has P = 0: subtract +inf
        const T l = lse[i] == -(T)__builtin_inf() ? (T)__builtin_inf() : lse[i];
#pragma omp simd
        for (int64_t c = 0; c < BK; ++c) p[c] = exp_nonpos(p[c] - l);
        T* pd = Pd + r * BK;
        if (dropout) {
          for (int64_t c = 0; c < nc; ++c) pd[c] = p[c] * drop_factor(a, bh, i, j0 + c, ks);
          for (int64_t c = nc; c < BK; ++c) pd[c] = 0;
        }
      }
      const T* PdUse = dropout ? Pd : Pb;
      // dV[c, :] += sum_r Pd[r, c] dO[r, :]   (A = Pd^T: row stride 1, column stride BK)
      gemm_acc<T>(nc, Evp / W, nr, PdUse, 1, BK, dOp, Evp, dVa, Evp);
      // dP = dO v^T
      gemm_set<T>(nr, BK / W, Ev, dOp, Evp, 1, Vt, BK, dSb, BK);
      // dS = (Pd * dP - P * D) * scale  (= P * (dP * drop - D) * scale)
      for (int64_t r = 0; r < nr; ++r) {
        const T D = Dr[i0 + r];
        T* ds = dSb + r * BK;
        const T* p = Pb + r * BK;
        const T* pd = PdUse + r * BK;
#pragma omp simd
        for (int64_t c = 0; c < BK; ++c) ds[c] = (pd[c] * ds[c] - p[c] * D) * scale;
      }
      // dK[c, :] += sum_r dS[r, c] q[r, :]
      gemm_acc<T>(nc, Ep / W, nr, dSb, 1, BK, Qp, Ep, dKa, Ep);
      // dQ[r, :] += sum_c dS[r, c] k[c, :]
      gemm_set<T>(nr, Ep / W, nc, dSb, BK, 1, Kp, Ep, dQt, Ep);
      for (int64_t r = 0; r < nr; ++r) {
        T* dst = dq_acc + (i0 + r) * E;
        const T* src = dQt + r * Ep;
#pragma omp simd
        for (int64_t e = 0; e < E; ++e) dst[e] += src[e];
      }
    }
    T* dk = a.dk + (bh * a.S + j0) * E;
    T* dv = a.dv + (bh * a.S + j0) * Ev;
    for (int64_t c = 0; c < nc; ++c) {
      for (int64_t e = 0; e < E; ++e) dk[c * E + e] = dKa[c * Ep + e];
      for (int64_t e = 0; e < Ev; ++e) dv[c * Ev + e] = dVa[c * Evp + e];
    }
  }
}

template <class T>
void fill_typed(TypedKernels<T>& t) {
  t.sdpa_fwd = &sdpa_fwd_flash<T>;
  t.sdpa_fwd_reference = &sdpa_fwd_reference<T>;
  t.sdpa_bwd = &sdpa_bwd_flash<T>;
  t.sdpa_bwd_reference = &sdpa_bwd_reference<T>;
}

}  // namespace

void fill_attention(CpuKernels& k) {
  fill_typed(k.f32);
  fill_typed(k.f64);
}

}  // namespace PYDL_ISA_NS
}  // namespace cpu
}  // namespace pydl
