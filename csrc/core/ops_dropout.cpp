// Dropout op layer: checks, keep threshold, threading (kernels in cpu/dropout.cpp).
//
// The mask of element i is a pure function of (seed, i) (Philox), so the flat
// range splits over any number of threads with identical results, and the
// backward is this same op applied to the gradient with the same seed.
#include <omp.h>

#include <algorithm>
#include <cmath>

#include "core/iter.h"
#include "core/ops.h"
#include "core/variant_switch.h"

namespace pydl {

namespace {
RefFastSwitch g_dropout_variant("dropout");  // pydl.kernels.variants("dropout")
}  // namespace

Tensor dropout(const Tensor& x_in, double p, uint64_t seed, bool reference) {
  reference = g_dropout_variant.reference(reference);
  check_cpu(x_in, "dropout");
  PYDL_CHECK(p >= 0.0 && p <= 1.0, ValueError, "dropout probability has to be between 0 and 1, but got ", p);
  PYDL_CHECK(is_floating(x_in.dtype), RuntimeError, "dropout: expected a floating point input, got ",
             dtype_name(x_in.dtype));
  Tensor x = contiguous(x_in);
  if (p == 0.0) return x.storage == x_in.storage ? clone(x) : x;  // everything kept, scale 1
  Tensor y = empty(x.shape, x.dtype);
  const int64_t n = x.numel();
  if (n == 0) return y;
  // keep iff r < thr, r uniform on [0, 2^32): P(keep) = thr / 2^32 ~ 1 - p.
  const double t = std::floor((1.0 - p) * 4294967296.0);
  const uint32_t thr = t >= 4294967295.0 ? 4294967295u : static_cast<uint32_t>(t);
  const bool parallel = n >= kParallelGrain && omp_get_max_threads() > 1;
  dispatch_dtype(x.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    if constexpr (std::is_floating_point_v<T>) {
      const auto& k = cpu::typed<T>();
      // As torch: the mask value is 1 / (1 - p) computed in the tensor's dtype; p = 1 drops all (x * 0).
      const T scale = p == 1.0 ? T(0) : T(1) / static_cast<T>(1.0 - p);
      const T* px = x.data<T>();
      T* py = y.data<T>();
      auto fn = reference ? k.dropout_reference : k.dropout_fwd;
      // Chunks are multiples of the kernel's 64-element block (only the last is partial).
      const int64_t nt = parallel ? omp_get_max_threads() : 1;
      const int64_t chunk = std::max<int64_t>(4096, ((n + nt - 1) / nt + 63) / 64 * 64);
#pragma omp parallel for schedule(static) if (parallel)
      for (int64_t b = 0; b < n; b += chunk) fn(px + b, py + b, b, std::min(chunk, n - b), seed, thr, scale);
    }
  });
  return y;
}

std::vector<std::string> dropout_variants(DType) { return g_dropout_variant.names(); }
void set_dropout_variant(const std::string& name) { g_dropout_variant.set(name); }
std::string dropout_variant() { return g_dropout_variant.current(); }

}  // namespace pydl
