// Reduction op layer: sum / prod / max / min / mean / var / argmax over any
// set of dims.
//
// Layout trick: once the input is contiguous, reducing a block of adjacent
// dims is a reduction over the middle axis of a [outer, R, inner] array:
// inner == 1 is a row reduction (reduce_rows), otherwise a column reduction
// of each [R, inner] slab (reduce_cols). Dims that are not adjacent are
// permuted to the end first (one copy).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/iter.h"
#include "core/ops.h"

namespace pydl {

namespace {

struct Plan {
  Tensor x;           // contiguous input, arranged so the reduced dims are [d0, d1)
  int64_t outer = 1, R = 1, inner = 1;
  Shape out_shape;    // with keepdim applied
};

Plan make_plan(const Tensor& x_in, Shape dims, bool keepdim) {
  const int64_t nd = x_in.dim();
  std::vector<bool> red(std::max<int64_t>(nd, 1), false);
  if (dims.empty()) {
    std::fill(red.begin(), red.end(), true);
  } else {
    for (int64_t d : dims) {
      int64_t w = wrap_dim(d, nd);
      PYDL_CHECK(!red[w], RuntimeError, "dim ", w, " appears multiple times in the list of dims");
      red[w] = true;
    }
  }
  Plan p;
  for (int64_t d = 0; d < nd; ++d) {
    if (red[d]) {
      if (keepdim) p.out_shape.push_back(1);
    } else {
      p.out_shape.push_back(x_in.shape[d]);
    }
  }
  // Are the reduced dims one adjacent block?
  int64_t first = -1, last = -1;
  for (int64_t d = 0; d < nd; ++d)
    if (red[d]) { if (first < 0) first = d; last = d; }
  bool block = true;
  for (int64_t d = first; d >= 0 && d <= last; ++d) block = block && red[d];
  Tensor x = x_in;
  if (nd > 0 && !block) {
    Shape perm;
    for (int64_t d = 0; d < nd; ++d) if (!red[d]) perm.push_back(d);
    for (int64_t d = 0; d < nd; ++d) if (red[d]) perm.push_back(d);
    x = permute(x, perm);
    first = nd - static_cast<int64_t>(std::count(red.begin(), red.begin() + nd, true));
    last = nd - 1;
  }
  p.x = contiguous(x);
  if (nd == 0) return p;  // a 0-d tensor: outer = R = inner = 1
  for (int64_t d = 0; d < nd; ++d) {
    int64_t s = p.x.shape[d];
    if (d < first) p.outer *= s;
    else if (d <= last) p.R *= s;
    else p.inner *= s;
  }
  return p;
}

template <class T>
T identity(ReduceOp op) {
  return op == ReduceOp::Prod ? T(1) : T(0);
}

// Combines two partial results of the same reduction (for split rows).
template <class T>
void combine(ReduceOp op, T& acc, int64_t& acc_idx, T v, int64_t v_idx) {
  switch (op) {
    case ReduceOp::Sum: acc += v; break;
    case ReduceOp::Prod: acc *= v; break;
    case ReduceOp::Max:
      if (!(acc != acc) && (v != v || v > acc)) { acc = v; acc_idx = v_idx; }
      break;
    case ReduceOp::Min:
      if (!(acc != acc) && (v != v || v < acc)) { acc = v; acc_idx = v_idx; }
      break;
    default: break;
  }
}

template <class T>
void run_reduce(ReduceOp op, const Plan& p, T* out, int64_t* idx) {
  const auto& k = cpu::typed<T>();
  const T* x = p.x.data<T>();
  const int nthreads = omp_get_max_threads();
  const int64_t total = p.outer * p.R * p.inner;
  const bool parallel = total >= kParallelGrain && nthreads > 1;
  if (p.inner == 1) {
    if (p.outer >= nthreads || !parallel) {
      // Rows split over threads in chunks.
      const int64_t chunk = std::max<int64_t>(1, p.outer / (parallel ? nthreads * 4 : 1));
#pragma omp parallel for schedule(static) if (parallel)
      for (int64_t r0 = 0; r0 < p.outer; r0 += chunk) {
        int64_t rows = std::min(chunk, p.outer - r0);
        k.reduce_rows(op, x + r0 * p.R, rows, p.R, out + r0, idx ? idx + r0 : nullptr);
      }
      return;
    }
    // A few long rows: split each row across threads, then combine partials
    // (float32 sums combine in double).
    for (int64_t r = 0; r < p.outer; ++r) {
      const int64_t chunk = (p.R + nthreads - 1) / nthreads;
      std::vector<T> part(nthreads, identity<T>(op));
      std::vector<int64_t> pidx(nthreads, 0);
      std::vector<char> used(nthreads, 0);
#pragma omp parallel for schedule(static)
      for (int t = 0; t < nthreads; ++t) {
        int64_t s = t * chunk, n = std::min(chunk, p.R - s);
        if (n <= 0) continue;
        k.reduce_rows(op, x + r * p.R + s, 1, n, &part[t], idx ? &pidx[t] : nullptr);
        pidx[t] += s;
        used[t] = 1;
      }
      if (op == ReduceOp::Sum) {
        double acc = 0;
        for (int t = 0; t < nthreads; ++t) acc += static_cast<double>(part[t]);
        out[r] = static_cast<T>(acc);
        continue;
      }
      T acc = part[0];
      int64_t ai = pidx[0];
      for (int t = 1; t < nthreads; ++t)
        if (used[t]) combine(op, acc, ai, part[t], pidx[t]);
      out[r] = acc;
      if (idx) idx[r] = ai;
    }
    return;
  }
#pragma omp parallel for schedule(static) if (parallel && p.outer > 1)
  for (int64_t o = 0; o < p.outer; ++o) {
    k.reduce_cols(op, x + o * p.R * p.inner, p.R, p.inner, out + o * p.inner,
                  idx ? idx + o * p.inner : nullptr);
  }
}

const char* reduce_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return "sum";
    case ReduceOp::Max: return "max";
    case ReduceOp::Min: return "min";
    case ReduceOp::Prod: return "prod";
    default: return "reduce";
  }
}

}  // namespace

