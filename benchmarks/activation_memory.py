"""Bytes of saved activations per token, measured on the CPU, and what they make of a long context on a GPU.

    python benchmarks/activation_memory.py                      # preset 170m, MAC MAG LMM Transformer++
    python benchmarks/activation_memory.py --lengths 1024 2048 --context 65536 --gpu-gib 80

Saved-tensor hooks see every tensor that autograd keeps for the backward pass; a tensor's storage is
counted once, parameters not at all. Two measurements per variant, float32:
  - one block without recomputation: what a checkpointed block holds while its backward runs,
    split into the attention op, the memory op and the rest (projections, norms, the MLP);
  - a one-layer model with gradient checkpointing and the loss: the embedding, the head and the loss
    (checkpointing's own hooks hide the block's insides). What stays between the forward and the
    backward is that plus each block's input, 4 x dim bytes per token and layer (held by checkpoint).
Per-token figures are the slope between two lengths (fixed costs drop out). The GPU estimate then
replaces the CPU attention paths' saved tensors (the blocked window keeps its scores) by what the fused
kernels keep (q, k, v, the output and the log-sum-exp: flex, SDPA flash / efficient), halves the
bf16-autocast share (everything but the memory op, which runs in float32), and adds the optimiser,
the parameters and the loss's transient logits. It is an estimate: the CUDA allocator's fragmentation
and the kernels' workspaces are not in it (measure with benchmarks/gpu.py when a GPU is lent).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import warnings
from contextlib import contextmanager

import torch
import torch.nn.functional as F

import titans.layers.attention as attention_layer
import titans.layers.neural_memory as neural_memory
from titans.config import TitansConfig
from titans.models.lm import TitansLM

VARIANTS = ("mac", "mag", "lmm", "transformer")


class SavedBytes:
    """Counts the distinct storages autograd saves, by bucket (the innermost ``bucket`` in force)."""

    def __init__(self, excluded: set[int]):
        self.excluded, self.seen, self.bytes, self.stack = excluded, set(), {}, ["rest"]

    def pack(self, t: torch.Tensor):
        storage = t.untyped_storage()
        key = storage.data_ptr()
        if key not in self.excluded and key not in self.seen:
            self.seen.add(key)
            self.bytes[self.stack[-1]] = self.bytes.get(self.stack[-1], 0) + storage.nbytes()
        return t

    @contextmanager
    def bucket(self, name: str):
        self.stack.append(name)
        try:
            yield
        finally:
            self.stack.pop()

    def wrap(self, fn, name: str):
        def run(*args, **kwargs):
            with self.bucket(name):
                return fn(*args, **kwargs)

        return run


@contextmanager
def attributed(counter: SavedBytes):
    """The attention ops and the memory op counted apart while the model runs."""
    patches = [(attention_layer, "sliding_window_attention", "attention op"),
               (F, "scaled_dot_product_attention", "attention op"),
               (neural_memory, "chunk_memory_update", "memory op")]
    originals = [getattr(module, name) for module, name, _ in patches]
    for (module, name, bucket), fn in zip(patches, originals):
        setattr(module, name, counter.wrap(fn, bucket))
    try:
        with torch.autograd.graph.saved_tensors_hooks(counter.pack, lambda t: t):
            yield
    finally:
        for (module, name, _), fn in zip(patches, originals):
            setattr(module, name, fn)


def measure(model: TitansLM, T: int, whole: bool) -> dict[str, int]:
    """Saved bytes of block 0's forward (whole=False) or of the checkpointed model with its loss."""
    excluded = {p.untyped_storage().data_ptr() for p in model.parameters()}
    counter = SavedBytes(excluded)
    tokens = torch.randint(0, model.config.vocab_size, (1, T + 1), generator=torch.Generator().manual_seed(0))
    with attributed(counter):
        if whole:
            model.gradient_checkpointing = True
            logits, _ = model(tokens[:, :-1])
            F.cross_entropy(logits.float().flatten(0, 1), tokens[:, 1:].flatten())
        else:
            model.blocks[0](model.embed(tokens[:, :-1]).detach().requires_grad_())
    return counter.bytes


