"""Why MAC writing its attention output could not retrieve (issue 25; README "Why MAC did not retrieve").

For a freshly initialised MAC in the recall models' shape, reading rows of the copy task, this measures
what the first block's memory would build its keys from: the block's normalised input or the attention
output y (Eq. 24 read literally). For each it prints the mean cosine between the memory's keys (its own
projection, conv, SiLU and l2 norm) of different tokens, per head — near-parallel keys mean every write
lands on the same direction, and a read cannot tell the needle's context from the haystack's — and how
well a linear read-out recovers the current token from it (ridge regression, half the tokens to fit,
half to score). The same after removing y's mean over tokens shows where the overlap comes from.

    python experiments/long_context/mac_keys.py
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import torch
import torch.nn.functional as F
from induction_probe import batch

from titans.models.lm import TitansLM
from titans.train.config import TrainConfig

CONFIG = Path(__file__).resolve().parent / "recall.toml"


def memory_keys(memory, x: torch.Tensor) -> torch.Tensor:
    """The memory's keys of ``x`` ``[B, T, dim]`` as its write path makes them: ``[H, B * T, D]``."""
    B, T, _ = x.shape
    inner = memory.heads * memory.dim_head
    k, _ = memory.convs[1](F.linear(x, memory.to_qkv.weight[inner : 2 * inner]), None, None)
    k = F.normalize(F.silu(k).view(B, T, memory.heads, memory.dim_head), dim=-1)
    return k.reshape(B * T, memory.heads, memory.dim_head).transpose(0, 1)


def mean_cosine(keys: torch.Tensor) -> list[float]:
    """Mean cosine between the keys of different tokens, per head."""
    n = keys.shape[1]
    cos = keys @ keys.mT
    return ((cos.sum((-1, -2)) - cos.diagonal(dim1=-2, dim2=-1).sum(-1)) / (n * (n - 1))).tolist()


def token_readout(features: torch.Tensor, tokens: torch.Tensor) -> float:
    """Held-out accuracy of a ridge read-out of the current token from ``features``."""
    f = torch.cat([features.reshape(-1, features.shape[-1]), torch.ones(tokens.numel(), 1)], 1)
    t, half = tokens.reshape(-1), tokens.numel() // 2
    A, Y = f[:half], F.one_hot(t[:half], 256).float()
    W = torch.linalg.solve(A.T @ A + 1e-3 * torch.eye(A.shape[1]), A.T @ Y)
    return ((f[half:] @ W).argmax(-1) == t[half:]).float().mean().item()


def main() -> None:
    torch.manual_seed(0)
    config = TrainConfig.from_file(CONFIG).replace(variant="mac").model_config(256)
    model = TitansLM(dataclasses.replace(config, segment=32, window=32))
    block = model.blocks[0]
    seen = {"input": [], "attention output y": []}

    def keep(_, inputs, out):  # returns None: the block's output is left as it is
        seen["input"].append(inputs[0])
        seen["attention output y"].append(out[0])

    block.attention.register_forward_hook(keep)
    tokens, _ = batch(random.Random(0), 64, 128)
    with torch.no_grad():
        model(tokens[:, :-1])
        features = {name: torch.cat(parts, 1) for name, parts in seen.items()}
        y = features["attention output y"]
        features["y minus its mean over tokens"] = y - y.mean((0, 1))
        for name, x in features.items():
            cosines = ", ".join(f"{c:.2f}" for c in mean_cosine(memory_keys(block.memory, x[:8])))
            print(f"{name}: mean key cosine per head {cosines}; current token read out "
                  f"{token_readout(x, tokens[:, :-1]):.1%}; rms {x.square().mean().sqrt():.3f}")


if __name__ == "__main__":
    main()
