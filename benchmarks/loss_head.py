"""The training step with the head's logits taken whole against the head in blocks of rows.

    python benchmarks/loss_head.py --rounds 4 --reps 3

For the main job's MAC model and the Transformer++ of its parameter count (benchmarks/main_job.py: its
rows of 256 tokens, 16 until session 14 and 8 now, a vocabulary of 8,192), one training step (forward, next-token cross-entropy,
backward, AdamW on random tokens) two ways: ``logits``, the ``[rows x 256, 8192]`` logits then torch's
cross-entropy, as the trainer took it until session 13; ``blocks``, ``model(..., targets=...)``
(titans.ops.linear_cross_entropy), as it takes it now. The four setups run in turn, --rounds times, so
that machine noise hits them alike; the median step of each and the ratio blocks / logits are printed.
Run it alone: the memory models are very sensitive to a concurrent load.
"""

from __future__ import annotations

import argparse
import functools

import torch
import torch.nn.functional as F
from main_job import MAIN_CONFIG, interleaved, timed_vocab_size, training_step, with_baseline

from titans.models.lm import TitansLM
from titans.train import TrainConfig


def logits_step(model: TitansLM, optimizer: torch.optim.Optimizer, tokens: torch.Tensor) -> None:
    """The step with the whole logits: the head as it was (``x @ weight.mT``), then cross-entropy over
    ``[rows * context, vocab]``."""
    x, _ = model.features(tokens[:, :-1])
    logits = x @ (model.embed.weight if model.head is None else model.head.weight).mT
    F.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten()).backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3, help="timed steps per setup and round (default: 3)")
    parser.add_argument("--rounds", type=int, default=4, help="rounds over the setups (default: 4)")
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    main_job = TrainConfig.from_file(str(MAIN_CONFIG), TrainConfig())
    vocab = timed_vocab_size(main_job)
    tokens = torch.randint(0, vocab, (main_job.rows, main_job.context + 1), generator=torch.Generator().manual_seed(0))
    models = with_baseline(main_job)
    labels, jobs = [], []
    for label, config in models.items():
        torch.manual_seed(0)
        model = TitansLM(config.model_config(vocab))
        optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)
        for step in (logits_step, training_step):
            labels.append(label)
            jobs.append(functools.partial(step, model, optimizer, tokens))
    medians = [timing.median for timing in interleaved(jobs, args.rounds, args.reps)]
    print(f"{main_job.rows} x {main_job.context} tokens a step, vocabulary {vocab}, {torch.get_num_threads()} threads, "
          f"median of {args.rounds} x {args.reps} steps\n")
    print("| model | logits step (s) | blocks step (s) | blocks / logits |")
    print("|---|---|---|---|")
    for label, whole, blocks in zip(labels[::2], medians[::2], medians[1::2]):
        print(f"| {label} | {whole:.3f} | {blocks:.3f} | {blocks / whole:.2f} |")

if __name__ == "__main__":
    main()
