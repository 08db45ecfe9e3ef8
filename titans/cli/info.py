"""``titans info PRESET``: parameter count and FLOPs per token."""

from __future__ import annotations

import argparse

import torch

from ..config import PRESETS, VARIANTS, TitansConfig
from ..flops import flops_per_token


def add_parser(verbs) -> None:
    p = verbs.add_parser("info", help="parameter count and FLOPs per token of a preset")
    p.add_argument("preset", choices=list(PRESETS), help="named configuration")
    p.add_argument("--variant", default="mag", choices=VARIANTS, help="model variant (default: mag)")
    p.add_argument("--context", type=int, default=4096, help="context length for the FLOP count (default: 4096)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    config = TitansConfig.from_name(args.preset, variant=args.variant)
    from ..models import TitansLM

    with torch.device("meta"):  # count without allocating
        n = TitansLM(config).num_parameters()
    print(f"preset {args.preset}, variant {config.variant}")
    print(f"parameters: {n:,} ({n / 1e6:.1f}M)")
    print(f"forward FLOPs per token at {args.context:,} tokens of context: "
          f"{flops_per_token(config, args.context) / 1e6:.1f}M (training step about 3x)")
    for key, value in config.to_dict().items():
        print(f"  {key}: {value}")
