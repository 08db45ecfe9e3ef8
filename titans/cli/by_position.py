"""``titans eval ppl RUN --by-position``: bits per byte by position over long documents, state carried.

Each chosen document is read once with the state carried from its start and once with the state reset
every ``--limit`` tokens; per bin the difference is the value of the longer context on the same bytes
(see :mod:`titans.eval.by_position`). Writes ``by_position.json``, ``by_position.md`` and
``by_position.png`` to ``--out``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import torch

from ..data.tokenizers import token_byte_lengths
from ..eval.by_position import PositionBin, bits_by_position
from ..eval.position_table import BinNames, bin_records, bin_table
from .progress import progress_bar

NAMES = BinNames(key="bits_per_byte", counts=lambda b: {"tokens": b.tokens, "bytes": b.bytes}, gain=True,
                 position="position (tokens)", measure="bits per byte", carried="bits per byte, state carried",
                 limited="same bytes, state reset every {limit:,}", count="bytes", count_of=lambda b: b.bytes)


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


def read_twice(read: Callable[..., list[PositionBin]], *, length: int, block: int, limit: int, desc: str,
               progress: bool) -> tuple[list[PositionBin], list[PositionBin] | None]:
    """The bins of ``read(limit=None, progress=...)`` (state carried) and, when ``0 < limit < length``, of
    ``read(limit=limit, ...)`` (a limit at or past the length resets nothing: that reading would repeat
    the first; else None), under one progress bar of the blocks both read."""
    twice = 0 < limit < length
    blocks = math.ceil((length - 1) / block)  # what bits_by_position reads per reading
    with progress_bar(blocks * (2 if twice else 1), desc, progress, unit="block") as bar:
        carried = read(limit=None, progress=bar.update)
        limited = read(limit=limit, progress=bar.update) if twice else None
    return carried, limited


def run_by_position(args, model, tokenizer, documents) -> None:
    rows, names = long_rows(documents, tokenizer, args.length, args.documents)
    token_bytes = token_byte_lengths(tokenizer)
    carried, limited = read_twice(
        lambda **read: bits_by_position(model, rows, token_bytes=token_bytes, block=args.context,
                                        first_bin=args.first_bin, **read),
        length=args.length, block=args.context, limit=args.limit, desc="eval ppl --by-position",
        progress=args.progress)
    out = Path(args.out or Path(args.checkpoint) / "by_position")
    out.mkdir(parents=True, exist_ok=True)
    bins = bin_records(NAMES, carried, limited)
    result = {"checkpoint": args.checkpoint, "variant": model.config.variant, "data": args.data,
              "split": args.split, "documents": names, "length": args.length,
              "limit": args.limit if limited else None, "bins": bins}
    (out / "by_position.json").write_text(json.dumps(result, indent=1) + "\n")
    title = (f"{model.config.variant}: bits per byte by position, {len(names)} document(s) of {args.data} "
             f"({args.split}), {args.length:,} tokens each")
    lines = [f"# {title}", "", "Documents: " + ", ".join(names), "", *bin_table(NAMES, carried, limited, args.limit)]
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
