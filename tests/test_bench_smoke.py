"""Smoke test of the benchmark CLI: it runs end to end and writes well-formed JSON.

Runs ``python -m pydl.bench --quick --family matmul --repeats 1 --tiny`` in a subprocess (tiny
shapes: a few seconds) in a temporary folder, with the pydl this test imported (installed or the
source tree) first on PYTHONPATH. Only the shape of the output is checked: performance is never
asserted in tests.
"""
import json
import os
import subprocess
import sys

import pytest

import pydl


def _bench(tmp_path, *args):
    """Runs the bench CLI of the pydl imported here; returns the completed process."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(pydl.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    proc = subprocess.run([sys.executable, "-m", "pydl.bench", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_bench_cli_writes_rows(tmp_path):
    out = tmp_path / "results"
    proc = _bench(tmp_path, "--quick", "--family", "matmul", "--repeats", "1", "--tiny",
                  "--threads", "1", "--out", str(out))
    files = sorted(os.listdir(out))
    jsons = [f for f in files if f.endswith(".json")]
    assert len(jsons) == 1, files
    doc = json.loads((out / jsons[0]).read_text())

    m = doc["machine"]
    assert m["threads"] == 1 and m["isa"] in pydl.kernels.isas()
    assert m["probes"]["fma_peak_gflops"]["float32"] > 0
    assert m["probes"]["fma_peak_gflops"]["float64"] > 0
    assert m["probes"]["triad_gbs"] > 0

    rows = doc["rows"]
    timed = [r for r in rows if r["time_s"] is not None]
    assert timed and all(r["family"] == "matmul" for r in rows)
    assert all(r["time_s"] > 0 and len(r["samples_s"]) == 1 for r in timed)
    assert {"torch", *pydl.kernels.variants("matmul")} <= {r["variant"] for r in timed}
    assert {r["isa"] for r in timed if r["library"] == "pydl"} == set(pydl.kernels.isas())
    for r in timed:
        assert r["rate"] > 0 and r["roofline_pct"] > 0
        if r["library"] == "pydl":
            assert r["ratio_to_torch"] > 0 and r["max_rel_err"] <= r["tol"], r
    # The markdown table went to stdout, and the chart was written or its absence explained once.
    assert "| op | shape | variant | isa | time | rate | vs torch | % roofline |" in proc.stdout
    assert any(f.endswith(".png") for f in files) or proc.stdout.count("No chart:") == 1


def test_bench_cuda_without_gpu_exits_cleanly(tmp_path):
    if pydl.cuda.is_available():
        pytest.skip("a GPU is present")
    proc = _bench(tmp_path, "--device", "cuda")
    assert "no usable GPU" in proc.stdout
