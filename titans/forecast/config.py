"""What a forecasting run does: one dataclass, validated, saved with the run (``config.json``).

The defaults are the LTSF protocol of SPEC §5 (lookback 96, every model, 3 seeds) with a training
budget sized for a CPU (``experiments/forecasting``): epochs of 1,024 windows drawn at random instead of
all of them, and a gentler learning-rate decay to match (with the LTSF code's full epochs and halving,
``epoch_windows=0, lr_decay=0.5``, one memory-model run on hourly weather takes over 10 minutes on one
core). Every model gets the same budget; DLinear its own learning rate (``model_lr``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

MODELS = ("naive", "dlinear", "patchtst", "memory", "mag")


@dataclass(frozen=True)
class ForecastConfig:
    """A forecasting run: which data, which models, how they are trained; one field per setting."""

    data: str = "weather"
    """A series recipe (weather, taylor, chicago) or the path of an LTSF CSV (date column, then channels)."""
    target: str = "OT"
    """CSV only: the target column, moved last as the LTSF code does ("" for none: keep the file's order)."""
    period: int = 0
    """Seasonal period of the naive forecast in steps (0: the recipe's, or from the CSV's date spacing)."""
    models: tuple = MODELS
    """Models to run: naive (seasonal), dlinear, patchtst, memory (neural-memory forecaster), mag (+ SWA)."""
    horizons: tuple = ()
    """Forecast horizons (empty: the data's defaults, e.g. 96/192/336/720 for hourly weather)."""
    seeds: tuple = (0, 1, 2)
    """One training run per seed and model and horizon; the table shows mean and std over seeds."""
    lookback: int = 96
    """Input window L in steps (96 in the LTSF protocol)."""
    epochs: int = 15
    """Most training epochs."""
    patience: int = 3
    """Stop after this many epochs without a lower validation MSE; the best epoch's weights are kept."""
    batch_size: int = 32
    """Windows per optimiser step."""
    epoch_windows: int = 1024
    """Training windows per epoch, drawn afresh each epoch without replacement (0: all of them)."""
    lr: float = 1e-3
    """Adam learning rate of the first epoch."""
    model_lr: dict = field(default_factory=lambda: {"dlinear": 5e-3})
    """Learning rates by model, overriding lr: DLinear's is its own scripts' (ETTh1), without which the
    linear maps are still improving when the budget ends."""
    lr_decay: float = 0.8
    """Learning-rate factor after every epoch (0.5: the LTSF code's "type1", halved every full epoch)."""
    dim: int = 32
    """Width of the patch models (PatchTST and the memory forecasters; PatchTST used 16 on ETTh1)."""
    layers: int = 2
    """Blocks of the patch models' sequence mixer."""
    heads: int = 4
    """Attention heads (PatchTST, MAG's sliding window) and memory heads."""
    patch_len: int = 16
    """Steps per patch token (PatchTST's 16)."""
    stride: int = 8
    """Steps between patch starts (PatchTST's 8: lookback 96 gives 12 patches with the end padding)."""
    dropout: float = 0.1
    """Dropout on the patch embeddings and inside the PatchTST encoder."""
    memory_chunk: int = 4
    """The neural memory's chunk size b, in patch tokens (12 patches: 3 chunks)."""
    memory_expansion: int = 2
    """Memory MLP hidden width = this x memory head width (2: half the cost of the LM's 4 on a CPU)."""
    window: int = 4
    """MAG's sliding-window attention span, in patch tokens."""
    moving_average: int = 25
    """DLinear's moving-average kernel for the trend (25, as in the DLinear paper)."""
    plot_windows: int = 3
    """Test windows drawn in each forecast PNG (0: no PNG)."""
    device: str = "cpu"
    """cpu, cuda or cuda:N."""
    out: str = "runs/forecast"
    """Run folder: config.json, results.json, results.md, forecast-H*.png, models/*.safetensors."""

    def __post_init__(self):
        def fail(what: str, fix: str):
            raise ValueError(f"ForecastConfig: {what}; {fix}")

        # the CLI passes "a,b" or a bare value where a list is meant; the API passes tuples or lists
        for name, kind in (("models", str), ("horizons", int), ("seeds", int)):
            object.__setattr__(self, name, _as_tuple(getattr(self, name), kind, name))
        unknown = [m for m in self.models if m not in MODELS]
        if unknown or not self.models:
            fail(f"models {list(self.models)}", f"choose from {', '.join(MODELS)}")
        if not self.seeds:
            fail("no seeds", "give at least one, e.g. seeds=[0]")
        for name in ("lookback", "epochs", "batch_size", "dim", "layers", "heads", "patch_len", "stride",
                     "memory_chunk", "memory_expansion", "window", "moving_average"):
            if getattr(self, name) < 1:
                fail(f"{name} = {getattr(self, name)}", "it must be a positive integer")
        if any(h < 1 for h in self.horizons):
            fail(f"horizons {list(self.horizons)}", "every horizon must be a positive integer")
        for name in ("patience", "period", "plot_windows", "epoch_windows"):
            if getattr(self, name) < 0:
                fail(f"{name} = {getattr(self, name)}", "it must be 0 or more")
        if self.patch_len > self.lookback:
            fail(f"patch_len = {self.patch_len} is longer than lookback = {self.lookback}", "shorten the patch")
        if self.dim % self.heads or (self.dim // self.heads) % 2:
            fail(f"dim = {self.dim}, heads = {self.heads}", "heads must divide dim into even widths (RoPE)")
        if not 0 <= self.dropout < 1:
            fail(f"dropout = {self.dropout}", "use a value in [0, 1)")
        if self.lr <= 0 or not 0 < self.lr_decay <= 1:
            fail(f"lr = {self.lr}, lr_decay = {self.lr_decay}", "use lr > 0 and 0 < lr_decay <= 1")
        if set(self.model_lr) - set(MODELS) or any(not v > 0 for v in self.model_lr.values()):
            fail(f"model_lr = {self.model_lr}", f"give positive rates for models among {', '.join(MODELS)}")

    def lr_of(self, model: str) -> float:
        """The first epoch's learning rate of ``model``."""
        return self.model_lr.get(model, self.lr)

    def replace(self, **changes) -> "ForecastConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> "ForecastConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"ForecastConfig: unknown fields {unknown}; this version knows {sorted(known)}")
        return cls(**data)


def _as_tuple(value, kind: type, name: str) -> tuple:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    elif not isinstance(value, (list, tuple)):
        value = [value]
    try:
        return tuple(kind(v) for v in value)
    except ValueError:
        raise ValueError(f"ForecastConfig: {name} = {value!r}: expected {kind.__name__} values") from None
