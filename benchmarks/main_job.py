"""The main job against a Transformer++ of the same parameter count, trained for the same wall-clock time.

    python benchmarks/main_job.py --minutes 10 --json benchmarks/results/main_job_cpu.json
    python benchmarks/main_job.py --set 'memory_layers=[1,3]'   # the memory in two of the four blocks
    python benchmarks/main_job.py --minutes 9.6 --seed 1         # another initialisation and order of rows

The Titans model is exactly what `titans train` runs with no options (configs/main.toml), or that model
with the fields --set changes. The baseline is a Transformer++ in the same macro-architecture whose width
is the multiple of its head count that brings its parameter count closest to the Titans model's, trained
on the same data with the same
context, batch, learning-rate schedule shape and validation. Each model trains for exactly the budget of
training time (TrainConfig.minutes: the steps' own time; the cosine decays over it, so each model ends its
schedule when its time is up, however many steps that took). Until session 27 each model's step count was set
from a timed step instead, which misjudged a model's pace by up to 18 %. A timing of the trainer's own step on
the run's first batches (both models, each at its row_threads setting and at one thread of rows, in turn in the
same rounds: 3 steps each, three times, after 2 warm-up steps) picks each model's faster setting and how often
it validates (five times in the budget, and at its end); the wall time of the whole run (validation and
checkpoints included) is reported as measured (tokens per second count the training time only). Run it on a quiet machine: the memory models are very sensitive
to a concurrent load.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from titans import TitansConfig, TitansLM
from titans.cli.fields import parse_assignments
from titans.data.subword import subword_vocab_size
from titans.train import Trainer
from titans.train.config import TrainConfig

MAIN_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "main.toml"


def matched_transformer(config: TrainConfig, vocab: int) -> dict:
    """Model fields of the Transformer++ closest in parameters to ``config``'s model (same depth, heads; a
    Transformer++ has no memory blocks to place, so ``memory_layers`` is dropped)."""
    target = TitansLM(config.model_config(vocab)).num_parameters()
    base = {**config.model_config(vocab).to_dict(), "variant": "transformer", "memory_layers": None}
    best = None
    for dim in range(base["heads"] * 4, 4 * base["dim"] + 1, base["heads"] * 4):
        gap = abs(TitansLM(TitansConfig(**{**base, "dim": dim})).num_parameters() - target)
        if best is None or gap < best[0]:
            best = (gap, dim)
    return {**{k: v for k, v in config.model.items() if k != "memory_layers"}, "dim": best[1]}


def with_baseline(config: TrainConfig) -> dict[str, TrainConfig]:
    """``config`` and the Transformer++ of its parameter count (matched_transformer), by label."""
    baseline = config.replace(variant="transformer", model=matched_transformer(config, vocab_size(config)))
    return {"titans-" + config.variant: config, "transformer++": baseline}


def timing_parser(description: str, out: str) -> argparse.ArgumentParser:
    """The options of the step-timing scripts: --reps, --rounds and the trainers' run folders."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=2, help="timed steps per trainer and round (default: 2)")
    parser.add_argument("--rounds", type=int, default=4, help="rounds over the trainers (default: 4)")
    parser.add_argument("--out", default=out, help="the trainers' run folders (default: %(default)s)")
    return parser


def vocab_size(config: TrainConfig) -> int | None:
    """The vocabulary of the run's tokenizer: 256 for bytes, N for bpe-N, None for any other."""
    return 256 if config.tokenizer_name == "bytes" else subword_vocab_size(config.tokenizer_name)


def timed_vocab_size(config: TrainConfig) -> int:
    """``vocab_size``, or an exit that says which tokenizers a step-timing script takes."""
    vocab = vocab_size(config)
    if vocab is None:
        sys.exit(f"this benchmark takes bytes or bpe-N, not {config.tokenizer_name!r}")
    return vocab


def training_step(model: TitansLM, optimizer: torch.optim.Optimizer, tokens: torch.Tensor) -> None:
    """One training step as the trainer takes it: forward, next-token cross-entropy (the head in blocks of
    rows), backward, AdamW."""
    nats, _ = model(tokens[:, :-1], targets=tokens[:, 1:])
    (nats / tokens[:, 1:].numel()).backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


@dataclass
class Timing:
    """Wall and CPU seconds (all threads) of each timed step of one job."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.wall)


def interleaved(jobs: list[Callable[[], None]], rounds: int, reps: int, warmup: int = 1) -> list[Timing]:
    """Each job (one training step per call) ``warmup`` times untimed, then ``reps`` timed calls of each in
    turn, ``rounds`` times, so that the machine's drift hits every job alike."""
    for job in jobs:
        for _ in range(warmup):
            job()
    timings = [Timing() for _ in jobs]
    for _ in range(rounds):
        for job, timing in zip(jobs, timings):
            for _ in range(reps):
                wall, cpu = time.perf_counter(), time.process_time()
                job()
                timing.wall.append(time.perf_counter() - wall)
                timing.cpu.append(time.process_time() - cpu)
    return timings


