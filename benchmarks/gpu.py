"""The GPU benchmark (issue 27 §3): one command, one table, under 8 minutes on an H100-class GPU.

    python benchmarks/gpu.py --json benchmarks/results/gpu.json      # CUDA
    python benchmarks/gpu.py --dry-run                                # every row at tiny shapes, CPU, seconds

Rows:
  - op: the memory op (``chunk_memory_update``, depth 2, expansion 4, chunk 32) forward + backward at
    T = 4K, 16K, 64K with B x H = 32 heads of width D = 32, 64 and 128: the Triton kernels
    (``backend="triton"``) where one program holds the state (D = 32; wider needs the hidden width
    tiled, not done), the PyTorch chunk walk (``backend="torch"``), bf16 q / k / v, float32 gates and
    state; PyTorch SDPA causal attention (FlashAttention) of the same heads and width; titans-pytorch's
    NeuralMemory at the same shape when installed (``pip install -e ".[bench]"``; the whole layer,
    projections included, and less work per token: see benchmarks/README.md).
  - kernel settings: the Triton walk at T = 16K, D = 32 with IEEE or TF32 dots and 4, 8 or 16 warps
    (the default, TF32 and 8, was chosen from the compiler's spill report: ``triton_walk.NUM_WARPS``).
  - model: the ``170m`` preset's training step (forward, backward, AdamW; batch 1, bf16 autocast) for
    MAC, MAG, LMM and Transformer++ at 4K and 16K tokens (memory heads of width 48: the torch walk); a
    row that runs out of memory is retried with gradient checkpointing. MAC again with 24 memory heads
    of width 32 and chunks of 32, the sizes at which ``backend="auto"`` takes the Triton kernels. Then
    MAG under ``torch.compile`` (steady steps; the row's wall time with compilation in its note), and
    MAC at 64K with checkpointing for its peak memory (the estimate in benchmarks/README.md).
TFLOP/s: the op's SPEC §1 count (forward ``22 D Dh + 4 b (D + Dh)`` per token and head, backward 2x);
attention ``2 T^2 D`` per head forward (causal half of 4 T^2 D), backward 2.5x; models
``3 x titans.flops.flops_per_token``. Medians of up to 3 steps after a warm-up (fewer for a row whose
first timed step took over ROW_SECONDS / 3). The op rows, the kernel-setting rows and the model rows
each skip what is left once --budget seconds of theirs are spent, so the command ends in time.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import inspect
import json
import os
import statistics
import time

import torch
import torch.nn.functional as F

from titans.config import TitansConfig
from titans.flops import flops_per_token
from titans.models.lm import TitansLM
from titans.ops import chunk, chunk_memory_update, triton_walk


@dataclasses.dataclass(frozen=True)
class Plan:
    device: str
    dtype: torch.dtype
    lengths: tuple  # op rows
    widths: tuple  # head width D
    batch: int
    heads: int  # batch x heads = 32 on the GPU
    chunk: int
    expansion: int
    preset: str
    model_lengths: tuple
    long_context: int
    compiled: tuple  # variant, torch.compile backend
    reps: int
    triton_model: dict  # config overrides under which the model's memory walks on the Triton kernels


GPU = Plan("cuda", torch.bfloat16, (4096, 16384, 65536), (32, 64, 128), 2, 16, 32, 4, "170m", (4096, 16384), 65536,
           ("mag", "inductor"), 3, dict(memory_heads=24, memory_chunk=32))
# every row, tiny: the script's paths checked on the CPU (compiled through dynamo alone, and the one-graph
# Transformer++: inductor, or MAG's several graphs, take minutes on two cores; tests/models/test_compile.py)
DRY = Plan("cpu", torch.float32, (16,), (8, 16), 1, 2, 8, 2, "tiny", (16, 32), 64, ("transformer", "eager"), 1,
           dict(memory_chunk=8))
VARIANTS = ("mac", "mag", "lmm", "transformer")


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


ROW_SECONDS = 30.0  # a slow row takes fewer repeats, so that it cannot spend the whole budget


def median_seconds(step, device: str, reps: int) -> float:
    """The median of up to ``reps`` timed steps after an untimed one (kernels compiled, allocations
    made); a step slower than ``ROW_SECONDS / reps`` leaves fewer repeats."""

    def timed() -> float:
        sync(device)
        start = time.perf_counter()
        step()
        sync(device)
        return time.perf_counter() - start

    step()  # warm-up
    times = [timed()]
    for _ in range(min(reps, int(ROW_SECONDS / max(times[0], 1e-6))) - 1):
        times.append(timed())
    return statistics.median(times)


def triton_usable(plan: Plan, D: int) -> str | None:
    """Why the Triton rows at head width D cannot run, or None."""
    if "backend" not in inspect.signature(chunk_memory_update).parameters:
        return "chunk_memory_update has no backend argument"
    if importlib.util.find_spec("triton") is None:
        return "triton not installed (pip install -e '.[gpu]')"
    if plan.device != "cuda":
        return None if os.environ.get("TRITON_INTERPRET") == "1" else "CPU without TRITON_INTERPRET=1"
    if not triton_walk.kernels_fit(D, plan.expansion * D, plan.chunk, torch.device("cuda")):
        return f"D x Dh = {D} x {plan.expansion * D} is over one program's state tile"
    return None


def op_inputs(plan: Plan, T: int, D: int):
    g = torch.Generator(device=plan.device).manual_seed(0)
    B, H, hidden = plan.batch, plan.heads, plan.expansion * D
    rand = lambda *shape: torch.randn(*shape, generator=g, device=plan.device)  # noqa: E731
    qkv = [F.normalize(rand(B, H, T, D), dim=-1).to(plan.dtype) for _ in range(3)]
    gates = [torch.full((B, H, T), value, device=plan.device) for value in (1e-3, -0.1, -0.01)]
    weights = [rand(B, H, D, hidden) / D**0.5, rand(B, H, hidden, D) / hidden**0.5]
    return [t.requires_grad_() for t in (*qkv, *gates, *weights)]


def memory_op_step(plan: Plan, T: int, D: int, backend: str):
    leaves = op_inputs(plan, T, D)

    def step():
        y, _, _ = chunk_memory_update(*leaves[:6], tuple(leaves[6:]), chunk_size=plan.chunk, log_gates=True,
                                      backend=backend)
        y.float().square().mean().backward()

    flops = 3 * (22 * D * plan.expansion * D + 4 * plan.chunk * (D + plan.expansion * D)) * plan.batch * plan.heads * T
    return step, flops


KERNEL_SETTINGS = (("ieee", 4), ("tf32", 4), ("tf32", 8), ("tf32", 16))  # (dot precision, warps); default: tf32, 8


def kernel_setting_step(plan: Plan, T: int, D: int, precision: str, warps: int):
    """The Triton walk with its dots' precision and warps set (what the compiler's spill report chose)."""
    step, flops = memory_op_step(plan, T, D, "triton")

    def with_setting():
        choose, default_warps = chunk.dot_precision, triton_walk.NUM_WARPS
        chunk.dot_precision, triton_walk.NUM_WARPS = (lambda dtype, device: precision), warps
        try:
            step()
        finally:
            chunk.dot_precision, triton_walk.NUM_WARPS = choose, default_warps

    return with_setting, flops


def sdpa_step(plan: Plan, T: int, D: int):
    q, k, v = (torch.randn(plan.batch, plan.heads, T, D, device=plan.device, dtype=plan.dtype).requires_grad_()
               for _ in range(3))

    def step():
        F.scaled_dot_product_attention(q, k, v, is_causal=True).float().square().mean().backward()

    return step, 3.5 * 2 * T * T * D * plan.batch * plan.heads


def titans_pytorch_step(plan: Plan, T: int, D: int):
    from titans_pytorch import NeuralMemory

    layer = NeuralMemory(dim=plan.heads * D, heads=plan.heads, dim_head=D, chunk_size=plan.chunk,
                         batch_size=plan.chunk, mem_model_norm_add_residual=False,
                         default_model_kwargs=dict(depth=2, expansion_factor=float(plan.expansion))).to(plan.device)
    x = torch.randn(plan.batch, T, plan.heads * D, device=plan.device)

    def step():
        with torch.autocast(plan.device, dtype=torch.bfloat16, enabled=plan.device == "cuda"):
            out, _ = layer(x)
        out.float().square().mean().backward()

    return step, None  # other work per token than the op's count


def model_step(plan: Plan, variant: str, T: int, checkpointing: bool, compile_backend: str | None = None,
               overrides: dict | None = None):
    torch.manual_seed(0)
    config = TitansConfig.from_name(plan.preset, variant=variant, **(overrides or {}))
    model = TitansLM(config).to(plan.device)
    model.gradient_checkpointing = checkpointing
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    forward = model if compile_backend is None else torch.compile(model, backend=compile_backend)
    tokens = torch.randint(0, config.vocab_size, (1, T + 1), device=plan.device)

    def step():
        with torch.autocast(plan.device, dtype=torch.bfloat16, enabled=plan.device == "cuda"):
            logits, _ = forward(tokens[:, :-1])
        F.cross_entropy(logits.float().flatten(0, 1), tokens[:, 1:].flatten()).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step, 3 * flops_per_token(config, T) * T


class Table:
    """Rows measured in order, each skipped once the time budget is spent."""

    def __init__(self, plan: Plan, budget: float):
        self.plan, self.budget, self.rows = plan, budget, []
        self.restart()

    def restart(self) -> None:
        """The budget counts again from now (each group of rows has one)."""
        self.began = time.perf_counter()

    def measure(self, kind: str, impl: str, T: int, D: int | None, make, *, tokens: int, note: str = "") -> dict:
        row = {"kind": kind, "impl": impl, "T": T, "D": D, "tokens_s": None, "tflops": None, "peak_gib": None,
               "note": note}
        if time.perf_counter() - self.began > self.budget:
            row["note"] = "skipped: over the time budget"
        else:
            try:
                if self.plan.device == "cuda":
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats()
                step, flops = make()
                seconds = median_seconds(step, self.plan.device, self.plan.reps)
                row["tokens_s"] = tokens / seconds
                row["tflops"] = None if flops is None else flops / seconds / 1e12
                if self.plan.device == "cuda":
                    row["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
            except torch.OutOfMemoryError:
                row["note"] = "out of memory"
            except Exception as error:  # a row that fails is reported, and the others still run
                # the message's last line names the cause (TorchScript's first lines are a banner)
                lines = str(error).strip().splitlines() or [""]
                row["note"] = f"failed: {type(error).__name__}: {lines[-1][:200]}"
        self.rows.append(row)
        print(json.dumps(row), flush=True)
        return row


def op_rows(table: Table, plan: Plan) -> None:
    has_baseline = importlib.util.find_spec("titans_pytorch") is not None
    for T in plan.lengths:
        for D in plan.widths:
            tokens = plan.batch * T
            why = triton_usable(plan, D)
            if why:
                table.rows.append({"kind": "op", "impl": "triton", "T": T, "D": D, "tokens_s": None, "tflops": None,
                                   "peak_gib": None, "note": f"not run: {why}"})
            else:
                table.measure("op", "triton", T, D, lambda: memory_op_step(plan, T, D, "triton"), tokens=tokens)
            table.measure("op", "torch", T, D, lambda: memory_op_step(plan, T, D, "torch"), tokens=tokens)
            table.measure("op", "sdpa causal", T, D, lambda: sdpa_step(plan, T, D), tokens=tokens)
            if has_baseline:
                table.measure("op", "titans-pytorch", T, D, lambda: titans_pytorch_step(plan, T, D), tokens=tokens)


def kernel_rows(table: Table, plan: Plan) -> None:
    """The Triton walk at its settings' alternatives, at one size where it runs."""
    T, D = plan.lengths[min(1, len(plan.lengths) - 1)], plan.widths[0]
    if triton_usable(plan, D):
        return
    for precision, warps in KERNEL_SETTINGS:
        table.measure("op", f"triton {precision}, {warps} warps", T, D,
                      lambda: kernel_setting_step(plan, T, D, precision, warps), tokens=plan.batch * T)


