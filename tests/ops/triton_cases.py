"""The Triton walk against the PyTorch walk, case by case; run by test_triton_memory.py in a process
started with TRITON_INTERPRET=1 (triton reads it when the kernels are defined, so it cannot be set
inside a test process that may already have imported them).

Prints one JSON object: case name -> "ok" or what differed.
"""

import functools
import json
import sys
import traceback

import torch
from memory_inputs import flat, make_inputs, run_with_grads

from titans.ops import chunk, chunk_memory_update

# relative to the largest entry of each compared tensor (at least 1): float32 rounding, and for
# bfloat16 results one unit in the last place (both walks compute in float32, then round)
TOLERANCE = {torch.float32: 2e-5, torch.float64: 1e-12, torch.bfloat16: 2**-7}
# on a GPU the kernels take bfloat16 inputs through TF32 dots (10 mantissa bits, finer than the inputs'
# 7), so every result, float32 state included, is compared at the bfloat16 bound
TF32_TOLERANCE = 2**-7

# name -> (make_inputs arguments (float32 unless they say), op arguments, the walk expected to run)
CASES = {
    "depth1": (dict(B=1, T=11, D=8, depth=1), dict(chunk_size=4), "triton"),
    "depth1-residual-mask": (dict(B=1, T=13, D=8, depth=1), dict(chunk_size=6, residual=True, mask=True), "triton"),
    "depth2-silu-online": (dict(B=1, T=3, D=8, hidden=16), dict(chunk_size=1, activation="silu"), "triton"),
    "depth2-gelu-residual-mask": (dict(T=13, D=8, hidden=16), dict(chunk_size=6, residual=True, mask=True), "triton"),
    "depth2-silu-mask-odd-widths": (dict(B=1, T=13, D=12, hidden=24), dict(chunk_size=5, activation="silu", mask=True),
                                    "triton"),
    "depth2-gelu-wide": (dict(B=1, T=16, D=16, hidden=32), dict(chunk_size=6), "triton"),
    "depth2-extreme-log-gates": (dict(B=1, T=9, D=8, hidden=16), dict(chunk_size=4, extremes=True), "triton"),
    "depth2-bfloat16": (dict(B=1, T=7, D=8, hidden=16, dtype=torch.bfloat16), dict(chunk_size=4), "triton"),
    "depth2-inference": (dict(B=1, T=19, D=8, hidden=16), dict(chunk_size=8, no_grad=True), "triton"),
    "depth1-resets-mask": (dict(T=13, D=8, depth=1), dict(chunk_size=4, resets=True, mask=True), "triton"),
    "depth2-gelu-resets": (dict(T=10, D=8, hidden=16), dict(chunk_size=4, resets=True), "triton"),
    "depth2-residual-resets-mask": (dict(B=1, T=14, D=8, hidden=16),
                                    dict(chunk_size=5, residual=True, resets=True, mask=True), "triton"),
    "depth2-forget-to-reset-weights": (dict(T=13, D=8, hidden=16), dict(chunk_size=4, forget=True), "triton"),
    "depth1-forget-to-reset-weights": (dict(B=1, T=11, D=8, depth=1), dict(chunk_size=4, forget=True), "triton"),
    "depth1-forget-resets-mask": (dict(T=13, D=8, depth=1), dict(chunk_size=4, forget=True, resets=True, mask=True),
                                  "triton"),
    "falls-back-for-weight-change": (dict(T=9, D=8, hidden=16), dict(chunk_size=4, weight_change=True), "torch"),
    "falls-back-at-depth3": (dict(T=9, D=8, hidden=16, depth=3), dict(chunk_size=4), "torch"),
    "falls-back-in-float64": (dict(T=9, D=8, hidden=16, dtype=torch.float64), dict(chunk_size=4), "torch"),
}


def walk_nodes(t: torch.Tensor) -> set[str]:
    """Which chunk walk(s) the autograd graph of t went through."""
    seen, stack, names = set(), [t.grad_fn], set()
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        names.add(type(fn).__name__)
        stack.extend(f for f, _ in fn.next_functions)
    return names & {"TritonChunkedMemoryBackward", "ChunkedMemoryBackward"}


def _compare(name: str, ref: torch.Tensor, out: torch.Tensor, tolerance: float | None = None) -> None:
    assert out.dtype == ref.dtype and out.shape == ref.shape, f"{name}: {out.dtype} {out.shape} vs {ref.shape}"
    dtype, ref, out = out.dtype, ref.double(), out.double()
    scale = max(1.0, ref.abs().max().item())
    err = (out - ref).abs().max().item()
    bound = TOLERANCE[dtype] if tolerance is None else tolerance
    assert err <= bound * scale, f"{name}: max error {err:.2e} (scale {scale:.2e})"


def _to(value, device):
    if isinstance(value, dict):
        return {n: _to(v, device) for n, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_to(v, device) for v in value)
    return value.to(device) if isinstance(value, torch.Tensor) else value


