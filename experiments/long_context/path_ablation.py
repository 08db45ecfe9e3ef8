"""Which of MAC's two paths carries the pass key to the answer: h in the attention's context, or the gate.

A MAC block's memory reaches its output twice (paper Eqs. 21-25): as the reads h that the segment's
attention sees beside its tokens, and as ``m``, the read after the write, through the gate
``norm_a(y) * sigmoid(norm_b(m))``. This reads S-NIAH-PK samples (keys of all-different digits, and keys
holding a digit twice: ``repeat_probe.py``) with each path cut in every block at once, two ways:

- ``h0`` / ``m0``: every h (every m) is zero. Blunt: a zero h still takes its share of each softmax (a
  key of zero, a value of zero), thinning the attention's weight on the segment; a zero m holds every
  gate at one half, an input the model never saw.
- ``h-other`` / ``m-other``: each prompt gets the h (the m) of another prompt of the same batch (rows
  rolled by one): inputs of the kind the model was trained on, carrying another key. What a path
  carries is what is lost when its content is another prompt's.

    python experiments/long_context/path_ablation.py experiments/long_context/checkpoints/mac \\
        --lengths 512,4K --samples 40 --json experiments/long_context/results/path_ablation.json

``--probe TASK`` reads instead the held-out rows of ``induction_probe.py --task TASK`` (a model it saved
with ``--save``; ``--probe-seed``: the run's seed, whose held-out rows these are), scoring the answer bytes
as the probe does.
"""

from __future__ import annotations

import contextlib
import json
import random

import torch

from titans.cli.loading import load_trained
from titans.eval.grid import length_label, parse_length
from titans.eval.recall import run_cell
from titans.models.mac import MACBlock

from induction_probe import answer_accuracy, batch
from repeat_probe import KINDS, cell_parser, keys_of

CUTS = ("none", "h0", "m0", "h-other", "m-other")


def replaced(t: torch.Tensor, which: str) -> torch.Tensor:
    """A path's tensor ``[B, ...]`` as the cut ``which`` leaves it: zeros, or another row's."""
    if which.endswith("0"):
        return torch.zeros_like(t)
    if t.shape[0] < 2:
        raise SystemExit(f"cut {which}: needs at least two prompts a batch to give each another's")
    return t.roll(1, 0)


def second_argument_cut(which: str):
    """A forward pre-hook that cuts its module's second argument: the h given to MAC's
    ``SegmentAttention`` (the memory's reads, Eq. 21), or the m given to its ``GatedProduct`` (Eq. 25)."""

    def hook(module, args):
        first, second, *rest = args
        return (first, replaced(second, which), *rest)

    return hook


@contextlib.contextmanager
def cut(model, which: str):
    """Every MAC block of ``model`` with the path ``which`` cut (``none``: as trained)."""
    if which not in CUTS:
        raise SystemExit(f"unknown cut {which!r}: choose from {', '.join(CUTS)}")
    blocks = [b for b in model.modules() if isinstance(b, MACBlock)]
    if not blocks:
        raise SystemExit("not a MAC model: this probe cuts MAC's h and gate paths")
    hooks = []
    if which != "none":
        for block in blocks:
            cut_module = block.attention if which.startswith("h") else block.gate
            hooks.append(cut_module.register_forward_pre_hook(second_argument_cut(which)))
    try:
        yield
    finally:
        for hook in hooks:
            hook.remove()


def main() -> None:
    parser = cell_parser(__doc__)
    parser.add_argument("--cuts", default=",".join(CUTS))
    parser.add_argument("--probe", default=None, metavar="TASK", help="an induction_probe.py task, e.g. copy-repeats")
    parser.add_argument("--probe-length", type=int, default=128)
    parser.add_argument("--probe-seed", type=int, default=0, help="the probe run's --seed (its held-out rows)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for path in args.checkpoints:
        model, _ = load_trained(path)
        if args.probe:
            held_out = batch(random.Random(args.probe_seed + 1), 32, args.probe_length, args.probe)  # as the probe draws them
            for which in args.cuts.split(","):
                with cut(model, which):
                    every, first = answer_accuracy(lambda t: model(t)[0], *held_out)
                rows.append({"checkpoint": path, "probe": args.probe, "probe_seed": args.probe_seed,
                             "probe_length": args.probe_length, "cut": which, "answer_bytes": every,
                             "first_byte": first})
                print(f"{path} {args.probe} cut {which}: answer bytes {every:.3f}, first byte {first:.3f}", flush=True)
            continue
        for length in (parse_length(x) for x in args.lengths.split(",")):
            for kind in KINDS:
                samples = keys_of(kind, length, args)
                for which in args.cuts.split(","):
                    with cut(model, which):
                        correct = run_cell(model, samples, batch=8, block=4096).correct
                    rows.append({"checkpoint": path, "length": length, "keys": kind, "cut": which,
                                 "correct": correct, "total": len(samples)})
                    print(f"{path} {length_label(length)} {kind} cut {which}: {correct}/{len(samples)}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            setting = {} if args.probe else {"seed": args.seed, "depth": args.depth}
            json.dump({**setting, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
