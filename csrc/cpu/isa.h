// Vector-width constants of the ISA this translation unit is compiled for.
//
// The kernel sources are compiled once per instruction set (PYDL_ISA_NS = scalar | avx2 |
// avx512, see CMakeLists.txt), so "the" vector width is a compile-time property of each copy.
// One definition here instead of one per kernel file, so the copies cannot disagree.
//
//   kVecBytes  bytes in one SIMD register: 64 (AVX-512), 32 (AVX/AVX2), 16 (SSE2, the x86-64
//              baseline the "scalar" copy is built for; the compiler still vectorises with it).
//   kVecRegs   architectural vector registers: 32 with AVX-512 (zmm0-31), else 16. Register-
//              blocked kernels (the GEMM micro-kernels) size their accumulator tiles from it.
#pragma once

#ifndef PYDL_ISA_NS
#error "PYDL_ISA_NS must be defined (scalar, avx2 or avx512)"
#endif

namespace pydl {
namespace cpu {
namespace PYDL_ISA_NS {

#if defined(__AVX512F__)
constexpr int kVecBytes = 64;
constexpr int kVecRegs = 32;
#elif defined(__AVX__)
constexpr int kVecBytes = 32;
constexpr int kVecRegs = 16;
#else
constexpr int kVecBytes = 16;
constexpr int kVecRegs = 16;
#endif

// Lanes of T in one register.
template <class T>
constexpr int vec_lanes() { return kVecBytes / (int)sizeof(T); }

}  // namespace PYDL_ISA_NS
}  // namespace cpu
}  // namespace pydl
