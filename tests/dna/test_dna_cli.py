"""`titans dna pretrain | eval | classify` end to end on files the tests write, in seconds."""

import json
import random

import pytest

from titans.cli import main

TINY = ["--preset", "tiny", "--context", "32", "--batch-tokens", "64", "--steps", "2", "--eval-every", "2",
        "--eval-tokens", "64", "--save-every", "2", "--valid-fraction", "0.2", "--lr", "1e-3"]


def write_genome(path, n=3000, seed=0):
    rng = random.Random(seed)
    bases = "".join(rng.choice("ACGT") for _ in range(n))
    path.write_text(">chr test genome\n" + "\n".join(bases[i: i + 60] for i in range(0, n, 60)) + "\n"
                    ">plasmid\nACGTACGTAC\n")
    return path


def test_pretrain_then_bits_per_base_by_context(tmp_path, capsys):
    genome = write_genome(tmp_path / "genome.fa")
    run = tmp_path / "run"
    main(["dna", "pretrain", "--data", str(genome), "--variant", "mag", "--out", str(run), "--no-progress", *TINY])
    assert "bits per byte" in capsys.readouterr().out
    saved = json.loads((run / "train_config.json").read_text())
    assert saved["tokenizer"] == "nucleotides" and saved["sample_tokens"] == 0  # the DNA defaults
    main(["dna", "eval", str(run), "--data", str(genome), "--length", "600", "--segments", "2", "--block", "128",
          "--limit", "256", "--out", str(tmp_path / "ctx")])
    result = json.loads((tmp_path / "ctx" / "context.json").read_text())
    assert result["record"] == "chr" and result["variant"] == "mag"
    assert [(b["start"], b["end"]) for b in result["bins"]] == [(0, 600)]
    assert result["bins"][0]["bases"] == 2 * 599
    assert 0.5 < result["bins"][0]["bits_per_base"] < 4  # a barely trained model: near 2 bits on random bases
    assert 0.5 < result["bins"][0]["bits_per_base_limited"] < 4 and result["limit"] == 256
    assert "| 0-600 |" in (tmp_path / "ctx" / "context.md").read_text()


def test_pretrain_defaults_sit_under_the_config_file_and_the_flags(tmp_path):
    import argparse

    from titans.cli.dna import PRETRAIN_DEFAULTS
    from titans.cli.train import add_train_options, build_config

    config_file = tmp_path / "run.toml"
    config_file.write_text('steps = 7\ncontext = 64\n')
    parser = argparse.ArgumentParser()
    add_train_options(parser)
    config = build_config(parser.parse_args(["--config", str(config_file), "--context", "32"]), PRETRAIN_DEFAULTS)
    assert (config.data, config.tokenizer) == ("bacteria", "nucleotides")  # the DNA defaults survive the file
    assert (config.steps, config.context) == (7, 32)  # the file over the defaults, the flag over the file
    # the DNA figures' model, not the text main job's: the memory in every block of the cpu shape
    assert config.model_config(8).memory_layers is None and config.eval_every == 200


def write_benchmark(folder, n=24, seed=0):
    rng = random.Random(seed)
    for part in ("train", "test"):
        for label in ("negative", "positive"):
            (folder / part / label).mkdir(parents=True)
            for i in range(n if part == "train" else n // 2):
                bases = [rng.choice("ACT") for _ in range(30)]
                if label == "positive":
                    bases[12:18] = "GGGGGG"
                (folder / part / label / f"{i}.txt").write_text("".join(bases))
    return folder


def test_classify_a_genomic_benchmarks_folder(tmp_path, capsys):
    data = write_benchmark(tmp_path / "bench")
    out = tmp_path / "out"
    main(["dna", "classify", "--data", str(data), "--models", "cnn,lmm", "--seeds", "0,1", "--epochs", "2",
          "--batch", "16", "--out", str(out)])
    results = json.loads((out / "results.json").read_text())
    assert results["classes"] == ["negative", "positive"] and (results["train"], results["test"]) == (48, 24)
    for model in ("cnn", "lmm"):
        summary = results["models"][model]["summary"]
        assert summary["seeds"] == [0, 1] and all(0 <= a <= 1 for a in summary["accuracies"])
    table = (out / "results.md").read_text()
    assert "| cnn |" in table and "| lmm |" in table


def test_a_text_model_is_not_a_dna_backbone(tmp_path, capsys):
    corpus = tmp_path / "text.txt"
    corpus.write_text("the memory learns while it reads. " * 40)
    run = tmp_path / "text-run"
    main(["train", "--data", str(corpus), "--out", str(run), "--no-progress", *TINY])
    with pytest.raises(SystemExit):
        main(["dna", "classify", "--data", str(write_benchmark(tmp_path / "bench")), "--init", str(run),
              "--models", "mag", "--seeds", "0", "--epochs", "1", "--out", str(tmp_path / "out")])
    assert "a DNA backbone needs nucleotides" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["dna", "eval", str(run), "--data", str(write_genome(tmp_path / "g.fa")), "--length", "100"])
    assert "bits per base need a DNA model" in capsys.readouterr().err
