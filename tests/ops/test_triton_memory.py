"""The memory op's Triton walk against its PyTorch walk (outputs, final state, every input gradient),
under Triton's interpreter on the CPU, and the choice of walk.

The comparisons run in one child process started with TRITON_INTERPRET=1 (``triton_cases.py``): the
variable must be set before the kernels are defined, which a shared test process cannot promise.
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from memory_inputs import make_inputs
from triton_cases import CASES, CHECKS, walk_nodes

from titans.ops import chunk_memory_update, triton_walk

needs_triton = pytest.mark.skipif(importlib.util.find_spec("triton") is None,
                                  reason="triton is not installed (pip install 'titans[gpu]')")


@pytest.fixture(scope="module")
def interpreted():
    script = Path(__file__).with_name("triton_cases.py")
    env = dict(os.environ, TRITON_INTERPRET="1", OMP_NUM_THREADS="1")
    run = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-4000:]
    return json.loads(run.stdout)


@needs_triton
@pytest.mark.parametrize("case", list(CASES))
def test_triton_walk_equals_torch_walk(interpreted, case):
    assert interpreted[case] == "ok", interpreted[case]


@needs_triton
@pytest.mark.parametrize("check", list(CHECKS))
def test_triton_walk_checks(interpreted, check):
    assert interpreted[check] == "ok", interpreted[check]


def test_dot_precision_follows_the_inputs_and_torchs_setting():
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    previous = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("highest")
        assert triton_walk.dot_precision(torch.bfloat16, cuda) == "tf32"
        assert triton_walk.dot_precision(torch.float16, cuda) == "tf32"
        assert triton_walk.dot_precision(torch.float32, cuda) == "ieee"
        assert triton_walk.dot_precision(torch.bfloat16, cpu) == "ieee"  # the interpreter: exact float32
        torch.set_float32_matmul_precision("high")
        assert triton_walk.dot_precision(torch.float32, cuda) == "tf32"
    finally:
        torch.set_float32_matmul_precision(previous)


@needs_triton
def test_triton_on_cpu_needs_the_interpreter(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(ValueError, match="TRITON_INTERPRET=1"):
        chunk_memory_update(**make_inputs(T=8, dtype=torch.float32), chunk_size=4, backend="triton")


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(ValueError, match="backend must be one of"):
        chunk_memory_update(**make_inputs(T=8), chunk_size=4, backend="cuda")


def test_auto_on_cpu_walks_in_torch():
    inputs = make_inputs(T=8, dtype=torch.float32)
    inputs["q"].requires_grad_()
    y, _, _ = chunk_memory_update(**inputs, chunk_size=4, backend="auto")
    assert walk_nodes(y) == {"ChunkedMemoryBackward"}


@needs_triton
@pytest.mark.parametrize("shared", [232448, 166912, 101376])  # H100 / H200, A100, consumer Ada (bytes)
def test_auto_takes_triton_where_the_kernels_cover_and_fit(monkeypatch, shared):
    monkeypatch.setattr(triton_walk, "_shared_memory", lambda device: shared)

    def w(*shape):
        return torch.empty(1, 1, *shape)

    def auto(q, weights, chunk_size=16, weight_change=False):
        return triton_walk.use_triton("auto", q, weights, chunk_size, weight_change=weight_change)

    cuda = SimpleNamespace(is_cuda=True, dtype=torch.float32, device=None)  # what use_triton reads of q
    fits = shared >= 162816
    assert auto(cuda, (w(32, 128), w(128, 32))) == fits
    assert auto(cuda, (w(64, 64),)) == fits
    assert auto(cuda, (w(24, 96), w(96, 24)), chunk_size=32) == (shared >= 212992)
    assert not auto(cuda, (w(48, 192), w(192, 48)))  # wider than one program holds
    assert not auto(cuda, (w(16, 64), w(64, 16)), chunk_size=64)
    assert not auto(cuda, (w(16, 32), w(32, 32), w(32, 16)))  # depth 3
    assert not auto(cuda, (w(16, 16),), weight_change=True)
    assert not auto(SimpleNamespace(is_cuda=True, dtype=torch.float64, device=None), (w(16, 16),))
    assert not auto(SimpleNamespace(is_cuda=False, dtype=torch.float32, device=None), (w(16, 16),))
