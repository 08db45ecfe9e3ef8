"""How much of a run's sampled text is digits, per sampling setting (why TEXT_SAMPLING is what it is).

    python experiments/wikipedia/sample_digits.py runs/main

Four 200-token continuations (seeds 0-3) of one prompt per setting; the share of characters that are
digits, beside the share in the Wikipedia articles the main job trains on.
"""

from __future__ import annotations

import argparse

import torch

from titans.cli.loading import load_trained
from titans.data import load_documents
from titans.generate import TEXT_SAMPLING, Sampling, generate

PROMPT = ("Animal Farm is an allegorical and dystopian novella by George Orwell, first published in England "
          "on 17 August 1945.")
SETTINGS = {"T 0.8, top-k 50": Sampling(0.8, 50), "T 0.8": Sampling(0.8), "T 0.8, top-p 0.9": Sampling(0.8, None, 0.9),
            "T 1, top-p 0.95 (TEXT_SAMPLING)": TEXT_SAMPLING, "T 1": Sampling(1.0)}


def digit_share(text: str) -> float:
    return sum(c.isdigit() for c in text) / max(1, len(text))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a titans train run folder (or checkpoint)")
    parser.add_argument("--tokens", type=int, default=200, help="tokens per continuation (default: 200)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, tokenizer = load_trained(args.run)[:2]
    prompt = tokenizer.encode(PROMPT)
    articles = "".join(d.text for d in load_documents("wikipedia"))
    print(f"the Wikipedia articles: {digit_share(articles):.1%} digits")
    for name, sampling in SETTINGS.items():
        text = "".join(tokenizer.decode(generate(model, [prompt], args.tokens, sampling, seed=seed)[0])
                       for seed in range(4))
        print(f"{name}: {digit_share(text):.1%} digits  | {text[:120]!r}")


if __name__ == "__main__":
    main()
