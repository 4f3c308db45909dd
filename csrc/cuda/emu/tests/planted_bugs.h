// csrc/cuda/emu/tests/planted_bugs.h -- kernels with deliberate bugs, built only into pydl._cuemu,
// so that tests/test_cuda_emu.py can prove the emulator reports each kind of bug.
#pragma once

#include <cstdint>

namespace pydl::cuda::planted {

// y[r] = sum of x[r, 0:256] (x is (R, 256)) by a shared-memory tree reduction in a 256-thread block
// per row. `bug`: 0 correct; 1 the __syncthreads after filling (static) shared memory is missing;
// 2 the same with dynamic shared memory.
void tree_sum(int bug, const float* x, float* y, int R);
// A barrier after `if (threadIdx.x >= n) return;` (n < 64 threads): a divergent __syncthreads.
void early_return_barrier(const float* x, float* y, int n);
// Threads 0-15 and 16-31 wait at two different __syncthreads.
void split_barrier(float* y);
// Lanes 16-31 return, lanes 0-15 then shuffle with the full mask.
void shfl_exited_lane(const float* x, float* y);
// A lane calls __shfl_sync with a mask that does not name itself.
void shfl_mask_without_self(const float* x, float* y);
// Lanes 0-7 shuffle with the full mask while lanes 8-31 wait at a __syncthreads.
void shfl_vs_barrier(const float* x, float* y);
// Odd lanes call __shfl_down_sync, even lanes __ballot_sync, both with the full mask.
void mismatched_collectives(const float* x, float* y);
// y[i] = x[i] + x[i + 1] for i < n: reads x[n], one past the end.
void oob_read(const float* x, float* y, int n);
// y[i + 1] = x[i] for i < n: writes y[n], one past the end.
void oob_write(const float* x, float* y, int n);
// Writes dynamic shared memory one element past its end.
void smem_overflow(float* y);

}  // namespace pydl::cuda::planted
