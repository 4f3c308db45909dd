// vmath_accuracy.cpp — accuracy and special-value check of csrc/cpu/vmath.h.
//
// Each function is called the way the kernels call it, inside a `#pragma omp simd` loop over an
// array (so with -fopenmp and -mavx2/-mavx512f it is the vectorized code that is checked), and
// compared with a reference one precision up: the float versions with std:: in double, the
// double versions with std:: in long double (x87, 64-bit mantissa). The error is measured in
// ulps of the exact result (an inf result counts as 2^128 / 2^1024, the next power of two).
//
// Inputs: special points (0, ±denormals, ±inf, nan, overflow/underflow thresholds, region
// boundaries, and their neighbours a few ulps away), uniformly random bit patterns (every
// exponent equally often), random values with log-uniform magnitude over the interesting range,
// and for float a strided sweep of all 2^32 bit patterns.
//
//   vmath_accuracy              run the check; exit 1 if an error exceeds 2 ulp or a special
//                               value (nan, inf, signed zero) differs from std::
//   vmath_accuracy --exhaustive also sweep every float (2^32 inputs per function) and test 32x
//                               more random doubles (minutes)
//   vmath_accuracy --bench      also time each function against the std:: loop (ns/element)
//
// Build: g++ -O2 -std=c++17 [-mavx2 -mfma] [-fopenmp] vmath_accuracy.cpp -o vmath_accuracy
#include "../../csrc/cpu/vmath.h"

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace vm = pydl::vmath;

// ---------------------------------------------------------------------------------------------
// The functions under test, each as an array loop, and their references.
// ---------------------------------------------------------------------------------------------
#define VMATH_LOOP(NAME)                                                      \
    static void loop_##NAME(const float* x, float* y, int64_t n) {            \
        _Pragma("omp simd") for (int64_t i = 0; i < n; ++i) y[i] = vm::NAME(x[i]); \
    }                                                                         \
    static void loop_##NAME(const double* x, double* y, int64_t n) {          \
        _Pragma("omp simd") for (int64_t i = 0; i < n; ++i) y[i] = vm::NAME(x[i]); \
    }
VMATH_LOOP(exp)
VMATH_LOOP(expm1)
VMATH_LOOP(log)
VMATH_LOOP(log1p)
VMATH_LOOP(tanh)
VMATH_LOOP(erf)
VMATH_LOOP(sigmoid)
#undef VMATH_LOOP

template <typename W> static W ref_sigmoid(W x) { return W(1) / (W(1) + std::exp(-x)); }

// std:: loops for the benchmark (what a kernel would do without vmath)
#define STD_LOOP(NAME, EXPR)                                                           \
    static void std_##NAME(const float* x, float* y, int64_t n) {                     \
        for (int64_t i = 0; i < n; ++i) { float v = x[i]; y[i] = EXPR; }              \
    }                                                                                  \
    static void std_##NAME(const double* x, double* y, int64_t n) {                   \
        for (int64_t i = 0; i < n; ++i) { double v = x[i]; y[i] = EXPR; }             \
    }
STD_LOOP(exp, std::exp(v))
STD_LOOP(expm1, std::expm1(v))
STD_LOOP(log, std::log(v))
STD_LOOP(log1p, std::log1p(v))
STD_LOOP(tanh, std::tanh(v))
STD_LOOP(erf, std::erf(v))
STD_LOOP(sigmoid, 1 / (1 + std::exp(-v)))
#undef STD_LOOP

template <typename T> struct Wider;
template <> struct Wider<float> { using type = double; };
template <> struct Wider<double> { using type = long double; };

template <typename T> struct Func {
    using W = typename Wider<T>::type;
    const char* name;
    void (*fn)(const T*, T*, int64_t);
    void (*stdfn)(const T*, T*, int64_t);
    W (*ref)(W);
    double lo, hi;  // log-uniform sampling covers magnitudes in [2^lo, 2^hi], both signs
};

