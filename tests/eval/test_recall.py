"""Scoring by exact match, streamed reading, the grid's outputs, and the CLI end to end."""

import json

import pytest
import torch

from titans import TitansConfig, TitansLM
from titans.cli import main
from titans.eval import recall
from titans.eval.grid import cell_samples, length_label, parse_length, run_grid
from titans.eval.needles import PassKey
from titans.eval.recall import CellResult, answer_samples, extract_answer, is_correct, run_cell
from titans.eval.tasks import Sample


@pytest.mark.parametrize("output", [b" 58213.", b"58213.", b" 58213\n", b" 58213. And more", b"58213"])
def test_the_exact_answer_is_accepted(output):
    assert is_correct(output, "58213")


@pytest.mark.parametrize("output", [b" 5821.", b" 582134.", b" 58213x.", b" 58 213.", b" .58213", b"", b" 5821"])
def test_near_misses_are_rejected(output):
    assert not is_correct(output, "58213")


def test_extract_answer_cuts_at_the_end_mark():
    assert extract_answer(b" kitchen. The garden") == "kitchen"
    assert extract_answer(b"  Mary\nWho") == "Mary"


class Oracle(torch.nn.Module):
    """Reads bytes and, once the prompt ends, writes a fixed answer: checks decoding and state passing."""

    def __init__(self, answer: bytes, prompt_length: int):
        super().__init__()
        self.answer, self.prompt_length = answer, prompt_length
        self.weight = torch.nn.Parameter(torch.zeros(()))

    def forward(self, tokens, state=None):
        read = (0 if state is None else state) + tokens.shape[1]
        step = read - self.prompt_length  # 0 on the last prompt block, then one more per decoded token
        logits = torch.zeros(tokens.shape[0], tokens.shape[1], 256)
        logits[:, -1, self.answer[min(max(step, 0), len(self.answer) - 1)]] = 1.0
        return logits, read


def test_answer_samples_streams_the_prompt_then_decodes_until_the_end_mark():
    sample = Sample(b"x" * 1000, "4711", "pk", 0.5)
    seen = []
    answered = answer_samples(Oracle(b" 4711.", 1000), [sample, sample], block=300, on_block=seen.append)
    assert seen == [300, 600, 900, 1000]
    assert [a.output for a in answered] == [b" 4711."] * 2
    assert all(a.correct for a in answered)


def test_answer_samples_refuses_prompts_of_different_lengths():
    with pytest.raises(ValueError, match="same length"):
        answer_samples(Oracle(b" 1.", 5), [Sample(b"abcde", "1", "pk", 0.0), Sample(b"abcd", "1", "pk", 0.0)])


def test_reading_in_blocks_answers_as_reading_at_once():
    torch.manual_seed(0)
    model = TitansLM(TitansConfig.from_name("tiny", variant="mac")).double()
    samples = cell_samples(PassKey(), 300, 0.5, 3, seed=1)
    whole = answer_samples(model, samples, block=300)
    pieces = answer_samples(model, samples, block=37)
    assert [a.output for a in whole] == [a.output for a in pieces]


def test_a_story_cell_counts_what_the_last_facts_word_would_answer():
    prompt = b"Mary went to the attic. Some prose. John moved to the garden. More.\nWhere is Mary? Answer:"
    spans = ((0, 24), (36, 62))
    assert prompt[36:62] == b"John moved to the garden. "
    samples = [Sample(prompt, "attic", "qa1", None, spans), Sample(prompt, "garden", "qa1", None, spans)]
    assert [s.last_fact_word for s in samples] == ["garden", "garden"]
    cell = run_cell(Oracle(b" attic.", len(prompt)), samples, batch=2, block=64)
    assert (cell.correct, cell.recency) == (1, 1)
    assert cell.to_dict()["recency_baseline"] == 1
    # a needle task has a depth and no such baseline
    needle = run_cell(Oracle(b" 1.", 5), [Sample(b"abcde", "1", "pk", 0.5, ((0, 2),))], batch=1, block=8)
    assert needle.recency is None and "recency_baseline" not in needle.to_dict()
    assert Sample(b"abc", "x", "qa1", None).last_fact_word == ""
    # results.json gives back the same cells (what experiments/long_context/table.py pools)
    for written in (cell, needle):
        assert CellResult.from_dict(json.loads(json.dumps(written.to_dict()))) == written


