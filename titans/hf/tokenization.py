"""transformers tokenizers that ``AutoTokenizer`` loads from an exported folder, with the ids of titans' own:
``TitansByteTokenizer`` (UTF-8 bytes as ids 0..255, ``titans.data.get_tokenizer("bytes")``) and
``TitansSentencePieceTokenizer`` (a run's SentencePiece model, :class:`titans.data.SentencePieceTokenizer`)."""

from __future__ import annotations

import os
from pathlib import Path

from transformers import PreTrainedTokenizer

from ..data.tokenizers import SENTENCEPIECE_FILE, SentencePieceTokenizer
from .remote_code import tokenizer_auto_map, write_remote_code


class _TitansTokenizer(PreTrainedTokenizer):
    """What both tokenizers share: no BOS/EOS added (titans packs documents and marks their starts), left
    padding (a padded position is masked and never read by the model), and a saved folder whose
    tokenizer_config.json names its loader module (``auto_map``, for trust_remote_code)."""

    model_input_names = ["input_ids", "attention_mask"]

    def __init__(self, padding_side="left", **kwargs):
        kwargs.pop("auto_map", None)  # read back from tokenizer_config.json: always this class's own
        super().__init__(padding_side=padding_side, **kwargs)
        self._auto_map = tokenizer_auto_map(type(self).__name__)

    def save_pretrained(self, save_directory, *args, **kwargs):
        """transformers' save, plus the module that tokenizer_config.json's ``auto_map`` names."""
        saved = super().save_pretrained(save_directory, *args, **kwargs)
        write_remote_code(save_directory, "tokenization_titans.py")
        return saved


class TitansByteTokenizer(_TitansTokenizer):
    """Token = one UTF-8 byte. Byte b's token string is ``chr(b)``; padding is id 0 (the NUL byte)."""

    vocab_files_names: dict = {}

    def __init__(self, pad_token="\x00", **kwargs):
        super().__init__(pad_token=pad_token, **kwargs)

    @property
    def vocab_size(self) -> int:
        return 256

    def get_vocab(self) -> dict[str, int]:
        vocab = {chr(i): i for i in range(256)}
        vocab.update(self.added_tokens_encoder)
        return vocab

    def _tokenize(self, text: str, **kwargs) -> list[str]:
        return [chr(b) for b in text.encode("utf-8")]

    def _convert_token_to_id(self, token: str) -> int:
        if len(token) != 1 or ord(token) > 255:
            raise ValueError(f"not a byte token: {token!r}")
        return ord(token)

    def _convert_id_to_token(self, index: int) -> str:
        if not 0 <= index < 256:
            raise ValueError(f"byte tokenizer ids must be in [0, 256), got {index}")
        return chr(index)

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return bytes(ord(t) for t in tokens if len(t) == 1 and ord(t) < 256).decode("utf-8", errors="replace")

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str, ...]:
        return ()  # nothing to write: the vocabulary is the 256 bytes


class TitansSentencePieceTokenizer(_TitansTokenizer):
    """A SentencePiece model (``tokenizer.model`` in the folder), encoded by titans' own
    :class:`~titans.data.SentencePieceTokenizer`: the same ids as training saw, whatever the text (a piece
    such as ``</s>`` written in the text is encoded as text, never as the special token).

    Token strings are the model's pieces; padding is the model's pad piece, or else its unknown piece.
    ``TitansSentencePieceTokenizer.from_titans(tokenizer)`` wraps a titans tokenizer."""

    vocab_files_names = {"vocab_file": SENTENCEPIECE_FILE}

    def __init__(self, vocab_file, **kwargs):
        self.titans = SentencePieceTokenizer(vocab_file)  # before super().__init__, which looks pieces up
        for role, piece in self.titans.special_pieces().items():
            if role != "bos":  # never added (nor expected by generate): titans encodes without BOS
                kwargs.setdefault(f"{role}_token", piece)
        kwargs.setdefault("pad_token", kwargs.get("unk_token"))
        kwargs["split_special_tokens"] = True  # the text is all SentencePiece's: no special-token splitting
        kwargs.setdefault("clean_up_tokenization_spaces", False)
        super().__init__(**kwargs)

    @classmethod
    def from_titans(cls, tokenizer: SentencePieceTokenizer) -> "TitansSentencePieceTokenizer":
        return cls(tokenizer.model_file)

    @property
    def vocab_size(self) -> int:
        return self.titans.vocab_size

    def get_vocab(self) -> dict[str, int]:
        vocab = {self.titans.id_to_piece(i): i for i in range(self.vocab_size)}
        vocab.update(self.added_tokens_encoder)
        return vocab

    def _tokenize(self, text: str, **kwargs) -> list[str]:
        return [self.titans.id_to_piece(i) for i in self.titans.encode(text)]

    def _convert_token_to_id(self, token: str) -> int:
        return self.titans.piece_to_id(token)

    def _convert_id_to_token(self, index: int) -> str:
        if not 0 <= index < self.vocab_size:
            raise ValueError(f"{self.titans.name} tokenizer ids must be in [0, {self.vocab_size}), got {index}")
        return self.titans.id_to_piece(index)

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return self.titans.decode([self.titans.piece_to_id(t) for t in tokens])

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str, ...]:
        path = Path(save_directory) / ((filename_prefix + "-" if filename_prefix else "") + SENTENCEPIECE_FILE)
        path.write_bytes(self.titans.model_proto())
        return (os.fspath(path),)
