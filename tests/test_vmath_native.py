"""Accuracy of csrc/cpu/vmath.h, the branch-free math used inside the CPU kernels' SIMD loops.

Compiles tests/native/vmath_accuracy.cpp with g++ and runs it: it sweeps special points, random
bit patterns and a strided sweep of all floats through exp, expm1, log, log1p, tanh, erf and
sigmoid (float and double), and exits non-zero if any error exceeds 2 ulp or a special value
(nan, inf, signed zero) differs from std::.

Built once for the x86-64 baseline (plain -O2: scalar code) and, where the CPU has them, once
with AVX2+FMA and once with AVX-512, both with -fopenmp so that the `#pragma omp simd` loops are
vectorized, as in the kernels. The test needs no build of pydl itself.
"""

import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parent / "native" / "vmath_accuracy.cpp"
CXX = shutil.which("g++")

AVX2_FLAGS = ["-mavx2", "-mfma", "-fopenmp"]
AVX512_FLAGS = ["-mavx512f", "-mavx512dq", "-mavx512bw", "-mavx512vl", "-mavx2", "-mfma", "-fopenmp"]


def _cpu_flags_from_proc():
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return None


def _cpu_supports_by_trying(features):
    """Compile and run a probe that asks the CPU (for systems without /proc/cpuinfo)."""
    if CXX is None or platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        return False
    checks = " && ".join('__builtin_cpu_supports("%s")' % f for f in features)
    with tempfile.TemporaryDirectory() as d:
        src, exe = Path(d) / "probe.cpp", Path(d) / "probe"
        src.write_text("int main() { __builtin_cpu_init(); return (%s) ? 0 : 1; }\n" % checks)
        if subprocess.run([CXX, str(src), "-o", str(exe)], capture_output=True).returncode != 0:
            return False
        return subprocess.run([str(exe)], capture_output=True).returncode == 0


def _cpu_supports(features):
    flags = _cpu_flags_from_proc()
    if flags is not None:
        return all(f in flags for f in features)
    return _cpu_supports_by_trying(features)


def _configs():
    configs = [pytest.param([], id="baseline")]
    if _cpu_supports(["avx2", "fma"]):
        configs.append(pytest.param(AVX2_FLAGS, id="avx2-fma-openmp"))
    if _cpu_supports(["avx512f", "avx512dq", "avx512bw", "avx512vl", "avx2", "fma"]):
        configs.append(pytest.param(AVX512_FLAGS, id="avx512-openmp"))
    return configs


@pytest.mark.parametrize("flags", _configs())
def test_vmath_accuracy(tmp_path, flags):
    if CXX is None:
        pytest.skip("g++ not found: cannot build tests/native/vmath_accuracy.cpp")
    exe = tmp_path / "vmath_accuracy"
    cmd = [CXX, "-O2", "-std=c++17", *flags, str(SOURCE), "-o", str(exe)]
    build = subprocess.run(cmd, capture_output=True, text=True)
    assert build.returncode == 0, "compile failed: %s\n%s%s" % (" ".join(cmd), build.stdout, build.stderr)

    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(min(8, os.cpu_count() or 1)))
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=600, env=env)
    output = run.stdout + run.stderr
    print(output)  # the per-function max ulp table, shown with -s or on failure
    assert run.returncode == 0, "vmath accuracy check failed (%s):\n%s" % (" ".join(flags) or "baseline", output)
