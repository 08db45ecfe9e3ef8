"""titans eval ppl on a run folder reads what the run's validation read (its corpus, split, context, rows,
eval_tokens and carry_state, from the checkpoint's train_config), so its figure is the run's own; it says
which tokens it scored and shows a progress bar that can be turned off."""

import json

import pytest

from titans.cli import main
from titans.train import Trainer


def last_validation(run_dir):
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r for r in records if r["kind"] == "valid"][-1]


@pytest.mark.parametrize("carry_state", [False, True])
def test_eval_ppl_on_a_run_reproduces_its_last_validation_exactly(tmp_path, corpus_dir, tiny_config, capsys,
                                                                  carry_state):
    run = tmp_path / "run"
    config = tiny_config(run, data=str(corpus_dir), steps=4, eval_every=2, save_every=2, eval_tokens=200,
                         carry_state=carry_state)
    Trainer(config, progress=False).run()
    capsys.readouterr()
    main(["eval", "ppl", str(run), "--json", str(tmp_path / "ppl.json"), "--no-progress"])
    out, err = capsys.readouterr()
    result = json.loads((tmp_path / "ppl.json").read_text())
    validation = last_validation(run)
    assert result["loss"] == validation["loss"]  # exact: the same tokens, the same model, the same reading
    assert result["bits_per_byte"] == validation["bits_per_byte"]
    assert result["context"] == 32 and result["rows"] == 4 and result["carry_state"] is carry_state
    assert result["tokens"] <= 200 and result["batches"] == 1
    assert "the run's validation settings" in out and "scoring" in err  # says what it scored, and why


def test_eval_ppl_options_override_the_run_and_a_bare_folder_uses_the_fallbacks(tmp_path, corpus_dir, tiny_config,
                                                                                capsys):
    run = tmp_path / "run"
    Trainer(tiny_config(run, data=str(corpus_dir), steps=2, eval_every=2, save_every=2), progress=False).run()
    main(["eval", "ppl", str(run), "--context", "16", "--rows", "2", "--max-tokens", "64", "--carry",
          "--json", str(tmp_path / "a.json"), "--no-progress"])
    result = json.loads((tmp_path / "a.json").read_text())
    assert (result["context"], result["rows"], result["batches"], result["carry_state"]) == (16, 2, 2, True)
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["eval", "ppl", str(run), "--rows", "0", "--no-progress"])
    assert "--rows must be a positive integer" in capsys.readouterr().err
