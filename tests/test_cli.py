"""The `titans` command line."""

import pytest
import torch

from titans import TitansConfig, TitansLM
from titans.cli import main
from titans.flops import flops_per_token


def test_info_prints_the_parameter_count(capsys):
    main(["info", "tiny", "--variant", "mac"])
    out = capsys.readouterr().out
    n = TitansLM(TitansConfig.from_name("tiny", variant="mac")).num_parameters()
    assert f"parameters: {n:,}" in out
    assert "FLOPs per token" in out


def test_info_rejects_an_unknown_preset():
    with pytest.raises(SystemExit):
        main(["info", "huge"])


def test_flops_grow_with_context_only_for_full_attention():
    for variant in ("mag", "mal", "mac", "lmm", "swa"):
        config = TitansConfig.from_name("small", variant=variant)
        assert flops_per_token(config, 1024) == flops_per_token(config, 32768), variant
    config = TitansConfig.from_name("small", variant="transformer")
    assert flops_per_token(config, 32768) > 2 * flops_per_token(config, 1024)


def test_flops_at_least_twice_the_matmul_parameters():
    """Every non-embedding weight is used once per token: 2 FLOPs per parameter at the least."""
    config = TitansConfig.from_name("small", variant="swa", tie_embeddings=False)
    with torch.device("meta"):
        model = TitansLM(config)
    matmul_params = sum(p.numel() for n, p in model.named_parameters() if n.endswith(".weight") and p.dim() == 2
                        and not n.startswith("embed"))
    assert flops_per_token(config, 1) >= 2 * matmul_params
