"""Open what ``titans train`` wrote (a run folder or one checkpoint) for generation and evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError

from ..data import get_tokenizer, load_tokenizer
from ..models import TitansLM
from ..train.checkpoint import CheckpointError, find_checkpoint
from ..train.config import TrainConfig


def load_trained(path: str, device: torch.device | str = "cpu"):
    """The model (eval mode) and its tokenizer from a run folder, a checkpoint, or a save_pretrained folder
    (which has no tokenizer: bytes are assumed when its vocabulary is 256)."""
    folder = Path(path)
    if not (folder / "model.safetensors").is_file():
        folder = find_checkpoint(folder)
    try:
        model = TitansLM.from_pretrained(folder, map_location=str(device)).eval()
    except (SafetensorError, json.JSONDecodeError, RuntimeError) as error:  # truncated, foreign, other shapes
        raise CheckpointError(f"cannot load the model in {folder}: {error}; the files are damaged or were not "
                              f"written by titans (train again, or point at another checkpoint)") from None
    if (folder / "tokenizer").is_dir():
        tokenizer = load_tokenizer(folder / "tokenizer")
    elif model.config.vocab_size == 256:
        tokenizer = get_tokenizer("bytes")
    else:
        raise FileNotFoundError(f"{folder} has no tokenizer/ folder and a vocabulary of {model.config.vocab_size}; "
                                f"use a checkpoint written by titans train")
    if tokenizer.vocab_size != model.config.vocab_size:
        raise ValueError(f"{folder}: the tokenizer has {tokenizer.vocab_size} tokens, the model "
                         f"{model.config.vocab_size}")
    return model, tokenizer


def run_train_config(path: str) -> TrainConfig | None:
    """The TrainConfig a run folder or checkpoint was trained with (its checkpoint's trainer.json, else the run
    folder's train_config.json); None for a save_pretrained folder or when neither can be read."""
    folder = Path(path)
    candidates = []
    if not (folder / "model.safetensors").is_file() or (folder / "trainer.json").is_file():
        try:
            candidates.append(("trainer", find_checkpoint(folder) / "trainer.json"))
        except CheckpointError:
            pass
    candidates.append(("config", folder / "train_config.json"))
    for kind, file in candidates:
        try:
            data = json.loads(file.read_text())
            return TrainConfig.from_saved(data["train_config"] if kind == "trainer" else data)
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return None
