// Matmul op layer: torch.matmul semantics (1-D, 2-D, batched with
// broadcast batch dims) on top of the strided GEMM variants in
// cpu/matmul.cpp. Operands are passed with their strides, so transposed
// views (x.T, x.mT) cost no copy.
#include <omp.h>

#include <atomic>

#include "core/iter.h"
#include "core/ops.h"

namespace pydl {

namespace {
std::atomic<int> g_variant{-1};  // -1: the fastest (last registered)

template <class T>
const cpu::GemmVariants<T>& gemm_table();
template <>
const cpu::GemmVariants<float>& gemm_table<float>() { return cpu::kernels().gemm_f32; }
template <>
const cpu::GemmVariants<double>& gemm_table<double>() { return cpu::kernels().gemm_f64; }

template <class T>
cpu::GemmFn<T> pick_gemm() {
  const auto& t = gemm_table<T>();
  int v = g_variant.load();
  if (v < 0 || v >= t.count) v = t.count - 1;
  return t.fns[v];
}

std::string dims_str(const Shape& s) {
  std::string r;
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "x" : "") + std::to_string(s[i]);
  return r;
}
}  // namespace

std::vector<std::string> gemm_variants(DType dtype) {
  std::vector<std::string> r;
  const auto& k = cpu::kernels();
  if (dtype == DType::Float64)
    for (int i = 0; i < k.gemm_f64.count; ++i) r.push_back(k.gemm_f64.names[i]);
  else
    for (int i = 0; i < k.gemm_f32.count; ++i) r.push_back(k.gemm_f32.names[i]);
  return r;
}

void set_gemm_variant(const std::string& name) {
  if (name.empty()) { g_variant = -1; return; }
  const auto& t = cpu::kernels().gemm_f32;
  for (int i = 0; i < t.count; ++i)
    if (name == t.names[i]) { g_variant = i; return; }
  throw ValueError(str("unknown matmul variant '", name, "'"));
}

std::string gemm_variant() {
  const auto& t = cpu::kernels().gemm_f32;
  int v = g_variant.load();
  if (v < 0 || v >= t.count) v = t.count - 1;
  return t.count ? t.names[v] : "";
}

Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
  check_same_device(a_in, b_in, "matmul");
  check_cpu(a_in, "matmul");
  PYDL_CHECK(a_in.dim() > 0 && b_in.dim() > 0, RuntimeError,
             "both arguments to matmul need to be at least 1D, but they are ", a_in.dim(), "D and ",
             b_in.dim(), "D");
  PYDL_CHECK(a_in.dtype == b_in.dtype, RuntimeError,
             "expected m1 and m2 to have the same dtype, but got: ", dtype_name(a_in.dtype), " != ",
             dtype_name(b_in.dtype));
  PYDL_CHECK(is_floating(a_in.dtype), RuntimeError, "\"matmul\" not implemented for '",
             dtype_name(a_in.dtype), "'");
  // Promote 1-D operands to matrices, remember which dims to drop after.
  Tensor a = a_in, b = b_in;
  const bool a_vec = a.dim() == 1, b_vec = b.dim() == 1;
  if (a_vec && b_vec) {
    PYDL_CHECK(a.shape[0] == b.shape[0], RuntimeError,
               "inconsistent tensor size, expected tensor [", a.shape[0], "] and src [", b.shape[0],
               "] to have the same number of elements, but got ", a.shape[0], " and ", b.shape[0],
               " elements respectively");
  }
  if (a_vec) a = unsqueeze(a, 0);
  if (b_vec) b = unsqueeze(b, 1);
  const int64_t M = a.shape[a.dim() - 2], K = a.shape[a.dim() - 1];
  const int64_t K2 = b.shape[b.dim() - 2], N = b.shape[b.dim() - 1];
  if (K != K2) {
    if (a_in.dim() <= 2 && b_in.dim() <= 2) {
      if (b_vec)
        throw RuntimeError(str("size mismatch, got input (", M, "), mat (", M, "x", K, "), vec (", K2, ")"));
      throw RuntimeError(str("mat1 and mat2 shapes cannot be multiplied (", M, "x", K, " and ", K2, "x",
                             N, ")"));
    }
    throw RuntimeError(str("Expected size for first two dimensions of batch2 tensor to be: [",
                           "batch, ", K, "] but got: [batch, ", K2, "]. (matmul of ",
                           dims_str(a_in.shape), " and ", dims_str(b_in.shape), ")"));
  }
  Shape ba(a.shape.begin(), a.shape.end() - 2), bb(b.shape.begin(), b.shape.end() - 2);
  Shape batch = broadcast_shapes(ba, bb);
  Shape ea = batch, eb = batch;
  ea.insert(ea.end(), {M, K});
  eb.insert(eb.end(), {K, N});
  Tensor xa = expand(a, ea), xb = expand(b, eb);
  Shape out_shape = batch;
  out_shape.insert(out_shape.end(), {M, N});
  Tensor out = empty(out_shape, a.dtype);
  const int64_t nb = shape_numel(batch);
  // Batch offsets of each operand (broadcast batch dims have stride 0).
  Shape bsa(xa.strides.begin(), xa.strides.end() - 2), bsb(xb.strides.begin(), xb.strides.end() - 2);
  auto batch_offset = [&](int64_t i, const Shape& st) {
    int64_t off = 0;
    for (int64_t d = static_cast<int64_t>(batch.size()) - 1; d >= 0; --d) {
      off += (i % batch[d]) * st[d];
      i /= batch[d];
    }
    return off;
  };
  const int64_t rsA = xa.strides[xa.dim() - 2], csA = xa.strides[xa.dim() - 1];
  const int64_t rsB = xb.strides[xb.dim() - 2], csB = xb.strides[xb.dim() - 1];
  dispatch_dtype(a.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    if constexpr (std::is_floating_point_v<T>) {
      auto gemm = pick_gemm<T>();
      const T* pa = xa.data<T>();
      const T* pb = xb.data<T>();
      T* pc = out.data<T>();
      // Many small products: one per thread (each GEMM then runs serially,
      // since nested parallel regions are off). Few large ones: the GEMM
      // parallelises inside.
      const bool per_batch = nb >= omp_get_max_threads() && M * N * K < (1 << 21) && nb > 1;
#pragma omp parallel for schedule(dynamic) if (per_batch)
      for (int64_t i = 0; i < nb; ++i)
        gemm(M, N, K, T(1), pa + batch_offset(i, bsa), rsA, csA, pb + batch_offset(i, bsb), rsB, csB,
             T(0), pc + i * M * N, N);
    }
  });
  if (a_vec) out = squeeze(out, {out.dim() - 2});
  if (b_vec) out = squeeze(out, {out.dim() - 1});
  return out;
}

}  // namespace pydl
