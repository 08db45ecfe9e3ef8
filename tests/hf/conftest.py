"""A run trained with a SentencePiece tokenizer, exported with ``titans export --format hf``."""

import pytest
import torch

from titans import TitansConfig, TitansLM
from titans.data.tokenizers import SentencePieceTokenizer


@pytest.fixture(scope="session")
def sp_export(sp_model, tmp_path_factory):
    """(model, its titans SentencePiece tokenizer, the exported folder): a run folder as titans train leaves
    it (model + tokenizer/), exported."""
    pytest.importorskip("transformers")
    from titans.cli import main

    tokenizer = SentencePieceTokenizer(sp_model)
    folder = tmp_path_factory.mktemp("sp-export")
    torch.manual_seed(0)
    model = TitansLM(TitansConfig.from_name("tiny", variant="mag", vocab_size=tokenizer.vocab_size)).eval()
    model.save_pretrained(folder / "run")
    tokenizer.save(folder / "run" / "tokenizer")
    try:
        main(["export", str(folder / "run"), str(folder / "hf"), "--format", "hf"])
    finally:
        torch.set_flush_denormal(False)  # main() sets it for the process
    return model, tokenizer, folder / "hf"
