// Strided iteration shared by the op layer: walks N operands of a common
// shape as rows of a contiguous inner dimension, so kernels only ever see
// 1-D runs (pointer + stride) and the op layer does the OpenMP split.
#pragma once
#include <omp.h>

#include <algorithm>
#include <array>
#include <cstdint>

#include "core/tensor.h"

namespace pydl {

template <int N>
struct Loop {
  Shape shape;                   // coalesced shape, innermost last
  std::array<Shape, N> strides;  // per operand, in elements
  int64_t inner = 1;             // shape.back() (1 for 0-d)
  int64_t rows = 1;              // product of the other dims
  int64_t numel = 1;

  // Element offsets of the start of `row` for every operand.
  void row_offsets(int64_t row, int64_t* off) const {
    for (int k = 0; k < N; ++k) off[k] = 0;
    for (int64_t d = static_cast<int64_t>(shape.size()) - 2; d >= 0; --d) {
      int64_t i = row % shape[d];
      row /= shape[d];
      for (int k = 0; k < N; ++k) off[k] += i * strides[k][d];
    }
  }
  int64_t inner_stride(int k) const { return shape.empty() ? 0 : strides[k].back(); }
};

// Drops size-1 dims and merges neighbours that are contiguous in every operand.
template <int N>
Loop<N> make_loop(const Shape& shape, const std::array<Shape, N>& strides) {
  Loop<N> L;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!L.shape.empty()) {
      bool merge = true;
      for (int k = 0; k < N; ++k)
        if (L.strides[k].back() != shape[d] * strides[k][d]) merge = false;
      if (merge) {
        L.shape.back() *= shape[d];
        for (int k = 0; k < N; ++k) L.strides[k].back() = strides[k][d];
        continue;
      }
    }
    L.shape.push_back(shape[d]);
    for (int k = 0; k < N; ++k) L.strides[k].push_back(strides[k][d]);
  }
  for (int64_t s : shape) L.numel *= s;
  if (L.shape.empty()) {  // a single element (or a 0-d tensor)
    L.shape.push_back(L.numel == 0 ? 0 : 1);
    for (int k = 0; k < N; ++k) L.strides[k].push_back(0);
  }
  L.inner = L.shape.back();
  L.rows = L.inner == 0 ? 0 : L.numel / L.inner;
  return L;
}

// Below this many elements an op runs on one thread: starting the team costs
// more than it saves.
constexpr int64_t kParallelGrain = 32768;

// Calls f(const int64_t* offsets, int64_t n) over pieces of rows, in parallel
// when the work is large. Pieces of one row are contiguous: offsets already
// include the start of the piece (offset + start * inner_stride).
template <int N, class F>
void for_each_run(const Loop<N>& L, F&& f) {
  if (L.numel == 0) return;
  const int nthreads = omp_get_max_threads();
  const bool parallel = L.numel >= kParallelGrain && nthreads > 1;
  if (L.rows >= nthreads || !parallel) {
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t r = 0; r < L.rows; ++r) {
      int64_t off[N];
      L.row_offsets(r, off);
      f(off, L.inner);
    }
    return;
  }
  // Few long rows: split each row into per-thread chunks.
  const int64_t chunk = std::max<int64_t>(4096, (L.inner + nthreads - 1) / nthreads);
  const int64_t per_row = (L.inner + chunk - 1) / chunk;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < L.rows * per_row; ++t) {
    int64_t r = t / per_row, c = t % per_row;
    int64_t off[N];
    L.row_offsets(r, off);
    int64_t start = c * chunk, n = std::min(chunk, L.inner - start);
    for (int k = 0; k < N; ++k) off[k] += start * L.strides[k].back();
    f(off, n);
  }
}

// Strides of t as seen through a broadcast to `shape` (0 on broadcast dims).
inline Shape broadcast_strides(const Tensor& t, const Shape& shape) {
  Shape s(shape.size(), 0);
  const int64_t lead = static_cast<int64_t>(shape.size()) - t.dim();
  for (int64_t d = 0; d < t.dim(); ++d)
    s[lead + d] = t.shape[d] == 1 ? 0 : t.strides[d];
  return s;
}

}  // namespace pydl
