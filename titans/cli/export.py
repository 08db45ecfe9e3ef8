"""``titans export``: a trained checkpoint as a shareable save_pretrained folder, optionally in bfloat16;
``--format hf`` writes a Hugging Face transformers folder instead (``AutoModelForCausalLM`` loads it after
``import titans.hf``, or with ``trust_remote_code=True`` without it; ``TitansLM.from_pretrained`` too)."""

from __future__ import annotations

import argparse

import torch

from ..data.tokenizers import SentencePieceTokenizer
from .loading import load_trained

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def add_parser(verbs) -> None:
    p = verbs.add_parser("export", help="write a checkpoint's model as config.json + model.safetensors")
    p.add_argument("checkpoint", help="run folder, checkpoint folder, or save_pretrained folder")
    p.add_argument("out", help="folder to write (TitansLM.from_pretrained reads it; with --format hf, "
                               "transformers' AutoModelForCausalLM after import titans.hf)")
    p.add_argument("--dtype", choices=list(_DTYPES), default="float32",
                   help="precision of the stored weights (default: float32; bfloat16 halves the file)")
    p.add_argument("--format", choices=["titans", "hf"], default="titans",
                   help="titans (default): TitansLM.save_pretrained; hf: a Hugging Face transformers folder "
                        "(config.json with model_type titans, model.safetensors, and an AutoTokenizer for byte "
                        "and SentencePiece models; needs the hf extra)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    model, tokenizer = load_trained(args.checkpoint)
    if getattr(args, "format", "titans") == "hf":
        _export_hf(model, tokenizer, args)
        return
    model.save_pretrained(args.out, dtype=_DTYPES[args.dtype])
    if tokenizer.vocab_size != 256:  # bytes are implied by a 256 vocabulary; any other tokenizer travels along
        tokenizer.save(f"{args.out}/tokenizer")
    print(f"wrote {args.out} ({model.num_parameters():,} parameters, {args.dtype})")


def _export_hf(model, tokenizer, args: argparse.Namespace) -> None:
    try:
        from ..hf import TitansByteTokenizer, TitansSentencePieceTokenizer, from_titans
    except ImportError as error:
        raise SystemExit(f"titans export --format hf: {error}") from None
    hf = from_titans(model).to(_DTYPES[args.dtype])
    hf.save_pretrained(args.out)
    if tokenizer.name == "bytes":
        TitansByteTokenizer().save_pretrained(args.out)
    else:
        if isinstance(tokenizer, SentencePieceTokenizer):
            TitansSentencePieceTokenizer.from_titans(tokenizer).save_pretrained(args.out)
        # the titans tokenizer travels along too: titans' own loaders read tokenizer/ (and nucleotides have no
        # transformers tokenizer)
        tokenizer.save(f"{args.out}/tokenizer")
    print(f"wrote {args.out} (Hugging Face format, {model.num_parameters():,} parameters, {args.dtype})")
