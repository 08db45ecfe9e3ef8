"""``titans train``: a preset or config file, plus overrides; progress, validation, checkpoints, a sample."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from ..data.textfiles import binary_allowed
from ..train.config import TrainConfig
from .fields import add_field_options, given_fields, parse_assignments


def add_parser(verbs) -> None:
    p = verbs.add_parser(
        "train",
        help="train a model (defaults: the main-preset MAC on the Wikipedia articles, under 10 min on 2 CPU cores)",
        description="Train a Titans model or a baseline. Settings come from the defaults, then --config, then "
                    "the flags. Launch with torchrun for several processes (see the README).")
    add_train_options(p)
    p.set_defaults(run=run)


def add_train_options(p: argparse.ArgumentParser) -> None:
    """Every flag of ``titans train`` (``titans dna pretrain`` takes the same ones)."""
    p.add_argument("--config", default=None, help="TOML or YAML file of training settings (default: none)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a model field of the preset, e.g. --set dim=128 (repeatable; default: none)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its latest checkpoint, with the settings saved there "
                        "(flags given with it override them) (default: start a new run)")
    p.add_argument("--allow-binary", action="store_true",
                   help="train on a --data file that does not look like text (an executable, an archive; bytes "
                        "that are not UTF-8 become U+FFFD) instead of refusing it (default: refused)")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bar (default: shown)")
    add_field_options(p, TrainConfig, skip=("model",))


def build_config(args: argparse.Namespace, base: TrainConfig | None = None) -> TrainConfig:
    """``base`` (the defaults), then the --config file over it, then the flags. With --resume the run's
    saved settings take the place of ``base``, so that ``titans train --resume --out DIR`` is enough."""
    config = _layered(args, base or TrainConfig())
    if getattr(args, "resume", False):
        saved = saved_run_config(Path(config.out))
        if saved is not None:
            config = _layered(args, saved)
    return config


def saved_run_config(run_dir: Path) -> TrainConfig | None:
    """The settings a run folder was trained with (its ``train_config.json``), or None without one."""
    path = run_dir / "train_config.json"
    if not path.is_file():
        return None
    try:
        return TrainConfig.from_saved(json.loads(path.read_text()))
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError, ValueError) as error:
        raise ValueError(f"{path} cannot be read ({error}); restore it, or give the run's settings again as "
                         f"flags after deleting it") from None


def _layered(args: argparse.Namespace, base: TrainConfig) -> TrainConfig:
    config = TrainConfig.from_file(args.config, base) if args.config else base
    changes = given_fields(args, TrainConfig)
    model = {**config.model, **parse_assignments(args.overrides, "titans train: --set")}
    return config.replace(**changes, model=model)


def run(args: argparse.Namespace, base: TrainConfig | None = None) -> None:
    from ..train import Trainer
    from ..train.trainer import finished_run

    config = build_config(args, base)
    finished = finished_run(config) if args.resume else None  # before the data and the model are loaded
    if finished is not None:
        _print_finished(finished, config)
        return
    with binary_allowed(args.allow_binary):
        trainer = Trainer(config, progress=args.progress)
    summary = trainer.run(resume=args.resume)
    if not trainer.topology.is_main:
        return
    if summary.already_finished:
        _print_finished(summary, config)
        return
    of_all = "" if config.minutes else f" of {config.steps}"  # a budget's steps are known when it is spent
    resumed = (f" (resumed at step {summary.resumed_from}, now {summary.resumed_from + summary.steps}{of_all})"
               if summary.resumed_from else "")
    print(f"trained {config.variant} ({trainer.module.num_parameters() / 1e6:.2f}M parameters) for "
          f"{summary.steps} steps{resumed}, {summary.tokens:,} tokens, in {summary.seconds / 60:.1f} min")
    _print_validation(summary.validation, "validation")
    print(f"run folder: {summary.run_dir} (metrics.jsonl, checkpoints/); loss curves: {summary.run_dir / 'loss.png'}")
    if summary.sample:
        where = f" (saved in {summary.sample_path})" if summary.sample_path else ""
        print(f"sample:{where}\n" + summary.sample)


def _print_finished(summary, config: TrainConfig) -> None:
    if os.environ.get("RANK", "0") != "0":  # under torchrun, only the first process reports
        return
    done = (f"{summary.resumed_from} steps, its {config.minutes:g}-minute budget spent" if config.minutes else
            f"{summary.resumed_from} of {config.steps} steps")
    print(f"{summary.run_dir} is already finished ({done}); nothing was trained or generated")
    _print_validation(summary.validation, "final validation")
    print(f"run folder: {summary.run_dir} (metrics.jsonl, checkpoints/); loss curves: {summary.run_dir / 'loss.png'}")


def _print_validation(score, label: str) -> None:
    if score:
        print(f"{label}: loss {score.loss:.4f} nats/token, {score.bits_per_byte:.4f} bits per byte "
              f"({score.tokens:,} tokens)")
