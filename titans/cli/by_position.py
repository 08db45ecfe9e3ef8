"""``titans eval ppl RUN --by-position``: bits per byte by position over long documents, state carried.

Each chosen document is read once with the state carried from its start and once with the state reset
every ``--limit`` tokens; per bin the difference is the value of the longer context on the same bytes
(see :mod:`titans.eval.by_position`). Writes ``by_position.json``, ``by_position.md`` and
``by_position.png`` to ``--out``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..data.tokenizers import token_byte_lengths
from ..eval.by_position import bits_by_position


def long_rows(documents, tokenizer, length: int, count: int) -> tuple[torch.Tensor, list[str]]:
    """The first ``length`` tokens of the ``count`` longest documents that have at least that many."""
    encoded = sorted(((len(ids), d.name, ids) for d in documents for ids in [tokenizer.encode(d.text)]),
                     key=lambda item: -item[0])
    chosen = [(name, ids) for n, name, ids in encoded if n >= length][:count]
    if not chosen:
        longest = encoded[0][0] if encoded else 0
        raise ValueError(f"no document has {length:,} tokens (the longest has {longest:,}); pass a shorter "
                         f"--length, --split all, or --data with long documents (e.g. austen: six novels)")
    return torch.tensor([ids[:length] for _, ids in chosen]), [name for name, _ in chosen]


def run_by_position(args, model, tokenizer, documents) -> None:
    rows, names = long_rows(documents, tokenizer, args.length, args.documents)
    token_bytes = token_byte_lengths(tokenizer)
    read = dict(token_bytes=token_bytes, block=args.context, first_bin=args.first_bin)
    carried = bits_by_position(model, rows, **read)
    limited = bits_by_position(model, rows, **read, limit=args.limit) if 0 < args.limit < args.length else None
    out = Path(args.out or Path(args.checkpoint) / "by_position")
    out.mkdir(parents=True, exist_ok=True)
    bins = []
    for i, b in enumerate(carried):
        row = {"start": b.start, "end": b.end, "bits_per_byte": b.bits, "tokens": b.tokens, "bytes": b.bytes}
        if limited:
            row["bits_per_byte_limited"] = limited[i].bits
            row["gain"] = limited[i].bits - b.bits
        bins.append(row)
    result = {"checkpoint": args.checkpoint, "variant": model.config.variant, "data": args.data,
              "split": args.split, "documents": names, "length": args.length,
              "limit": args.limit if limited else None, "bins": bins}
    (out / "by_position.json").write_text(json.dumps(result, indent=1) + "\n")
    title = (f"{model.config.variant}: bits per byte by position, {len(names)} document(s) of {args.data} "
             f"({args.split}), {args.length:,} tokens each")
    lines = [f"# {title}", "", "Documents: " + ", ".join(names), ""]
    if limited:
        lines += [f"| position (tokens) | bits per byte, state carried | same bytes, state reset every "
                  f"{args.limit:,} | gain of the longer context | bytes |", "|---|---|---|---|---|"]
        lines += [f"| {b.label()} | {b.bits:.4f} | {c.bits:.4f} | {c.bits - b.bits:+.4f} | {b.bytes:,} |"
                  for b, c in zip(carried, limited)]
    else:
        lines += ["| position (tokens) | bits per byte | bytes |", "|---|---|---|"]
        lines += [f"| {b.label()} | {b.bits:.4f} | {b.bytes:,} |" for b in carried]
    (out / "by_position.md").write_text("\n".join(lines) + "\n")
    plot_by_position({model.config.variant: result}, out / "by_position.png", title)
    print("\n".join(lines))
    print(f"written: {out}/by_position.json, .md, .png")


def plot_by_position(results: dict[str, dict], path: Path, title: str) -> None:
    """One line per model (state carried), dashed where the state was reset every ``limit`` tokens."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for label, result in results.items():
        mids = [(b["start"] + b["end"]) / 2 for b in result["bins"]]
        line, = ax.plot(mids, [b["bits_per_byte"] for b in result["bins"]], marker="o", label=f"{label}, carried")
        if result.get("limit"):
            ax.plot(mids, [b["bits_per_byte_limited"] for b in result["bins"]], linestyle="--", marker=".",
                    color=line.get_color(), label=f"{label}, reset every {result['limit']:,}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("position in the document (tokens of context)")
    ax.set_ylabel("bits per byte")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