def test_lengths_parse_and_print():
    assert parse_length("16K") == 16384 and parse_length("1M") == 2**20 and parse_length("1000000") == 10**6
    assert length_label(16384) == "16K" and length_label(10**6) == "1,000,000"
    for bad in ("", "K", "-4K", "12Q"):
        with pytest.raises(ValueError, match="length"):
            parse_length(bad)


def test_run_grid_skips_lengths_above_the_cap():
    model = Oracle(b" 0.", 10**9)
    cells = run_grid(model, {"pk": PassKey()}, [300, 600], [0.0, 1.0], 2, max_length={"pk": 300}, say=lambda m: None)
    assert [(c.length, c.depth, c.total) for c in cells] == [(300, 0.0, 2), (300, 1.0, 2)]


@pytest.fixture
def short_answers(monkeypatch):
    """The untrained model never writes the answer's end mark, so each cell decodes MAX_ANSWER_TOKENS (40)
    one-token steps: most of an end-to-end test's time, for nothing it checks (the decoding and its stop
    are test_answer_samples_streams_the_prompt_then_decodes_until_the_end_mark's). 8 still holds an
    answer of 5-7 digits with its space and period."""
    monkeypatch.setattr(recall, "MAX_ANSWER_TOKENS", 8)


def test_cli_niah_end_to_end(tiny_model_dir, prose_file, tmp_path, capsys, short_answers):
    out = tmp_path / "niah"
    main(["eval", "niah", str(tiny_model_dir), "--tasks", "pk,n,w", "--lengths", "128,256", "--depths", "0,100",
          "--samples", "2", "--batch", "2", "--block", "50", "--haystack", str(prose_file), "--out", str(out)])
    printed = capsys.readouterr().out
    assert "| pk |" in printed and "| w |" in printed
    result = json.loads((out / "results.json").read_text())
    assert len(result["cells"]) == 3 * 2 * 2
    assert all(c["total"] == 2 and 0 <= c["accuracy"] <= 1 for c in result["cells"])
    assert result["cells"][0]["rss_trace"][-1][0] == 128
    for task in ("pk", "n", "w"):
        assert (out / f"heatmap-{task}.png").stat().st_size > 1000
    assert "| pk |" in (out / "results.md").read_text()
    assert "last fact" not in (out / "results.md").read_text()


def test_cli_babilong_end_to_end(tiny_model_dir, prose_file, tmp_path, short_answers):
    out = tmp_path / "babilong"
    main(["eval", "babilong", str(tiny_model_dir), "--lengths", "512", "--samples", "2", "--haystack",
          str(prose_file), "--out", str(out)])
    result = json.loads((out / "results.json").read_text())
    assert [c["task"] for c in result["cells"]] == ["qa1", "qa2", "qa3", "qa4", "qa5"]
    assert all(0 <= c["recency_baseline"] <= c["total"] for c in result["cells"])
    assert "| qa1: the last fact's word |" in (out / "results.md").read_text()
    assert not list(out.glob("*.png"))  # no depth axis: a table, no heatmap


def test_cli_reports_a_missing_or_corrupt_checkpoint(tiny_model_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "niah", str(tmp_path / "nowhere"), "--lengths", "256"])
    assert exit_info.value.code == 2
    (tiny_model_dir / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(SystemExit):
        main(["eval", "niah", str(tiny_model_dir), "--lengths", "256"])
    errors = capsys.readouterr().err
    assert "nowhere" in errors and "error" in errors


def test_cli_refuses_bad_arguments(tiny_model_dir, capsys):
    for argv in (["--tasks", "qa1"], ["--depths", "150"], ["--lengths", "2Q"]):
        with pytest.raises(SystemExit):
            main(["eval", "niah", str(tiny_model_dir), *argv])
    assert capsys.readouterr().err.count("error") == 3


def test_export_in_bfloat16_halves_the_file_and_loads_back(tiny_model_dir, tmp_path):
    out = tmp_path / "bf16"
    main(["export", str(tiny_model_dir), str(out), "--dtype", "bfloat16"])
    full, half = (tiny_model_dir / "model.safetensors").stat().st_size, (out / "model.safetensors").stat().st_size
    assert half < 0.6 * full
    original, restored = TitansLM.from_pretrained(tiny_model_dir), TitansLM.from_pretrained(out)
    for (name, a), (_, b) in zip(original.state_dict().items(), restored.state_dict().items()):
        assert b.dtype == torch.float32 and torch.equal(a.bfloat16().float(), b), name