def model_rows(table: Table, plan: Plan) -> None:
    for T in plan.model_lengths:
        table.measure("model", "mac, triton walk", T, None,
                      lambda: model_step(plan, "mac", T, False, overrides=plan.triton_model), tokens=T,
                      note=", ".join(f"{k} {v}" for k, v in plan.triton_model.items()))
    for T in plan.model_lengths:
        for variant in VARIANTS:
            row = table.measure("model", variant, T, None, lambda: model_step(plan, variant, T, False), tokens=T)
            if row["note"] == "out of memory":
                table.measure("model", variant, T, None, lambda: model_step(plan, variant, T, True), tokens=T,
                              note="gradient checkpointing")
    T, (variant, backend) = plan.model_lengths[0], plan.compiled
    started = time.perf_counter()
    # the warm-up step compiles: the row's wall time, in the note, is mostly compilation
    row = table.measure("model", f"{variant} compiled", T, None, lambda: model_step(plan, variant, T, False, backend),
                        tokens=T, note=f"torch.compile ({backend})")
    if row["tokens_s"]:
        row["note"] += f", row took {time.perf_counter() - started:.0f} s with compilation"
    table.measure("model", "mac", plan.long_context, None, lambda: model_step(plan, "mac", plan.long_context, True),
                  tokens=plan.long_context, note="gradient checkpointing, peak memory")