def per_token(model: TitansLM, lengths: list[int], whole: bool) -> dict[str, float]:
    lo, hi = (measure(model, T, whole) for T in lengths)
    return {k: (hi.get(k, 0) - lo.get(k, 0)) / (lengths[1] - lengths[0]) for k in set(lo) | set(hi)}


def gpu_estimate(config: TitansConfig, block: dict, head: dict, params: int, context: int) -> dict[str, float]:
    """GiB at ``context`` tokens, batch 1, bf16 autocast, gradient checkpointing (see the docstring)."""
    d, H, V = config.dim, config.heads, config.vocab_size
    kv = config.n_kv_heads * (d // H)
    # fused attention keeps q, k, v, out in bf16 and the log-sum-exp in float32; MAC also keys h
    fused = 2 * (2 * d + 2 * kv * (2 if config.variant == "mac" else 1)) + 4 * H if config.uses_attention else 0
    recomputed = block.get("memory op", 0) + block.get("rest", 0) / 2 + fused
    between = config.layers * 4 * d + sum(head.values())  # the float32 residual stream at each block's input
    gib = 2**-30
    parts = {
        "parameters, gradients, AdamW (fp32)": 16 * params * gib,
        "kept between forward and backward": between * context * gib,
        "one block recomputed in the backward": recomputed * context * gib,
        # in the backward: the float32 logits' gradient and the bf16 logits beside the saved log-softmax
        "loss transient (logit gradients)": (4 + 2) * V * context * gib,
    }
    parts["total"] = sum(parts.values())
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="170m")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--lengths", type=int, nargs=2, default=[1024, 2048], help="two lengths for the slope")
    parser.add_argument("--context", type=int, default=65536, help="the context the estimate is for")
    parser.add_argument("--gpu-gib", type=float, default=80.0)
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="None of the inputs have requires_grad")
    rows = []
    for variant in args.variants:
        torch.manual_seed(0)
        config = TitansConfig.from_name(args.preset, variant=variant)
        model = TitansLM(config)
        block = per_token(model, args.lengths, whole=False)
        params = model.num_parameters()
        del model
        head = per_token(TitansLM(dataclasses.replace(config, layers=1)), args.lengths, whole=True)
        estimate = gpu_estimate(config, block, head, params, args.context)
        rows.append({"variant": variant, "block_bytes_per_token": block, "head_loss_bytes_per_token": head,
                     "gpu_gib": estimate})
        print(json.dumps(rows[-1]), flush=True)

    print(f"\npreset {args.preset}, float32 on the CPU, slope between T = {args.lengths[0]} and {args.lengths[1]}")
    print("\n| variant | block: attention op | block: memory op | block: rest | embedding, head and loss |")
    print("|---|---|---|---|---|")
    for r in rows:
        b, h = r["block_bytes_per_token"], r["head_loss_bytes_per_token"]
        print(f"| {r['variant']} | {b.get('attention op', 0):,.0f} | {b.get('memory op', 0):,.0f} | "
              f"{b.get('rest', 0):,.0f} | {sum(h.values()):,.0f} |")
    print(f"\nEstimate at {args.context:,} tokens, batch 1, bf16 autocast, checkpointing, fused attention (GiB):\n")
    names = list(rows[0]["gpu_gib"])
    print("| variant | " + " | ".join(names) + f" | fits {args.gpu_gib:g} GB |\n|---|" + "---|" * (len(names) + 1))
    for r in rows:
        g = r["gpu_gib"]
        print(f"| {r['variant']} | " + " | ".join(f"{g[n]:.1f}" for n in names) +
              f" | {'yes' if g['total'] * 2**30 <= args.gpu_gib * 1e9 else 'no'} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
