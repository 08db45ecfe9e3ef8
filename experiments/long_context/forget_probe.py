"""Is a far needle lost to the memory's forgetting? Measure the forget gates, then read with them shut.

Every memory keeps ``1 - alpha_t`` of its weights per token (SPEC §1), so of what the needle wrote, a
share ``prod_t (1 - alpha_t)`` over the tokens read after it survives the decay. This probe reads the
passkey cells of one length through a trained model and prints, per layer and memory head, that share
over the whole prompt (the needle at depth 0 %: everything after it), from the gates' own outputs. With
``--no-forget`` it reads them again with every alpha forced to 0 (the alpha logits set to -inf): if the
needle were lost to forgetting, recall would rise; if it does not, what erases it is the writes that
follow it (the filler's surprise), not the decay. ``--no-forget-heads`` shuts only the heads named, to
find whose forgetting loses the needle; ``--forget-to-init`` reads with the weights decaying towards
their learned initial weights W0 instead of towards 0. A diagnostic, not a model:

    python experiments/long_context/forget_probe.py experiments/long_context/checkpoints/lmm \
        --length 64K --samples 20 --seed 1 --no-forget
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from titans.cli.loading import load_trained
from titans.eval.catalog import make_tasks
from titans.eval.grid import cell_samples, parse_length
from titans.eval.recall import run_cell
from titans.layers.neural_memory import NeuralMemory

BATCH = 8  # prompts read side by side (titans eval's default)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--length", default="64K", help="prompt length in bytes (default: 64K)")
    parser.add_argument("--depths", default="0", help="needle depths in percent (default: 0)")
    parser.add_argument("--samples", type=int, default=20, help="samples per depth (default: 20)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the samples (default: 1, the headline's)")
    parser.add_argument("--no-forget", action="store_true", help="force every alpha to 0 while reading")
    parser.add_argument("--no-forget-heads", default="",
                        help="force alpha to 0 in these heads only, as MEMORY.HEAD pairs (e.g. 0.0,2.1)")
    parser.add_argument("--forget-to-init", action="store_true",
                        help="read with the memories forgetting towards their initial weights W0, not towards 0")
    args = parser.parse_args()
    shut = {tuple(int(i) for i in pair.split(".")) for pair in args.no_forget_heads.split(",") if pair}
    torch.set_num_threads(1)
    model, _ = load_trained(args.checkpoint)
    memories = [m for m in model.modules() if isinstance(m, NeuralMemory)]
    kept = {i: [] for i in range(len(memories))}  # per memory: sum over a call's tokens of log(1 - alpha)

    def hook(index):
        def on_gates(module, inputs, output):
            theta, eta, alpha = output.chunk(3, dim=-1)  # the logits NeuralMemory._gates splits, per head
            heads = [h for m, h in shut if m == index]
            if args.no_forget or heads:
                alpha = alpha.clone()
                alpha[..., slice(None) if args.no_forget else heads] = float("-inf")
                output = torch.cat([theta, eta, alpha], -1)
            kept[index].append(F.logsigmoid(-alpha.float()).sum(1).mean(0))  # log(1 - alpha) over tokens: [heads]
            return output
        return on_gates

    for i, memory in enumerate(memories):
        memory.to_gates.register_forward_hook(hook(i))
        if args.forget_to_init:
            memory.forget_to = "init"  # the weights' decay pulls towards W0 (NeuralMemory's forget_to)
    task = make_tasks(["pk"], "eval")["pk"]
    length = parse_length(args.length)
    for depth in (float(d) / 100 for d in args.depths.split(",")):
        for calls in kept.values():
            calls.clear()
        result = run_cell(model, cell_samples(task, length, depth, args.samples, args.seed), batch=BATCH, block=4096)
        gate = ("alpha = 0" if args.no_forget else f"alpha = 0 in heads {args.no_forget_heads}" if shut
                else "learned gates")
        gate += ", forgetting towards W0" if args.forget_to_init else ""
        print(f"{args.length} depth {depth:.0%} ({gate}): {result.correct}/{result.total} recalled")
        batches = -(-args.samples // BATCH)
        for i, calls in kept.items():  # every batch reads the same number of tokens: average over batches
            share = (torch.stack(calls).sum(0) / batches).exp()
            print(f"  memory {i}: share of a write at the start that survives the decay, per head: "
                  + ", ".join(f"{s:.3g}" for s in share.tolist()))


if __name__ == "__main__":
    main()
