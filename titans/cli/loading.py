"""Open what ``titans train`` wrote (a run folder or one checkpoint) for generation and evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError

from ..data import get_tokenizer, load_tokenizer
from ..models import TitansLM
from ..train.checkpoint import CheckpointError, find_checkpoint


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
