"""The surprise map: what every memory layer found surprising in a document, token by token.

A document is read in pieces with the model state carried (so memory use is bounded by the piece, not
the document, and the result equals one call: the memory re-runs its open chunk across pieces), while
``titans.layers.write_record`` records, per memory layer, head and token: the inner loss
``||M(k_t) - v_t||^2`` before the write (the momentary surprise, Eq. 12), the gates theta, eta, alpha
(Eqs. 13-14) and ``||W_t - W_{t-1}||``, how far the token moved the memory.
"""

from __future__ import annotations

import codecs
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..layers.write_record import FIELDS, memory_layers, recording


@dataclass
class SurpriseMap:
    """Per-token records of one document: each of ``FIELDS`` is ``[layers, heads, T]`` (float64)."""

    layers: list[str]
    """The memory layers' module names (``blocks.0.memory``, ...)."""
    token_ids: list[int]
    tokens: list[str]
    """Each token's text (a byte that only begins a UTF-8 character is empty; the character is its last byte's)."""
    values: dict[str, np.ndarray]

    def save(self, path: str | Path, **meta) -> None:
        """An ``.npz`` with one array per field, ``token_ids``, ``tokens``, ``layers`` and a JSON ``meta``."""
        np.savez_compressed(path, **self.values, token_ids=np.asarray(self.token_ids, dtype=np.int64),
                            tokens=np.asarray(self.tokens, dtype=str), layers=np.asarray(self.layers, dtype=str),
                            meta=np.asarray(json.dumps(meta)))

    @classmethod
    def load(cls, path: str | Path) -> "SurpriseMap":
        with np.load(path, allow_pickle=False) as data:
            return cls(layers=data["layers"].tolist(), token_ids=data["token_ids"].tolist(),
                       tokens=data["tokens"].tolist(), values={name: data[name] for name in FIELDS})


def token_texts(tokenizer, ids: list[int]) -> list[str]:
    """Each token's share of the decoded text: byte tokens through an incremental UTF-8 decoder (a
    character belongs to the byte that completes it); other tokenizers by what each token adds to the
    decoding of a few tokens before it (SentencePiece drops a word's leading space when decoded alone)."""
    if getattr(tokenizer, "name", None) == "bytes":
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        return [decoder.decode(bytes([i])) for i in ids]
    texts = []
    for t in range(len(ids)):
        context = ids[max(0, t - 8):t]
        before = tokenizer.decode(context) if context else ""
        texts.append(tokenizer.decode(context + [ids[t]])[len(before):])
    return texts


@torch.no_grad()
def record_surprise(model, ids: list[int], tokenizer=None, piece: int = 1024) -> SurpriseMap:
    """Read ``ids`` (one document) with ``model`` in pieces of ``piece`` tokens, the state carried."""
    layers = memory_layers(model)
    if not layers:
        raise ValueError(f"this model ({model.config.variant}) has no memory: inspect a mac, mag, mal or lmm model")
    if len(ids) == 0:
        raise ValueError("the document is empty: nothing to inspect")
    if piece < 1:
        raise ValueError(f"piece {piece}: must be a positive number of tokens")
    device = next(model.parameters()).device
    tokens = torch.tensor(ids, dtype=torch.long, device=device)[None]
    was_training = model.training
    model.eval()
    try:
        with recording(model) as recorders:
            state = None
            for start in range(0, len(ids), piece):
                _, state = model(tokens[:, start:start + piece], state)
            taken = {name: recorder.take() for name, recorder in recorders.items()}
    finally:
        model.train(was_training)
    values = {field: np.stack([taken[name][field][0].numpy() for name in layers]) for field in FIELDS}
    texts = token_texts(tokenizer, ids) if tokenizer is not None else [str(i) for i in ids]
    return SurpriseMap(layers=list(layers), token_ids=list(ids), tokens=texts, values=values)
