"""``titans inspect RUN --text FILE --out DIR``: the surprise map of a document (``titans.eval.surprise``).

Writes ``surprise.npz`` (per memory layer, head and token: surprise, weight change, theta, eta, alpha;
the token ids and texts), ``surprise.json`` (what was read, per-layer means), ``surprise.html`` (the text
shaded by surprise, a layer / head selector, self-contained) and ``gates.png``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..data.textfiles import read_text
from ..eval.surprise import record_surprise
from ..eval.surprise_html import surprise_html
from ..eval.surprise_plot import plot_gates
from .loading import load_trained


def add_parser(verbs) -> None:
    p = verbs.add_parser("inspect", help="what the memory found surprising in a document: per-token surprise and "
                                         "gates of every memory layer, as NPZ, an HTML page and a plot")
    p.add_argument("checkpoint", help="run folder, checkpoint folder, or save_pretrained folder")
    p.add_argument("--text", required=True, help="the document to read (a UTF-8 text file)")
    p.add_argument("--out", default=None, help="folder to write (default: CHECKPOINT/inspect)")
    p.add_argument("--piece", type=int, default=1024,
                   help="tokens read per call, the state carried (bounds memory; default: 1024)")
    p.add_argument("--max-tokens", type=int, default=16384,
                   help="read at most this many tokens of the document, 0 = all (default: 16384; the page "
                        "holds every token)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    if args.max_tokens < 0:
        raise ValueError(f"--max-tokens {args.max_tokens}: give a positive number of tokens, or 0 for all")
    model, tokenizer = load_trained(args.checkpoint, args.device)
    ids = tokenizer.encode(read_text(Path(args.text)))
    if args.max_tokens and len(ids) > args.max_tokens:
        print(f"reading the first {args.max_tokens:,} of {len(ids):,} tokens (--max-tokens 0 reads all)")
        ids = ids[:args.max_tokens]
    surprise = record_surprise(model, ids, tokenizer, piece=args.piece)
    out = Path(args.out or Path(args.checkpoint) / "inspect")
    out.mkdir(parents=True, exist_ok=True)
    meta = {"checkpoint": args.checkpoint, "text": args.text, "variant": model.config.variant,
            "tokens": len(ids), "piece": args.piece, "layers": surprise.layers}
    surprise.save(out / "surprise.npz", **meta)
    means = {name: {field: float(values[i].mean()) for field, values in surprise.values.items()}
             for i, name in enumerate(surprise.layers)}
    (out / "surprise.json").write_text(json.dumps({**meta, "mean_over_heads_and_tokens": means}, indent=1) + "\n")
    title = f"{model.config.variant} memory reading {Path(args.text).name} ({len(ids):,} tokens)"
    (out / "surprise.html").write_text(surprise_html(surprise, title), encoding="utf-8")
    plot_gates(surprise, out / "gates.png", title)
    for name, mean in means.items():
        print(f"{name}: mean surprise {mean['inner_loss']:.4g}, weight change {mean['weight_change']:.4g}, "
              f"theta {mean['theta']:.3g}, eta {mean['eta']:.3g}, alpha {mean['alpha']:.3g}")
    print(f"written: {out}/surprise.npz, surprise.json, surprise.html, gates.png")