Tensor reduce(ReduceOp op, const Tensor& x_in, Shape dims, bool keepdim, Tensor* indices,
              const char* name) {
  if (!name) name = reduce_name(op);
  check_cpu(x_in, name);
  Tensor x = x_in;
  if ((op == ReduceOp::Sum || op == ReduceOp::Prod) && !is_floating(x.dtype) && x.dtype != DType::Int64)
    x = to_dtype(x, DType::Int64);  // sum of bools counts them, as in PyTorch
  if ((op == ReduceOp::Max || op == ReduceOp::Min) && x.dtype == DType::Bool)
    x = to_dtype(x, DType::Int64);
  const bool extreme = op == ReduceOp::Max || op == ReduceOp::Min;
  if (extreme) {
    if (dims.empty()) {
      PYDL_CHECK(x.numel() > 0, RuntimeError, name,
                 "(): Expected reduction dim to be specified for input.numel() == 0. Specify the"
                 " reduction dim with the 'dim' argument.");
    } else {
      for (int64_t d : dims) {
        int64_t w = wrap_dim(d, x.dim());
        PYDL_CHECK(x.dim() == 0 || x.shape[w] > 0, IndexError, name, "(): Expected reduction dim ",
                   w, " to have non-zero size.");
      }
    }
  }
  Plan p = make_plan(x, dims, keepdim);
  Tensor out = empty(p.out_shape, x.dtype);
  Tensor idx;
  if (indices) idx = empty(p.out_shape, DType::Int64);
  dispatch_dtype(x.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    if constexpr (!std::is_same_v<T, bool>)
      run_reduce<T>(op, p, out.data<T>(), indices ? idx.data<int64_t>() : nullptr);
  });
  if (x_in.dtype == DType::Bool && extreme) out = to_dtype(out, DType::Bool);
  if (indices) *indices = idx;
  return out;
}

static int64_t reduced_count(const Tensor& x, const Shape& dims) {
  if (dims.empty()) return x.numel();
  int64_t n = 1;
  for (int64_t d : dims) n *= x.dim() ? x.shape[wrap_dim(d, x.dim())] : 1;
  return n;
}

