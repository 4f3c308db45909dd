# cmake/cuda.cmake -- the optional CUDA extension module `pydl._C_cuda`.
#
# Included by the top-level CMakeLists.txt when PYDL_CUDA is not OFF. Expects:
#   pybind11            found (find_package(pybind11 CONFIG REQUIRED))
#   PYDL_INSTALL_DIR    where the module is installed inside the wheel ("pydl")
#   PYDL_OUTPUT_DIR     optional: where built modules go for in-place development
#
# Decisions (see DESIGN.md, "CUDA and how we test it without a GPU"):
# - The compiler comes from check_language(CUDA): CMAKE_CUDA_COMPILER, else the CUDACXX environment
#   variable, else nvcc on PATH. That works for a system toolkit and for the PyPI
#   `cuda-toolkit[nvcc,cudart,cccl,crt]` wheels alike (point CUDACXX at the wheel's nvcc). We do not
#   call find_package(CUDAToolkit): it does not understand the wheel layout, and nothing here needs
#   it -- nvcc knows its own include directory and CUDA_RUNTIME_LIBRARY brings in cudart.
# - Architectures default to an explicit list, never "native" (which fails on a machine without a
#   GPU, i.e. on CI). "80-real;90" = SASS for sm_80 (A100) + SASS and PTX for sm_90 (H100); the
#   PTX lets newer GPUs JIT it. Override with -DCMAKE_CUDA_ARCHITECTURES=... or CUDAARCHS=...
# - The CUDA runtime is linked statically, so the module imports on a machine with no driver and
#   reports "no driver" at run time instead of failing to import.
# - Static gate for device code: a ptxas warning about register spills or local memory is an
#   error (PYDL_CUDA_PTXAS_GATE=OFF turns it off, e.g. for a -G device-debug build, which spills).

include_guard(GLOBAL)
include(CheckLanguage)

# PYDL_CUDA: AUTO (build if a CUDA compiler works), ON (must build), OFF (never; the top level
# does not include this file then). Other CMake booleans are read as ON/OFF.
string(TOUPPER "${PYDL_CUDA}" _pydl_cuda_mode)
if(NOT _pydl_cuda_mode STREQUAL "AUTO")
  if(_pydl_cuda_mode)
    set(_pydl_cuda_mode ON)
  else()
    message(STATUS "pydl: CUDA module disabled (PYDL_CUDA=${PYDL_CUDA})")
    return()
  endif()
endif()

# Must be decided before enable_language(CUDA), which would otherwise pick the compiler's default.
# A value from the cache (-D...) or from the CUDAARCHS environment variable wins.
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES AND "$ENV{CUDAARCHS}" STREQUAL "")
  set(CMAKE_CUDA_ARCHITECTURES "80-real;90" CACHE STRING
      "CUDA architectures to build for (explicit list; 'native' fails without a GPU)")
endif()

# check_language caches a NOTFOUND result, which would stick after nvcc is installed or CUDACXX is
# set; look again on every configure until a compiler is found.
if(DEFINED CMAKE_CUDA_COMPILER AND NOT CMAKE_CUDA_COMPILER)
  unset(CMAKE_CUDA_COMPILER CACHE)
endif()
check_language(CUDA)
if(NOT CMAKE_CUDA_COMPILER)
  if(NOT "$ENV{CUDACXX}" STREQUAL "")
    set(_pydl_cuda_hint "CUDACXX=$ENV{CUDACXX} did not work")
  else()
    set(_pydl_cuda_hint "CUDACXX is not set and no working nvcc is on PATH")
  endif()
  if(_pydl_cuda_mode STREQUAL "ON")
    message(FATAL_ERROR
      "pydl: PYDL_CUDA=ON but no working CUDA compiler was found (${_pydl_cuda_hint}). "
      "Put nvcc on PATH, or set "
      "CUDACXX (or -DCMAKE_CUDA_COMPILER) to an nvcc, e.g. the one from the PyPI wheels "
      "`pip install \"cuda-toolkit[nvcc,cudart,cccl,crt]\"`.")
  endif()
  message(STATUS "pydl: no CUDA compiler found (${_pydl_cuda_hint}); building without the CUDA "
                 "module (set CUDACXX to an nvcc to build it, PYDL_CUDA=OFF to skip this check)")
  return()
