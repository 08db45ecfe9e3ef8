"""``memory_forget_to = "init"``: every memory variant forgetting towards its learned initial weights is
causal, streams exactly (in pieces, token by token, across document starts) and keeps W0 where Eq. 13
as written would decay it to zero."""

import pytest
import torch
from model_inputs import assert_causal, make_model, tokens_for
from test_document_resets import resets_at, run_pieces
from test_models import run_split

from titans import TitansConfig
from titans.layers import NeuralMemory

MEMORY_VARIANTS = ("mac", "mag", "mal", "lmm")


@pytest.mark.parametrize("variant", MEMORY_VARIANTS)
def test_causal_and_streams_exactly(variant):
    model = make_model(variant, memory_forget_to="init")
    tokens = tokens_for()
    with torch.no_grad():
        full, _ = model(tokens)
        split, _ = run_split(model, tokens, [3, 4, 17, 26])
        stepwise, _ = run_split(model, tokens[:, :19], list(range(1, 19)))
        reset = resets_at((6,), (13,), length=tokens.shape[1])
        with_resets, _ = model(tokens, reset=reset)
        pieces = run_pieces(model, tokens, [5, 9, 14, 20], reset=reset)
        decoded = run_pieces(model, tokens[:, :19], list(range(1, 19)), reset=reset[:, :19])
        plain, _ = make_model(variant)(tokens)
    assert_causal(model, tokens, (5, 8, 16, 21))
    torch.testing.assert_close(split, full, atol=1e-10, rtol=0)
    torch.testing.assert_close(stepwise, full[:, :19], atol=1e-10, rtol=0)
    torch.testing.assert_close(pieces, with_resets, atol=1e-10, rtol=0)
    torch.testing.assert_close(decoded, with_resets[:, :19], atol=1e-10, rtol=0)
    assert (plain - full).abs().max() > 1e-6  # the same weights read differently: the option is in effect


def test_a_memory_without_writes_holds_its_initial_weights():
    """Gates pinned at alpha ~ 1 and theta ~ 0: towards zero the weights vanish, towards W0 they stay W0."""
    torch.manual_seed(0)
    x = torch.randn(2, 48, 32, dtype=torch.float64)
    for forget_to in ("zero", "init"):
        memory = NeuralMemory(32, heads=2, chunk_size=8, alpha_init=0.999, theta_init=1e-9, theta_max=1e-8,
                              forget_to=forget_to).double()
        _, state = memory(x)
        for w, w0 in zip(state.weights, memory.initial_weights):
            expected = w0.expand_as(w) if forget_to == "init" else torch.zeros_like(w)
            torch.testing.assert_close(w, expected, atol=1e-6, rtol=0)


def test_the_setting_is_checked_and_changes_the_fingerprint_only_when_set():
    base = TitansConfig.from_name("tiny", variant="lmm")
    assert TitansConfig.from_name("tiny", variant="lmm", memory_forget_to="zero").fingerprint() == base.fingerprint()
    assert TitansConfig.from_name("tiny", variant="lmm", memory_forget_to="init").fingerprint() != base.fingerprint()
    with pytest.raises(ValueError, match="memory_forget_to = 'w0'.*use one of zero, init"):
        TitansConfig.from_name("tiny", variant="lmm", memory_forget_to="w0")
    with pytest.raises(ValueError, match="forget_to must be one of"):
        NeuralMemory(32, forget_to="initial")
