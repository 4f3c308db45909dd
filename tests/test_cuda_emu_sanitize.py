"""The CPU emulator and a set of CUDA kernels under AddressSanitizer + UndefinedBehaviorSanitizer.

Builds tests/native/cuemu_sanitize.cpp with the emulator (csrc/cuda/emu/emu.cpp), kernels from
csrc/cuda/kernels/ and the planted bugs, all with -fsanitize=address,undefined, and checks that
  - correct kernels run clean (no sanitizer report, results match plain loops, no leaks), which
    also checks that the fiber switches are annotated for ASan (else it reports false positives);
  - the planted out-of-bounds read is stopped by ASan at its source line: the emulator poisons
    the padding after each emulated cudaMalloc allocation.
Needs only g++ with the sanitizer runtimes; no build of pydl.
"""

import os
import platform
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CXX = shutil.which("g++")
KERNELS = ["gemm", "softmax", "layer_norm", "reduce", "attention"]

pytestmark = pytest.mark.skipif(
    CXX is None or platform.machine().lower() not in ("x86_64", "amd64"),
    reason="needs g++ on x86-64 (the emulator's context switch)",
)


@pytest.fixture(scope="module")
def exe(tmp_path_factory):
    d = tmp_path_factory.mktemp("cuemu_asan")
    out = d / "cuemu_sanitize"
    flags = ["-std=c++17", "-O1", "-g", "-fopenmp", "-fsanitize=address,undefined",
             "-fno-sanitize-recover=undefined", "-fno-omit-frame-pointer", f"-I{ROOT / 'csrc'}"]
    cus = [str(ROOT / "csrc/cuda/kernels" / f"{k}.cu") for k in KERNELS]
    cus.append(str(ROOT / "csrc/cuda/emu/tests/planted_bugs.cu"))
    cmd = [CXX, *flags, "-x", "c++", *cus, "-x", "none", str(ROOT / "csrc/cuda/emu/emu.cpp"),
           str(ROOT / "tests/native/cuemu_sanitize.cpp"), "-o", str(out)]
    probe = subprocess.run([CXX, "-fsanitize=address,undefined", "-x", "c++", "-", "-o", str(d / "probe")],
                           input="int main(){}", capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("g++ cannot link the ASan/UBSan runtimes here")
    build = subprocess.run(cmd, capture_output=True, text=True)
    assert build.returncode == 0, "compile failed: %s\n%s" % (" ".join(cmd), build.stderr[-4000:])
    return out


def run(exe, mode):
    env = dict(os.environ, OMP_NUM_THREADS="2", ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
               UBSAN_OPTIONS="print_stacktrace=1")
    return subprocess.run([str(exe), mode], capture_output=True, text=True, timeout=300, env=env)


def test_kernels_clean_under_asan_ubsan(exe):
    r = run(exe, "ok")
    assert r.returncode == 0 and "OK" in r.stdout, r.stdout + r.stderr[-4000:]
    assert "ERROR: AddressSanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr[-4000:]


def test_planted_oob_read_caught_by_asan(exe):
    r = run(exe, "oob")
    assert r.returncode != 0
    assert "ERROR: AddressSanitizer" in r.stderr, r.stdout + r.stderr[-4000:]
    line = next(i for i, s in enumerate((ROOT / "csrc/cuda/emu/tests/planted_bugs.cu").read_text().splitlines(), 1)
                if "BUG: x[n] is read" in s)
    assert f"planted_bugs.cu:{line}" in r.stderr, r.stderr[-4000:]
