"""``titans generate``: continue a prompt with a trained model, printing the text as it is decoded."""

from __future__ import annotations

import argparse
import sys

from ..generate import TEXT_SAMPLING, Sampling, generate
from .loading import load_trained


def add_parser(verbs) -> None:
    p = verbs.add_parser("generate", help="continue a prompt with a trained model (streams the text)")
    p.add_argument("checkpoint", help="run folder, checkpoint folder, or save_pretrained folder")
    p.add_argument("--prompt", default="", help="text to continue (default: empty, read --prompt-file)")
    p.add_argument("--prompt-file", default=None, help="read the prompt from this file (default: none)")
    p.add_argument("--max-new-tokens", type=int, default=200, help="tokens to generate (default: 200)")
    p.add_argument("--temperature", type=float, default=TEXT_SAMPLING.temperature,
                   help=f"softmax temperature, 0 = greedy (default: {TEXT_SAMPLING.temperature:g})")
    p.add_argument("--top-k", type=int, default=None, help="sample among the k likeliest tokens (default: all)")
    p.add_argument("--top-p", type=float, default=TEXT_SAMPLING.top_p,
                   help=f"nucleus sampling threshold, 1 = all tokens (default: {TEXT_SAMPLING.top_p:g})")
    p.add_argument("--stop", default=None, help="stop once this text is generated (default: none)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default: 0)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    p.set_defaults(run=run)


class _TextStream:
    """Prints decoded text as tokens arrive, holding back an unfinished multi-byte character."""

    def __init__(self, tokenizer, out=sys.stdout):
        self.tokenizer, self.out, self.tokens, self.printed = tokenizer, out, [], ""

    def __call__(self, row: int, token: int) -> None:
        self.tokens.append(token)
        text = self.tokenizer.decode(self.tokens)
        if not text.endswith("\ufffd") and len(text) > len(self.printed):
            self.out.write(text[len(self.printed):])
            self.out.flush()
            self.printed = text


def run(args: argparse.Namespace) -> None:
    prompt = open(args.prompt_file, encoding="utf-8").read() if args.prompt_file else args.prompt
    model, tokenizer = load_trained(args.checkpoint, args.device)
    ids = tokenizer.encode(prompt)
    if not ids:
        raise SystemExit("titans generate: the prompt is empty; give --prompt TEXT or --prompt-file FILE")
    stop = tokenizer.encode(args.stop) if args.stop else None
    sys.stdout.write(prompt)
    generate(model, [ids], args.max_new_tokens, Sampling(args.temperature, args.top_k, args.top_p), stop=stop,
             seed=args.seed, on_token=_TextStream(tokenizer))
    sys.stdout.write("\n")
