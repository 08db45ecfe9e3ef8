"""Packed documents (``reset``), every variant: no leak from an earlier document, equality with the
document alone, streaming, per-row behaviour, input errors (SPEC §2-§3)."""

import pytest
import torch
from model_inputs import make_model, tokens_for

from titans.config import VARIANTS

LENGTH = 29  # tiny: memory chunks of 4, MAC segments and windows of 8
# where the second document starts: inside a chunk and a segment (3, 13), on a memory chunk boundary
# of MAG / MAL, whose memory reads the 2 persistent tokens first (6), on a chunk boundary inside a
# segment (12), on a segment boundary (8, 16)
STARTS = (3, 6, 8, 12, 13, 16)
ALIGNED = (8, 16)  # multiples of lcm(segment, memory chunk): the grids of a document read alone


def resets_at(*rows, length=LENGTH):
    """``[len(rows), length]`` bool with True at the positions listed for each row."""
    reset = torch.zeros(len(rows), length, dtype=torch.bool)
    for b, starts in enumerate(rows):
        reset[b, list(starts)] = True
    return reset


def embedded_input_grad(model, tokens, reset, start):
    """Gradient of a loss on the logits from ``start`` on with respect to the embedded tokens."""
    embedded = {}
    hook = model.embed.register_forward_hook(lambda module, args, out: embedded.setdefault("x", out))
    try:
        logits, _ = model(tokens, reset=reset)
    finally:
        hook.remove()
    (grad,) = torch.autograd.grad((logits[:, start:] ** 2).sum(), embedded["x"])
    return grad


def run_pieces(model, tokens, cuts, mask=None, reset=None):
    logits, state = [], None
    bounds = [0, *cuts, tokens.shape[1]]
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        out, state = model(tokens[:, lo:hi], state, mask=None if mask is None else mask[:, lo:hi],
                           reset=None if reset is None else reset[:, lo:hi])
        logits.append(out)
    return torch.cat(logits, 1)


@pytest.mark.parametrize("variant", VARIANTS)
def test_an_earlier_document_never_reaches_a_later_one(variant):
    model = make_model(variant)
    for start in STARTS:
        tokens, reset = tokens_for(batch=1, length=LENGTH), resets_at([start])
        other = tokens.clone()
        other[:, :start] = tokens_for(seed=7, batch=1, length=start)
        with torch.no_grad():
            base, _ = model(tokens, reset=reset)
            changed, _ = model(other, reset=reset)
        assert (changed[:, start:] - base[:, start:]).abs().max() < 1e-12, f"document A leaked at start {start}"
        assert (changed[:, :start] - base[:, :start]).abs().max() > 1e-6  # A itself did change
        grad = embedded_input_grad(model, tokens, reset, start)
        assert grad[:, :start].abs().max() == 0, f"gradient leak at start {start}"
        assert grad[:, start:].abs().max() > 0


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_packed_document_equals_the_document_alone(variant):
    """Where the packed document meets the same chunk and segment grid as alone (RoPE is relative).

    MAG and MAL run without persistent tokens here: with them a fresh call primes the memory with
    those tokens, while a document start resets it to W0 (SPEC §2), so a packed document's first
    memory chunk differs from the same document read alone (no leak: see the test above).
    """
    model = make_model(variant, **({"persistent": 0} if variant in ("mag", "mal") else {}))
    attention_only = variant in ("transformer", "swa")
    tokens = tokens_for(batch=1, length=LENGTH)
    for start in STARTS if attention_only else ALIGNED:
        with torch.no_grad():
            packed, _ = model(tokens, reset=resets_at([start]))
            first, _ = model(tokens[:, :start])
            second, _ = model(tokens[:, start:])
        torch.testing.assert_close(packed[:, :start], first, atol=1e-10, rtol=0)
        torch.testing.assert_close(packed[:, start:], second, atol=1e-10, rtol=0, msg=f"start {start}")


# splits before, at and after the resets (row 0: 6 and 13, row 1: 8 and 19), inside chunks and segments
SPLITS = {"before": [5], "at": [6, 8], "after": [7, 9, 14], "inside": [3, 10, 13, 18, 21],
          "token_by_token": list(range(1, LENGTH))}


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("split", SPLITS, ids=list(SPLITS))
def test_streaming_with_resets_equals_one_call(variant, split):
    model = make_model(variant)
    tokens, reset = tokens_for(length=LENGTH), resets_at([6, 13], [8, 19])
    mask = torch.ones_like(reset)
    mask[1, :3] = False  # left padding in row 1: masks and resets compose
    with torch.no_grad():
        whole, _ = model(tokens, mask=mask, reset=reset)
        pieces = run_pieces(model, tokens, SPLITS[split], mask=mask, reset=reset)
    torch.testing.assert_close(pieces, whole, atol=1e-10, rtol=0)


@pytest.mark.parametrize("variant", VARIANTS)
def test_rows_of_a_batch_keep_their_own_documents(variant):
    """Each row of a batch (documents starting at 8, at 13 and 3, none but left padding) equals that
    row read alone; an all-False reset is no reset."""
    model = make_model(variant)
    tokens = tokens_for(batch=3, length=LENGTH)
    reset = resets_at([8], [3, 13], [])
    mask = torch.ones_like(reset)
    mask[2, :5] = False
    with torch.no_grad():
        batched, _ = model(tokens, mask=mask, reset=reset)
        for b in range(3):
            row, _ = model(tokens[b : b + 1], mask=mask[b : b + 1], reset=reset[b : b + 1])
            torch.testing.assert_close(batched[b : b + 1], row, atol=1e-12, rtol=0, msg=f"row {b}")
        unreset, _ = model(tokens[2:], mask=mask[2:])
    torch.testing.assert_close(batched[2:], unreset, atol=1e-12, rtol=0)


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_reset_at_the_first_token_of_a_fresh_call_changes_nothing(variant):
    """A fresh state already starts a document; the trainer flags every document start, row starts too."""
    model = make_model(variant)
    tokens = tokens_for(batch=2, length=LENGTH)
    plain, _ = model(tokens)
    flagged, _ = model(tokens, reset=resets_at((0,), (0, 13)))
    assert torch.equal(plain[0], flagged[0])
    assert torch.equal(plain[1, :13], flagged[1, :13])


def test_reset_errors():
    model = make_model("mac")
    tokens = tokens_for(length=5)
    for reset, message in (
        (torch.zeros(2, 4, dtype=torch.bool), r"reset: expected a bool tensor of shape \(2, 5\)"),
        (torch.zeros(5, dtype=torch.bool), r"reset: expected .* got torch.bool \(5,\)"),
        (torch.zeros(2, 5, dtype=torch.int64), r"reset: expected a bool tensor .* got torch.int64"),
        (torch.zeros(2, 5), "reset: expected a bool tensor"),
    ):
        with pytest.raises(ValueError, match=message):
            model(tokens, reset=reset)