def run_case(name: str, device: str = "cpu", cases: dict = CASES) -> None:
    """One case on CPU tensors (the interpreter) or CUDA tensors (the compiled kernels)."""
    make, op, expected = cases[name]
    op = dict(op)
    inputs = make_inputs(seed=len(name), **{"dtype": torch.float32, **make})
    B, _, T, _ = inputs["q"].shape
    g = torch.Generator().manual_seed(7)
    if op.pop("mask", False):
        op["mask"] = torch.rand(B, T, generator=g) > 0.3
    depth = len(inputs["weights"])
    names = ["q", "k", "v", "theta", "eta", "alpha", *(f"W{i + 1}" for i in range(depth)),
             *(f"S{i + 1}" for i in range(depth))]
    if op.pop("resets", False):
        op["reset"] = torch.rand(B, T, generator=g) > 0.8
        op["reset"][-1, [0, 4, 6]] = True  # at chunk boundaries and inside chunks (chunk size 4 or 5 here)
        # shared by the batch (broadcast), and a leaf whose gradient is compared too
        inputs["reset_weights"] = tuple(torch.randn_like(w[:1]) * 0.3 for w in inputs["weights"])
        names += [f"reset W{i + 1}" for i in range(depth)]
    if op.pop("forget", False):  # forgetting towards the reset weights, with or without document starts
        op["forget_to_reset_weights"] = True
        if "reset_weights" not in inputs:
            inputs["reset_weights"] = tuple(torch.randn_like(w[:1]) * 0.3 for w in inputs["weights"])
            names += [f"reset W{i + 1}" for i in range(depth)]
    if op.pop("extremes", False):  # log gates at eta ~ 0 and alpha ~ 1 on some tokens, exactly 0 on others
        pattern = torch.arange(T) % 3
        inputs["eta"] = torch.where(pattern == 0, -1e4, inputs["eta"].log())
        inputs["alpha"] = torch.where(pattern == 1, -1e4, torch.where(pattern == 2, 0.0, torch.log1p(-inputs["alpha"])))
        op["log_gates"] = True
    inputs, op = _to(inputs, device), _to(op, device)
    low = inputs["q"].dtype in (torch.bfloat16, torch.float16)
    compare = functools.partial(_compare, tolerance=TF32_TOLERANCE if low and device == "cuda" else None)
    if op.pop("no_grad", False):
        with torch.no_grad():
            ref = chunk_memory_update(**inputs, **op, backend="torch", return_inner_loss=True)
            out = chunk_memory_update(**inputs, **op, backend="triton", return_inner_loss=True)
        for i, (a, b) in enumerate(zip([ref[0], *ref[1], *ref[2], ref[3]], [out[0], *out[1], *out[2], out[3]])):
            compare(f"output {i}", a, b)
        return

    want = "TritonChunkedMemoryBackward" if expected == "triton" else "ChunkedMemoryBackward"
    if op.pop("weight_change", False):
        inputs["q"].requires_grad_()
        y, *_ = chunk_memory_update(**inputs, **op, backend="triton", return_weight_change=True)
        assert walk_nodes(y) == {want}, f"the walk that ran: {walk_nodes(y)}, expected {want}"
        return

    leaves = lambda d: flat(d) + list(d.get("reset_weights", ()))  # noqa: E731
    ref = run_with_grads(chunk_memory_update, inputs, leaves, backend="torch", **op)
    out = run_with_grads(chunk_memory_update, inputs, leaves, backend="triton", **op)
    assert walk_nodes(out[0]) == {want}, f"the walk that ran: {walk_nodes(out[0])}, expected {want}"
    compare("y", ref[0], out[0])
    for i, (a, b) in enumerate(zip(ref[1] + ref[2], out[1] + out[2])):
        compare(f"final {names[6 + i]}", a, b)
    for n, a, b in zip(names, ref[3], out[3]):
        assert a is not None and b is not None, f"gradient of {n} missing"
        compare(f"gradient of {n}", a, b)


def precision_follows_the_callers_dtype() -> None:
    """The walk receives float32 whatever the caller passed; the dots' precision is chosen from the
    caller's dtype (``dot_precision``), so that bfloat16 callers get TF32 on a GPU."""
    seen = []
    choose = chunk.dot_precision

    def spy(dtype, device):
        seen.append(dtype)
        return choose(dtype, device)

    chunk.dot_precision = spy
    try:
        for dtype in (torch.bfloat16, torch.float32):
            inputs = make_inputs(B=1, T=9, D=8, hidden=16, dtype=dtype)
            chunk_memory_update(**inputs, chunk_size=4, backend="triton")
    finally:
        chunk.dot_precision = choose
    assert seen == [torch.bfloat16, torch.float32], seen


CHECKS = {"precision-follows-the-callers-dtype": precision_follows_the_callers_dtype}


def main() -> None:
    torch.set_num_threads(1)
    results = {}
    for name, check in [*((n, functools.partial(run_case, n)) for n in CASES), *CHECKS.items()]:
        try:
            check()
            results[name] = "ok"
        except Exception:  # noqa: BLE001 - every case reports, whatever failed
            results[name] = traceback.format_exc(limit=3)
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
