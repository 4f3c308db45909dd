// scaled_dot_product_attention op layer: checks, broadcasting, threading
// (kernels in cpu/attention.cpp).
//
// q (..., L, E), k (..., S, E), v (..., S, Ev): the leading (batch) dims of
// the three broadcast together (as torch's matmul-based math path does) to
// `batch`; the output is batch + (L, Ev). attn_mask broadcasts to
// batch + (L, S). No input is copied to broadcast it: every (batch x head)
// slice gets an element offset into its tensor's storage (0 strides repeat a
// slice), and rows may have any stride, so a (B, L, H, E) tensor transposed to
// (B, H, L, E) runs in place. Only a last dim that is not unit-stride costs a copy.
//
// Threads: the forward splits (slice, block of kSdpaBlockQ query rows) items
// dynamically (causal items are uneven). The backward gives each slice to one
// thread when there are enough slices; with fewer slices than about twice
// the threads (one long sequence) it also splits each slice's keys into
// chunks, each accumulating its own dq partial, summed afterwards: memory
// stays O(threads * L * E), never O(L * S).
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>

#include "core/iter.h"
#include "core/ops.h"

namespace pydl {
namespace {

std::atomic<int> g_variant{1};  // 0: reference, 1: flash
const char* const kVariantNames[] = {"reference", "flash"};

struct SdpaPrep {
  Shape batch;
  int64_t BH = 1, L = 0, S = 0, E = 0, Ev = 0;
  Tensor q, k, v, mask;
  bool has_mask = false;
  std::vector<int64_t> q_off, k_off, v_off, m_off;
  int64_t ldq = 0, ldk = 0, ldv = 0, m_rs = 0, m_cs = 0;
  double scale = 1;
};

// Element offsets of every batch slice of t seen through a broadcast to
// batch + t's last two dims (`full`).
std::vector<int64_t> slice_offsets(const Tensor& t, const Shape& batch, const Shape& full) {
  const Shape st = broadcast_strides(t, full);
  const int64_t nb = static_cast<int64_t>(batch.size());
  const int64_t BH = shape_numel(batch);
  std::vector<int64_t> off(BH > 0 ? BH : 0);
  for (int64_t s = 0; s < BH; ++s) {
    int64_t rem = s, o = 0;
    for (int64_t d = nb - 1; d >= 0; --d) {
      o += (rem % batch[d]) * st[d];
      rem /= batch[d];
    }
    off[s] = o;
  }
  return off;
}

Shape lead(const Tensor& t) { return Shape(t.shape.begin(), t.shape.end() - 2); }

// A view whose last dim is unit-stride (a copy only when it is not).
Tensor unit_last(const Tensor& t) {
  if (t.shape.back() <= 1 || t.strides.back() == 1) return t;
  return contiguous(t);
}

SdpaPrep prepare(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask, bool is_causal,
                 std::optional<double> scale, double dropout_p) {
  const char* op = "scaled_dot_product_attention";
  check_cpu(q, op);
  check_cpu(k, op);
  check_cpu(v, op);
  PYDL_CHECK(q.dim() >= 2 && k.dim() >= 2 && v.dim() >= 2, RuntimeError,
             "Expected query, key, and value to all be  at least 2 dimensional, but got query.dim: ", q.dim(),
             " key.dim: ", k.dim(), " and value.dim: ", v.dim(), " instead.");
  PYDL_CHECK(q.dtype == k.dtype && q.dtype == v.dtype, RuntimeError,
             "Expected query, key, and value to have the same dtype, but got query.dtype: ", dtype_name(q.dtype),
             " key.dtype: ", dtype_name(k.dtype), " and value.dtype: ", dtype_name(v.dtype), " instead.");
  PYDL_CHECK(is_floating(q.dtype), RuntimeError, op, ": expected query, key and value of a floating dtype, got ",
             dtype_name(q.dtype));
  if (mask) {
    check_cpu(*mask, op);
    PYDL_CHECK(!is_causal, RuntimeError,
               "_scaled_dot_product_attention: Explicit attn_mask should not be set when is_causal=True");
    PYDL_CHECK(mask->dtype == DType::Bool || mask->dtype == q.dtype, RuntimeError,
               "Expected attn_mask dtype to be bool or float or to match query dtype, but got attn_mask.dtype: ",
               dtype_name(mask->dtype), " and  query.dtype: ", dtype_name(q.dtype), " instead.");
  }
  PYDL_CHECK(dropout_p >= 0.0 && dropout_p <= 1.0, RuntimeError,
             "dropout probability has to be between 0 and 1, but got ", dropout_p);
  SdpaPrep P;
  P.L = q.shape[q.dim() - 2];
  P.E = q.shape[q.dim() - 1];
  P.S = k.shape[k.dim() - 2];
  P.Ev = v.shape[v.dim() - 1];
  PYDL_CHECK(k.shape[k.dim() - 1] == P.E, RuntimeError, op, ": key's last dim (", k.shape[k.dim() - 1],
             ") must equal query's last dim E (", P.E, "); query ", shape_str(q.shape), ", key ",
             shape_str(k.shape));
  PYDL_CHECK(v.shape[v.dim() - 2] == P.S, RuntimeError, op, ": value's sequence length (", v.shape[v.dim() - 2],
             ") must equal key's S (", P.S, "); key ", shape_str(k.shape), ", value ", shape_str(v.shape));
  P.batch = broadcast_shapes(broadcast_shapes(lead(q), lead(k)), lead(v));
  P.BH = shape_numel(P.batch);
  const int64_t nb = static_cast<int64_t>(P.batch.size());
  if (mask) {
    Shape want = P.batch;
    want.push_back(P.L);
    want.push_back(P.S);
    bool ok = mask->dim() <= nb + 2;
    for (int64_t d = 0; ok && d < mask->dim(); ++d) {
      const int64_t m = mask->shape[d], w = want[nb + 2 - mask->dim() + d];
      ok = m == w || m == 1;
    }
    PYDL_CHECK(ok, RuntimeError, op, ": attn_mask of shape ", shape_str(mask->shape),
               " cannot be broadcast to the attention weights' shape ", shape_str(want));
    P.mask = *mask;
    P.has_mask = true;
    Shape st = broadcast_strides(P.mask, want);
    P.m_rs = st[nb];
    P.m_cs = st[nb + 1];
    P.m_off = slice_offsets(P.mask, P.batch, want);
  }
  P.q = unit_last(q);
  P.k = unit_last(k);
  P.v = unit_last(v);
  auto full = [&](int64_t a, int64_t b) {
    Shape s = P.batch;
    s.push_back(a);
    s.push_back(b);
    return s;
  };
  P.q_off = slice_offsets(P.q, P.batch, full(P.L, P.E));
  P.k_off = slice_offsets(P.k, P.batch, full(P.S, P.E));
  P.v_off = slice_offsets(P.v, P.batch, full(P.S, P.Ev));
  P.ldq = P.q.strides[P.q.dim() - 2];
  P.ldk = P.k.strides[P.k.dim() - 2];
  P.ldv = P.v.strides[P.v.dim() - 2];
  // E = 0: every dot product is 0 and so every score (1/sqrt(0) would make it NaN);
  // torch returns the plain average of v there too.
  P.scale = P.E == 0 ? 0.0 : (scale ? *scale : 1.0 / std::sqrt((double)P.E));
  return P;
}

template <class T>
cpu::SdpaArgs<T> args_of(const SdpaPrep& P, bool is_causal, double dropout_p, uint64_t seed) {
  cpu::SdpaArgs<T> a;
  a.BH = P.BH;
  a.L = P.L;
  a.S = P.S;
  a.E = P.E;
  a.Ev = P.Ev;
  a.q = P.q.data<T>();
  a.k = P.k.data<T>();
  a.v = P.v.data<T>();
  a.q_off = P.q_off.data();
  a.k_off = P.k_off.data();
  a.v_off = P.v_off.data();
  a.ldq = P.ldq;
  a.ldk = P.ldk;
  a.ldv = P.ldv;
  if (P.has_mask) {
    a.mask_kind = P.mask.dtype == DType::Bool ? 1 : 2;
    a.mask = P.mask.raw();
    a.m_off = P.m_off.data();
    a.m_rs = P.m_rs;
    a.m_cs = P.m_cs;
  }
  a.causal = is_causal;
  a.scale = (T)P.scale;
  a.dropout_p = dropout_p;
  a.seed = seed;
  return a;
}

Shape with_tail(const Shape& batch, int64_t a, int64_t b) {
  Shape s = batch;
  s.push_back(a);
  s.push_back(b);
  return s;
}

}  // namespace

std::vector<Tensor> sdpa_forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask,
                                 bool is_causal, std::optional<double> scale, double dropout_p, uint64_t seed) {
  const SdpaPrep P = prepare(q, k, v, mask, is_causal, scale, dropout_p);
  Tensor out = empty(with_tail(P.batch, P.L, P.Ev), q.dtype);
  Shape lse_shape = P.batch;
  lse_shape.push_back(P.L);
  Tensor lse = empty(lse_shape, q.dtype);
  if (P.BH == 0 || P.L == 0) return {out, lse};
  const int variant = g_variant.load();
  dispatch_dtype(q.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    if constexpr (std::is_floating_point_v<T>) {
      cpu::SdpaArgs<T> a = args_of<T>(P, is_causal, dropout_p, seed);
      a.out = out.data<T>();
      a.lse = lse.data<T>();
      const auto& kt = cpu::typed<T>();
      const bool parallel = omp_get_max_threads() > 1 && P.BH * P.L * std::max<int64_t>(P.S, 1) *
                                                              (P.E + P.Ev + 1) >= kParallelGrain;
      if (variant == 0) {
#pragma omp parallel for schedule(dynamic, 1) if (parallel && P.BH > 1)
        for (int64_t bh = 0; bh < P.BH; ++bh) kt.sdpa_fwd_reference(a, bh);
      } else {
        const int64_t nqb = (P.L + cpu::kSdpaBlockQ - 1) / cpu::kSdpaBlockQ;
        const int64_t items = P.BH * nqb;
#pragma omp parallel for schedule(dynamic, 1) if (parallel && items > 1)
        for (int64_t it = 0; it < items; ++it) {
          const int64_t bh = it / nqb, i0 = (it % nqb) * cpu::kSdpaBlockQ;
          kt.sdpa_fwd(a, bh, i0, std::min(P.L, i0 + cpu::kSdpaBlockQ));
        }
      }
    }
  });
  return {out, lse};
}