template <typename T> static std::vector<Func<T>> functions() {
    using W = typename Wider<T>::type;
    const bool f = sizeof(T) == 4;
    const double big = f ? 7.0 : 10.0;                    // log2 of the saturation region
    const double tiny = f ? -149.0 : -1074.0, huge = f ? 128.0 : 1024.0;
    return {
        {"exp", loop_exp, std_exp, [](W x) -> W { return std::exp(x); }, -30, big},
        {"expm1", loop_expm1, std_expm1, [](W x) -> W { return std::expm1(x); }, -40, big},
        {"log", loop_log, std_log, [](W x) -> W { return std::log(x); }, tiny, huge},
        {"log1p", loop_log1p, std_log1p, [](W x) -> W { return std::log1p(x); }, -40, 30},
        {"tanh", loop_tanh, std_tanh, [](W x) -> W { return std::tanh(x); }, -40, 5},
        {"erf", loop_erf, std_erf, [](W x) -> W { return std::erf(x); }, -40, 3},
        {"sigmoid", loop_sigmoid, std_sigmoid, [](W x) -> W { return ref_sigmoid(x); }, -30, big},
    };
}

// ---------------------------------------------------------------------------------------------
// Error measurement
// ---------------------------------------------------------------------------------------------
template <typename T> struct Stats {
    double max_ulp = 0;
    T worst_x = 0, worst_y = 0;
    typename Wider<T>::type worst_ref = 0;
    int64_t count = 0, special_fail = 0;
    T fail_x = 0, fail_y = 0;
    typename Wider<T>::type fail_ref = 0;
    void merge(const Stats& o) {
        if (o.max_ulp > max_ulp) {
            max_ulp = o.max_ulp;
            worst_x = o.worst_x, worst_y = o.worst_y, worst_ref = o.worst_ref;
        }
        if (o.special_fail && !special_fail) {
            fail_x = o.fail_x, fail_y = o.fail_y, fail_ref = o.fail_ref;
        }
        count += o.count;
        special_fail += o.special_fail;
    }
};

// Error of y against the exact value ref, in ulps of T at ref; -1 for a special-value mismatch.
template <typename T> static double ulp_error(T y, typename Wider<T>::type ref) {
    using W = typename Wider<T>::type;
    constexpr int mant = std::numeric_limits<T>::digits;       // 24 / 53
    constexpr int emin = std::numeric_limits<T>::min_exponent;  // -125 / -1021
    constexpr int emax = std::numeric_limits<T>::max_exponent;  // 128 / 1024
    if (std::isnan(ref) || std::isnan(y)) return std::isnan(ref) && std::isnan(y) ? 0 : -1;
    if (std::isinf(ref)) return y == ref ? 0 : -1;
    if (ref == 0) return (y == 0 && std::signbit(y) == std::signbit(ref)) ? 0 : -1;
    const W top = std::ldexp(W(1), emax);                    // 2^128 / 2^1024
    if (std::fabs(ref) >= top)  // overflows T: must be inf
        return (std::isinf(y) && std::signbit(y) == std::signbit(ref)) ? 0 : -1;
    W yv = std::isinf(y) ? std::copysign(top, W(y)) : W(y);
    if (y == 0 && std::signbit(y) != std::signbit(ref)) return -1;  // a zero of the wrong sign
    int e = std::ilogb(ref);                                 // ref in [2^e, 2^(e+1))
    if (e < emin - 1) e = emin - 1;                          // denormal range: fixed ulp
    W ulp = std::ldexp(W(1), e - (mant - 1));
    return double(std::fabs(yv - ref) / ulp);
}

