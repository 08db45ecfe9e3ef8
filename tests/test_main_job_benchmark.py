"""benchmarks/main_job.py's baseline: the Transformer++ closest in parameters to the Titans model it is
given, which may place its memory in some blocks only (--set memory_layers=...). Speed is the script's
business; what is tested is which two models it compares."""

from pathlib import Path

from scripts import load_script

from titans import TitansLM
from titans.train import TrainConfig

main_job = load_script(Path(__file__).resolve().parents[1] / "benchmarks" / "main_job.py")

VOCAB = 256


def _parameters(config: TrainConfig) -> int:
    return TitansLM(config.model_config(VOCAB)).num_parameters()


def test_the_baseline_is_the_transformer_closest_in_parameters_without_the_memorys_placement():
    titans = TrainConfig(preset="tiny", variant="mac", tokenizer="bytes", model={"layers": 4, "memory_layers": [1, 3]})
    models = main_job.with_baseline(titans)
    assert list(models) == ["titans-mac", "transformer++"]
    baseline = models["transformer++"]
    assert baseline.variant == "transformer" and "memory_layers" not in baseline.model
    heads = titans.model_config(VOCAB).heads
    width = baseline.model["dim"]
    assert width % (4 * heads) == 0
    target, gap = _parameters(titans), abs(_parameters(baseline) - _parameters(titans))
    for other in (width - 4 * heads, width + 4 * heads):  # the next widths it could have taken are further
        neighbour = baseline.replace(model={**baseline.model, "dim": other})
        assert abs(_parameters(neighbour) - target) >= gap
    # fewer memory blocks, fewer parameters: the baseline follows the model it is given
    every_block = main_job.with_baseline(titans.replace(model={"layers": 4}))["transformer++"]
    assert _parameters(titans) < _parameters(titans.replace(model={"layers": 4}))
    assert every_block.model["dim"] > width
