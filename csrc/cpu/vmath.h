// vmath.h — branch-free scalar math for `#pragma omp simd` loops.
//
// The CPU kernels call these inside loops such as
//
//     #pragma omp simd
//     for (int64_t i = 0; i < n; ++i) y[i] = pydl::vmath::tanh(x[i]);
//
// and each kernel translation unit is compiled three times (AVX-512, AVX2+FMA, x86-64 baseline)
// with -O3 -fopenmp -fno-math-errno, but without -ffast-math and so with -ftrapping-math.
// Every function here is written so that gcc vectorizes that loop at the full width of each:
//
//   * No libm calls, no tables (the baseline has no gather), no branches.
//   * No `c ? a : b` on computed values either. Under -ftrapping-math gcc may not execute a
//     floating-point operation that the source only executes conditionally, and it turns such
//     ternaries into real control flow (it sinks the computation of `a` into the branch, or
//     constant-folds what follows a clamp `x > 100 ? 100 : x` separately for the constant):
//     the loop then stays scalar ("control flow in loop"). Every select is instead a bitwise
//     blend with a lane mask (all ones / all zeros) computed by integer arithmetic on the bit
//     patterns, never by a compare, so gcc cannot turn it back into a branch. (Compares would
//     also need a 64-bit compare -> integer mask, which the baseline does not have.)
//   * Both sides of every select are always computed; out-of-range lanes compute harmless
//     garbage (inf/nan, never a trap, since FP exceptions are masked) that is then replaced.
//   * Only integer operations SSE2 has for the element width: for double, 64-bit
//     add/sub/and/or/xor/logical shifts; never 64-bit compares, arithmetic shifts, multiplies or
//     int64 <-> double conversions (AVX2 lacks those too). Rounding to an integer uses the
//     "add 1.5 * 2^52" trick, and int64 -> double its reverse.
//   * Every function is `static inline` + always_inline: internal linkage keeps the AVX-512,
//     AVX2 and baseline copies apart (no ODR/COMDAT merging of code for different ISAs), and
//     forced inlining keeps calls out of the vector loop.
// The results do not depend on -ffast-math assumptions: inf, nan, signed zeros and denormals
// (inputs and outputs) behave as in std::, and the error is at most 2 ulp over the whole domain
// (tests/native/vmath_accuracy.cpp measures it, exhaustively for float: below 0.9 ulp for all
// functions but erf, whose worst is about 1 ulp with FMA and 1.3 ulp without). FMA contraction
// (on by default in gcc when the target has FMA) only makes results more accurate: every
// exactness argument below holds with or without it.
//
// Method, per function (polynomial coefficients are minimax fits made with mpmath's high
// precision Remez; "err" is the fit's own relative error, well below the rounding error):
//
//  exp(x)     x = n ln2 + r, |r| <= ln2/2, n = round(x/ln2) (Cody-Waite: ln2 = hi + lo, hi has
//             trailing zero bits so n*hi and x - n*hi are exact). exp(r) = 1 + r + r^2 P(r),
//             P of degree 4 (float, err 2^-28) / 9 (double, err 2^-58): without tables the
//             reduced interval stays this wide. The large terms 1 + hi are added as a Fast2Sum
//             so the result is rounded about once (~0.5 ulp + a little). 2^n is applied as two
//             factors 2^(n/2) * 2^(n - n/2), so that results near overflow and in the denormal
//             range come out right with a single rounding.
//  expm1(x)   same reduction; expm1(x) = 2^n (expm1(r) + (1 - 2^-n)), no cancellation for any n,
//             and exactly expm1(r) for n = 0, so tiny x keep full relative accuracy.
//             expm1(r) = r + r^2/2 + r^3 P(r), P of degree 4 / 9 (err 2^-31 / 2^-61), with r^2
//             kept exact (FMA or Dekker's product): for n = 1 the result can be 4x smaller than
//             the terms it is made of, so they need more than working precision.
//  log(x)     x = 2^k m, m in [sqrt(1/2), sqrt(2)) (denormals scaled by 2^23 / 2^52 first),
//             f = m - 1 exactly, s = f / (2 + f), so log(m) = 2 atanh(s) with |s| < 0.1716.
//             Written as fdlibm does, f - (f^2/2 - s (f^2/2 + R)), so that the leading term f is
//             exact; R = z Q(z), z = s^2, Q of degree 3 / 6 (err 2^-37 / 2^-59). The division
//             buys the small argument: a polynomial in f directly needs about twice the degree.
//  log1p(x)   u = 1 + x rounded, c = (1 + x) - u exactly (TwoSum), log1p(x) = log(u) + c/u
//             with the log(u) of above. Tiny x give u = 1, c = x: log1p(x) = x.
//  tanh(x)    tanh|x| = E / (E + 2), E = expm1(2|x|) carried as hi + lo; for E >= 2 it is
//             evaluated as 1 - 2 / (E + 2). One division, whose rounding and that of E + 2 are
//             corrected to first order (residual by FMA or Dekker's product), so the result is
//             rounded about once. Relative accuracy near 0 comes from expm1. Saturates at
//             |x| > 10 (float) / 20 (double), where tanh is 1 to the last bit.
//  erf(x)     |x| < 1:  erf(x) = x + x Q(x^2), Q of degree 6 / 11 (err 2^-29.6 / 2^-57): the
//                       leading x is exact, so erf(x) ~ 2x/sqrt(pi) keeps full relative accuracy.
//             |x| >= 1: erf(x) = 1 - exp(H(|x|) - x^2), H ~ log(erfc(x) e^(x^2)) of degree
//                       6 / 17 in (|x| - 1) (err 2^-29.8 / 2^-57, weighted by erfc/erf: 1 - erf
//                       is only needed to the precision that survives the subtraction from 1).
//                       Expanding around 1 keeps H's evaluation error smallest where erfc is
//                       largest. exp is carried as hi + lo, so 1 - exp rounds once.
//                       Saturates at |x| > 3.95 / 5.95, where erf is 1 to the last bit.
//  sigmoid(x) 1 / (1 + exp(-x)) evaluated as num / (1 + e) with e = exp(-|x|) <= 1 and
//             num = 1 (x >= 0) or e (x < 0): never overflows, and keeps relative accuracy in
//             the far negative tail where the result is tiny. As in tanh, the division's and
//             1 + e's roundings are corrected to first order. Saturates at |x| > 110 / 760.
#pragma once

