"""Text generation with a carried state: the prompt is read once, then one token per step.

Decoding memory is bounded by the model (the attention window, MAC's segment, the memory's weights),
not by the context: the state is all that is kept between steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .config import TitansConfig
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



# what a run's closing sample and `titans generate` draw with: the model's own distribution, its 5 % tail
# cut. Below temperature 1 the tokens that are each likely win, and with a BPE whose digits are split one a
# token those are the ten digits: the main job's sample at 0.8 / top-50 was 29 % digits against 3.9 % here,
# the training articles 1.3 % (experiments/wikipedia/sample_digits.py)
TEXT_SAMPLING = Sampling(temperature=1.0, top_p=0.95)

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


def padding_alignment(config: TitansConfig) -> int | None:
    """The left padding that leaves a row's outputs as they are without it: padding by a multiple of
    this many tokens is invisible (1: any padding is); None: no padding is.

    Masked tokens never reach attention or the memory and leave every state as it stood: the memory's
    weights and momentum (its gates become no-ops), its conv tails (a masked token enters them as zeros,
    which is what a fresh state holds), MAC's segment weights and caches, the attention caches. But they
    advance the position counter, and two grids hang on absolute positions: the memory's chunks (the
    tokens of a chunk take their gradients at the weights that entered it; b = ``config.memory_chunk``)
    and MAC's segments (``config.segment``, a multiple of b; MAC's RoPE positions are segment-local).
    Padding by a multiple of the grid leaves every real token at the same place in its chunk and segment,
    with the same real tokens before it there. Attention alone has no grid: RoPE sees only the distance
    between tokens (exactly in exact arithmetic; rotated by other angles, the scores round differently).

    None for MAG and MAL with persistent tokens: their memory reads those before the sequence (Eq. 26,
    ``[p || x]``), so the padding sits between them and the row's first token, which it moves out of their
    memory chunk and (masked tokens entering the conv as zeros) out of their conv window.
    tests/test_generate_ragged.py checks both: padding by the alignment is invisible, and for MAG and MAL
    padding by the chunk is not.
    """
    if not config.uses_memory:
        return 1
    if config.variant == "mac":
        return math.lcm(config.memory_chunk, config.segment)
    if config.variant in ("mag", "mal") and config.persistent:
        return None
    return config.memory_chunk


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

    Each prompt is continued as it would be alone. Prompts of different lengths are left-padded and the
    padding is masked: it never reaches attention or the memory, but it shifts the row's positions, to
    which the memory's chunks (and MAC's segments) are aligned. So the prompts are grouped by their
    length modulo :func:`padding_alignment` (the memory chunk; MAC's segment; 1 with attention only: one
    batch), or by their exact length where no padding is invisible (MAG and MAL with persistent tokens):
    within a group every padding leaves the rows as they are alone. The groups are generated one after
    another; the outputs come back in the prompts' order. Greedy outputs equal the prompts' alone token
    for token (tests/test_generate_ragged.py, in float64). In float32 that holds up to rounding: a batch
    can round differently from one row, and a padded row with RoPE over absolute positions (transformer,
    swa; mag and mal without persistent tokens) has its queries and keys rotated by other angles (logits
    measured a few 1e-7 apart, 1e-16 in float64), so a greedy choice between two tokens that close can
    differ. Sampled tokens depend on the batch (one generator draws for every row, group after group);
    ``seed`` makes a call reproducible.
    A row stops early once its output ends with ``stop`` (which is then removed), or once ``until(its
    output)`` is true (the output is kept whole: a stop string in text is the caller's to trim).
    ``on_token(row, token)`` is called as each token is chosen (streaming output), ``row`` the prompt's
    index in ``prompts``.
    """
    if not prompts or any(len(p) == 0 for p in prompts):
        raise ValueError("every prompt needs at least one token")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    device = next(model.parameters()).device
    generator = None if seed is None else torch.Generator(device=device).manual_seed(seed)
    alignment = padding_alignment(model.config)
    groups: dict[int, list[int]] = {}  # length (modulo the alignment) -> the prompts' indices, in order
    for i, prompt in enumerate(prompts):
        groups.setdefault(len(prompt) if alignment is None else len(prompt) % alignment, []).append(i)
    outputs: list[list[int]] = [[] for _ in prompts]
    for rows in groups.values():
        report = None if on_token is None else (lambda row, token, rows=rows: on_token(rows[row], token))
        group = _generate_batch(model, [prompts[i] for i in rows], max_new_tokens, sampling, stop, until,
                                generator, report)
        for i, output in zip(rows, group):
            outputs[i] = output
    return outputs


def _generate_batch(model, prompts, max_new_tokens, sampling, stop, until, generator, on_token):
    """:func:`generate` for one batch, left-padded to its longest prompt; ``on_token`` gets the batch's row."""
    device = next(model.parameters()).device
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