template <typename T>
static void check_block(const Func<T>& fn, const T* x, T* y, int64_t n, Stats<T>& st) {
    fn.fn(x, y, n);
    for (int64_t i = 0; i < n; ++i) {
        auto ref = fn.ref(typename Wider<T>::type(x[i]));
        double err = ulp_error<T>(y[i], ref);
        st.count++;
        if (err < 0) {
            if (!st.special_fail) { st.fail_x = x[i]; st.fail_y = y[i]; st.fail_ref = ref; }
            st.special_fail++;
        } else if (err > st.max_ulp) {
            st.max_ulp = err; st.worst_x = x[i]; st.worst_y = y[i]; st.worst_ref = ref;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------
static float from_bits32(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }
static double from_bits64(uint64_t u) { double f; std::memcpy(&f, &u, 8); return f; }

template <typename T> static std::vector<T> special_points() {
    using L = std::numeric_limits<T>;
    std::vector<T> base = {
        0, L::denorm_min(), 2 * L::denorm_min(), 3 * L::denorm_min(), L::min() / 2, L::min(),
        L::min() * 2, L::epsilon(), L::epsilon() / 2, T(1e-30), T(1e-10), T(1e-7), T(1e-5), T(1e-3),
        T(0.01), T(0.1), T(0.25), T(0.3465735902799726547), T(0.5), T(0.625), T(0.75), T(0.84375),
        T(0.875), T(1), T(1.03972077083991796413), T(1.25), T(1.5), T(2), T(2.5), T(3), T(3.5),
        T(3.9192), T(3.95), T(4), T(5), T(5.8658), T(5.95), T(6), T(8), T(9.01), T(10), T(16),
        T(17.33), T(18.5), T(19.06), T(20), T(22), T(27), T(37.5), T(38), T(40), T(44), T(50),
        T(87.33654475), T(88), T(88.7228391), T(89), T(100), T(103.278929903), T(103.972077),
        T(104), T(110), T(150), T(700), T(708.396418532264), T(709.782712893384), T(710),
        T(720), T(744.44007192138), T(745.133219101941), T(746), T(760), T(1000), T(1e10),
        T(1e30), L::max() / 2, L::max(), L::infinity(), L::quiet_NaN(), T(0.6931471805599453),
        T(2.0794415416798357), T(1e-20), T(1e-38), T(1e-300),
    };
    std::vector<T> pts;
    for (T b : base) {
        for (T s : {T(1), T(-1)}) {
            T v = s * b;
            pts.push_back(v);
            T up = v, dn = v;
            for (int k = 0; k < 4; ++k) {
                up = std::nextafter(up, L::infinity());
                dn = std::nextafter(dn, -L::infinity());
                pts.push_back(up);
                pts.push_back(dn);
            }
        }
    }
    // log1p near -1, log near 1
    for (T c : {T(-1), T(1)}) {
        T v = c;
        for (int k = 0; k < 64; ++k) { v = std::nextafter(v, T(0)); pts.push_back(v); }
    }
    pts.push_back(-L::quiet_NaN());
    pts.push_back(L::signaling_NaN());
    return pts;
}

template <typename T> struct Sampler {
    std::mt19937_64 rng{12345};
    T random_bits() {
        if constexpr (sizeof(T) == 4) return from_bits32(uint32_t(rng()));
        else return from_bits64(rng());
    }
    // random sign, magnitude 2^u with u uniform in [lo, hi]
    T log_uniform(double lo, double hi) {
        std::uniform_real_distribution<double> d(lo, hi);
        T v = T(std::exp2(d(rng)));
        return (rng() & 1) ? -v : v;
    }
    T uniform(double lo, double hi) {
        return T(std::uniform_real_distribution<double>(lo, hi)(rng));
    }
};

// ---------------------------------------------------------------------------------------------
template <typename T> static bool run_checks(bool exhaustive, int64_t n_random) {
    const char* tname = sizeof(T) == 4 ? "float" : "double";
    const std::vector<T> specials = special_points<T>();
    bool ok = true;
    for (const Func<T>& fn : functions<T>()) {
        Stats<T> st;
        const int64_t B = 4096;
        std::vector<T> x(B), y(B);
        {
            std::vector<T> ys(specials.size());
            check_block(fn, specials.data(), ys.data(), int64_t(specials.size()), st);
        }
        Sampler<T> s;
        for (int64_t done = 0; done < n_random; done += B) {
            for (int64_t i = 0; i < B; ++i) {
                switch (i % 4) {
                    case 0: x[i] = s.random_bits(); break;
                    case 1: x[i] = s.log_uniform(fn.lo, fn.hi); break;
                    case 2: x[i] = s.log_uniform(-4, 4); break;
                    default: x[i] = s.uniform(-12, 12); break;
                }
            }
            check_block(fn, x.data(), y.data(), B, st);
        }
        if constexpr (sizeof(T) == 4) {  // strided sweep over all floats (every one if exhaustive)
            const uint64_t stride = exhaustive ? 1 : 997;
            const int64_t total = int64_t((uint64_t(1) << 32) / stride) + 1;
#ifdef _OPENMP
#pragma omp parallel
#endif
            {
                Stats<T> local;
                std::vector<T> xl(B), yl(B);
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 64)
#endif
                for (int64_t blk = 0; blk < (total + B - 1) / B; ++blk) {
                    int64_t n = std::min<int64_t>(B, total - blk * B);
                    for (int64_t i = 0; i < n; ++i) {
                        uint64_t v = uint64_t(blk * B + i) * stride;
                        xl[i] = from_bits32(uint32_t(v));
                    }
                    check_block(fn, xl.data(), yl.data(), n, local);
                }
#ifdef _OPENMP
#pragma omp critical
#endif
                st.merge(local);
            }
        }
        bool fn_ok = st.max_ulp <= 2.0 && st.special_fail == 0;
        ok = ok && fn_ok;
        std::printf("%-8s %-7s max_ulp=%6.3f at x=%-24.17Lg (got %.17Lg, want %.20Lg)  n=%" PRId64
                    "%s\n",
                    fn.name, tname, st.max_ulp, (long double)st.worst_x, (long double)st.worst_y,
                    (long double)st.worst_ref, st.count, fn_ok ? "" : "  <-- FAIL");
        if (st.special_fail)
            std::printf("         %" PRId64
                        " special-value mismatches, first: x=%.17Lg got %.17Lg want %.17Lg\n",
                        st.special_fail, (long double)st.fail_x, (long double)st.fail_y,
                        (long double)st.fail_ref);
        std::fflush(stdout);
    }
    return ok;
}

// ---------------------------------------------------------------------------------------------
// Benchmark: ns per element, vmath vs the std:: loop, 1M elements, best of several runs.
// ---------------------------------------------------------------------------------------------
template <typename T> static void bench() {
    const int64_t n = 1 << 20;
    std::vector<T> x(n), y(n);
    Sampler<T> s;
    for (const Func<T>& fn : functions<T>()) {
        // inputs in [-8, 8]; log gets [1e-3, 8], log1p [0, 8]
        const std::string name = fn.name;
        for (int64_t i = 0; i < n; ++i) {
            T v = s.uniform(-8, 8);
            x[i] = name == "log" ? std::fabs(v) + T(1e-3) : name == "log1p" ? std::fabs(v) : v;
        }
        auto time = [&](void (*f)(const T*, T*, int64_t)) {
            double best = 1e30;
            for (int rep = 0; rep < 7; ++rep) {
                auto t0 = std::chrono::steady_clock::now();
                f(x.data(), y.data(), n);
                auto t1 = std::chrono::steady_clock::now();
                best = std::min(best, std::chrono::duration<double, std::nano>(t1 - t0).count());
            }
            return best / double(n);
        };
        double tv = time(fn.fn), ts = time(fn.stdfn);
        std::printf("bench %-8s %-7s vmath %7.3f ns/elem   std %7.3f ns/elem   speedup %6.1fx\n",
                    fn.name, sizeof(T) == 4 ? "float" : "double", tv, ts, ts / tv);
    }
}

int main(int argc, char** argv) {
    bool exhaustive = false, do_bench = false;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--exhaustive")) exhaustive = true;
        else if (!std::strcmp(argv[i], "--bench")) do_bench = true;
        else { std::fprintf(stderr, "usage: %s [--exhaustive] [--bench]\n", argv[0]); return 2; }
    }
    std::printf("vmath accuracy: %s%s%s\n",
#if defined(__AVX512F__)
                "avx512",
#elif defined(__AVX2__)
                "avx2",
#else
                "baseline",
#endif
#if defined(__FMA__)
                "+fma",
#else
                "",
#endif
#if defined(_OPENMP)
                " +openmp (vectorized loops)"
#else
                " (no openmp: scalar loops)"
#endif
    );
    bool ok = run_checks<float>(exhaustive, int64_t(1) << 22);
    ok = run_checks<double>(false, int64_t(1) << (exhaustive ? 26 : 21)) && ok;
    if (do_bench) { bench<float>(); bench<double>(); }
    std::printf("%s\n", ok ? "vmath accuracy: all within 2 ulp, special values match"
                           : "vmath accuracy: FAILED");
    return ok ? 0 : 1;
}
