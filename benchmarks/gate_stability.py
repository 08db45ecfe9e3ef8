"""Where the inner loop of a default NeuralMemory stays bounded: the measurement behind the gate defaults.

    python benchmarks/gate_stability.py [--seeds 8] [--tokens 4096]

For each constant gate setting (theta, eta, alpha), a NeuralMemory(256, heads=4, chunk_size=64) at
standard init reads random-normal input, one fresh layer and input per seed, and we count the seeds
whose memory weights end non-finite or above 10x their initial norm.
"""

from __future__ import annotations

import argparse
import math

import torch

from titans import NeuralMemory


def diverged(theta: float, eta: float, alpha: float, chunk_size: int, tokens: int, seed: int) -> tuple[bool, float]:
    torch.manual_seed(seed)
    mem = NeuralMemory(256, heads=4, chunk_size=chunk_size, theta_max=max(theta * 2, 1e-3), theta_init=theta,
                       eta_init=eta, alpha_init=alpha)
    x = torch.randn(1, tokens, 256)
    with torch.no_grad():
        _, state = mem(x)
    ratio = max(
        (w.norm(dim=(-2, -1)) / w0.norm(dim=(-2, -1))).max().item()
        for w, w0 in zip(state.weights, mem.initial_weights)
    )
    return not math.isfinite(ratio) or ratio > 10, ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=8, help="layers and inputs per setting")
    parser.add_argument("--tokens", type=int, default=4096, help="tokens read per run")
    args = parser.parse_args()
    settings = [(th, 0.9, 0.01, 64) for th in (0.005, 0.01, 0.0125, 0.015, 0.02, 0.03)]
    settings += [(0.01, 0.99, 0.01, 64), (0.01, 0.9, 0.001, 64), (0.03, 0.9, 0.01, 1), (0.05, 0.9, 0.01, 1)]
    print("| theta | eta | alpha | chunk | diverged / seeds | median max norm ratio |\n|---|---|---|---|---|---|")
    for theta, eta, alpha, b in settings:
        runs = [diverged(theta, eta, alpha, b, args.tokens, seed) for seed in range(args.seeds)]
        bad = sum(d for d, _ in runs)
        ratios = sorted(r for _, r in runs)
        print(f"| {theta} | {eta} | {alpha} | {b} | {bad} / {args.seeds} | {ratios[len(ratios) // 2]:.3g} |",
              flush=True)


if __name__ == "__main__":
    main()
