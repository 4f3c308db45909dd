// Embedding op layer: checks, index bounds, threading (kernels in cpu/embedding.cpp).
//
// weight[V, D], indices of any shape (int64) -> out[*indices.shape, D].
// Every index is checked against [0, V) before any kernel runs: an
// out-of-range index is an IndexError (torch's "index out of range in self"),
// never a read outside weight.
#include <omp.h>

#include <algorithm>
#include <vector>

#include "core/iter.h"
#include "core/ops.h"
#include "core/variant_switch.h"

namespace pydl {

namespace {
RefFastSwitch g_embedding_variant("embedding");  // pydl.kernels.variants("embedding")
}  // namespace
namespace {

void check_indices(const Tensor& idx, const char* op) {
  check_cpu(idx, op);
  PYDL_CHECK(idx.dtype == DType::Int64, RuntimeError,
             "Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, Int; "
             "but got ", dtype_name(idx.dtype), " instead (while checking arguments for ", op, ")");
}

// First index outside [0, V), scanning in parallel for big index tensors.
void check_bounds(const int64_t* ip, int64_t M, int64_t V) {
  int64_t bad = -1;
  const bool parallel = M >= kParallelGrain && omp_get_max_threads() > 1;
#pragma omp parallel for schedule(static) reduction(max : bad) if (parallel)
  for (int64_t m = 0; m < M; ++m)
    if (ip[m] < 0 || ip[m] >= V) bad = std::max(bad, m);
  PYDL_CHECK(bad < 0, IndexError, "index out of range in self (index ", ip[bad], " at position ", bad,
             ", num_embeddings ", V, ")");
}

}  // namespace

Tensor embedding(const Tensor& weight_in, const Tensor& indices, bool reference) {
  reference = g_embedding_variant.reference(reference);
  check_cpu(weight_in, "embedding");
  check_indices(indices, "embedding");
  PYDL_CHECK(weight_in.dim() == 2, RuntimeError, "'weight' must be 2-D, got a ", weight_in.dim(),
             "-D tensor of shape ", shape_str(weight_in.shape));
  PYDL_CHECK(is_floating(weight_in.dtype), RuntimeError, "embedding: expected a floating point weight, got ",
             dtype_name(weight_in.dtype));
  const int64_t V = weight_in.shape[0], D = weight_in.shape[1];
  Tensor idx = contiguous(indices);
  const int64_t M = idx.numel();
  const int64_t* ip = idx.data<int64_t>();
  check_bounds(ip, M, V);
  Shape out_shape = idx.shape;
  out_shape.push_back(D);
  Tensor out = empty(out_shape, weight_in.dtype);
  if (M == 0 || D == 0) return out;
  Tensor w = contiguous(weight_in);
  const bool parallel = M * D >= kParallelGrain && omp_get_max_threads() > 1;
  dispatch_dtype(w.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    if constexpr (std::is_floating_point_v<T>) {
      const auto& k = cpu::typed<T>();
      const T* pw = w.data<T>();
      T* po = out.data<T>();
      if (reference) {
        k.embedding_fwd_reference(pw, ip, M, D, po);
        return;
      }
      const int64_t nt = parallel ? omp_get_max_threads() : 1;
      const int64_t chunk = std::max<int64_t>(1, (M + nt * 4 - 1) / (nt * 4));
#pragma omp parallel for schedule(static) if (parallel)
      for (int64_t m0 = 0; m0 < M; m0 += chunk)
        k.embedding_fwd(pw, ip + m0, std::min(chunk, M - m0), D, po + m0 * D);
    }
  });
  return out;
}

Tensor embedding_backward(const Tensor& grad_in, const Tensor& indices, int64_t num_weights, int64_t padding_idx,
                          bool reference) {
  reference = g_embedding_variant.reference(reference);
  check_cpu(grad_in, "embedding_backward");
  check_indices(indices, "embedding_backward");
  PYDL_CHECK(is_floating(grad_in.dtype), RuntimeError, "embedding_backward: expected a floating point grad, got ",
             dtype_name(grad_in.dtype));
  PYDL_CHECK(num_weights >= 0, RuntimeError, "embedding_backward: num_weights must be >= 0, got ", num_weights);
  PYDL_CHECK(grad_in.dim() == indices.dim() + 1 &&
                 std::equal(indices.shape.begin(), indices.shape.end(), grad_in.shape.begin()),
             RuntimeError, "embedding_backward: grad of shape ", shape_str(grad_in.shape),
             " does not match indices of shape ", shape_str(indices.shape), " + [embedding_dim]");
  const int64_t V = num_weights, D = grad_in.shape.back();
  Tensor idx = contiguous(indices);
  const int64_t M = idx.numel();
  const int64_t* ip = idx.data<int64_t>();
  check_bounds(ip, M, V);
  if (padding_idx < 0 || padding_idx >= V) padding_idx = -1;
  Tensor g = contiguous(grad_in);
  Tensor dw = empty({V, D}, g.dtype);
  if (V == 0 || D == 0) return dw;
  dispatch_dtype(g.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    if constexpr (std::is_floating_point_v<T>) {
      const auto& k = cpu::typed<T>();
      const T* pg = g.data<T>();
      T* pd = dw.data<T>();
      if (reference) {
        k.embedding_bwd_reference(pg, ip, M, V, D, padding_idx, pd);
        return;
      }
      // CSR of positions by embedding row (counting sort, stable: increasing m per row).
      std::vector<int64_t> start(V + 1, 0), pos(M);
      for (int64_t m = 0; m < M; ++m) ++start[ip[m] + 1];
      for (int64_t v = 0; v < V; ++v) start[v + 1] += start[v];
      {
        std::vector<int64_t> fill(start.begin(), start.end() - 1);
        for (int64_t m = 0; m < M; ++m) pos[fill[ip[m]]++] = m;
      }
      const bool parallel = (V + M) * D >= kParallelGrain && omp_get_max_threads() > 1;
      // Rows differ in cost (frequent tokens): dynamic blocks of rows.
      const int64_t nt = parallel ? omp_get_max_threads() : 1;
      const int64_t blk = std::max<int64_t>(1, V / (nt * 16));
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
      for (int64_t v0 = 0; v0 < V; v0 += blk)
        k.embedding_bwd_rows(pg, pos.data(), start.data(), v0, std::min(V, v0 + blk), D, padding_idx, pd);
    }
  });
  return dw;
}

std::vector<std::string> embedding_variants(DType) { return g_embedding_variant.names(); }
void set_embedding_variant(const std::string& name) { g_embedding_variant.set(name); }
std::string embedding_variant() { return g_embedding_variant.current(); }

}  // namespace pydl
