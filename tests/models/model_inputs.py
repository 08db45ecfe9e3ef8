"""The tiny float64 models and token rows that the model tests share."""

import torch

from titans import TitansConfig, TitansLM

TOKENS = 27  # crosses several MAC segments (8) and memory chunks (4) at odd offsets


def make_model(variant, seed=0, **overrides):
    torch.manual_seed(seed)
    model = TitansLM(TitansConfig.from_name("tiny", variant=variant, **overrides)).double()
    with torch.no_grad():  # data-dependent gates, so that the gate paths are exercised
        for name, p in model.named_parameters():
            if name.endswith("to_gates.weight"):
                p.normal_(0.0, 0.1)
    return model


def tokens_for(seed=1, batch=2, length=TOKENS):
    return torch.randint(0, 256, (batch, length), generator=torch.Generator().manual_seed(seed))


def assert_causal(model, tokens, positions):
    """Changing token t changes no logit before t, and changes the logit at t."""
    with torch.no_grad():
        base, _ = model(tokens)
        for t in positions:
            changed = tokens.clone()
            changed[:, t] = (changed[:, t] + 1) % 256
            out, _ = model(changed)
            assert (out[:, :t] - base[:, :t]).abs().max() < 1e-12, f"token {t} changed an earlier logit"
            assert (out[:, t] - base[:, t]).abs().max() > 1e-6
