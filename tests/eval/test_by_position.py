"""Bits per byte by position: the binning against a hand computation, and the CLI end to end."""

import json
import math

import pytest
import torch
import torch.nn.functional as F

from titans import TitansConfig, TitansLM
from titans.cli.by_position import long_rows
from titans.data import Document, get_tokenizer
from titans.eval.by_position import bits_by_position, position_bins


def tiny(variant):
    return TitansConfig.from_name("tiny", variant=variant, vocab_size=16)


def test_bins_double_up_to_the_length():
    assert position_bins(5000, 1024) == [(0, 1024), (1024, 2048), (2048, 4096), (4096, 5000)]
    assert position_bins(40, 8) == [(0, 8), (8, 16), (16, 32), (32, 40)]


@pytest.mark.parametrize("variant", ["mac", "lmm", "swa"])
def test_bits_per_byte_by_position_equal_a_hand_computation(variant):
    torch.manual_seed(0)
    model = TitansLM(tiny(variant)).double().eval()
    rows = torch.randint(0, 16, (2, 40))
    token_bytes = torch.arange(16) % 3 + 1  # tokens of 1, 2 or 3 bytes
    bins = bits_by_position(model, rows, token_bytes=token_bytes, block=7, first_bin=8)  # read in pieces
    with torch.no_grad():
        logits, _ = model(rows)  # one call
    nats = F.cross_entropy(logits[:, :-1].transpose(1, 2), rows[:, 1:], reduction="none")  # [2, 39]
    units = token_bytes[rows[:, 1:]].double()
    assert [(b.start, b.end) for b in bins] == [(0, 8), (8, 16), (16, 32), (32, 40)]
    for b in bins:
        # the target at index p + 1 of a row had p + 1 tokens before it
        cols = [p for p in range(39) if b.start <= p + 1 < b.end]
        expected = float(nats[:, cols].sum()) / float(units[:, cols].sum()) / math.log(2)
        assert b.bits == pytest.approx(expected, rel=1e-9)
        assert b.tokens == 2 * len(cols) and b.bytes == int(units[:, cols].sum())


def test_the_limited_reading_resets_the_state_on_the_same_tokens():
    torch.manual_seed(0)
    model = TitansLM(tiny("mag")).double().eval()
    rows = torch.randint(0, 16, (2, 40))
    limited = bits_by_position(model, rows, block=9, first_bin=8, limit=8)
    reset = torch.zeros_like(rows, dtype=torch.bool)
    reset[:, 8::8] = True
    with torch.no_grad():
        logits, _ = model(rows, reset=reset)
    nats = F.cross_entropy(logits[:, :-1].transpose(1, 2), rows[:, 1:], reduction="none")
    late = [p for p in range(39) if 32 <= p + 1 < 40]
    assert limited[-1].bits == pytest.approx(float(nats[:, late].sum()) / (2 * len(late)) / math.log(2), rel=1e-9)


def test_long_rows_take_the_longest_documents_and_explain_when_none_fits():
    tokenizer = get_tokenizer("bytes")
    docs = [Document("short", "ab"), Document("long", "x" * 30), Document("longer", "y" * 50)]
    rows, names = long_rows(docs, tokenizer, 20, 5)
    assert names == ["longer", "long"] and rows.shape == (2, 20)
    with pytest.raises(ValueError, match="no document has 100 tokens .*longest has 50"):
        long_rows(docs, tokenizer, 100, 5)


def test_eval_ppl_by_position_writes_json_markdown_and_a_plot(tmp_path, capsys):
    from titans.cli import main

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(3):
        (corpus / f"doc{i}.txt").write_text(("the memory learns while it reads. " * 40)[: 600 + 100 * i])
    run = tmp_path / "run"
    main(["train", "--data", str(corpus), "--out", str(run), "--preset", "tiny", "--variant", "lmm", "--context", "32",
          "--batch-tokens", "64", "--steps", "2", "--eval-every", "2", "--eval-tokens", "64", "--save-every", "2",
          "--sample-tokens", "0", "--no-progress", "--device", "cpu", "--valid-fraction", "0.5"])
    capsys.readouterr()
    main(["eval", "ppl", str(run), "--data", str(corpus), "--split", "all", "--by-position", "--length", "512",
          "--documents", "2", "--limit", "64", "--first-bin", "64", "--context", "100", "--out", str(tmp_path / "pos")])
    result = json.loads((tmp_path / "pos" / "by_position.json").read_text())
    assert [(b["start"], b["end"]) for b in result["bins"]] == [(0, 64), (64, 128), (128, 256), (256, 512)]
    assert result["bins"][0]["gain"] == pytest.approx(0.0, abs=1e-6)  # no reset inside the first 64 tokens
    assert len(result["documents"]) == 2 and (tmp_path / "pos" / "by_position.png").stat().st_size > 0
    assert "gain of the longer context" in (tmp_path / "pos" / "by_position.md").read_text()