#include <cstdint>

#define PYDL_VMATH_FN static inline __attribute__((always_inline))

namespace pydl {
namespace vmath {
namespace detail {

// ---------------------------------------------------------------------------------------------
// Bits, masks and selects
// ---------------------------------------------------------------------------------------------
PYDL_VMATH_FN uint32_t bits(float x) { uint32_t u; __builtin_memcpy(&u, &x, sizeof u); return u; }
PYDL_VMATH_FN uint64_t bits(double x) { uint64_t u; __builtin_memcpy(&u, &x, sizeof u); return u; }
PYDL_VMATH_FN float f32(uint32_t u) { float x; __builtin_memcpy(&x, &u, sizeof x); return x; }
PYDL_VMATH_FN double f64(uint64_t u) { double x; __builtin_memcpy(&x, &u, sizeof x); return x; }

constexpr uint32_t kAbsF = 0x7fffffffu;
constexpr uint64_t kAbsD = 0x7fffffffffffffffull;
constexpr uint32_t kInfF = 0x7f800000u;  // bit patterns of +inf
constexpr uint64_t kInfD = 0x7ff0000000000000ull;

PYDL_VMATH_FN float abs(float x) { return f32(bits(x) & kAbsF); }
PYDL_VMATH_FN double abs(double x) { return f64(bits(x) & kAbsD); }
// mag (non-negative or nan) with the sign of s
PYDL_VMATH_FN float with_sign_of(float mag, float s) {
    return f32(bits(mag) | (bits(s) & ~kAbsF));
}
PYDL_VMATH_FN double with_sign_of(double mag, double s) {
    return f64(bits(mag) | (bits(s) & ~kAbsD));
}

// A lane mask is all ones (true) or all zeros (false), as wide as the element.
// top_bit_mask(v): true where the top bit of v is set.
PYDL_VMATH_FN uint32_t top_bit_mask(uint32_t v) { return 0u - (v >> 31); }
PYDL_VMATH_FN uint64_t top_bit_mask(uint64_t v) { return 0ull - (v >> 63); }
// gt_mask(a, b): a > b, for a, b < 2^31 (2^63), e.g. bit patterns of non-negative numbers.
PYDL_VMATH_FN uint32_t gt_mask(uint32_t a, uint32_t b) { return top_bit_mask(b - a); }
PYDL_VMATH_FN uint64_t gt_mask(uint64_t a, uint64_t b) { return top_bit_mask(b - a); }

// Masks from the value of x. Magnitudes compare as integers; nan is "greater" than everything.
PYDL_VMATH_FN uint32_t is_negative(float x) { return top_bit_mask(bits(x)); }  // includes -0
PYDL_VMATH_FN uint64_t is_negative(double x) { return top_bit_mask(bits(x)); }
PYDL_VMATH_FN uint32_t is_nan(float x) { return gt_mask(bits(x) & kAbsF, kInfF); }
PYDL_VMATH_FN uint64_t is_nan(double x) { return gt_mask(bits(x) & kAbsD, kInfD); }
PYDL_VMATH_FN uint32_t is_zero(float x) { return ~gt_mask(bits(x) & kAbsF, 0u); }  // +0 or -0
PYDL_VMATH_FN uint64_t is_zero(double x) { return ~gt_mask(bits(x) & kAbsD, 0ull); }
// |x| > t (t >= 0 finite; false for nan)
PYDL_VMATH_FN uint32_t abs_gt(float x, float t) {
    return gt_mask(bits(x) & kAbsF, bits(t)) & ~is_nan(x);
}
PYDL_VMATH_FN uint64_t abs_gt(double x, double t) {
    return gt_mask(bits(x) & kAbsD, bits(t)) & ~is_nan(x);
}
// |x| == t (t >= 0)
PYDL_VMATH_FN uint32_t abs_eq(float x, float t) {
    uint32_t a = bits(x) & kAbsF;
    return gt_mask(a, bits(t) - 1) & ~gt_mask(a, bits(t));
}
PYDL_VMATH_FN uint64_t abs_eq(double x, double t) {
    uint64_t a = bits(x) & kAbsD;
    return gt_mask(a, bits(t) - 1) & ~gt_mask(a, bits(t));
}

// select(m, a, b) = m ? a : b, lane by lane
PYDL_VMATH_FN float select(uint32_t m, float a, float b) {
    return f32((bits(a) & m) | (bits(b) & ~m));
}
PYDL_VMATH_FN double select(uint64_t m, double a, double b) {
    return f64((bits(a) & m) | (bits(b) & ~m));
}

constexpr float kInfFloat = __builtin_inff();
constexpr double kInfDouble = __builtin_inf();
constexpr float kNanFloat = __builtin_nanf("");
constexpr double kNanDouble = __builtin_nan("");

// ---------------------------------------------------------------------------------------------
// Exact arithmetic helpers
// ---------------------------------------------------------------------------------------------
// Horner: horner(x, c0, c1, ..., cn) = c0 + x (c1 + x (... + x cn)). Coefficients are listed
// from the constant term up; all must have the type of x (a missing 'f' is a compile error).
template <typename T>
PYDL_VMATH_FN T horner(T, T c) { return c; }
template <typename T, typename... Rest>
PYDL_VMATH_FN T horner(T x, T c0, Rest... rest) { return c0 + x * horner(x, rest...); }

// The same polynomial by second-order Horner: pairs c_2k + x c_2k+1, then Horner in x2 = x^2.
// Half the dependency chain of horner() (which the long polynomials are latency-bound on,
// especially without FMA), at no cost in accuracy for the tail terms it is used for.
template <typename T>
PYDL_VMATH_FN T horner2(T, T, T c) { return c; }
template <typename T>
PYDL_VMATH_FN T horner2(T x, T, T c0, T c1) { return c0 + x * c1; }
template <typename T, typename... Rest>
PYDL_VMATH_FN T horner2(T x, T x2, T c0, T c1, Rest... rest) {
    return (c0 + x * c1) + x2 * horner2(x, x2, rest...);
}

// a + b = s + err exactly, for |a| >= |b| or a == 0 (Fast2Sum)
template <typename T>
PYDL_VMATH_FN T fast_two_sum(T a, T b, T& err) {
    T s = a + b;
    err = (a - s) + b;
    return s;
}
// a + b = s + err exactly, for any a, b (Knuth's TwoSum)
template <typename T>
PYDL_VMATH_FN T two_sum(T a, T b, T& err) {
    T s = a + b;
    T bb = s - a;
    err = (a - (s - bb)) + (b - bb);
    return s;
}

// The rounding error of p = a * b, exactly: a * b - p. One FMA where the target has it (the
// AVX2 and AVX-512 builds), else Dekker's product with Veltkamp splitting (which must not be
// contracted into FMAs; it is only compiled where there are none).
PYDL_VMATH_FN float mul_err(float a, float b, float p) {
#ifdef __FMA__
    return __builtin_fmaf(a, b, -p);
#else
    const float split = 4097.0f;  // 2^12 + 1
    float ca = a * split, cb = b * split;
    float ah = ca - (ca - a), bh = cb - (cb - b);
    float al = a - ah, bl = b - bh;
    return ((ah * bh - p) + ah * bl + al * bh) + al * bl;
#endif
}
PYDL_VMATH_FN double mul_err(double a, double b, double p) {
#ifdef __FMA__
    return __builtin_fma(a, b, -p);
#else
    const double split = 134217729.0;  // 2^27 + 1
    double ca = a * split, cb = b * split;
    double ah = ca - (ca - a), bh = cb - (cb - b);
    double al = a - ah, bl = b - bh;
    return ((ah * bh - p) + ah * bl + al * bh) + al * bl;
#endif
}
// a - q * d for a quotient q = a / d: the division's residual (exact: q d is close to a)
PYDL_VMATH_FN float div_residual(float a, float q, float d) {
#ifdef __FMA__
    return __builtin_fmaf(-q, d, a);
#else
    float p = q * d;
    return (a - p) - mul_err(q, d, p);
#endif
}
PYDL_VMATH_FN double div_residual(double a, double q, double d) {
#ifdef __FMA__
    return __builtin_fma(-q, d, a);
#else
    double p = q * d;
    return (a - p) - mul_err(q, d, p);
#endif
}

// ---------------------------------------------------------------------------------------------
// exp / expm1 core
// ---------------------------------------------------------------------------------------------
// Argument reduction x = n ln2 + r, r = hi - lo. n is rounded by adding 1.5 * 2^23 (2^52): n
// then sits in the low mantissa bits of `shifted`, and bits(shifted) - bits(shift) is n as a
// two's complement integer (no float -> int conversion). hi = x - n ln2_hi is exact; r = hi - lo
// is only used inside the polynomials while the final sums use hi and lo separately; rerr is
// r's rounding error, and r * rerr corrects r^2 P(r) to first order for it.
struct ReducedF { float hi, lo, r, rerr; uint32_t n; };
struct ReducedD { double hi, lo, r, rerr; uint64_t n; };

constexpr float kLn2HiF = 0x1.62e4p-1f;      // 15 significant bits: n * hi is exact
constexpr float kLn2LoF = 0x1.7f7d1cp-20f;   // ln2 - hi
constexpr double kLn2HiD = 0x1.62e42feep-1;  // 32 significant bits
constexpr double kLn2LoD = 0x1.a39ef35793c76p-33;

PYDL_VMATH_FN ReducedF reduce_ln2(float x) {  // meaningful for |x| < 2^20
    const float shift = 0x1.8p23f;
    float shifted = x * 0x1.715476p+0f + shift;
    float n = shifted - shift;
    float hi = x - n * kLn2HiF;  // exact (Sterbenz)
    float lo = n * kLn2LoF;
    float r = hi - lo;
    return {hi, lo, r, (hi - r) - lo, bits(shifted) - bits(shift)};
}
PYDL_VMATH_FN ReducedD reduce_ln2(double x) {  // meaningful for |x| < 2^40
    const double shift = 0x1.8p52;
    double shifted = x * 0x1.71547652b82fep+0 + shift;
    double n = shifted - shift;
    double hi = x - n * kLn2HiD;
    double lo = n * kLn2LoD;
    double r = hi - lo;
    return {hi, lo, r, (hi - r) - lo, bits(shifted) - bits(shift)};
}

// 2^n (n in two's complement) as two factors, each a normal number for |n| <= 250 (float) /
// 2000 (double), so that x * s1 * s2 rounds once even when the result is denormal.
PYDL_VMATH_FN void pow2_split(uint32_t n, float& s1, float& s2) {
    uint32_t n1 = ((n + 512u) >> 1) - 256u;  // floor(n/2), without an arithmetic shift
    uint32_t n2 = n - n1;
    s1 = f32((n1 + 127u) << 23);
    s2 = f32((n2 + 127u) << 23);
}
PYDL_VMATH_FN void pow2_split(uint64_t n, double& s1, double& s2) {
    uint64_t n1 = ((n + 4096u) >> 1) - 2048u;
    uint64_t n2 = n - n1;
    s1 = f64((n1 + 1023u) << 52);
    s2 = f64((n2 + 1023u) << 52);
}

// exp and expm1 as an unevaluated sum: f(x) = (hi + lo) * s1 * s2, |lo| <= ulp(hi)/2, s1 and
// s2 powers of two. exp and expm1 return (hi * s1) * s2; tanh, erf and sigmoid also use lo.
struct SplitF { float hi, lo, s1, s2; };
struct SplitD { double hi, lo, s1, s2; };

// exp(r) = 1 + hi - lo + r^2 P(r); 1 + hi is a Fast2Sum, so only the last addition rounds.
PYDL_VMATH_FN SplitF exp_split(float x) {  // meaningful for |x| <= 110
    ReducedF red = reduce_ln2(x);
    float r = red.r;
    float r2 = r * r;
    float q = r2 * horner2(r, r2, 0x1.fffffcp-2f, 0x1.555492p-3f, 0x1.5558f2p-5f, 0x1.123a0ap-7f,
                           0x1.6a23fp-10f);
    float err;
    float s = fast_two_sum(1.0f, red.hi, err);
    float tail = (err - red.lo) + (q + r * red.rerr);
    SplitF out;
    out.hi = fast_two_sum(s, tail, out.lo);
    pow2_split(red.n, out.s1, out.s2);
    return out;
}
PYDL_VMATH_FN SplitD exp_split(double x) {  // meaningful for |x| <= 760
    ReducedD red = reduce_ln2(x);
    double r = red.r;
    double r2 = r * r;
    double q = r2 * horner2(r, r2, 0x1.000000000000ap-1, 0x1.55555555554fap-3, 0x1.5555555550889p-5,
                            0x1.1111111127bacp-7, 0x1.6c16c18427179p-10, 0x1.a01a012a6544ep-13,
                            0x1.a0199a14f5be7p-16, 0x1.71df254195d5bp-19, 0x1.28ad6a810e0a7p-22,
                            0x1.ad7f737e0e3e3p-26);
    double err;
    double s = fast_two_sum(1.0, red.hi, err);
    double tail = (err - red.lo) + (q + r * red.rerr);
    SplitD out;
    out.hi = fast_two_sum(s, tail, out.lo);
    pow2_split(red.n, out.s1, out.s2);
    return out;
}

// expm1(x) = 2^n (a + expm1(r)), a = 1 - 2^-n (kept exactly as a + aerr), and
// expm1(r) = hi - lo + r^2/2 + r^3 P(r), r^2 = rr + mul_err exactly. The large terms are added
// by Fast2Sums: |a| >= 1/2 > |hi| unless a = 0, and |a + hi| > r^2/2.
PYDL_VMATH_FN SplitF expm1_split(float x) {  // meaningful for x in [-20, 100]
    ReducedF red = reduce_ln2(x);
    float r = red.r;
    float rr = r * r;
    float small = (r * rr) * horner2(r, rr, 0x1.555554p-3f, 0x1.5554f2p-5f, 0x1.1111cap-7f,
                                     0x1.6d40a4p-10f, 0x1.9fbdeap-13f);
    small = small + (0.5f * mul_err(r, r, rr) + r * red.rerr);
    SplitF out;
    float t1, t2;
    pow2_split(red.n, out.s1, out.s2);
    pow2_split(0u - red.n, t1, t2);
    float aerr, err1, err2;
    float a = two_sum(1.0f, -(t1 * t2), aerr);
    float s = fast_two_sum(fast_two_sum(a, red.hi, err1), 0.5f * rr, err2);
    float tail = (((err1 + aerr) + err2) - red.lo) + small;
    out.hi = fast_two_sum(s, tail, out.lo);
    return out;
}
PYDL_VMATH_FN SplitD expm1_split(double x) {  // meaningful for x in [-40, 720]
    ReducedD red = reduce_ln2(x);
    double r = red.r;
    double rr = r * r;
    double small = (r * rr) * horner2(r, rr, 0x1.5555555555559p-3, 0x1.5555555555549p-5,
                                      0x1.111111110f7ecp-7, 0x1.6c16c16c1cceap-10,
                                      0x1.a01a01af75f76p-13, 0x1.a01a018304286p-16,
                                      0x1.71ddf952cd1f9p-19, 0x1.27e52b2f9d3dep-22,
                                      0x1.af5d225c6cdbep-26, 0x1.1ef51fc5e3a63p-29);
    small = small + (0.5 * mul_err(r, r, rr) + r * red.rerr);
    SplitD out;
    double t1, t2;
    pow2_split(red.n, out.s1, out.s2);
    pow2_split(0u - red.n, t1, t2);
    double aerr, err1, err2;
    double a = two_sum(1.0, -(t1 * t2), aerr);
    double s = fast_two_sum(fast_two_sum(a, red.hi, err1), 0.5 * rr, err2);
    double tail = (((err1 + aerr) + err2) - red.lo) + small;
    out.hi = fast_two_sum(s, tail, out.lo);
    return out;
}

// ---------------------------------------------------------------------------------------------
// log / log1p core
// ---------------------------------------------------------------------------------------------
// log(u) + corr for positive normal u, where u has already been scaled by 2^-k_extra and corr
// is a tiny correction (|corr| << ulp of the result's small terms).
PYDL_VMATH_FN float log_core(float u, float k_extra, float corr) {
    uint32_t iu = bits(u);
    uint32_t tmp = iu - 0x3f3504f3u;             // bits of sqrt(1/2)
    int32_t k = (int32_t)tmp >> 23;              // u = 2^k m, m in [sqrt(1/2), sqrt(2))
    float m = f32(iu - (tmp & 0xff800000u));
    float f = m - 1.0f;                          // exact
    float kf = (float)k + k_extra;
    float s = f / (2.0f + f);
    float z = s * s;
    float R = z * horner(z, 0x1.555554p-1f, 0x1.999a7ap-2f, 0x1.2438ecp-2f, 0x1.e2f392p-3f);
    float hfsq = 0.5f * f * f;
    return kf * kLn2HiF - ((hfsq - (s * (hfsq + R) + (kf * kLn2LoF + corr))) - f);
}
PYDL_VMATH_FN double log_core(double u, double k_extra, double corr) {
    uint64_t iu = bits(u);
    uint64_t tmp = iu - 0x3fe6a09e667f3bcdull;   // bits of sqrt(1/2)
    uint64_t k = ((tmp >> 52) ^ 0x800) - 0x800;  // sign-extended top 12 bits: k, two's complement
    double m = f64(iu - (tmp & 0xfff0000000000000ull));
    double f = m - 1.0;
    double kf = (f64(k + 0x4338000000000000ull) - 0x1.8p52) + k_extra;  // int64 -> double, exact
    double s = f / (2.0 + f);
    double z = s * s;
    double R = z * horner2(z, z * z, 0x1.5555555555592p-1, 0x1.999999997fea8p-2,
                           0x1.24924941e4975p-2, 0x1.c71c5212f9248p-3, 0x1.74663d0cd24cap-3,
                           0x1.39a1e7e6e8a37p-3, 0x1.2f03b64917449p-3);
    double hfsq = 0.5 * f * f;
    return kf * kLn2HiD - ((hfsq - (s * (hfsq + R) + (kf * kLn2LoD + corr))) - f);
}

}  // namespace detail

// =============================================================================================
// exp
// =============================================================================================
// Inputs are clamped to |x| <= 110 (760), where exp is 0 or inf already and the core's n is
// still in range: the core then over/underflows to exactly inf / 0. A nan is not clamped and
// propagates through the core.
PYDL_VMATH_FN float exp(float x) {
    using namespace detail;
    x = select(abs_gt(x, 110.0f), with_sign_of(110.0f, x), x);
    SplitF e = exp_split(x);
    return (e.hi * e.s1) * e.s2;  // hi * s1 is exact; the second product rounds once
}
PYDL_VMATH_FN double exp(double x) {
    using namespace detail;
    x = select(abs_gt(x, 760.0), with_sign_of(760.0, x), x);
    SplitD e = exp_split(x);
    return (e.hi * e.s1) * e.s2;
}

// =============================================================================================
// expm1
// =============================================================================================
// Clamped to [-20, 100] ([-40, 720]): the core then gives inf above, and exactly -1 below
// (2^n (expm1(r) + 1 - 2^-n) with 1 - 2^-n rounded to -2^-n), while 2^-n stays finite.
PYDL_VMATH_FN float expm1(float x) {
    using namespace detail;
    float lim = select(is_negative(x), 20.0f, 100.0f);
    uint32_t clamp = gt_mask(bits(x) & kAbsF, bits(lim)) & ~is_nan(x);
    SplitF e = expm1_split(select(clamp, with_sign_of(lim, x), x));
    float y = (e.hi * e.s1) * e.s2;
    return select(is_zero(x), x, y);  // keeps the sign of -0
}
PYDL_VMATH_FN double expm1(double x) {
    using namespace detail;
    double lim = select(is_negative(x), 40.0, 720.0);
    uint64_t clamp = gt_mask(bits(x) & kAbsD, bits(lim)) & ~is_nan(x);
    SplitD e = expm1_split(select(clamp, with_sign_of(lim, x), x));
    double y = (e.hi * e.s1) * e.s2;
    return select(is_zero(x), x, y);
}

// =============================================================================================
// log
// =============================================================================================
PYDL_VMATH_FN float log(float x) {
    using namespace detail;
    uint32_t denormal = ~gt_mask(bits(x) & kAbsF, 0x007fffffu);  // |x| < 2^-126 (and zeros)
    float y = log_core(x * select(denormal, 0x1p23f, 1.0f), select(denormal, -23.0f, 0.0f), 0.0f);
    uint32_t neg = is_negative(x), zero = is_zero(x);
    y = select(abs_eq(x, kInfFloat) & ~neg, kInfFloat, y);  // log(+inf) = +inf
    y = select(zero, -kInfFloat, y);                         // log(+-0) = -inf
    y = select(neg & ~zero, kNanFloat, y);                   // log(x < 0) = nan
    return select(is_nan(x), x, y);
}
PYDL_VMATH_FN double log(double x) {
    using namespace detail;
    uint64_t denormal = ~gt_mask(bits(x) & kAbsD, 0x000fffffffffffffull);
    double y = log_core(x * select(denormal, 0x1p52, 1.0), select(denormal, -52.0, 0.0), 0.0);
    uint64_t neg = is_negative(x), zero = is_zero(x);
    y = select(abs_eq(x, kInfDouble) & ~neg, kInfDouble, y);
    y = select(zero, -kInfDouble, y);
    y = select(neg & ~zero, kNanDouble, y);
    return select(is_nan(x), x, y);
}

// =============================================================================================
// log1p
// =============================================================================================
PYDL_VMATH_FN float log1p(float x) {
    using namespace detail;
    float c;
    float u = two_sum(1.0f, x, c);  // 1 + x = u + c; u >= 2^-24 when x > -1: never denormal
    float y = log_core(u, 0.0f, c / u);
    uint32_t neg = is_negative(x);
    y = select(abs_eq(x, kInfFloat) & ~neg, kInfFloat, y);
    y = select(abs_eq(x, 1.0f) & neg, -kInfFloat, y);   // log1p(-1) = -inf
    y = select(abs_gt(x, 1.0f) & neg, kNanFloat, y);    // log1p(x < -1) = nan
    y = select(is_zero(x), x, y);                        // keeps the sign of -0
    return select(is_nan(x), x, y);
}
PYDL_VMATH_FN double log1p(double x) {
    using namespace detail;
    double c;
    double u = two_sum(1.0, x, c);
    double y = log_core(u, 0.0, c / u);
    uint64_t neg = is_negative(x);
    y = select(abs_eq(x, kInfDouble) & ~neg, kInfDouble, y);
    y = select(abs_eq(x, 1.0) & neg, -kInfDouble, y);
    y = select(abs_gt(x, 1.0) & neg, kNanDouble, y);
    y = select(is_zero(x), x, y);
    return select(is_nan(x), x, y);
}

// =============================================================================================
// tanh
// =============================================================================================
// tanh|x| = E / D with E = expm1(2|x|) = eh + el and D = E + 2 = d + dl (TwoSum). One division,
// then a first-order correction for everything it did not see:
//   E < 2:  t = E / D     = t0 + (res + el - t0 dl) / D,   t0 = eh / d,  1/D = (1 - t) / 2
//   E >= 2: t = 1 - 2 / D,  u = 2 / D = u0 + (res - u0 dl) / D,  u0 = 2 / d,  1/D = u / 2
// where res = num - q0 d is the division's residual. In the second form 1 - u >= 1/2 rounds
// once, and 1/D is never taken from a t close to 1.
PYDL_VMATH_FN float tanh(float x) {
    using namespace detail;
    float ax = abs(x);
    SplitF e = expm1_split(2.0f * ax);
    float eh = (e.hi * e.s1) * e.s2, el = (e.lo * e.s1) * e.s2;
    float dl;
    float d = two_sum(eh, 2.0f, dl);
    dl = dl + el;
    uint32_t big = gt_mask(bits(eh), bits(2.0f) - 1);  // eh >= 2 (eh >= 0)
    float num = select(big, 2.0f, eh);
    float q = num / d;
    float inv_d = select(big, 0.5f * q, 0.5f * (1.0f - q));
    q = q + ((div_residual(num, q, d) + select(big, 0.0f, el)) - q * dl) * inv_d;
    float t = select(big, 1.0f - q, q);
    t = select(abs_gt(x, 10.0f), 1.0f, t);  // tanh(10) is 1 to the last bit
    return with_sign_of(t, x);
}
PYDL_VMATH_FN double tanh(double x) {
    using namespace detail;
    double ax = abs(x);
    SplitD e = expm1_split(2.0 * ax);
    double eh = (e.hi * e.s1) * e.s2, el = (e.lo * e.s1) * e.s2;
    double dl;
    double d = two_sum(eh, 2.0, dl);
    dl = dl + el;
    uint64_t big = gt_mask(bits(eh), bits(2.0) - 1);
    double num = select(big, 2.0, eh);
    double q = num / d;
    double inv_d = select(big, 0.5 * q, 0.5 * (1.0 - q));
    q = q + ((div_residual(num, q, d) + select(big, 0.0, el)) - q * dl) * inv_d;
    double t = select(big, 1.0 - q, q);
    t = select(abs_gt(x, 20.0), 1.0, t);
    return with_sign_of(t, x);
}

// =============================================================================================
// erf
// =============================================================================================
PYDL_VMATH_FN float erf(float x) {
    using namespace detail;
    // |x| < 1
    float z = x * x;
    float small = x + x * horner2(z, z * z, 0x1.06eba8p-3f, -0x1.81273ep-2f, 0x1.ce2cf8p-4f,
                                  -0x1.b7f90ep-6f, 0x1.5405b2p-8f, -0x1.a3f7p-11f, 0x1.496a32p-14f);
    // |x| >= 1: 1 - exp(H(|x|) - x^2) = 1 - (eh + el)
    float ax = abs(x);
    float u = ax - 1.0f;
    float h = horner2(u, u * u, -0x1.b2ff7ep-1f, -0x1.4726aap-1f, 0x1.414b8ep-3f, -0x1.53ff24p-5f,
                      0x1.444122p-7f, -0x1.df8fcep-10f, 0x1.86dd84p-13f);
    SplitF e = exp_split(h - ax * ax);
    float eh = (e.hi * e.s1) * e.s2, el = (e.lo * e.s1) * e.s2;
    float err;
    float large = fast_two_sum(1.0f, -eh, err);
    large = large + (err - el);
    large = select(abs_gt(x, 3.95f), 1.0f, large);  // erf(3.95) is 1 to the last bit
    uint32_t use_large = gt_mask(bits(x) & kAbsF, bits(1.0f) - 1);  // |x| >= 1, or nan
    return select(use_large, with_sign_of(large, x), small);
}
PYDL_VMATH_FN double erf(double x) {
    using namespace detail;
    double z = x * x;
    double small = x + x * horner2(z, z * z, 0x1.06eba8214db68p-3, -0x1.812746b0379bdp-2,
                                   0x1.ce2f21a040d16p-4, -0x1.b82ce311fa941p-6,
                                   0x1.565bccf92b34ep-8, -0x1.c02db03dd7c52p-11,
                                   0x1.f9a2baa90ba93p-14, -0x1.f4ca4d6fdda08p-17,
                                   0x1.b97fd3de85627p-20, -0x1.5c07270876f2ap-23,
                                   0x1.d71b0f9e55f7fp-27, -0x1.abae4a4927336p-31);
    double ax = abs(x);
    double u = ax - 1.0;
    double h = horner2(u, u * u, -0x1.b2ff7e4f54542p-1, -0x1.4726c001b0877p-1, 0x1.4150fb9754c34p-3,
                       -0x1.5477f099ef358p-5, 0x1.48c9d38892de2p-7, -0x1.033f5ae401f01p-9,
                       0x1.f1b07c7ebf27fp-13, 0x1.b929ca92565bbp-16, -0x1.c84b3a2c03244p-16,
                       0x1.4470bea2ac26p-17, -0x1.1dd8a6d0b6bap-19, 0x1.b475155ccd0cfp-23,
                       0x1.f94acf974c37dp-25, -0x1.216d349dc136dp-25, 0x1.2768c877eb55bp-27,
                       -0x1.6e53cb2461f4cp-30, 0x1.09761098cef1ap-33, -0x1.5ad8f18a36928p-38);
    SplitD e = exp_split(h - ax * ax);
    double eh = (e.hi * e.s1) * e.s2, el = (e.lo * e.s1) * e.s2;
    double err;
    double large = fast_two_sum(1.0, -eh, err);
    large = large + (err - el);
    large = select(abs_gt(x, 5.95), 1.0, large);
    uint64_t use_large = gt_mask(bits(x) & kAbsD, bits(1.0) - 1);
    return select(use_large, with_sign_of(large, x), small);
}

// =============================================================================================
// sigmoid
// =============================================================================================
// y = num / D, D = 1 + e = d + dl (Fast2Sum, 1 >= eh), e = exp(-|x|) = eh + el, num = 1 (x >= 0)
// or e (x < 0). With y0 = num_hi / d and 1/D = y (x >= 0) or 1 - y (x < 0):
//     y = y0 + (res + num_lo - y0 dl) / D,   res = num_hi - y0 d,
// so, as in tanh, the result is rounded about once.
PYDL_VMATH_FN float sigmoid(float x) {
    using namespace detail;
    SplitF e = exp_split(-abs(x));
    float eh = (e.hi * e.s1) * e.s2, el = (e.lo * e.s1) * e.s2;
    float dl;
    float d = fast_two_sum(1.0f, eh, dl);
    dl = dl + el;
    uint32_t pos = ~is_negative(x);
    float num = select(pos, 1.0f, eh);
    float y = num / d;
    y = y + ((div_residual(num, y, d) + select(pos, 0.0f, el)) - y * dl) * select(pos, y, 1.0f - y);
    return select(abs_gt(x, 110.0f), select(pos, 1.0f, 0.0f), y);  // e underflowed to 0
}
PYDL_VMATH_FN double sigmoid(double x) {
    using namespace detail;
    SplitD e = exp_split(-abs(x));
    double eh = (e.hi * e.s1) * e.s2, el = (e.lo * e.s1) * e.s2;
    double dl;
    double d = fast_two_sum(1.0, eh, dl);
    dl = dl + el;
    uint64_t pos = ~is_negative(x);
    double num = select(pos, 1.0, eh);
    double y = num / d;
    y = y + ((div_residual(num, y, d) + select(pos, 0.0, el)) - y * dl) * select(pos, y, 1.0 - y);
    return select(abs_gt(x, 760.0), select(pos, 1.0, 0.0), y);
}

}  // namespace vmath
}  // namespace pydl

#undef PYDL_VMATH_FN
