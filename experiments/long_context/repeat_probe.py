"""Pass keys with all-different digits against keys holding a digit twice (issue 25, "What caps MAC").

MAC's wrong answers in the committed grid are all at a repeated digit: it copies the key up to the
digit's second occurrence, then continues from the first (" 6716016016..." for 6716019). That is what
a copy does that finds the next digit by the last digit alone. This reads each model on S-NIAH-PK
samples whose keys are all-different (``distinct``) or hold some digit twice or more (``repeated``),
at the same lengths and depth (the keys and haystacks differ: each kind draws its own), so that the
gap between the two is the cost of that shortcut.

    python experiments/long_context/repeat_probe.py experiments/long_context/checkpoints/{mac,lmm} \\
        --lengths 512,4K --samples 40 --json experiments/long_context/results/repeat_probe.json

Two variations of the same samples, each a question about where the wrong digit comes from:
``--offsets 0,32,64`` prepends the first k bytes of each prompt's own haystack, which moves the answer k
bytes past the start of MAC's segment (the grid's lengths, multiples of 128 bytes, start every answer on
a segment boundary) and nothing else; ``--frozen`` reads every cell a second time with the memories'
writes stopped while the answer is decoded (no write of the answer's own digits: theta = 0, the momentum
carried from the prompt left to run), to see whether the answer's own writes steer its copy.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json

import torch

from titans.cli.loading import load_trained
from titans.eval.grid import cell_samples, length_label, parse_length
from titans.eval.needles import PassKey
from titans.eval.recall import run_cell
from titans.layers.neural_memory import NeuralMemory

KINDS = ("distinct", "repeated")


@contextlib.contextmanager
def no_writes_while_answering(model):
    """Every memory of ``model`` writes nothing new (theta 0) while an answer is decoded; its momentum
    and forgetting run on as they would. Yields the ``on_block`` callback that arms it once a batch's
    prompt is read; a call of more than one token (the next batch's prompt) disarms it. (MAC also reads a
    prompt in one-token pieces where a segment ends one token into a block: those come before the arming.)"""
    memories = [m for m in model.modules() if isinstance(m, NeuralMemory)]
    armed = [False]

    def gates(memory, x):
        theta, log_eta, log_keep = NeuralMemory._gates(memory, x)
        if x.shape[1] > 1:
            armed[0] = False
        return (torch.zeros_like(theta) if armed[0] else theta), log_eta, log_keep

    for memory in memories:
        memory._gates = gates.__get__(memory)
    try:
        yield lambda read: armed.__setitem__(0, True)
    finally:
        for memory in memories:
            del memory._gates


def score(model, samples, frozen: bool) -> int:
    if not frozen:
        return run_cell(model, samples, batch=8, block=4096).correct
    # block: the whole prompt in one call, so that on_block fires once per batch, after the prompt
    with no_writes_while_answering(model) as on_block:
        return run_cell(model, samples, batch=8, block=len(samples[0].prompt), on_block=on_block).correct


def cell_parser(description: str) -> argparse.ArgumentParser:
    """The checkpoints and the cells to read (lengths, depth, samples, seed): this probe's, which
    ``path_ablation.py`` reads as well, so that the two score the same samples."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--lengths", default="512,4K")
    parser.add_argument("--depth", type=float, default=0.5)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--seed", type=int, default=11)
    return parser


def keys_of(kind: str, length: int, args) -> list:
    """The cell's S-NIAH-PK samples whose keys are ``kind`` (``distinct`` or ``repeated``)."""
    return cell_samples(PassKey(part="eval", keys=kind), length, args.depth, args.samples, args.seed)


def main() -> None:
    parser = cell_parser(__doc__)
    parser.add_argument("--kinds", default=",".join(KINDS), help="distinct, repeated or both")
    parser.add_argument("--offsets", default="0", help="haystack bytes prepended to every prompt, e.g. 0,32,64")
    parser.add_argument("--frozen", action="store_true", help="also read with the writes frozen while answering")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    lengths = [parse_length(x) for x in args.lengths.split(",")]
    offsets = [int(x) for x in args.offsets.split(",")]
    rows = []
    for path in args.checkpoints:
        model, _ = load_trained(path)
        for length in lengths:
            for kind in args.kinds.split(","):
                drawn = keys_of(kind, length, args)
                for offset in offsets:
                    if any(offset > s.fact_spans[0][0] for s in drawn):
                        raise SystemExit(f"offset {offset}: more than the haystack before a needle (depth "
                                         f"{args.depth}); the prepended bytes must be haystack only")
                    samples = [dataclasses.replace(s, prompt=s.prompt[:offset] + s.prompt) for s in drawn]
                    row = {"checkpoint": path, "length": length, "depth": args.depth, "keys": kind, "offset": offset,
                           "total": len(samples), "correct": score(model, samples, frozen=False)}
                    if args.frozen:
                        row["correct_frozen"] = score(model, samples, frozen=True)
                    rows.append(row)
                    frozen = f", writes frozen while answering {row['correct_frozen']}" if args.frozen else ""
                    print(f"{path} {length_label(length)} +{offset} {kind}: {row['correct']}/{len(samples)}{frozen}",
                          flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"seed": args.seed, "samples": args.samples, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