def print_table(rows: list[dict], plan: Plan) -> None:
    device = torch.cuda.get_device_name() if plan.device == "cuda" else "CPU (dry run: correctness of the script, not speed)"
    print(f"\n{device}, torch {torch.__version__}; op: B x H = {plan.batch} x {plan.heads}, chunk {plan.chunk}, "
          f"expansion {plan.expansion}; models: preset {plan.preset}, batch 1\n")
    print("| kind | impl | T | D | tokens/s | TFLOP/s | peak GiB | note |\n|---|---|---|---|---|---|---|---|")
    fmt = lambda value, spec: "" if value is None else format(value, spec)  # noqa: E731
    for r in rows:
        print(f"| {r['kind']} | {r['impl']} | {r['T']} | {fmt(r['D'], 'd')} | {fmt(r['tokens_s'], ',.0f')} | "
              f"{fmt(r['tflops'], '.2f')} | {fmt(r['peak_gib'], '.1f')} | {r['note']} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="every row at tiny shapes on the CPU")
    parser.add_argument("--budget", type=float, default=200.0,
                        help="seconds after which each group of rows (op, kernel settings, model) skips the rest")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args()
    plan = DRY if args.dry_run else GPU
    if plan.device == "cuda" and not torch.cuda.is_available():
        parser.error("no CUDA device: run on a GPU machine, or --dry-run to check the script on the CPU")
    table = Table(plan, args.budget)
    # each group has its own budget, so that a slow group cannot starve the next
    for group in (op_rows, kernel_rows, model_rows):
        table.restart()
        group(table, plan)
    print_table(table.rows, plan)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": plan.device, "rows": table.rows}, f, indent=1)


if __name__ == "__main__":
    main()
