"""MAC's training step with consecutive whole segments in one call, against every segment on its own.

    python benchmarks/mac_segments.py --rounds 12

The main job's model (configs/main.toml: the cpu preset's MAC, its BPE vocabulary, rows of 256 tokens, two
segments of 128 a row) takes one training step the way the trainer does: the rows in one share per thread
(titans.ops.row_parallel), each share's forward and gradients on its own thread, the gradients summed, AdamW.
The same weights are timed three ways in turn, so that the machine's drift hits them alike:
``MACBlock.whole_segments_at_once`` (the default: one memory projection and output and one attention call
over a block's whole segments), the same model with every segment on its own (the reference; the same result,
tests/models/test_mac_whole_segments.py), and the main job's Transformer++ baseline (width 144, as in
benchmarks/main_job.py). Prints each median step and its ratio to the first.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time

import torch
from main_job import MAIN_CONFIG, timed_vocab_size, with_baseline

from titans.models.lm import TitansLM
from titans.ops.row_parallel import even_slices, in_parallel
from titans.train import TrainConfig


def training_step(model: TitansLM, optimizer: torch.optim.Optimizer, tokens: torch.Tensor, shares: int) -> None:
    """Forward, loss and gradients of each share of rows on its own thread, summed in share order; AdamW."""
    params = list(model.parameters())
    scored = tokens[:, 1:].numel()

    def share(rows: slice):
        nats, _ = model(tokens[rows, :-1], targets=tokens[rows, 1:])
        return torch.autograd.grad(nats / scored, params, allow_unused=True)

    results = in_parallel(share, even_slices(tokens.shape[0], shares))
    for p, *grads in zip(params, *results):
        grads = [g for g in grads if g is not None]
        if grads:
            p.grad = functools.reduce(torch.add, grads)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=12, help="timed steps of each model, taken in turn")
    parser.add_argument("--shares", type=int, help="row shares on threads (default: torch's thread count)")
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    main_job = TrainConfig.from_file(str(MAIN_CONFIG), TrainConfig())
    vocab = timed_vocab_size(main_job)
    shares = args.shares or torch.get_num_threads()
    baseline = list(with_baseline(main_job).values())[-1]
    runs = {}
    for label, config, whole in (("mac, whole segments at once", main_job, True),
                                 ("mac, segment by segment", main_job, False),
                                 ("transformer++", baseline, True)):
        torch.manual_seed(0)
        model = TitansLM(config.model_config(vocab))
        for block in model.blocks:
            block.whole_segments_at_once = whole
        runs[label] = (model, torch.optim.AdamW(model.parameters(), lr=main_job.lr))
    tokens = torch.randint(0, vocab, (main_job.rows, main_job.context + 1),
                           generator=torch.Generator().manual_seed(0))
    seconds = {label: [] for label in runs}
    for round_ in range(args.rounds + 2):  # two warm-up rounds
        order = list(runs.items())
        for label, (model, optimizer) in (order if round_ % 2 else order[::-1]):
            start = time.perf_counter()
            training_step(model, optimizer, tokens, shares)
            if round_ >= 2:
                seconds[label].append(time.perf_counter() - start)
    print(f"{main_job.rows} x {main_job.context} tokens a step in {shares} shares, {torch.get_num_threads()} threads, "
          f"median of {args.rounds} steps each\n")
    print("| model | step (s) | against the first |")
    print("|---|---|---|")
    first = statistics.median(next(iter(seconds.values())))
    for label, times in seconds.items():
        print(f"| {label} | {statistics.median(times):.3f} | {statistics.median(times) / first:.2f}x |")


if __name__ == "__main__":
    main()