std::vector<Tensor> sdpa_backward(const Tensor& dout_in, const Tensor& q, const Tensor& k, const Tensor& v,
                                  const Tensor* mask, const Tensor& out_in, const Tensor& lse_in, bool is_causal,
                                  std::optional<double> scale, double dropout_p, uint64_t seed) {
  const char* op = "scaled_dot_product_attention_backward";
  const SdpaPrep P = prepare(q, k, v, mask, is_causal, scale, dropout_p);
  const Shape oshape = with_tail(P.batch, P.L, P.Ev);
  Shape lshape = P.batch;
  lshape.push_back(P.L);
  check_cpu(dout_in, op);
  PYDL_CHECK(dout_in.shape == oshape && out_in.shape == oshape && lse_in.shape == lshape, RuntimeError, op,
             ": grad_output ", shape_str(dout_in.shape), ", output ", shape_str(out_in.shape), " and logsumexp ",
             shape_str(lse_in.shape), " must have shapes ", shape_str(oshape), " and ", shape_str(lshape));
  PYDL_CHECK(dout_in.dtype == q.dtype && out_in.dtype == q.dtype && lse_in.dtype == q.dtype, RuntimeError, op,
             ": grad_output, output and logsumexp must have the query's dtype ", dtype_name(q.dtype));
  Tensor dout = contiguous(dout_in), out = contiguous(out_in), lse = contiguous(lse_in);
  Tensor dq = full(with_tail(P.batch, P.L, P.E), 0.0, q.dtype);
  Tensor dk = empty(with_tail(P.batch, P.S, P.E), q.dtype);
  Tensor dv = empty(with_tail(P.batch, P.S, P.Ev), q.dtype);
  if (P.BH == 0) return {dq, dk, dv};
  if (P.L == 0) {  // no query: no gradient reaches k or v
    dk = full(dk.shape, 0.0, q.dtype);
    dv = full(dv.shape, 0.0, q.dtype);
    return {dq, dk, dv};
  }
  const int variant = g_variant.load();
  const int nt = omp_get_max_threads();
  dispatch_dtype(q.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    if constexpr (std::is_floating_point_v<T>) {
      cpu::SdpaArgs<T> a = args_of<T>(P, is_causal, dropout_p, seed);
      a.out = out.data<T>();
      a.lse = lse.data<T>();
      a.dout = dout.data<T>();
      a.dk = dk.data<T>();
      a.dv = dv.data<T>();
      const auto& kt = cpu::typed<T>();
      const int64_t BH = P.BH, L = P.L, S = P.S, E = P.E, Ev = P.Ev;
      const bool parallel = nt > 1 && BH * L * std::max<int64_t>(S, 1) * (P.E + P.Ev + 1) >= kParallelGrain;
      T* pdq = dq.data<T>();
      if (variant == 0) {
#pragma omp parallel for schedule(dynamic, 1) if (parallel && BH > 1)
        for (int64_t bh = 0; bh < BH; ++bh) kt.sdpa_bwd_reference(a, bh, pdq + bh * L * E);
        return;
      }
      // D_i = sum_e dO_ie * O_ie, in double (a length-Ev dot product per row).
      Tensor delta = empty(lshape, q.dtype);
      T* pd = delta.data<T>();
      const T* po = out.data<T>();
      const T* pg = dout.data<T>();
#pragma omp parallel for schedule(static) if (parallel)
      for (int64_t r = 0; r < BH * L; ++r) {
        double s = 0;
        for (int64_t e = 0; e < Ev; ++e) s += (double)po[r * Ev + e] * (double)pg[r * Ev + e];
        pd[r] = (T)s;
      }
      a.delta = pd;
      const int64_t nkb = (S + cpu::kSdpaBlockK - 1) / cpu::kSdpaBlockK;
      if (S == 0) return;  // dk, dv are empty; dq stays 0
      // Key chunks per slice: 1 when the slices alone keep every thread busy.
      int64_t chunks = 1;
      if (parallel && BH < 2 * nt) chunks = std::min<int64_t>(nkb, (2 * nt + BH - 1) / BH);
      if (chunks == 1) {
#pragma omp parallel for schedule(dynamic, 1) if (parallel && BH > 1)
        for (int64_t bh = 0; bh < BH; ++bh) kt.sdpa_bwd(a, bh, 0, S, pdq + bh * L * E);
        return;
      }
      // Each (slice, chunk) adds into its own dq partial; then partials are summed.
      const int64_t per = (nkb + chunks - 1) / chunks;  // key tiles per chunk
      std::vector<T> part(static_cast<size_t>(BH * chunks * L * E), T(0));
#pragma omp parallel for schedule(dynamic, 1)
      for (int64_t it = 0; it < BH * chunks; ++it) {
        const int64_t bh = it / chunks, c = it % chunks;
        const int64_t j0 = c * per * cpu::kSdpaBlockK;
        const int64_t j1 = std::min(S, (c + 1) * per * cpu::kSdpaBlockK);
        if (j0 < j1) kt.sdpa_bwd(a, bh, j0, j1, part.data() + it * L * E);
      }
#pragma omp parallel for schedule(static)
      for (int64_t x = 0; x < BH * L * E; ++x) {
        const int64_t bh = x / (L * E), r = x % (L * E);
        T s = 0;
        for (int64_t c = 0; c < chunks; ++c) s += part[(bh * chunks + c) * L * E + r];
        pdq[x] = s;
      }
    }
  });
  return {dq, dk, dv};
}

std::vector<std::string> attention_variants(DType) { return {kVariantNames[0], kVariantNames[1]}; }

void set_attention_variant(const std::string& name) {
  if (name.empty()) { g_variant = 1; return; }
  for (int i = 0; i < 2; ++i)
    if (name == kVariantNames[i]) { g_variant = i; return; }
  throw ValueError(str("unknown attention variant '", name, "'; variants: reference, flash"));
}

std::string attention_variant() { return kVariantNames[g_variant.load()]; }

}  // namespace pydl
