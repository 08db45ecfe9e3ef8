"""The log-probability of every token of a sequence given the tokens before it, read in windows with the
model state carried from window to window.

A sequence of any length is read ``window`` tokens per call: the memory (and the attention caches) carry
everything before the window, so a long document is scored with all of its own past, in bounded memory —
the reading ``titans eval ppl`` does with ``carry_state``. Sequences are batched as right-padded rows:
the padding comes after a row's tokens and is masked, so no row's scores depend on the others.
Each sequence starts from a fresh state; its first token has nothing before it and is not scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class TokenScores:
    """For tokens 1 .. n-1 of a sequence of n: ``logprobs`` ``[n-1]`` (natural log, float32) and ``greedy``
    ``[n-1]`` (True where the token is the model's argmax there)."""

    logprobs: torch.Tensor
    greedy: torch.Tensor

    def last(self, n: int) -> tuple[float, bool]:
        """Total log-probability of the last ``n`` tokens, and whether greedy decoding yields all of them."""
        if n == 0:
            return 0.0, True
        return float(self.logprobs[-n:].double().sum()), bool(self.greedy[-n:].all())


@torch.no_grad()
def score_tokens(model, sequences: list[list[int]], *, window: int = 512, batch: int = 8,
                 progress=None) -> list[TokenScores]:
    """:class:`TokenScores` of each sequence (in the given order), read ``window`` tokens per call with the
    state carried, ``batch`` sequences side by side (the longest together, to pad little).
    progress: called with the number of sequences after each batch (a progress bar's ``update``), or None."""
    if window < 1 or batch < 1:
        raise ValueError(f"window and batch must be positive, got window={window}, batch={batch}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    order = sorted(range(len(sequences)), key=lambda i: -len(sequences[i]))
    scores: list[TokenScores | None] = [None] * len(sequences)
    for start in range(0, len(order), batch):
        group = order[start:start + batch]
        logprobs, greedy = _score_rows(model, [sequences[i] for i in group], window, device)
        for row, i in enumerate(group):
            n = max(len(sequences[i]) - 1, 0)
            scores[i] = TokenScores(logprobs[row, :n].cpu(), greedy[row, :n].cpu())
        if progress is not None:
            progress(len(group))
    model.train(was_training)
    return scores


def _score_rows(model, rows: list[list[int]], window: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """``[B, longest - 1]`` log-probabilities and greedy flags of right-padded rows (padding: garbage)."""
    steps = max(len(r) for r in rows) - 1
    if steps < 1:
        return torch.zeros(len(rows), 0), torch.zeros(len(rows), 0, dtype=torch.bool)
    tokens = torch.zeros(len(rows), steps + 1, dtype=torch.long)
    mask = torch.zeros(len(rows), steps, dtype=torch.bool)
    for i, row in enumerate(rows):
        tokens[i, :len(row)] = torch.as_tensor(row, dtype=torch.long)
        mask[i, :len(row) - 1] = True
    tokens, mask = tokens.to(device), mask.to(device)
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    logprobs, greedy, state = [], [], None
    for a in range(0, steps, window):
        piece = slice(a, a + window)
        seen = mask[:, piece]
        logits, state = model(inputs[:, piece], state, mask=None if bool(seen.all()) else seen)
        log_p = logits.float().log_softmax(-1)
        logprobs.append(log_p.gather(-1, targets[:, piece, None]).squeeze(-1))
        greedy.append(log_p.argmax(-1) == targets[:, piece])
    return torch.cat(logprobs, 1), torch.cat(greedy, 1)
