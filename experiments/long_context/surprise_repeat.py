"""Is a passage less surprising to the memory the second time it is read? (issue 28 §3)

Builds a held-out page from Jane Austen (the long-context models were trained on Shakespeare):
``lead-in | passage | other text | the same passage again``, reads it with ``titans.eval.surprise`` (the
state carried, as ``titans inspect`` does) and reports, per memory layer, the mean surprise
``||M(k_t) - v_t||^2`` before each write and the mean weight change over the passage's first and second
copies. The gap between the copies is longer than every attention window of these models, so only the
memory can carry the first copy to the second. A control page has fresh text (the novel's next bytes)
where the second copy was: its surprise there is what the position and the memory's adaptation to the
novel's style alone give. (These models were trained to answer recall questions, their loss on the
answers only, so their next-byte loss on prose says nothing and is not reported.)

    python experiments/long_context/surprise_repeat.py [--variants lmm mal mag mac]

Writes ``results/surprise/repeat.json`` / ``repeat.md`` / ``page.txt`` and, per model, ``titans inspect``'s
files (the plot with both copies shaded) to ``runs/surprise_repeat/<variant>/`` (not committed: about
1.5 MB each).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from titans.cli.loading import load_trained
from titans.data.corpus import load_documents
from titans.eval.surprise import record_surprise
from titans.eval.surprise_html import surprise_html
from titans.eval.surprise_plot import plot_gates

HERE = Path(__file__).parent


def pages(novel: str, start: int, lead: int, passage: int, gap: int) -> tuple[str, str, list[tuple[int, int]]]:
    """The page, the control page and the byte spans of the passage's two copies (Austen's text is ASCII)."""
    text = next(d.text for d in load_documents("austen") if d.name == novel).encode("ascii")
    parts, at = [], start
    for n in (lead, passage, gap, passage):
        parts.append(text[at:at + n])
        at += n
    first, middle, other, fresh = parts
    spans = [(lead, lead + passage), (lead + passage + gap, lead + 2 * passage + gap)]
    return (first + middle + other + middle).decode(), (first + middle + other + fresh).decode(), spans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", nargs="+", default=["lmm", "mal", "mag", "mac"])
    parser.add_argument("--novel", default="persuasion")
    parser.add_argument("--start", type=int, default=100_000, help="byte offset of the page in the novel")
    parser.add_argument("--lead", type=int, default=512)
    parser.add_argument("--passage", type=int, default=1024)
    parser.add_argument("--gap", type=int, default=1024)
    args = parser.parse_args()
    text, control, spans = pages(args.novel, args.start, args.lead, args.passage, args.gap)
    out = HERE / "results" / "surprise"
    out.mkdir(parents=True, exist_ok=True)
    (out / "page.txt").write_text(text, encoding="utf-8")
    results = {"page": f"{args.novel}, bytes {args.start:,}+: lead-in {args.lead}, passage {args.passage}, "
                       f"other text {args.gap}, passage again (control: the next {args.passage} bytes instead)",
               "spans": spans, "models": {}}
    for variant in args.variants:
        model, tokenizer = load_trained(str(HERE / "checkpoints" / variant))
        ids = tokenizer.encode(text)
        surprise = record_surprise(model, ids, tokenizer, piece=1024)
        folder = HERE.parents[1] / "runs" / "surprise_repeat" / variant
        folder.mkdir(parents=True, exist_ok=True)
        surprise.save(folder / "surprise.npz", checkpoint=f"checkpoints/{variant}", spans=spans)
        title = f"{variant} memory reading Austen with a passage repeated (copies shaded)"
        (folder / "surprise.html").write_text(surprise_html(surprise, title), encoding="utf-8")
        plot_gates(surprise, folder / "gates.png", title,
                   spans=[(a, b, label) for (a, b), label in zip(spans, ("first copy", "second copy"))])
        fresh = record_surprise(model, tokenizer.encode(control), tokenizer, piece=1024)
        (a, b), (c, d) = spans
        layers = {}
        for i, name in enumerate(surprise.layers):
            mean = lambda values, lo, hi: float(values[i, :, lo:hi].mean())  # noqa: E731
            layers[name] = {field: [mean(surprise.values[field], a, b), mean(surprise.values[field], c, d),
                                    mean(fresh.values[field], c, d)]
                            for field in ("inner_loss", "weight_change")}
        results["models"][variant] = {"layers": layers}
        print(variant, json.dumps(results["models"][variant]))
    (out / "repeat.json").write_text(json.dumps(results, indent=1) + "\n")
    lines = [f"Page: {results['page']}.", "",
             "Mean over heads and the passage's tokens; control = fresh text at the second copy's place.", "",
             "| model | memory layer | surprise, 1st copy | 2nd copy | control | 2nd / 1st | 2nd / control "
             "| weight change, 1st | 2nd | control |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for variant, result in results["models"].items():
        for name, layer in result["layers"].items():
            (s1, s2, s0), (w1, w2, w0) = layer["inner_loss"], layer["weight_change"]
            lines.append(f"| {variant} | {name} | {s1:.4f} | {s2:.4f} | {s0:.4f} | {s2 / s1:.2f} | {s2 / s0:.2f} "
                         f"| {w1:.3g} | {w2:.3g} | {w0:.3g} |")
    (out / "repeat.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
