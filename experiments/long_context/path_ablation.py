"""Which of MAC's two paths carries the pass key to the answer: h in the attention's context, or the gate.

A MAC block's memory reaches its output twice (paper Eqs. 21-25): as the reads h that the segment's
attention sees beside its tokens, and as ``m``, the read after the write, through the gate
``norm_a(y) * sigmoid(norm_b(m))``. This reads S-NIAH-PK samples (keys of all-different digits, and keys
holding a digit twice: ``repeat_probe.py``) with each path cut in every block at once:

- ``h0``: every h is zero (the attention still sees the persistent tokens and the segment's own tokens);
- ``m0``: every m is zero, so the gate is a constant one half and the memory reaches the output only
  through h.

    python experiments/long_context/path_ablation.py experiments/long_context/checkpoints/mac \\
        --lengths 512,4K --samples 40 --json experiments/long_context/results/path_ablation.json

``--probe TASK`` reads instead the held-out rows of ``induction_probe.py --task TASK`` (a model it saved
with ``--save``), scoring the answer bytes as the probe does.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random

import torch

from titans.cli.loading import load_trained
from titans.eval.grid import cell_samples, length_label, parse_length
from titans.eval.needles import PassKey
from titans.eval.recall import run_cell
from titans.models.mac import MACBlock

from induction_probe import answer_accuracy, batch

CUTS = ("none", "h0", "m0")


@contextlib.contextmanager
def cut(model, which: str):
    """Every MAC block of ``model`` with the path ``which`` zeroed (``none``: as trained)."""
    blocks = [b for b in model.modules() if isinstance(b, MACBlock)]
    if not blocks:
        raise SystemExit("not a MAC model: this probe cuts MAC's h and gate paths")
    for block in blocks:
        if which == "h0":
            read = block.memory.read
            block.memory.read = lambda *a, _read=read, **k: (lambda h, tail: (torch.zeros_like(h), tail))(*_read(*a, **k))
        elif which == "m0":
            gate = block.gate.forward
            block.gate.forward = lambda y, m, _gate=gate: _gate(y, torch.zeros_like(m))
    try:
        yield
    finally:
        for block in blocks:
            block.memory.__dict__.pop("read", None)
            block.gate.__dict__.pop("forward", None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--lengths", default="512,4K")
    parser.add_argument("--depth", type=float, default=0.5)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--cuts", default=",".join(CUTS))
    parser.add_argument("--probe", default=None, metavar="TASK", help="an induction_probe.py task, e.g. copy-repeats")
    parser.add_argument("--probe-length", type=int, default=128)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for path in args.checkpoints:
        model, _ = load_trained(path)
        if args.probe:
            # the probe's own held-out rows (its seed 0 run's: seed + 1)
            held_out = batch(random.Random(1), 32, args.probe_length, args.probe)
            for which in args.cuts.split(","):
                with cut(model, which):
                    every, first = answer_accuracy(lambda t: model(t)[0], *held_out)
                rows.append({"checkpoint": path, "probe": args.probe, "cut": which, "answer_bytes": every,
                             "first_byte": first})
                print(f"{path} {args.probe} cut {which}: answer bytes {every:.3f}, first byte {first:.3f}", flush=True)
            continue
        for length in (parse_length(x) for x in args.lengths.split(",")):
            for kind in ("distinct", "repeated"):
                samples = cell_samples(PassKey(part="eval", keys=kind), length, args.depth, args.samples, args.seed)
                for which in args.cuts.split(","):
                    with cut(model, which):
                        correct = run_cell(model, samples, batch=8, block=4096).correct
                    rows.append({"checkpoint": path, "length": length, "keys": kind, "cut": which,
                                 "correct": correct, "total": len(samples)})
                    print(f"{path} {length_label(length)} {kind} cut {which}: {correct}/{len(samples)}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"seed": args.seed, "depth": args.depth, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
