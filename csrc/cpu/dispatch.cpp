// Runtime choice of the kernel table from cpuid (see kernels.h).
#include "cpu/kernels.h"

#include <cstdlib>
#include <cstring>
#include <mutex>

#include "core/error.h"

namespace pydl {
namespace cpu {
namespace {

struct Tables {
  CpuKernels scalar_t;
#if PYDL_HAVE_AVX2
  CpuKernels avx2_t;
#endif
#if PYDL_HAVE_AVX512
  CpuKernels avx512_t;
#endif
  const char* names[3];
  CpuKernels* tables[3];
  int count = 0;
  CpuKernels* active = nullptr;

  Tables() {
    // Best first.
#if PYDL_HAVE_AVX512
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) {
      avx512::fill_elementwise(avx512_t);
      avx512::fill_reduce(avx512_t);
      avx512::fill_matmul(avx512_t);
      avx512::fill_conv(avx512_t);
      avx512::fill_probe(avx512_t);
      avx512::fill_optim(avx512_t);
      avx512::fill_softmax(avx512_t);
      avx512::fill_pooling(avx512_t);
      avx512::fill_norm(avx512_t);
      avx512::fill_loss(avx512_t);
      // --- layers: embedding, dropout, lrn ---
      avx512::fill_embedding(avx512_t);
      avx512::fill_dropout(avx512_t);
      avx512::fill_lrn(avx512_t);
      avx512::fill_attention(avx512_t);  // attention (sdpa)
      avx512_t.isa = "avx512";
      push("avx512", &avx512_t);
    }
#endif
#if PYDL_HAVE_AVX2
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
      avx2::fill_elementwise(avx2_t);
      avx2::fill_reduce(avx2_t);
      avx2::fill_matmul(avx2_t);
      avx2::fill_conv(avx2_t);
      avx2::fill_probe(avx2_t);
      avx2::fill_optim(avx2_t);
      avx2::fill_softmax(avx2_t);
      avx2::fill_pooling(avx2_t);
      avx2::fill_norm(avx2_t);
      avx2::fill_loss(avx2_t);
      // --- layers: embedding, dropout, lrn ---
      avx2::fill_embedding(avx2_t);
      avx2::fill_dropout(avx2_t);
      avx2::fill_lrn(avx2_t);
      avx2::fill_attention(avx2_t);  // attention (sdpa)
      avx2_t.isa = "avx2";
      push("avx2", &avx2_t);
    }
#endif
    scalar::fill_elementwise(scalar_t);
    scalar::fill_reduce(scalar_t);
    scalar::fill_matmul(scalar_t);
    scalar::fill_conv(scalar_t);
    scalar::fill_probe(scalar_t);
    scalar::fill_optim(scalar_t);
    scalar::fill_softmax(scalar_t);
    scalar::fill_pooling(scalar_t);
    scalar::fill_norm(scalar_t);
    scalar::fill_loss(scalar_t);
    // --- layers: embedding, dropout, lrn ---
    scalar::fill_embedding(scalar_t);
    scalar::fill_dropout(scalar_t);
    scalar::fill_lrn(scalar_t);
    scalar::fill_attention(scalar_t);  // attention (sdpa)
    scalar_t.isa = "scalar";
    push("scalar", &scalar_t);
    // --- rnn cells (rnn_cell.cpp) ---
    for (int i = 0; i < count; ++i) {
#if PYDL_HAVE_AVX512
      if (tables[i] == &avx512_t) avx512::fill_rnn(avx512_t);
#endif
#if PYDL_HAVE_AVX2
      if (tables[i] == &avx2_t) avx2::fill_rnn(avx2_t);
#endif
      if (tables[i] == &scalar_t) scalar::fill_rnn(scalar_t);
    }
    active = tables[0];
    if (const char* env = std::getenv("PYDL_ISA")) {
      for (int i = 0; i < count; ++i)
        if (std::strcmp(env, names[i]) == 0) active = tables[i];
    }
  }
  void push(const char* n, CpuKernels* t) {
    names[count] = n;
    tables[count] = t;
    ++count;
  }
};

Tables& tables() {
  static Tables t;  // C++11 guarantees thread-safe initialisation
  return t;
}

}  // namespace

const CpuKernels& kernels() { return *tables().active; }

const char* const* available_isas(int* count) {
  *count = tables().count;
  return tables().names;
}

void set_isa(const char* name) {
  Tables& t = tables();
  for (int i = 0; i < t.count; ++i) {
    if (std::strcmp(name, t.names[i]) == 0) {
      t.active = t.tables[i];
      return;
    }
  }
  throw ValueError(str("ISA '", name, "' is not available on this CPU/build"));
}

}  // namespace cpu
}  // namespace pydl
