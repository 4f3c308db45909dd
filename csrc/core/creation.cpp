// Creation functions and the seeded random generator.
#include <cmath>
#include <cstring>
#include <mutex>
#include <random>
#include <sstream>

#include "core/tensor.h"

namespace pydl {

Tensor full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  dispatch_dtype(dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    T v = static_cast<T>(value);
    T* p = t.data<T>();
    const int64_t n = t.numel();
#pragma omp parallel for if (n > (1 << 18))
    for (int64_t i = 0; i < n; ++i) p[i] = v;
  });
  return t;
}

Tensor scalar_tensor(double value, DType dtype) { return full({}, value, dtype); }

// int64 values beyond 2^53 do not survive a trip through double.
Tensor full_i64(const Shape& shape, int64_t value) {
  Tensor t = empty(shape, DType::Int64);
  int64_t* p = t.data<int64_t>();
  const int64_t n = t.numel();
#pragma omp parallel for if (n > (1 << 18))
  for (int64_t i = 0; i < n; ++i) p[i] = value;
  return t;
}

Tensor arange_i64(int64_t start, int64_t end, int64_t step) {
  PYDL_CHECK(step != 0, RuntimeError, "step must be nonzero");
  PYDL_CHECK((step > 0 && end >= start) || (step < 0 && end <= start), RuntimeError,
             "upper bound and larger bound inconsistent with step sign");
  // Count in 128 bits: end - start may overflow int64.
  __int128 span = static_cast<__int128>(end) - start;
  __int128 n = (span + step + (step > 0 ? -1 : 1)) / step;
  PYDL_CHECK(n < (static_cast<__int128>(1) << 50), RuntimeError, "arange: too many elements");
  Tensor t = empty({static_cast<int64_t>(n)}, DType::Int64);
  int64_t* p = t.data<int64_t>();
  for (int64_t i = 0; i < static_cast<int64_t>(n); ++i) p[i] = start + i * step;
  return t;
}

Tensor arange(double start, double end, double step, DType dtype) {
  PYDL_CHECK(step != 0, RuntimeError, "step must be nonzero");
  PYDL_CHECK(std::isfinite(start) && std::isfinite(end), RuntimeError,
             "unsupported range: ", start, " -> ", end);
  PYDL_CHECK((step > 0 && end >= start) || (step < 0 && end <= start), RuntimeError,
             "upper bound and larger bound inconsistent with step sign");
  const double span = std::ceil((end - start) / step);
  PYDL_CHECK(span < 9e15, RuntimeError, "arange: too many elements");
  const int64_t n = static_cast<int64_t>(span);
  Tensor t = empty({n}, dtype);
  dispatch_dtype(dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    T* p = t.data<T>();
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(start + static_cast<double>(i) * step);
  });
  return t;
}

Tensor linspace(double start, double end, int64_t steps, DType dtype) {
  PYDL_CHECK(steps >= 0, RuntimeError, "linspace: number of steps must be non-negative");
  Tensor t = empty({steps}, dtype);
  dispatch_dtype(dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    T* p = t.data<T>();
    if (steps == 1) { p[0] = static_cast<T>(start); return; }
    const double step = (end - start) / static_cast<double>(steps - 1);
    // Symmetric fill from both ends, as PyTorch does, so the end point is exact.
    const int64_t half = steps / 2;
    for (int64_t i = 0; i < steps; ++i)
      p[i] = static_cast<T>(i < half ? start + step * i : end - step * (steps - 1 - i));
  });
  return t;
}

// ---------------------------------------------------------------------------
// Random numbers
// ---------------------------------------------------------------------------
namespace {
struct Generator {
  std::mutex mu;
  uint64_t seed = 67280421310721ULL;
  std::mt19937_64 engine{67280421310721ULL};
  // 53 random bits -> [0, 1)
  double uniform() { return static_cast<double>(engine() >> 11) * 0x1.0p-53; }
};
Generator& gen() {
  static Generator g;
  return g;
}
}  // namespace

void manual_seed(uint64_t seed) {
  std::lock_guard<std::mutex> lk(gen().mu);
  gen().seed = seed;
  gen().engine.seed(seed);
}

uint64_t initial_seed() { return gen().seed; }

std::vector<uint8_t> get_rng_state() {
  std::lock_guard<std::mutex> lk(gen().mu);
  std::ostringstream os;
  os << gen().seed << ' ' << gen().engine;
  std::string s = os.str();
  return std::vector<uint8_t>(s.begin(), s.end());
}

void set_rng_state(const std::vector<uint8_t>& state) {
  std::lock_guard<std::mutex> lk(gen().mu);
  std::istringstream is(std::string(state.begin(), state.end()));
  uint64_t seed;
  std::mt19937_64 e;
  is >> seed >> e;
  PYDL_CHECK(!is.fail(), ValueError, "set_rng_state: the state is corrupted");
  gen().seed = seed;
  gen().engine = e;
}

