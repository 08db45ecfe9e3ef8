"""Sequence classifiers (pooling, padding, the CNN baseline), the classification protocol, and bits per base
by context position (streamed in blocks = read at once)."""

import math
import random

import pytest
import torch
import torch.nn.functional as F

from titans.config import TitansConfig
from titans.data import get_tokenizer
from titans.dna.classifier import ConvClassifier, SequenceClassifier, pool
from titans.dna.classify import (
    ClassifyConfig,
    encode,
    stratified_holdout,
    summarise,
    train_classifier,
)
from titans.dna.context import bits_by_context, context_bins, segment_starts
from titans.dna.labelled import LabelledSequences
from titans.models import TitansLM

TOKENIZER = get_tokenizer("nucleotides")


def tiny(variant: str) -> TitansConfig:
    return TitansConfig.from_name("tiny", variant=variant, vocab_size=TOKENIZER.vocab_size)


def test_pool_mean_and_last_ignore_padding():
    features = torch.arange(2 * 4 * 1, dtype=torch.float64).reshape(2, 4, 1)  # [[0,1,2,3],[4,5,6,7]]
    mask = torch.tensor([[True, True, False, False], [True, True, True, True]])
    assert pool(features, mask, "mean").flatten().tolist() == [0.5, 5.5]
    assert pool(features, mask, "last").flatten().tolist() == [1.0, 7.0]
    assert pool(features, None, "last").flatten().tolist() == [3.0, 7.0]


@pytest.mark.parametrize("variant", ["mag", "transformer", "lmm"])
@pytest.mark.parametrize("pooling", ["mean", "last", "flatten"])
def test_a_padded_sequence_is_classified_as_if_it_were_alone(variant, pooling):
    torch.manual_seed(0)
    model = SequenceClassifier.from_config(tiny(variant), 3, pooling=pooling, length=16).double().eval()
    short = torch.tensor([TOKENIZER.encode("ACGTTGCAAC")])
    padded = torch.cat([short, torch.full((1, 6), TOKENIZER.PAD)], dim=1)
    mask = padded != TOKENIZER.PAD
    torch.testing.assert_close(model(padded, mask), model(short), rtol=1e-10, atol=1e-10)


def test_flatten_pooling_knows_positions_and_its_length():
    torch.manual_seed(0)
    model = SequenceClassifier.from_config(tiny("transformer"), 2, pooling="flatten", length=8).double().eval()
    assert model.head.in_features == 8 * model.backbone.config.dim
    with pytest.raises(ValueError, match="at most 8"):
        model(torch.full((1, 9), 2))
    with pytest.raises(ValueError, match="needs the sequence length"):
        SequenceClassifier.from_config(tiny("transformer"), 2, pooling="flatten")


def test_the_cnn_ignores_padding_and_refuses_longer_input():
    torch.manual_seed(0)
    model = ConvClassifier(TOKENIZER.vocab_size, 2, length=16).double().eval()
    short = torch.tensor([TOKENIZER.encode("ACGTTGCAAC")])
    padded = torch.cat([short, torch.full((1, 6), TOKENIZER.PAD)], dim=1)
    torch.testing.assert_close(model(padded, padded != TOKENIZER.PAD), model(short))
    with pytest.raises(ValueError, match="at most 16"):
        model(torch.full((1, 17), 2))


def test_stratified_holdout_is_disjoint_covering_and_per_class():
    labels = torch.tensor([0] * 30 + [1] * 10 + [2] * 60)
    fit, held = stratified_holdout(labels, 0.1, seed=3)
    assert set(fit.tolist()).isdisjoint(held.tolist())
    assert sorted(fit.tolist() + held.tolist()) == list(range(100))
    assert [int((labels[held] == c).sum()) for c in range(3)] == [3, 1, 6]
    assert torch.equal(held, stratified_holdout(labels, 0.1, seed=3)[1])
    assert not torch.equal(held, stratified_holdout(labels, 0.1, seed=4)[1])


def motif_set(n: int, seed: int, name: str) -> LabelledSequences:
    """Class 1 has GGGGGG at positions 10-15, class 0 does not: a junction-like signal at a fixed place."""
    rng = random.Random(seed)
    sequences, labels = [], []
    for i in range(n):
        bases = [rng.choice("ACT") for _ in range(24)]
        if i % 2:
            bases[10:16] = "GGGGGG"
        sequences.append("".join(bases))
        labels.append(i % 2)
    return LabelledSequences(name, sequences, labels, ("absent", "present"), [f"{name}{i}" for i in range(n)])


