"""benchmarks/gpu.py (issue 27 §3) runs every row of its table in a dry run on the CPU: tiny shapes,
Triton's kernels in its interpreter when triton is installed. Speed is the GPU run's business."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu.py"


def test_dry_run_measures_every_row(tmp_path):
    out = tmp_path / "gpu.json"
    env = {**os.environ, "TRITON_INTERPRET": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(SCRIPT), "--dry-run", "--json", str(out)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads(out.read_text())["rows"]
    assert "| kind | impl | T | D | tokens/s | TFLOP/s | peak GiB | note |" in done.stdout
    assert not [r for r in rows if r["note"].startswith(("failed", "skipped", "out of memory"))], rows
    impls = {"torch", "sdpa causal"}
    if importlib.util.find_spec("triton") is not None:
        impls |= {"triton", "triton ieee, 4 warps", "triton tf32, 4 warps", "triton tf32, 8 warps",
                  "triton tf32, 16 warps"}
    if importlib.util.find_spec("titans_pytorch") is not None:
        impls.add("titans-pytorch")
    op = [r for r in rows if r["kind"] == "op" and r["tokens_s"] is not None]
    assert {r["impl"] for r in op} == impls
    assert all(r["tflops"] > 0 for r in op if r["impl"] != "titans-pytorch")
    models = {(r["impl"], r["T"]) for r in rows if r["kind"] == "model" and r["tokens_s"] is not None}
    assert {(v, T) for v in ("mac", "mag", "lmm", "transformer") for T in (16, 32)} <= models
    assert ("transformer compiled", 16) in models and ("mac", 64) in models


@pytest.mark.skipif(torch.cuda.is_available(), reason="with a GPU the command runs the real benchmark")
def test_without_a_gpu_it_says_so(monkeypatch, capsys):
    # the script's main() in this process: it refuses before measuring anything, and what it imports
    # (torch, titans) is already here, so a fresh interpreter would only add its start-up
    spec = importlib.util.spec_from_file_location("gpu_benchmark", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, script)  # its dataclasses look their module up there
    spec.loader.exec_module(script)
    monkeypatch.setattr(sys, "argv", [str(SCRIPT)])
    with pytest.raises(SystemExit) as stop:
        script.main()
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "no CUDA device" in err and "--dry-run" in err
