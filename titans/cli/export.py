"""``titans export``: a trained checkpoint as a shareable save_pretrained folder, optionally in bfloat16."""

from __future__ import annotations

import argparse

import torch

from .loading import load_trained

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def add_parser(verbs) -> None:
    p = verbs.add_parser("export", help="write a checkpoint's model as config.json + model.safetensors")
    p.add_argument("checkpoint", help="run folder, checkpoint folder, or save_pretrained folder")
    p.add_argument("out", help="folder to write (TitansLM.from_pretrained reads it)")
    p.add_argument("--dtype", choices=list(_DTYPES), default="float32",
                   help="precision of the stored weights (default: float32; bfloat16 halves the file)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    model, tokenizer = load_trained(args.checkpoint)
    model.save_pretrained(args.out, dtype=_DTYPES[args.dtype])
    if tokenizer.vocab_size != 256:  # bytes are implied by a 256 vocabulary; any other tokenizer travels along
        tokenizer.save(f"{args.out}/tokenizer")
    print(f"wrote {args.out} ({model.num_parameters():,} parameters, {args.dtype})")
