"""Where the memory's inner loop stays finite inside real models: the measurement behind the gate defaults.

    python benchmarks/gate_stability.py [--tokens 2048] [--seeds 2]

For each inner learning rate theta (eta = 0.9, alpha = 0.01, the memory chunk b = 64 of the `small`
preset), every memory block of a freshly initialised `small` LM of each variant gets that constant
theta, and the model reads random byte tokens; a run counts as diverged when a logit is non-finite.
Inside a model the memory's keys are strongly aligned (SiLU'd, normalised projections of correlated
hidden states), which is the hard case: i.i.d. Gaussian input to a lone layer tolerates far more.
"""

from __future__ import annotations

import argparse

import torch

from titans import TitansConfig, TitansLM


def finite(variant: str, theta: float, tokens: int, seed: int) -> bool:
    torch.manual_seed(seed)
    model = TitansLM(TitansConfig.from_name("small", variant=variant))
    for block in model.blocks:
        memory = block.memory
        memory.theta_max = 2 * theta
        memory.check_finite = False
        with torch.no_grad():  # theta = theta_max * sigmoid(0): a constant theta at every token
            memory.to_gates.bias[: memory.heads] = 0.0
    x = torch.randint(0, 256, (1, tokens), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        logits, _ = model(x)
    return bool(torch.isfinite(logits).all())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=2048, help="tokens read per run")
    parser.add_argument("--seeds", type=int, default=2, help="models and inputs per setting")
    parser.add_argument("--thetas", type=float, nargs="+", default=[0.0005, 0.001, 0.002, 0.005],
                        help="inner learning rates to try")
    args = parser.parse_args()
    variants = ("mac", "mag", "mal", "lmm")
    print("| theta | " + " | ".join(variants) + " |\n|---|" + "---|" * len(variants))
    for theta in args.thetas:
        cells = [f"{sum(finite(v, theta, args.tokens, s) for s in range(args.seeds))} / {args.seeds} finite"
                 for v in variants]
        print(f"| {theta:g} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
