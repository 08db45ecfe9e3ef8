"""MAC's attention path can copy from h (issue 25 §1): with an oracle memory whose reading h_j holds the
token that follows token j, a SegmentAttention trained for a few steps predicts the next token through
h alone. The tokens are random, so nothing but h_j can carry it; the oracle sits at distance 0 (h_i for
query i), the one place the causal rule "token i sees h_j only for j <= i" allows it to be read."""

import torch
import torch.nn.functional as F

from titans.layers.segment_attention import SegmentAttention

VOCAB, DIM, HEADS, WINDOW, LENGTH = 16, 32, 2, 8, 16


def train_copy(h_offset: int, steps: int = 100, seed: int = 0) -> float:
    """Next-token accuracy on fresh rows after ``steps`` of training, where h_j holds token
    ``j + 1 + h_offset`` (the oracle's answer for query j when h_offset = 0)."""
    torch.manual_seed(seed)
    embed = torch.nn.Embedding(VOCAB, DIM)
    attention = SegmentAttention(DIM, HEADS, None, WINDOW, rope_base=10_000.0)
    optimizer = torch.optim.Adam([*embed.parameters(), *attention.parameters()], lr=1e-2)

    def accuracy_and_loss(tokens):
        x, target = tokens[:, :LENGTH], tokens[:, 1 : LENGTH + 1]
        oracle = tokens[:, 1 + h_offset : LENGTH + 1 + h_offset]
        out, _ = attention(embed(x), embed(oracle), attention.empty_cache(tokens.shape[0]), 0)
        logits = out @ embed.weight.T
        return (logits.argmax(-1) == target).float().mean().item(), F.cross_entropy(logits.flatten(0, 1), target.flatten())

    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        _, loss = accuracy_and_loss(torch.randint(0, VOCAB, (16, LENGTH + 2), generator=generator))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return accuracy_and_loss(torch.randint(0, VOCAB, (64, LENGTH + 2), generator=generator))[0]


def test_attention_copies_the_answer_from_an_oracle_h():
    assert train_copy(h_offset=0) > 0.9


def test_without_the_answer_in_h_it_is_chance():
    # h_j holding token j itself (what S_j holds already) tells query j nothing about token j + 1: chance
    # (1/16), so the first test's accuracy comes from the answer in h, read through attention
    assert train_copy(h_offset=-1) < 0.25
