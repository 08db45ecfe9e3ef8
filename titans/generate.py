"""Text generation with a carried state: the prompt is read once, then one token per step.

Decoding memory is bounded by the model (the attention window, MAC's segment, the memory's weights),
not by the context: the state is all that is kept between steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .models import TitansLM


@dataclass(frozen=True)
class Sampling:
    """How the next token is chosen."""

    temperature: float = 1.0
    """Softmax temperature; 0 means greedy (argmax)."""
    top_k: int | None = None
    """Keep only the k most likely tokens (None: all)."""
    top_p: float | None = None
    """Keep the smallest set of tokens whose probability reaches p (nucleus sampling; None: all)."""

    def __post_init__(self):
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {self.top_k}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must lie in (0, 1], got {self.top_p}")


def next_tokens(logits: torch.Tensor, sampling: Sampling, generator: torch.Generator | None) -> torch.Tensor:
    """logits ``[B, V]`` -> token ids ``[B]``."""
    if sampling.temperature == 0:
        return logits.argmax(-1)
    logits = logits.float() / sampling.temperature
    if sampling.top_k is not None and sampling.top_k < logits.shape[-1]:
        kth = logits.topk(sampling.top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if sampling.top_p is not None and sampling.top_p < 1:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(-1)
        # drop a token when the tokens ranked above it already reach p (the first one always stays)
        drop = probs.cumsum(-1) - probs >= sampling.top_p
        logits = logits.scatter(-1, order, sorted_logits.masked_fill(drop, float("-inf")))
    return torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(-1)


@torch.no_grad()
def generate(
    model: TitansLM,
    prompts: list[list[int]],
    max_new_tokens: int,
    sampling: Sampling = Sampling(),
    *,
    stop: list[int] | None = None,
    until: Callable[[list[int]], bool] | None = None,
    seed: int | None = None,
    on_token: Callable[[int, int], None] | None = None,
) -> list[list[int]]:
    """Continue each prompt by up to ``max_new_tokens`` tokens; returns the new tokens per prompt.

    Prompts of different lengths are left-padded and the padding is masked: it never reaches attention
    or the memory. With attention only, a padded row generates exactly what it would alone. The
    memory's chunks (and MAC's segments) are aligned to positions that count the padding, so there a
    padded row can differ slightly from the same prompt alone; it never depends on the other rows.
    A row stops early once its output ends with ``stop`` (which is then removed), or once ``until(its
    output)`` is true (the output is kept whole: a stop string in text is the caller's to trim).
    ``on_token(row, token)`` is called as each token is chosen (streaming output).
    """
    if not prompts or any(len(p) == 0 for p in prompts):
        raise ValueError("every prompt needs at least one token")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    device = next(model.parameters()).device
    generator = None if seed is None else torch.Generator(device=device).manual_seed(seed)
    B, longest = len(prompts), max(len(p) for p in prompts)
    tokens = torch.zeros(B, longest, dtype=torch.long, device=device)
    mask = torch.zeros(B, longest, dtype=torch.bool, device=device)
    for i, prompt in enumerate(prompts):
        tokens[i, longest - len(prompt):] = torch.tensor(prompt, device=device)
        mask[i, longest - len(prompt):] = True
    logits, state = model(tokens, mask=None if bool(mask.all()) else mask)

    outputs: list[list[int]] = [[] for _ in range(B)]
    running = torch.ones(B, dtype=torch.bool, device=device)
    for step in range(max_new_tokens):
        chosen = next_tokens(logits[:, -1], sampling, generator)
        for i in running.nonzero().flatten().tolist():
            outputs[i].append(int(chosen[i]))
            if on_token is not None:
                on_token(i, int(chosen[i]))
            if stop and outputs[i][-len(stop):] == stop:
                del outputs[i][-len(stop):]
                running[i] = False
            elif until is not None and until(outputs[i]):
                running[i] = False
        if step == max_new_tokens - 1 or not running.any():
            break
        # finished rows feed a masked token: their state no longer changes
        logits, state = model(chosen[:, None], state, mask=None if bool(running.all()) else running[:, None])
    return outputs
