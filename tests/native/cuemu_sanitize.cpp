// tests/native/cuemu_sanitize.cpp -- drives CUDA kernels on the CPU emulator in a native binary
// built with -fsanitize=address,undefined (tests/test_cuda_emu_sanitize.py builds and runs it).
//
//   cuemu_sanitize ok    runs GEMM (3 variants), softmax (2), layer norm, sum and SDPA on odd
//                        shapes, checks them against plain loops, exits 0 -- and the sanitizers
//                        must stay silent (fiber switches are announced to ASan by emu.cpp).
//   cuemu_sanitize oob   runs the planted out-of-bounds read: ASan must stop it at the source line.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "cuda/emu/emu.h"
#include "cuda/emu/tests/planted_bugs.h"
#include "cuda/kernels/kernels.h"

namespace k = pydl::cuda::kernels;

namespace {

int failures = 0;

struct Dev {
  float* p = nullptr;
  std::size_t n;
  explicit Dev(const std::vector<float>& h) : n(h.size()) {
    cudaMalloc(&p, n * sizeof(float));
    cudaMemcpy(p, h.data(), n * sizeof(float), cudaMemcpyHostToDevice);
  }
  explicit Dev(std::size_t count) : n(count) { cudaMalloc(&p, n * sizeof(float)); }
  ~Dev() { cudaFree(p); }
  std::vector<float> get() const {
    std::vector<float> h(n);
    cudaMemcpy(h.data(), p, n * sizeof(float), cudaMemcpyDeviceToHost);
    return h;
  }
};

std::vector<float> randv(std::size_t n, unsigned seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d;
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

void expect_close(const char* what, const std::vector<float>& got, const std::vector<double>& ref,
                  double tol) {
  for (std::size_t i = 0; i < ref.size(); ++i)
    if (!(std::fabs(got[i] - ref[i]) <= tol * (1.0 + std::fabs(ref[i])))) {
      std::printf("FAIL %s[%zu]: %g vs %g\n", what, i, got[i], ref[i]);
      ++failures;
      return;
    }
}

void run_ok() {
  const int M = 33, N = 65, K = 17;
  auto a = randv(M * K, 1), b = randv(K * N, 2);
  std::vector<double> c(M * N, 0.0);
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j)
      for (int p = 0; p < K; ++p) c[i * N + j] += double(a[i * K + p]) * b[p * N + j];
  for (int v = 0; v < 3; ++v) {
    Dev da(a), db(b), dc(M * N);
    k::gemm(v, da.p, db.p, dc.p, M, N, K);
    expect_close("gemm", dc.get(), c, 1e-4);
  }
  const int R = 7, C = 129;
  auto x = randv(R * C, 3);
  std::vector<double> sm(R * C), sums(R);
  for (int r = 0; r < R; ++r) {
    double mx = -1e30, s = 0;
    for (int j = 0; j < C; ++j) mx = std::fmax(mx, x[r * C + j]);
    for (int j = 0; j < C; ++j) s += std::exp(x[r * C + j] - mx);
    for (int j = 0; j < C; ++j) sm[r * C + j] = std::exp(x[r * C + j] - mx) / s;
    for (int j = 0; j < C; ++j) sums[r] += x[r * C + j];
  }
  for (int v = 0; v < 2; ++v) {
    Dev dx(x), dy(R * C);
    k::softmax_forward(v, dx.p, dy.p, R, C);
    expect_close("softmax", dy.get(), sm, 1e-5);
  }
  {
    Dev dx(x), dy(R);
    k::sum_lastdim_forward(dx.p, dy.p, R, C);
    expect_close("sum", dy.get(), sums, 1e-5);
  }
  {
    std::vector<float> ones(C, 1.0f), zeros(C, 0.0f);
    Dev dx(x), dg(ones), db(zeros), dy(R * C), dm(R), dr(R);
    k::layer_norm_forward(dx.p, dg.p, db.p, dy.p, dm.p, dr.p, R, C, 1e-5f);
    std::vector<double> ref(R * C);
    for (int r = 0; r < R; ++r) {
      double mu = 0, var = 0;
      for (int j = 0; j < C; ++j) mu += x[r * C + j];
      mu /= C;
      for (int j = 0; j < C; ++j) var += (x[r * C + j] - mu) * (x[r * C + j] - mu);
      var /= C;
      for (int j = 0; j < C; ++j) ref[r * C + j] = (x[r * C + j] - mu) / std::sqrt(var + 1e-5);
    }
    expect_close("layer_norm", dy.get(), ref, 1e-4);
  }
  {
    const int T = 9, S = 37, E = 33;
    auto q = randv(T * E, 4), kk = randv(S * E, 5), vv = randv(S * E, 6);
    Dev dq(q), dk(kk), dv(vv), dout(T * E), dlse(T);
    const float scale = 1.0f / std::sqrt(float(E));
    k::sdpa_forward(dq.p, dk.p, dv.p, dout.p, dlse.p, 1, T, S, E, scale, true);
    std::vector<double> ref(T * E, 0.0);
    for (int t = 0; t < T; ++t) {
      std::vector<double> p(t + 1);
      double mx = -1e30, s = 0;
      for (int j = 0; j <= t; ++j) {
        double d = 0;
        for (int e = 0; e < E; ++e) d += double(q[t * E + e]) * kk[j * E + e];
        p[j] = d * scale;
        mx = std::fmax(mx, p[j]);
      }
      for (int j = 0; j <= t; ++j) s += (p[j] = std::exp(p[j] - mx));
      for (int j = 0; j <= t; ++j)
        for (int e = 0; e < E; ++e) ref[t * E + e] += p[j] / s * vv[j * E + e];
    }
    expect_close("sdpa", dout.get(), ref, 1e-4);
  }
}

void run_oob() {
  const int n = 65;
  auto x = randv(n, 7);
  Dev dx(x), dy(n);
  pydl::cuda::planted::oob_read(dx.p, dy.p, n);
  std::printf("oob read was not caught\n");
  failures = 1;
}

}  // namespace

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "ok";
  for (const char* order : {"forward", "reverse", "random"}) {
    pydl_emu::Schedule s;
    s.block_order = s.thread_order = pydl_emu::parse_order(order);
    s.seed = 3;
    s.num_threads = 2;
    pydl_emu::set_schedule(s);
    if (std::strcmp(mode, "oob") == 0) {
      run_oob();
      break;
    }
    run_ok();
  }
  if (pydl_emu::live_allocations() != 0) {
    std::printf("FAIL: %zu allocations leaked\n", pydl_emu::live_allocations());
    ++failures;
  }
  std::printf("%s\n", failures ? "FAILED" : "OK");
  return failures ? 1 : 0;
}