template <class Fill>
static Tensor fill_random(const Shape& shape, DType dtype, Fill&& f) {
  Tensor t = empty(shape, dtype);
  std::lock_guard<std::mutex> lk(gen().mu);
  dispatch_dtype(dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    T* p = t.data<T>();
    for (int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = static_cast<T>(f());
  });
  return t;
}

static void require_float(DType dtype, const char* op) {
  PYDL_CHECK(is_floating(dtype), RuntimeError, "\"", op, "\" not implemented for '",
             dtype_name(dtype), "'");
}

Tensor rand(const Shape& shape, DType dtype) {
  require_float(dtype, "check_uniform_bounds");
  if (dtype == DType::Float32) {
    // Round-to-nearest of a 53-bit double could give 1.0f: use 24 bits.
    return fill_random(shape, dtype, [] { return static_cast<double>(gen().engine() >> 40) * 0x1.0p-24; });
  }
  return fill_random(shape, dtype, [] { return gen().uniform(); });
}

// Box-Muller; both outputs of a pair are used.
Tensor randn(const Shape& shape, DType dtype) {
  require_float(dtype, "normal_kernel_cpu");
  bool have = false;
  double spare = 0;
  return fill_random(shape, dtype, [&] {
    if (have) { have = false; return spare; }
    double u1 = 1.0 - gen().uniform();  // (0, 1]
    double u2 = gen().uniform();
    double r = std::sqrt(-2.0 * std::log(u1));
    spare = r * std::sin(2 * M_PI * u2);
    have = true;
    return r * std::cos(2 * M_PI * u2);
  });
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, DType dtype) {
  PYDL_CHECK(high > low, RuntimeError, "random_ expects 'from' to be less than 'to', but got from=",
             low, " >= to=", high);
  const uint64_t range = static_cast<uint64_t>(high - low);
  return fill_random(shape, dtype, [&] {
    // Rejection sampling avoids modulo bias.
    const uint64_t limit = UINT64_MAX - UINT64_MAX % range;
    uint64_t x;
    do { x = gen().engine(); } while (x >= limit);
    return static_cast<double>(low + static_cast<int64_t>(x % range));
  });
}

Tensor randperm(int64_t n) {
  PYDL_CHECK(n >= 0, RuntimeError, "randperm: n must be non-negative, got ", n);
  Tensor t = arange(0, static_cast<double>(n), 1, DType::Int64);
  int64_t* p = t.data<int64_t>();
  std::lock_guard<std::mutex> lk(gen().mu);
  for (int64_t i = n - 1; i > 0; --i) {  // Fisher-Yates
    int64_t j = static_cast<int64_t>(gen().engine() % static_cast<uint64_t>(i + 1));
    std::swap(p[i], p[j]);
  }
  return t;
}

Tensor bernoulli(const Tensor& prob) {
  Tensor p = contiguous(prob);
  require_float(p.dtype, "bernoulli");
  Tensor out = empty(p.shape, p.dtype);
  std::lock_guard<std::mutex> lk(gen().mu);
  dispatch_dtype(p.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    if constexpr (std::is_floating_point_v<T>) {
      const T* pp = p.data<T>();
      T* o = out.data<T>();
      for (int64_t i = 0; i < p.numel(); ++i) {
        PYDL_CHECK(pp[i] >= 0 && pp[i] <= 1, RuntimeError,
                   "Expected p_in >= 0 && p_in <= 1 to be true, but got false.");
        o[i] = gen().uniform() < pp[i] ? T(1) : T(0);
      }
    }
  });
  return out;
}

static void fill_inplace(Tensor& t, const char* op, double a, double b, bool normal) {
  check_cpu(t, op);
  require_float(t.dtype, op);
  Tensor fresh = normal ? randn(t.shape, t.dtype) : rand(t.shape, t.dtype);
  dispatch_dtype(t.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    if constexpr (std::is_floating_point_v<T>) {
      T* p = fresh.data<T>();
      for (int64_t i = 0; i < fresh.numel(); ++i)
        p[i] = normal ? static_cast<T>(a + b * p[i]) : static_cast<T>(a + (b - a) * p[i]);
    }
  });
  copy_(t, fresh);
}

void uniform_(Tensor& t, double low, double high) {
  PYDL_CHECK(low <= high, RuntimeError, "uniform_ expects to return a [from, to) range, but found from=",
             low, " > to=", high);
  fill_inplace(t, "uniform_", low, high, false);
}
void normal_(Tensor& t, double mean, double std) {
  PYDL_CHECK(std >= 0, RuntimeError, "normal expects std >= 0.0, but found std ", std);
  fill_inplace(t, "normal_", mean, std, true);
}

}  // namespace pydl