def test_encode_pads_on_the_right_and_drops_an_all_true_mask():
    part = LabelledSequences("p", ["ACGT", "AC"], [0, 1], ("a", "b"), ["0", "1"])
    tokens, mask, labels = encode(part, TOKENIZER)
    assert tokens.tolist() == [[2, 3, 4, 5], [2, 3, 0, 0]]
    assert mask.tolist() == [[True] * 4, [True, True, False, False]] and labels.tolist() == [0, 1]
    assert encode(LabelledSequences("q", ["AC", "GT"], [0, 1], ("a", "b"), ["0", "1"]), TOKENIZER)[1] is None


@pytest.mark.parametrize("model", ["cnn", "transformer"])
def test_training_learns_a_fixed_position_motif(model):
    train, test = motif_set(240, 0, "train"), motif_set(80, 1, "test")
    config = ClassifyConfig(model=model, epochs=12, patience=12, batch=32, lr=3e-3, seed=0,
                            backbone=dict(tiny("transformer").__dict__, variant=model))
    record = train_classifier(config, train, test, log=lambda _: None)
    assert record["test_accuracy"] >= 0.9, record["curve"]
    assert 1 <= record["best_epoch"] <= record["epochs_run"] <= 12
    best = max(record["curve"], key=lambda c: (c["valid_accuracy"], -c["valid_loss"]))
    assert best["epoch"] == record["best_epoch"]


def test_a_pretrained_backbone_must_speak_nucleotides():
    train, test = motif_set(20, 0, "train"), motif_set(10, 1, "test")
    byte_model = TitansLM(TitansConfig.from_name("tiny", variant="mag"))  # vocabulary 256
    with pytest.raises(ValueError, match="vocabulary of 256"):
        train_classifier(ClassifyConfig(epochs=1), train, test, backbone=byte_model, log=lambda _: None)


def test_summary_is_mean_and_sample_std():
    records = [{"test_accuracy": a, "config": {"seed": s}} for s, a in enumerate([0.9, 0.94, 0.92])]
    summary = summarise(records)
    assert summary["mean"] == pytest.approx(0.92) and summary["std"] == pytest.approx(0.02)


def test_context_bins_double_up_to_the_length():
    assert context_bins(5000, 1024) == [(0, 1024), (1024, 2048), (2048, 4096), (4096, 5000)]
    assert context_bins(512, 1024) == [(0, 512)]
    assert segment_starts(100, 20, 3) == [0, 33, 66]
    with pytest.raises(ValueError, match="do not fit"):
        segment_starts(100, 40, 3)


@pytest.mark.parametrize("variant", ["mag", "transformer", "swa"])
def test_bits_by_context_streamed_equal_one_full_read(variant):
    torch.manual_seed(0)
    model = TitansLM(tiny(variant)).double().eval()
    ids = torch.randint(2, 7, (300,))
    bins = bits_by_context(model, ids, length=96, segments=2, block=20, first_bin=16)
    assert [(b.start, b.end) for b in bins] == [(0, 16), (16, 32), (32, 64), (64, 96)]
    first, second = segment_starts(300, 96, 2)
    rows = torch.stack([ids[first: first + 96], ids[second: second + 96]])
    with torch.no_grad():
        logits, _ = model(rows)
    nats = F.cross_entropy(logits[:, :-1].transpose(1, 2), rows[:, 1:], reduction="none").sum(0)
    context = torch.arange(1, 96)
    for b in bins:
        inside = (context >= b.start) & (context < b.end)
        expected = float(nats[inside].sum()) / (2 * int(inside.sum())) / math.log(2)
        assert b.bits == pytest.approx(expected, rel=1e-9)
        assert b.tokens == 2 * int(inside.sum())


@pytest.mark.parametrize("variant", ["mag", "transformer"])
def test_a_context_limit_resets_the_same_bases_as_one_masked_read(variant):
    torch.manual_seed(0)
    model = TitansLM(tiny(variant)).double().eval()
    ids = torch.randint(2, 7, (200,))
    unlimited = bits_by_context(model, ids, length=96, segments=2, block=20, first_bin=16)
    limited = bits_by_context(model, ids, length=96, segments=2, block=20, first_bin=16, limit=24)
    assert limited[0].bits == pytest.approx(unlimited[0].bits, rel=1e-12)  # before any reset
    first, second = segment_starts(200, 96, 2)
    rows = torch.stack([ids[first: first + 96], ids[second: second + 96]])
    reset = torch.zeros_like(rows, dtype=torch.bool)
    reset[:, 24::24] = True
    with torch.no_grad():
        logits, _ = model(rows, reset=reset)
    nats = F.cross_entropy(logits[:, :-1].transpose(1, 2), rows[:, 1:], reduction="none").sum(0)
    context = torch.arange(1, 96)
    for b in limited:
        inside = (context >= b.start) & (context < b.end)
        assert b.bits == pytest.approx(float(nats[inside].sum()) / b.tokens / math.log(2), rel=1e-9)
    assert limited[-1].bits != pytest.approx(unlimited[-1].bits, rel=1e-6)