Tensor mean(const Tensor& x, const Shape& dims, bool keepdim) {
  PYDL_CHECK(is_floating(x.dtype), RuntimeError,
             "mean(): could not infer output dtype. Input dtype must be either a floating point or"
             " complex dtype. Got: ", dtype_name(x.dtype));
  Tensor s = reduce(ReduceOp::Sum, x, dims, keepdim, nullptr, "mean");
  const int64_t n = reduced_count(x, dims);
  // n == 0 gives 0/0 = nan, as PyTorch.
  return binary(BinaryOp::Div, s, scalar_tensor(static_cast<double>(n), x.dtype));
}

Tensor var(const Tensor& x, const Shape& dims, double correction, bool keepdim) {
  PYDL_CHECK(is_floating(x.dtype), RuntimeError, "std and var only support floating point and complex dtypes");
  // Two passes: the mean, then the sum of squared deviations from it. The
  // one-pass E[x^2] - E[x]^2 loses all digits when |mean| >> std.
  Tensor m = mean(x, dims, true);
  Plan p = make_plan(x, dims, keepdim);
  // The mean in the planned [outer, inner] layout.
  Tensor mk = m;
  if (p.inner == 1) mk = contiguous(reshape(m, {p.outer}));
  Tensor out = empty(p.out_shape, x.dtype);
  dispatch_dtype(x.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    if constexpr (std::is_floating_point_v<T>) {
      const auto& k = cpu::typed<T>();
      const T* px = p.x.data<T>();
      T* po = out.data<T>();
      Tensor mc = contiguous(mk);
      const T* pmn = mc.data<T>();
      const bool parallel = p.outer * p.R * p.inner >= kParallelGrain;
      if (p.inner == 1) {
#pragma omp parallel for if (parallel)
        for (int64_t r = 0; r < p.outer; ++r) k.sq_dev_rows(px + r * p.R, 1, p.R, pmn + r, po + r);
      } else {
#pragma omp parallel for if (parallel)
        for (int64_t o = 0; o < p.outer; ++o)
          k.sq_dev_cols(px + o * p.R * p.inner, p.R, p.inner, pmn + o * p.inner, po + o * p.inner);
      }
      const double denom = std::max(0.0, static_cast<double>(p.R) - correction);
      const int64_t n = out.numel();
      for (int64_t i = 0; i < n; ++i) po[i] = static_cast<T>(static_cast<double>(po[i]) / denom);
    }
  });
  return out;
}

Tensor sum_to_shape(const Tensor& g, const Shape& shape) {
  if (g.shape == shape) return g;
  const int64_t lead = g.dim() - static_cast<int64_t>(shape.size());
  PYDL_CHECK(lead >= 0, RuntimeError, "sum_to_shape: cannot reduce ", shape_str(g.shape), " to ",
             shape_str(shape));
  Shape dims;
  for (int64_t d = 0; d < g.dim(); ++d) {
    if (d < lead) { dims.push_back(d); continue; }
    int64_t want = shape[d - lead];
    if (want == 1 && g.shape[d] != 1) dims.push_back(d);
    else PYDL_CHECK(want == g.shape[d], RuntimeError, "sum_to_shape: cannot reduce ",
                    shape_str(g.shape), " to ", shape_str(shape));
  }
  if (dims.empty()) return reshape(g, shape);
  Tensor s = reduce(ReduceOp::Sum, g, dims, true, nullptr, "sum");
  return reshape(s, shape);
}

Tensor argmax(const Tensor& x, int64_t dim, bool has_dim, bool keepdim, bool is_max) {
  const char* name = is_max ? "argmax" : "argmin";
  Tensor idx;
  if (!has_dim) {
    Tensor flat = reshape(x, {x.numel()});
    PYDL_CHECK(x.numel() > 0, RuntimeError, name,
               "(): Expected reduction dim to be specified for input.numel() == 0.");
    reduce(is_max ? ReduceOp::Max : ReduceOp::Min, flat, {0}, false, &idx, name);
    if (keepdim) idx = reshape(idx, Shape(x.dim(), 1));
    return idx;
  }
  reduce(is_max ? ReduceOp::Max : ReduceOp::Min, x, {dim}, keepdim, &idx, name);
  return idx;
}

}  // namespace pydl
