"""``titans eval ppl``: loss, perplexity and bits per byte of a trained model on a corpus."""

from __future__ import annotations

import argparse
import json

from ..data import load_documents, split_documents
from ..data.batching import PackedLanes
from ..data.tokenizers import token_byte_lengths
from ..eval.perplexity import score_language_model
from . import recall
from .loading import load_trained


def add_parser(verbs) -> None:
    p = verbs.add_parser("eval", help="evaluate a trained model")
    tasks = p.add_subparsers(dest="task", required=True)
    ppl = tasks.add_parser("ppl", help="loss, perplexity and bits per byte on a corpus, streamed with the state")
    ppl.add_argument("checkpoint", help="run folder, checkpoint folder, or save_pretrained folder")
    ppl.add_argument("--data", default="wikipedia", help="corpus recipe or path (default: wikipedia)")
    ppl.add_argument("--split", default="valid", choices=("valid", "all"),
                     help="score the validation split (as titans train holds it out) or every document "
                          "(default: valid)")
    ppl.add_argument("--valid-fraction", type=float, default=0.05, help="validation share (default: 0.05)")
    ppl.add_argument("--context", type=int, default=512, help="tokens per call (default: 512)")
    ppl.add_argument("--rows", type=int, default=8, help="lanes read side by side (default: 8)")
    ppl.add_argument("--max-tokens", type=int, default=None, help="score at most this many tokens (default: all)")
    ppl.add_argument("--no-carry", dest="carry_state", action="store_false",
                     help="start every batch afresh, as training without carried state does (default: the "
                          "state is carried through each lane, reset at document starts)")
    ppl.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    ppl.add_argument("--json", default=None, help="also write the result to this JSON file (default: none)")
    ppl.add_argument("--by-position", action="store_true",
                     help="bits per byte binned by position (0-1K, 1K-2K, 2K-4K, ...) over the longest documents, "
                          "read with the state carried and again with it reset every --limit tokens (default: off)")
    ppl.add_argument("--length", type=int, default=65536,
                     help="with --by-position: tokens read per document (default: 65536)")
    ppl.add_argument("--documents", type=int, default=4,
                     help="with --by-position: the longest documents with at least --length tokens (default: 4)")
    ppl.add_argument("--limit", type=int, default=1024,
                     help="with --by-position: the second reading resets the state every LIMIT tokens, so the "
                          "difference is the value of longer context on the same bytes (0: skip; default: 1024)")
    ppl.add_argument("--first-bin", type=int, default=1024, help="with --by-position: first bin's end (default: 1024)")
    ppl.add_argument("--out", default=None, help="with --by-position: results folder (default: RUN/by_position)")
    ppl.set_defaults(run=run_ppl)
    recall.add_parsers(tasks)


def run_ppl(args: argparse.Namespace) -> None:
    model, tokenizer = load_trained(args.checkpoint, args.device)
    documents = load_documents(args.data)
    if args.split == "valid":
        documents = split_documents(documents, args.valid_fraction)[1]
    if args.by_position:
        from .by_position import run_by_position

        return run_by_position(args, model, tokenizer, documents)
    tokens = [tokenizer.encode(d.text) for d in documents]
    rows = max(1, min(args.rows, sum(map(len, tokens)) // (args.context + 1)))
    lanes = PackedLanes(tokens, rows, args.context, shuffle=False)
    batches = None if args.max_tokens is None else max(1, args.max_tokens // (rows * args.context))
    score = score_language_model(model, lanes, token_byte_lengths(tokenizer), max_batches=batches,
                                 device=args.device, carry_state=args.carry_state)
    result = {"checkpoint": args.checkpoint, "data": args.data, "split": args.split, **score.to_dict()}
    print(f"{args.data} ({args.split}): loss {score.loss:.4f} nats/token, perplexity {score.perplexity:.3f}, "
          f"{score.bits_per_byte:.4f} bits per byte over {score.tokens:,} tokens")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
