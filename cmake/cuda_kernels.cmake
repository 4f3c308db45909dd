# cmake/cuda_kernels.cmake -- the CUDA kernel sources, one family per file. Compiled by nvcc into
# pydl._C_cuda (cmake/cuda.cmake) and, as C++ against the CPU emulator, into pydl._cuemu
# (CMakeLists.txt, PYDL_CUDA_EMU). Paths are relative to the source root.
set(PYDL_CUDA_KERNEL_SOURCES
  csrc/cuda/kernels/elementwise.cu
  csrc/cuda/kernels/reduce.cu
  csrc/cuda/kernels/gemm.cu
  csrc/cuda/kernels/softmax.cu
  csrc/cuda/kernels/layer_norm.cu
  csrc/cuda/kernels/cross_entropy.cu
  csrc/cuda/kernels/embedding.cu
  csrc/cuda/kernels/optim.cu
  csrc/cuda/kernels/attention.cu
  csrc/cuda/kernels/conv2d.cu
  csrc/cuda/kernels/pooling.cu
)
