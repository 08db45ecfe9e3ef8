"""``TitansByteTokenizer``: UTF-8 bytes as ids 0..255, the ids of ``titans.data.get_tokenizer("bytes")``,
as a transformers tokenizer that ``AutoTokenizer`` loads from an exported folder."""

from __future__ import annotations

from transformers import PreTrainedTokenizer

from .remote_code import TOKENIZER_AUTO_MAP, write_remote_code


class TitansByteTokenizer(PreTrainedTokenizer):
    """Token = one UTF-8 byte; no BOS/EOS are added (titans packs documents and marks their starts).

    Byte b's token string is ``chr(b)``. Padding (for batched prompts) is on the left, with id 0 (the NUL
    byte); a padded position is masked and never read by the model.
    """

    model_input_names = ["input_ids", "attention_mask"]
    vocab_files_names: dict = {}

    def __init__(self, pad_token="\x00", padding_side="left", **kwargs):
        kwargs.pop("auto_map", None)  # read back from tokenizer_config.json: always TOKENIZER_AUTO_MAP
        super().__init__(pad_token=pad_token, padding_side=padding_side, **kwargs)
        self._auto_map = TOKENIZER_AUTO_MAP  # saved in tokenizer_config.json, for trust_remote_code

    def save_pretrained(self, save_directory, *args, **kwargs):
        """transformers' save, plus the module that tokenizer_config.json's ``auto_map`` names."""
        saved = super().save_pretrained(save_directory, *args, **kwargs)
        write_remote_code(save_directory, "tokenization_titans.py")
        return saved

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
