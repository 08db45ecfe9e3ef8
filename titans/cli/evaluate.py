"""``titans eval ppl``: loss, perplexity and bits per byte of a trained model on a corpus (and the other
``titans eval`` tasks' parsers: niah, babilong, harness)."""

from __future__ import annotations

import argparse
import json

from ..data import load_documents, split_documents
from ..data.batching import PackedLanes
from ..data.tokenizers import encode_compact, token_byte_lengths
from ..eval.perplexity import score_language_model
from . import harness, recall
from .loading import load_trained, run_train_config
from .progress import add_progress_option, progress_bar, say


def add_parser(verbs) -> None:
    p = verbs.add_parser("eval", help="evaluate a trained model")
    tasks = p.add_subparsers(dest="task", required=True)
    ppl = tasks.add_parser("ppl", help="loss, perplexity and bits per byte on a corpus, streamed with the state")
    ppl.add_argument("checkpoint", help="run folder, checkpoint folder, or save_pretrained folder")
    ppl.add_argument("--data", default=None,
                     help="corpus recipe or path (default: the run's own corpus, read from its train_config; "
                          "else wikipedia)")
    ppl.add_argument("--split", default="valid", choices=("valid", "all"),
                     help="score the validation split (as titans train holds it out) or every document "
                          "(default: valid)")
    ppl.add_argument("--valid-fraction", type=float, default=None,
                     help="validation share (default: the run's, else 0.05)")
    ppl.add_argument("--context", type=int, default=None, help="tokens per call (default: the run's, else 512)")
    ppl.add_argument("--rows", type=int, default=None, help="lanes read side by side (default: the run's, else 8)")
    ppl.add_argument("--max-tokens", type=int, default=None,
                     help="score at most this many tokens (default: the run's eval_tokens, so that the figure is "
                          "its validation's; else all)")
    ppl.add_argument("--all-tokens", action="store_true", help="score every token of the split (default: off)")
    ppl.add_argument("--carry", dest="carry_state", action="store_true", default=None,
                     help="carry the state through each lane, reset at document starts (default: as the run "
                          "validated, i.e. its carry_state; else carried)")
    ppl.add_argument("--no-carry", dest="carry_state", action="store_false",
                     help="start every batch afresh, as training without carried state does")
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
    add_progress_option(ppl)
    ppl.set_defaults(run=run_ppl)
    recall.add_parsers(tasks)
    harness.add_parser(tasks)


_FALLBACK = {"data": "wikipedia", "valid_fraction": 0.05, "context": 512, "rows": 8, "max_tokens": None,
             "carry_state": True}


def ppl_settings(args: argparse.Namespace) -> tuple[dict, str]:
    """The reading eval ppl does: each option given on the command line, else the run's own validation
    settings (train_config of the checkpoint, so that the figure reproduces the run's validation on the
    same tokens), else the fallbacks above. Also says where the defaults came from."""
    run = run_train_config(args.checkpoint)
    if run is not None:
        defaults = {"data": run.data, "valid_fraction": run.valid_fraction, "context": run.context,
                    "rows": run.rows, "max_tokens": run.eval_tokens, "carry_state": run.carry_state}
        origin = "the run's validation settings"
    else:
        defaults, origin = dict(_FALLBACK), "the defaults (no train_config with the checkpoint)"
    settings = {k: (getattr(args, k) if getattr(args, k) is not None else v) for k, v in defaults.items()}
    if args.all_tokens:
        settings["max_tokens"] = None
    if run is not None and args.data is None and run.data.startswith("tasks:"):
        raise ValueError(f"{args.checkpoint} was trained on the task mixture {run.data!r}, which eval ppl does not "
                         f"read; give --data (a corpus) or use titans eval niah / babilong")
    for name in ("context", "rows"):
        if settings[name] < 1:
            raise ValueError(f"--{name} must be a positive integer, got {settings[name]}")
    if settings["max_tokens"] is not None and settings["max_tokens"] < 1:
        raise ValueError(f"--max-tokens must be a positive integer, got {settings['max_tokens']}")
    if not 0 < settings["valid_fraction"] <= 0.5:
        raise ValueError(f"--valid-fraction must lie in (0, 0.5], got {settings['valid_fraction']}")
    return settings, origin


def run_ppl(args: argparse.Namespace) -> None:
    model, tokenizer = load_trained(args.checkpoint, args.device)
    settings, origin = ppl_settings(args)
    data, context = settings["data"], settings["context"]
    documents = load_documents(data)
    if args.split == "valid":
        documents = split_documents(documents, settings["valid_fraction"])[1]
    if args.by_position:
        from .by_position import run_by_position

        args.data, args.valid_fraction = data, settings["valid_fraction"]
        args.context = args.context if args.context is not None else 512  # its reading block, as before
        return run_by_position(args, model, tokenizer, documents)
    tokens = [encode_compact(tokenizer, d.text) for d in documents]
    # as the trainer builds its validation lanes (Trainer._packed_lanes, validate)
    rows = max(1, min(settings["rows"], sum(map(len, tokens)) // (context + 1)))
    lanes = PackedLanes(tokens, rows, context, shuffle=False)
    max_tokens = settings["max_tokens"]
    batches = None if max_tokens is None else max(1, max_tokens // (rows * context))
    total = lanes.batches_per_epoch if batches is None else min(batches, lanes.batches_per_epoch)
    carry = settings["carry_state"]
    reading = (f"{data} ({args.split}, valid_fraction {settings['valid_fraction']:g}): the first {total:,} batches "
               f"of {rows} rows x {context} tokens, the lanes packed in document order, state "
               f"{'carried through each lane' if carry else 'fresh every batch'} ({origin})")
    say(f"scoring {reading}")
    with progress_bar(total, "eval ppl", args.progress, unit="batch") as bar:
        score = score_language_model(model, lanes, token_byte_lengths(tokenizer), max_batches=batches,
                                     device=args.device, carry_state=carry, progress=bar.update)
    result = {"checkpoint": args.checkpoint, "data": data, "split": args.split,
              "valid_fraction": settings["valid_fraction"], "context": context, "rows": rows, "batches": total,
              "carry_state": carry, "settings_from": origin, **score.to_dict()}
    print(f"{data} ({args.split}): loss {score.loss:.4f} nats/token, perplexity {score.perplexity:.3f}, "
          f"{score.bits_per_byte:.4f} bits per byte over {score.tokens:,} tokens ({total:,} batches of {rows} x "
          f"{context}, state {'carried' if carry else 'fresh per batch'}; {origin})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
