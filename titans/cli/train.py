"""``titans train``: a preset or config file, plus overrides; progress, validation, checkpoints, a sample."""

from __future__ import annotations

import argparse

from ..train.config import TrainConfig
from .fields import add_field_options, given_fields, parse_value


def add_parser(verbs) -> None:
    p = verbs.add_parser(
        "train", help="train a model (defaults: the small MAC on the Wikipedia sample, ~12 min on 2 CPU cores)",
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
                   help="continue the run in --out from its latest checkpoint (default: start a new run)")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bar (default: shown)")
    add_field_options(p, TrainConfig, skip=("model",))


def build_config(args: argparse.Namespace, base: TrainConfig | None = None) -> TrainConfig:
    """``base`` (the defaults), then the --config file over it, then the flags."""
    base = base or TrainConfig()
    config = TrainConfig.from_file(args.config, base) if args.config else base
    changes = given_fields(args, TrainConfig)
    model = dict(config.model)
    for item in args.overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"titans train: --set expects FIELD=VALUE, got {item!r}")
        model[key.strip()] = parse_value(value)
    return config.replace(**changes, model=model)


def run(args: argparse.Namespace, base: TrainConfig | None = None) -> None:
    from ..train import Trainer

    config = build_config(args, base)
    trainer = Trainer(config, progress=args.progress)
    summary = trainer.run(resume=args.resume)
    if not trainer.topology.is_main:
        return
    print(f"trained {config.variant} ({trainer.module.num_parameters() / 1e6:.2f}M parameters) for "
          f"{summary.steps} steps, {summary.tokens:,} tokens, in {summary.seconds / 60:.1f} min")
    if summary.validation:
        v = summary.validation
        print(f"validation: loss {v.loss:.4f} nats/token, {v.bits_per_byte:.4f} bits per byte "
              f"({v.tokens:,} tokens)")
    print(f"run folder: {summary.run_dir} (metrics.jsonl, loss.png, checkpoints/)")
    if summary.sample:
        print("sample:\n" + summary.sample)
