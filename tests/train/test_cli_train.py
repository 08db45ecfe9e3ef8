"""The CLI end to end on a tiny config: train -> checkpoint -> generate -> eval ppl."""

import json

import pytest

from titans.cli import main

TINY = ["--preset", "tiny", "--variant", "mac", "--context", "32", "--batch-tokens", "64", "--steps", "4",
        "--eval-every", "2", "--eval-tokens", "128", "--save-every", "2", "--sample-tokens", "20",
        "--no-progress", "--device", "cpu"]


def test_train_generate_and_evaluate(tmp_path, corpus_dir, capsys):
    run = tmp_path / "run"
    main(["train", "--data", str(corpus_dir), "--out", str(run), *TINY, "--set", "dim=48", "--set", "persistent=0"])
    out = capsys.readouterr().out
    assert "bits per byte" in out and "sample:" in out
    saved = json.loads((run / "train_config.json").read_text())
    assert saved["model"] == {"dim": 48, "persistent": 0} and saved["steps"] == 4
    assert json.loads((run / "checkpoints" / "step_0000004" / "config.json").read_text())["dim"] == 48

    main(["generate", str(run), "--prompt", "the memory", "--max-new-tokens", "12", "--seed", "1"])
    text = capsys.readouterr().out
    assert text.startswith("the memory") and len(text) > len("the memory")

    main(["eval", "ppl", str(run), "--data", str(corpus_dir), "--context", "32", "--rows", "2",
          "--json", str(tmp_path / "ppl.json")])
    result = json.loads((tmp_path / "ppl.json").read_text())
    assert result["bits_per_byte"] > 0 and result["tokens"] > 0
    assert "perplexity" in capsys.readouterr().out


def test_train_reads_a_config_file_and_flags_win(tmp_path, corpus_dir, capsys):
    config = tmp_path / "run.toml"
    config.write_text(f'variant = "lmm"\nsteps = 99\ndata = "{corpus_dir}"\n')
    main(["train", "--config", str(config), "--out", str(tmp_path / "run"), *TINY])
    saved = json.loads((tmp_path / "run" / "train_config.json").read_text())
    assert saved["variant"] == "mac" and saved["steps"] == 4 and saved["data"] == str(corpus_dir)


def test_bad_options_are_clear_errors(tmp_path):
    with pytest.raises(SystemExit):
        main(["train", "--variant", "rnn"])  # argparse would take it; TrainConfig must refuse
    with pytest.raises(SystemExit, match="FIELD=VALUE"):
        main(["train", "--set", "dim", "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        main(["generate"])


def test_every_option_has_help_and_a_default(capsys):
    for verb in (["train"], ["generate"], ["eval", "ppl"], ["info"]):
        with pytest.raises(SystemExit):
            main([*verb, "--help"])
        text = capsys.readouterr().out
        options = [line for line in text.splitlines() if line.strip().startswith("--") and "--help" not in line]
        assert options, verb
        joined = " ".join(text.split())
        for line in options:
            flag = line.split()[0].rstrip(",")
            assert flag in joined
        assert joined.count("default") >= len(options) - 1, verb
