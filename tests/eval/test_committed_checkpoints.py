"""The committed recall checkpoints (issue 25 §4): each loads, is stored in bfloat16 under 5 MB, reads bytes to
finite logits, and is a model of the committed table (and the table has no row without a checkpoint)."""

import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from titans.models.lm import TitansLM

FOLDER = Path(__file__).resolve().parents[2] / "experiments" / "long_context"
CHECKPOINTS = sorted(p for p in (FOLDER / "checkpoints").iterdir() if p.is_dir())


def stored_dtypes(weights: Path) -> set[str]:
    """The dtypes of the tensors a safetensors file holds, read from its header (nothing loaded)."""
    with safe_open(str(weights), framework="pt", device="cpu") as f:
        return {f.get_slice(name).get_dtype() for name in f.keys()}


def test_every_table_model_is_committed_and_every_checkpoint_is_in_the_table():
    sys.path.insert(0, str(FOLDER))
    try:
        import table
    finally:
        sys.path.remove(str(FOLDER))
    assert sorted(table.VARIANTS) == [p.name for p in CHECKPOINTS]


@pytest.mark.parametrize("folder", CHECKPOINTS, ids=lambda p: p.name)
def test_a_committed_checkpoint_is_small_bfloat16_and_reads_bytes(folder):
    weights = folder / "model.safetensors"
    assert weights.stat().st_size < 5 * 2**20, f"{weights} is {weights.stat().st_size} bytes"
    assert stored_dtypes(weights) == {"BF16"}
    model = TitansLM.from_pretrained(folder).eval()
    tokens = torch.tensor([list(b"The pass key is 12345. Remember it. What is the pass key? The pass key is")])
    with torch.no_grad():
        logits, _ = model(tokens)
    assert logits.shape[:2] == tokens.shape and torch.isfinite(logits).all()
