// csrc/cuda/shim.h -- what every kernel source (csrc/cuda/kernels/*.cu) includes first.
//
// The same .cu file is compiled twice: by nvcc for the real module pydl._C_cuda, and by g++ (as C++)
// against the CPU emulator for pydl._cuemu, which is what CI runs (DESIGN.md, "CUDA and how we test
// it without a GPU"). Both sides provide the same names:
//   PYDL_LAUNCH(kernel, grid, block, smem_bytes, stream, args...)  -- the one way to launch
//   PYDL_CUDA_CHECK(call)                                          -- throw on a cudaError_t
//   PYDL_DYNAMIC_SHARED(T, name)                                   -- T* name = dynamic smem
//   PYDL_UNROLL                                                    -- #pragma unroll (nvcc only)
#pragma once

#if defined(__CUDACC__)
#include "cuda/runtime.h"  // cuda_runtime.h, PYDL_LAUNCH, PYDL_CUDA_CHECK
// One byte array for every kernel (extern __shared__ of different types in one program clash).
#define PYDL_DYNAMIC_SHARED(T, name)                                   \
  extern __shared__ __align__(16) unsigned char pydl_dynamic_smem_[]; \
  T* name = reinterpret_cast<T*>(pydl_dynamic_smem_)
#define PYDL_UNROLL _Pragma("unroll")
#else
#include "cuda/emu/emu.h"
#define PYDL_UNROLL
#endif