def trainer_steps(trainer: Trainer) -> Callable[[], None]:
    """A job of the trainer's own step (forward, loss, backward, AdamW; its row shares and the data's
    document resets included), each call on the next batch."""
    batches = itertools.count()
    return lambda: trainer._step(next(batches), None)


def row_settings(config: TrainConfig) -> list[TrainConfig]:
    """``config`` at its row_threads setting and at one thread of rows (TrainConfig.row_threads)."""
    return [config, config.replace(row_threads=1)] if config.row_threads != 1 else [config]


def settings_trainers(configs: list[TrainConfig], out: Path) -> list[Trainer]:
    """A trainer of each config, in run folders ``out/0``, ``out/1``, ..."""
    return [Trainer(c.replace(out=str(out / str(i))), progress=False) for i, c in enumerate(configs)]


def fastest_row_threads(configs: list[TrainConfig]) -> list[tuple[TrainConfig, float]]:
    """For each config, the faster of ``row_settings(config)`` and its median step: every setting of every
    model timed in turn in the same rounds (three steps of each, three times, after two warm-up steps), so
    that the machine's drift, which moves the step by a fifth or more within minutes here, hits the models
    alike; each model then trains at its own best."""
    options = [row_settings(config) for config in configs]
    trainers = [settings_trainers(o, Path(c.out) / "step-timing" / str(i)) for i, (c, o) in
                enumerate(zip(configs, options))]
    timings = interleaved([trainer_steps(t) for ts in trainers for t in ts], rounds=3, reps=3, warmup=2)
    chosen, start = [], 0
    for option in options:
        mine = timings[start:start + len(option)]
        best = min(range(len(option)), key=lambda i: mine[i].median)
        chosen.append((option[best], mine[best].median))
        start += len(option)
    return chosen


def train_for(config: TrainConfig, seconds: float, minutes: float, vocab: int, label: str) -> dict:
    """``config`` trained for ``minutes`` of training time; ``seconds``, its timed step, sets how often it
    validates (and a ceiling of steps that the budget cannot reach)."""
    expected = max(config.warmup + 1, int(minutes * 60 / seconds))
    config = config.replace(minutes=minutes, steps=10 * expected, eval_every=max(1, expected // 5),
                            save_every=10 * expected, sample_tokens=0, out=str(Path(config.out) / label))
    start = time.perf_counter()
    trainer = Trainer(config, progress=False)
    summary = trainer.run()
    wall = time.perf_counter() - start
    valid = summary.validation
    row = {"model": label, "variant": config.variant, "model_fields": config.model, "row_threads": config.row_threads,
           "parameters": TitansLM(config.model_config(vocab)).num_parameters(), "step_s": seconds,
           "steps": summary.steps, "train_min": trainer.trained_seconds / 60, "tokens": summary.tokens,
           "wall_min": wall / 60, "tokens_per_s": summary.tokens / trainer.trained_seconds,
           "valid_bits_per_byte": valid.bits_per_byte, "valid_loss": valid.loss}
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="minutes of training time per model, validation and checkpoints not counted (default: 10)")
    parser.add_argument("--out", default="runs/main-job-benchmark", help="run folders (default: %(default)s)")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.add_argument("--tokenizer", help="both models with this tokenizer, bytes or bpe-N (default: the main "
                                            "job's)")
    parser.add_argument("--lr", type=float, help="both models at this peak learning rate (default: the main job's)")
    parser.add_argument("--seed", type=int, help="both models at this seed (initialisation and data order; default: "
                                                "the main job's)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                        help="a model field of the Titans model, as titans train --set takes it, e.g. "
                             "--set 'memory_layers=[3]'; the baseline is matched to the changed model's "
                             "parameters (repeatable; default: none)")
    args = parser.parse_args()
    torch.set_flush_denormal(True)

    main = TrainConfig.from_file(str(MAIN_CONFIG), TrainConfig()).replace(out=args.out)
    if args.tokenizer:
        main = main.replace(tokenizer=args.tokenizer)
    if args.lr:
        main = main.replace(lr=args.lr)
    if args.seed is not None:
        main = main.replace(seed=args.seed)
    if args.overrides:
        main = main.replace(model={**main.model, **parse_assignments(args.overrides, "main_job.py: --set")})
    vocab = timed_vocab_size(main)
    models = with_baseline(main)
    timed = fastest_row_threads(list(models.values()))
    rows = [train_for(config, seconds, args.minutes, vocab, label) for (config, seconds), label in zip(timed, models)]

    print(f"\n{torch.get_num_threads()} threads, torch {torch.__version__}, tokenizer {main.tokenizer_name}, "
          f"budget {args.minutes:g} min per model\n")
    print("| model | parameters | row threads | step (s) | steps | tokens | training (min) | wall (min) | tokens/s | "
          "validation bits per byte |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        threads = r["row_threads"] or "auto"
        print(f"| {r['model']} | {r['parameters'] / 1e6:.2f}M | {threads} | {r['step_s']:.3f} | {r['steps']} | "
              f"{r['tokens']:,} | {r['train_min']:.2f} | {r['wall_min']:.1f} | {r['tokens_per_s']:.0f} | {r['valid_bits_per_byte']:.3f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
