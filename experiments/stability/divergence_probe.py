"""Where a run's validation with carried state turns non-finite: every memory's weights, batch by batch.

    python experiments/stability/divergence_probe.py RUN CHECKPOINT

Reads the run's own validation batches (as many as ``titans train`` validates, the state carried where the
run carries it) on the CPU in float32 with the weights of CHECKPOINT, and prints, per batch, the rows whose loss is not finite and, per memory call (MAC: one per
segment), the largest |weight| and |momentum| of the memory state it leaves, over every row and head.
A memory whose inner loop diverges shows as weights that grow by orders of magnitude over a few
calls before they turn NaN.
"""

from __future__ import annotations

import argparse
import tempfile

import torch
import torch.nn.functional as F

from titans.cli.loading import load_trained, run_train_config
from titans.layers.neural_memory import NeuralMemory
from titans.train import Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="the run folder (its train_config.json builds the validation lanes)")
    parser.add_argument("checkpoint", help="the weights to read with, e.g. RUN/checkpoints/step_0000400")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = run_train_config(args.run)
    if config is None:
        raise SystemExit(f"{args.run} holds no readable train_config.json: give the folder of a titans train run")
    with tempfile.TemporaryDirectory() as scratch:
        trainer = Trainer(config.replace(out=scratch, device="cpu", precision="fp32"), progress=False)
    model = trainer.module.eval()
    model.load_state_dict(load_trained(args.checkpoint)[0].state_dict())
    calls = []

    def record(name):
        def hook(module, inputs, output):
            _, state = output
            calls.append((name, max(float(w.abs().max()) for w in state.weights),
                          max(float(s.abs().max()) for s in state.momentum)))
        return hook

    for name, module in model.named_modules():
        if isinstance(module, NeuralMemory):
            module.register_forward_hook(record(name))
    lanes, state = trainer.valid_lanes, None
    batches = min(lanes.batches_per_epoch, trainer.validation_batches())
    with torch.no_grad():
        for index in range(batches):
            batch = lanes.batch(index)
            calls.clear()
            logits, state = model(batch.inputs, state if config.carry_state else None, reset=batch.reset)
            loss = F.cross_entropy(logits.flatten(0, 1), batch.targets.flatten(), reduction="none")
            bad = (~torch.isfinite(loss.view(batch.inputs.shape))).any(1).nonzero().flatten().tolist()
            print(f"batch {index}: rows with a non-finite loss {bad}")
            for name, weights, momentum in calls:
                print(f"    {name}: |W| {weights:.3g}  |S| {momentum:.3g}")


if __name__ == "__main__":
    main()