endif()

enable_language(CUDA)
if(CMAKE_CUDA_COMPILER_VERSION VERSION_LESS 12.0)
  # The kernels use C++17 and *_sync warp intrinsics only; 12.0 is the oldest toolkit we try.
  message(WARNING "pydl: CUDA ${CMAKE_CUDA_COMPILER_VERSION} is older than 12.0, the oldest tested")
endif()
message(STATUS "pydl: building the CUDA module with ${CMAKE_CUDA_COMPILER} "
               "(CUDA ${CMAKE_CUDA_COMPILER_VERSION}, architectures ${CMAKE_CUDA_ARCHITECTURES})")

option(PYDL_CUDA_PTXAS_GATE "Treat ptxas warnings about spills and local memory as errors" ON)

get_filename_component(_pydl_csrc "${CMAKE_CURRENT_LIST_DIR}/../csrc" ABSOLUTE)
include("${CMAKE_CURRENT_LIST_DIR}/cuda_kernels.cmake")  # PYDL_CUDA_KERNEL_SOURCES
set(_pydl_cuda_kernel_paths)
foreach(_cu IN LISTS PYDL_CUDA_KERNEL_SOURCES)
  list(APPEND _pydl_cuda_kernel_paths "${_pydl_csrc}/../${_cu}")
endforeach()
pybind11_add_module(_C_cuda
  ${_pydl_csrc}/cuda/module.cpp    # the Python surface, built by the host compiler
  ${_pydl_csrc}/cuda/runtime.cu    # the checked runtime wrapper and the fill kernel, built by nvcc
  ${_pydl_csrc}/cuda/kernels/bind_kernels.cpp  # the kernels on host arrays (same as pydl._cuemu's)
  ${_pydl_cuda_kernel_paths}       # the kernels, built by nvcc (the same sources the emulator runs)
)
# Minimums, not pins: a higher CMAKE_CXX_STANDARD set by the top level still applies.
target_compile_features(_C_cuda PRIVATE cxx_std_17 cuda_std_17)
target_include_directories(_C_cuda PRIVATE ${_pydl_csrc})
set_target_properties(_C_cuda PROPERTIES
  CUDA_RUNTIME_LIBRARY Static         # libcudart_static.a: imports without a driver
  CUDA_SEPARABLE_COMPILATION OFF      # whole-program device code; no device link step
)
if(PYDL_OUTPUT_DIR)
  set_target_properties(_C_cuda PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${PYDL_OUTPUT_DIR}")
endif()

# Which architectures the shipped device code was built for, reported by _C_cuda.cuda_architectures.
string(REPLACE ";" "," _pydl_cuda_archs "${CMAKE_CUDA_ARCHITECTURES}")
target_compile_definitions(_C_cuda PRIVATE PYDL_CUDA_ARCHITECTURES="${_pydl_cuda_archs}")

if(PYDL_CUDA_PTXAS_GATE)
  # One token with '=' so that CMake's option de-duplication cannot separate -Xptxas from its value.
  target_compile_options(_C_cuda PRIVATE
    "$<$<COMPILE_LANGUAGE:CUDA>:-Xptxas=--warn-on-spills,--warn-on-local-memory-usage,--warning-as-error>")
endif()

if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
  # Keep the static cudart's symbols private to this module, so it cannot interpose on (or be
  # interposed by) another cudart loaded in the same process, e.g. torch's.
  target_link_options(_C_cuda PRIVATE "LINKER:--exclude-libs,ALL")
endif()

install(TARGETS _C_cuda LIBRARY DESTINATION "${PYDL_INSTALL_DIR}")
