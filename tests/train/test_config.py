"""Training settings: validation, TOML / YAML files, the shipped configs."""

from pathlib import Path

import pytest

from titans.train import TrainConfig

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted(ROOT.glob("configs/*.toml")) + sorted(ROOT.glob("experiments/**/*.toml"))


@pytest.mark.parametrize("changes,message", [
    (dict(variant="rnn"), "unknown variant"),
    (dict(preset="huge"), "unknown preset"),
    (dict(context=0), "context"),
    (dict(batch_tokens=100, context=512), "at least one full row"),
    (dict(valid_fraction=0.9), "valid_fraction"),
    (dict(betas=(0.9, 1.5)), "betas"),
    (dict(distributed="horovod"), "ddp or fsdp"),
    (dict(model={"dim": 30, "heads": 4}), "heads"),
    (dict(model={"depth": 3}), "unknown model fields"),
    (dict(model={"vocab_size": 10}), "tokenizer decides"),
    (dict(data="tasks:pk", document_resets=False), "document_resets = false with a task mixture"),
])
def test_bad_values_are_clear_errors(changes, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**changes)


def test_toml_and_yaml_files_read_the_same(tmp_path):
    (tmp_path / "run.toml").write_text('variant = "mal"\ncontext = 256\nbetas = [0.9, 0.99]\n[model]\ndim = 128\n')
    (tmp_path / "run.yaml").write_text("variant: mal\ncontext: 256\nbetas: [0.9, 0.99]\nmodel:\n  dim: 128\n")
    toml, yaml = TrainConfig.from_file(tmp_path / "run.toml"), TrainConfig.from_file(tmp_path / "run.yaml")
    assert toml == yaml == TrainConfig(variant="mal", context=256, betas=(0.9, 0.99), model={"dim": 128})
    config = TrainConfig.from_dict(toml.to_dict())
    assert config == toml


def test_unknown_keys_and_formats_are_clear_errors(tmp_path):
    (tmp_path / "bad.toml").write_text("learning_rate = 0.1\n")
    with pytest.raises(ValueError, match="unknown fields"):
        TrainConfig.from_file(tmp_path / "bad.toml")
    (tmp_path / "run.json").write_text("{}")
    with pytest.raises(ValueError, match=".toml, .yaml"):
        TrainConfig.from_file(tmp_path / "run.json")
    with pytest.raises(FileNotFoundError):
        TrainConfig.from_file(tmp_path / "missing.toml")


def test_there_are_shipped_configs():
    assert len(SHIPPED) >= 6, SHIPPED


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_config_parses(path):
    config = TrainConfig.from_file(path)
    config.model_config(256)


def test_the_main_job_config_is_the_default():
    assert TrainConfig.from_file(ROOT / "configs" / "main.toml") == TrainConfig()


@pytest.mark.parametrize("data,tokenizer,expected", [
    ("wikipedia", "auto", "bpe-8192"),  # the main job's recipe names its own
    ("wikipedia-raw", "auto", "bytes"),  # enwik8-style byte-level work keeps bytes
    ("shakespeare", "auto", "bytes"),
    ("ecoli", "auto", "nucleotides"),  # the genomes read one base a token
    ("drosophila", "auto", "nucleotides"),
    ("some/folder/of/text", "auto", "bytes"),  # a path has no recipe
    ("tasks:pk,n", "auto", "bytes"),  # task samples are measured in bytes
    ("wikipedia", "bytes", "bytes"),  # a named tokenizer is taken as given
    ("shakespeare", "bpe-1024", "bpe-1024"),
])
def test_auto_tokenizer_is_the_recipes_own(data, tokenizer, expected):
    config = TrainConfig(data=data, tokenizer=tokenizer)
    assert config.tokenizer_name == expected
    assert config.replace(data="shakespeare").tokenizer_name == ("bytes" if tokenizer == "auto" else tokenizer)


def test_a_task_mixture_with_a_subword_tokenizer_is_a_clear_error():
    with pytest.raises(ValueError, match="use tokenizer = bytes"):
        TrainConfig(data="tasks:pk", tokenizer="bpe-1024")
