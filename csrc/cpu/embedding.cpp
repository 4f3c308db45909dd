// Embedding kernels: a row gather (forward) and its adjoint, a row
// scatter-add (backward).
//
// Compiled once per ISA (PYDL_ISA_NS = scalar | avx2 | avx512); fills the
// embedding members of the f32 / f64 tables. Single-threaded: the op layer
// (core/ops_embedding.cpp) checks every index against [0, V) before a kernel
// runs and splits the work over OpenMP threads.
//
// Shapes: weight w[V, D] (V = num_embeddings, D = embedding_dim), indices
// idx[M] (the flattened index tensor), out / grad g[M, D].
//
// Variants:
//   reference   forward: out[m, :] = w[idx[m], :] element by element.
//               backward: dw = 0, then for m = 0..M-1 in order:
//               dw[idx[m], :] += g[m, :] (skipping padding_idx). Sequential:
//               obviously right, and the order every variant must reproduce.
//   fast        forward: one memcpy per row (the row is contiguous; memcpy is
//               the fastest copy the libc has for this CPU).
//               backward: rows partitioned by *embedding row*, not by m. The op
//               layer counting-sorts the positions m by idx[m] into CSR form
//               (pos[start[v] .. start[v+1]) = the m with idx[m] == v, in
//               increasing m), then each thread owns a range of embedding rows
//               v and sums its rows' gradient rows with a vectorised loop over
//               D. No two threads ever write the same row, so there are no
//               races and no atomics, and every row is summed in increasing m,
//               exactly the reference's order: results are bitwise identical
//               to the reference and independent of the thread count. A
//               per-thread dw copy would cost threads * V * D memory and a
//               final reduction; the sort costs O(M + V) integer work.
#include <cstdint>
#include <cstring>

#include "cpu/kernels.h"

namespace pydl {
namespace cpu {
namespace PYDL_ISA_NS {
namespace {

// ---------------------------------------------------------------------------
// reference
// ---------------------------------------------------------------------------
template <class T>
void embedding_fwd_reference(const T* w, const int64_t* idx, int64_t M, int64_t D, T* out) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t d = 0; d < D; ++d) out[m * D + d] = w[idx[m] * D + d];
}

// dw[V, D] fully written (zeroed first). padding_idx < 0: none.
template <class T>
void embedding_bwd_reference(const T* g, const int64_t* idx, int64_t M, int64_t V, int64_t D,
                             int64_t padding_idx, T* dw) {
  for (int64_t i = 0; i < V * D; ++i) dw[i] = T(0);
  for (int64_t m = 0; m < M; ++m) {
    const int64_t v = idx[m];
    if (v == padding_idx) continue;
    for (int64_t d = 0; d < D; ++d) dw[v * D + d] += g[m * D + d];
  }
}

// ---------------------------------------------------------------------------
// fast
// ---------------------------------------------------------------------------
// Rows m in [0, M) of out: out[m, :] = w[idx[m], :].
template <class T>
void embedding_fwd(const T* w, const int64_t* idx, int64_t M, int64_t D, T* out) {
  const size_t row_bytes = (size_t)D * sizeof(T);
  for (int64_t m = 0; m < M; ++m) std::memcpy(out + m * D, w + idx[m] * D, row_bytes);
}

// Embedding rows v in [v0, v1): dw[v, :] = sum_{k in [start[v], start[v+1])} g[pos[k], :],
// or zero for v == padding_idx. pos / start: the CSR built by the op layer.
template <class T>
void embedding_bwd_rows(const T* g, const int64_t* pos, const int64_t* start, int64_t v0, int64_t v1,
                        int64_t D, int64_t padding_idx, T* dw) {
  for (int64_t v = v0; v < v1; ++v) {
    T* dr = dw + v * D;
#pragma omp simd
    for (int64_t d = 0; d < D; ++d) dr[d] = T(0);
    if (v == padding_idx) continue;
    // Same association as the reference: ((0 + g[m0]) + g[m1]) + ... per column.
    for (int64_t k = start[v]; k < start[v + 1]; ++k) {
      const T* gr = g + pos[k] * D;
#pragma omp simd
      for (int64_t d = 0; d < D; ++d) dr[d] += gr[d];
    }
  }
}

template <class T>
void fill_typed(TypedKernels<T>& t) {
  t.embedding_fwd = &embedding_fwd<T>;
  t.embedding_fwd_reference = &embedding_fwd_reference<T>;
  t.embedding_bwd_rows = &embedding_bwd_rows<T>;
  t.embedding_bwd_reference = &embedding_bwd_reference<T>;
}

}  // namespace

void fill_embedding(CpuKernels& k) {
  fill_typed(k.f32);
  fill_typed(k.f64);
}

}  // namespace PYDL_ISA_NS
}  // namespace cpu
}  // namespace pydl
