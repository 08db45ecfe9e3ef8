"""Model configuration: one dataclass, validated on construction, and named presets (SPEC §3)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import operator
from dataclasses import dataclass

VARIANTS = ("mac", "mag", "mal", "lmm", "transformer", "swa")
MEMORY_VARIANTS = ("mac", "mag", "mal", "lmm")  # the variants with a long-term memory
FORGET_TARGETS = ("zero", "init")  # what the memory forgets towards: Eq. 13's zero, or its initial weights


@dataclass(frozen=True)
class TitansConfig:
    """A Titans language model or one of its baselines; every variant shares the macro-architecture."""

    variant: str = "mag"
    """Which model: mac, mag, mal, lmm (memory only), transformer (Transformer++, full attention), swa."""
    vocab_size: int = 256
    """Token vocabulary (256 for bytes, 32000 for the Llama-2 SentencePiece)."""
    dim: int = 256
    """Model width."""
    layers: int = 4
    """Number of blocks."""
    heads: int = 4
    """Attention heads."""
    kv_heads: int | None = None
    """Key / value heads for grouped-query attention (None: as many as ``heads``)."""
    mlp_hidden: int | None = None
    """SwiGLU hidden width (None: 8/3 x dim rounded up to a multiple of 32)."""
    window: int = 256
    """Sliding-window attention span w, the query's own token included (swa, mag, mal; in mac <= segment)."""
    segment: int = 256
    """MAC segment length C: attention runs inside a segment; a multiple of memory_chunk."""
    persistent: int = 4
    """Persistent-memory tokens N_p per block (learned, input-independent; Eq. 19)."""
    memory_heads: int = 4
    """Heads of the neural memory."""
    memory_layers: tuple[int, ...] | None = None
    """Which blocks (0-based; negative ones count from the last, -1 the last) carry the long-term memory; the
    others are SWA blocks (sliding-window attention over ``window`` tokens, no memory). Read as the sorted
    tuple of non-negative indices. None (or every block listed): every block, as in the paper. A memory
    block costs about four SWA blocks on a 2-core CPU (benchmarks/README.md, "Memory in some blocks"),
    so a stack that interleaves them trades memory depth for tokens per second, as titans-pytorch's
    ``neural_memory_layers`` does (which counts blocks from 1)."""
    memory_chunk: int = 64
    """The memory's chunk size b: tokens whose inner gradients are taken at the same weights."""
    memory_depth: int = 2
    """Weight matrices in each memory MLP (1 = linear memory)."""
    memory_expansion: int = 4
    """Memory MLP hidden width = memory_expansion x memory head width."""
    memory_activation: str = "gelu"
    """Memory MLP activation: gelu (exact) or silu."""
    memory_theta_max: float | None = None
    """Ceiling of the memory's inner learning rate theta (None: 0.016 / memory_chunk; see NeuralMemory)."""
    memory_alpha_init: float = 0.01
    """The memory's forgetting gate alpha at initialisation (a long-context recall model wants it small)."""
    memory_forget_to: str = "zero"
    """What the memory's forgetting gate pulls the weights towards: "zero", as Eq. 13 writes it
    (W_t = (1 - alpha_t) W_{t-1} + S_t), or "init", its learned initial weights W0
    (W_t - W0 = (1 - alpha_t)(W_{t-1} - W0) + S_t; NeuralMemory's forget_to says when it matters)."""
    memory_normalize_values: bool = True
    """l2-normalise the memory's values per head like its keys and queries (a deviation from the paper, which
    normalises only q and k; NeuralMemory's normalize_values says why, experiments/stability/README.md what
    it does to the main job)."""
    rope_base: float = 10000.0
    """RoPE base frequency."""
    tie_embeddings: bool = True
    """Share the input embedding with the output head."""
    final_norm: bool = True
    """RMSNorm before the head (the Llama recipe). Small models trained from scratch on a copy task learn
    the copy far sooner without it (experiments/long_context/induction_probe.py: 45 % against chance)."""
    mac_memory_writes: str = "input"
    """What a MAC block's memory writes (and reads its gate output m at): "input", the block's normalised
    input, as the memory of MAG, MAL and LMM does; or "attention", the attention output y, as the paper's
    Eq. 24 (M_t = M_{t-1}(y_t)) reads literally. Both keep h (Eq. 21) in the attention's context. Chosen by
    measurement (experiments/long_context/README.md, "Why MAC did not retrieve"): at initialisation the
    attention output of every token is mostly one shared average, so the memory keys built from it are
    near-parallel (mean cosine 0.53-0.62 between different tokens, against 0.11-0.12 from the input) and
    the memory cannot tell the needle's context from the haystack's; on the multi-segment copy, MAC
    writing y stayed at chance (15 % at step 300) where writing the input learned (41 % at step 400)."""
    norm_eps: float = 1e-6
    """RMSNorm epsilon."""
    init_std: float = 0.02
    """Standard deviation of the token embedding and the persistent tokens, N(0, init_std).

    The rest of the initialisation, deliberately: every ``nn.Linear`` keeps PyTorch's default (uniform in
    +-1/sqrt(fan_in): std 1/sqrt(3 fan_in), so a unit-rms input gives an output of rms ~0.58 whatever the
    width); the memory's initial weights are N(0, 1/d_in) (unit gain per memory layer, so a read of a
    unit key is of unit size); its gate projections start at zero weights with biases at the pinned gate
    values (NeuralMemory). Measured, not assumed: on the copy probe (experiments/long_context/README.md,
    "How the copy was found") the embedding's and the maps' initialisation moved the accuracy by a few
    points at most, the final norm by forty; and a fresh ``cpu`` preset model's residual stream, on random
    bytes, has rms 0.02 after the embedding and 0.55 / 0.78 / 0.96 / 1.10 after its four MAC blocks (MAG
    alike; Transformer++ 0.12 / 0.26 / 0.42 / 0.52): every block adds about as much, none dominates, and
    the logits start near uniform (std ~0.23). tests/models/test_init_scale.py holds these bounds."""

    def __post_init__(self):
        def fail(what: str, fix: str):
            raise ValueError(f"TitansConfig: {what}; {fix}")

        if self.variant not in VARIANTS:
            fail(f"unknown variant {self.variant!r}", f"choose one of {', '.join(VARIANTS)}")
        for name in ("vocab_size", "dim", "layers", "heads", "window", "segment", "memory_heads",
                     "memory_chunk", "memory_depth", "memory_expansion"):
            if getattr(self, name) < 1:
                fail(f"{name} = {getattr(self, name)}", "it must be a positive integer")
        if self.memory_layers is not None:
            given = self.memory_layers
            try:
                if isinstance(given, (str, bytes, dict)):
                    raise TypeError
                items = list(given)
                if any(isinstance(i, bool) for i in items):
                    raise TypeError
                indices = [operator.index(i) for i in items]
            except TypeError:
                fail(f"memory_layers = {given!r}", "give a list of block indices, e.g. [1, 3], or None for every block")
            if not self.uses_memory:
                fail(f"memory_layers = {indices} for variant {self.variant!r}, which has no memory",
                     "leave memory_layers unset for transformer and swa")
            if not indices or not all(-self.layers <= i < self.layers for i in indices):
                fail(f"memory_layers = {indices} with layers = {self.layers}",
                     f"name at least one block, each in 0..{self.layers - 1} (or -{self.layers}..-1 from the last)")
            layers = sorted({i % self.layers for i in indices})
            # every block listed is the model of None: one configuration, one fingerprint
            object.__setattr__(self, "memory_layers", None if len(layers) == self.layers else tuple(layers))
        if self.persistent < 0:
            fail(f"persistent = {self.persistent}", "use 0 for no persistent memory")
        if self.dim % self.heads:
            fail(f"heads = {self.heads} does not divide dim = {self.dim}", "pick heads that divide dim")
        if self.heads % self.n_kv_heads:
            fail(f"kv_heads = {self.kv_heads} does not divide heads = {self.heads}", "pick a divisor of heads")
        if self.uses_memory and self.dim % self.memory_heads:
            fail(f"memory_heads = {self.memory_heads} does not divide dim = {self.dim}",
                 "pick memory_heads that divide dim")
        if self.variant == "mac":
            if self.segment % self.memory_chunk:
                fail(f"segment = {self.segment} is not a multiple of memory_chunk = {self.memory_chunk}",
                     "MAC writes whole chunks per segment; make segment a multiple of memory_chunk")
            if self.window > self.segment:
                fail(f"window = {self.window} is larger than segment = {self.segment}",
                     "MAC attends inside a segment; use window <= segment")
        if self.memory_theta_max is not None and self.memory_theta_max <= 0:
            fail(f"memory_theta_max = {self.memory_theta_max}", "use a positive ceiling, or None for the default")
        if not 0 < self.memory_alpha_init < 1:
            fail(f"memory_alpha_init = {self.memory_alpha_init}", "it must lie strictly between 0 and 1")
        if self.memory_activation not in ("gelu", "silu"):
            fail(f"memory_activation = {self.memory_activation!r}", "use gelu or silu")
        if self.memory_forget_to not in FORGET_TARGETS:
            fail(f"memory_forget_to = {self.memory_forget_to!r}", f"use one of {', '.join(FORGET_TARGETS)}")
        if self.mac_memory_writes not in ("input", "attention"):
            fail(f"mac_memory_writes = {self.mac_memory_writes!r}", "use input or attention")

    @property
    def n_kv_heads(self) -> int:
        return self.heads if self.kv_heads is None else self.kv_heads

    @property
    def uses_memory(self) -> bool:
        return self.variant in MEMORY_VARIANTS

    def block_variant(self, block: int) -> str:
        """The kind of block ``block``: the variant's own, or "swa" where ``memory_layers`` leaves it out."""
        if self.memory_layers is None or block in self.memory_layers:
            return self.variant
        return "swa"

    @property
    def uses_attention(self) -> bool:
        return any(self.block_variant(i) != "lmm" for i in range(self.layers))

    @property
    def hidden(self) -> int:
        if self.mlp_hidden is not None:
            return self.mlp_hidden
        return -(-8 * self.dim // 3 // 32) * 32

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TitansConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"TitansConfig: unknown fields {unknown}; this version knows {sorted(known)}")
        if data.get("variant") == "mac" and "mac_memory_writes" not in data:
            data = {**data, "mac_memory_writes": "attention"}  # saved before the field: MAC wrote y then
        return cls(**data)

    def fingerprint(self) -> str:
        """A short hash of the configuration (what a saved state must have been made with)."""
        fields = self.to_dict()
        # fields added later, where they mean what configs saved before them meant: those states stay valid
        for later, before in _FIELDS_ADDED_LATER.items():
            if fields[later] == before:
                del fields[later]
        if self.variant != "mac" or self.mac_memory_writes == "attention":
            del fields["mac_memory_writes"]
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]

    @classmethod
    def from_name(cls, name: str, **overrides) -> "TitansConfig":
        """A named preset (``PRESETS``), with fields overridden, e.g. ``from_name("small", variant="mac")``."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
        preset = dict(PRESETS[name])
        if overrides.get("variant", cls.variant) not in MEMORY_VARIANTS:
            # a preset's memory blocks are those of its memory variants; its baselines have none
            preset.pop("memory_layers", None)
        return cls(**{**preset, **overrides})


# a 2-core CPU's shape, sized for throughput (about 1.2M parameters with byte tokens; the CPU experiments'
# models, and the main job's until its memory moved to the last block only: the "main" preset): on 2 cores
# a memory chunk of 32 and a memory MLP of expansion 2 ran the MAC training step 1.4x faster than chunk 16
# and expansion 4; a linear memory (depth 1) steps 1.15x faster again than depth 2 and, in the main job,
# learns about as much per step (2.366 against 2.371 bits per byte at 440 steps), so that in ten minutes
# it ends lower (2.389 against 2.425; benchmarks/README.md, "A linear memory")
_CPU = dict(dim=128, layers=4, heads=4, window=128, segment=128, persistent=4, memory_heads=4, memory_chunk=32,
            memory_expansion=2, memory_depth=1)

PRESETS: dict[str, dict] = {
    # tests: everything small enough for float64 equality checks in seconds
    "tiny": dict(dim=32, layers=2, heads=2, window=8, segment=8, persistent=2, memory_heads=2, memory_chunk=4,
                 memory_expansion=2),
    # CPU experiments: about 10M parameters with byte tokens (heads of width 64, as in the memory benchmark)
    "small": dict(dim=256, layers=8, heads=4, window=512, segment=512, persistent=4, memory_heads=4,
                  memory_chunk=64),
    "cpu": _CPU,
    # the README's main job (TrainConfig's default): the cpu shape with the memory in its last block only, the
    # others SWA blocks (a preset's memory_layers is its memory variants'; its baselines take every block as
    # theirs). On 2 cores its training step is about two thirds of the all-memory model's: 1,300 steps end
    # where that model's 1,000 end (2.298-2.300 bits per byte on the Wikipedia articles, in 8.0-9.0 minutes
    # of training against 10.8), 1,400 at 2.297 in 9.0 (2.283 at the main job's lr of 2e-3); benchmarks/README.md,
    # "The memory in the last block only"
    "main": dict(_CPU, memory_layers=(-1,)),
    # the paper's shapes (ATLAS Table 7, the same group's later paper, since Titans gives none), Llama-2
    # vocabulary. The names are the Transformer++ sizes; a Titans block adds its memory's projections
    # (about 5 dim^2), so the Titans variants are larger at the same shape: see PRESET_PARAMETERS.
    "170m": dict(vocab_size=32000, dim=768, layers=12, heads=16, window=1024, segment=1024, persistent=4,
                 memory_heads=16, memory_chunk=64),
    "340m": dict(vocab_size=32000, dim=1024, layers=24, heads=16, window=1024, segment=1024, persistent=4,
                 memory_heads=16, memory_chunk=64),
    "760m": dict(vocab_size=32000, dim=1536, layers=24, heads=16, window=1024, segment=1024, persistent=4,
                 memory_heads=16, memory_chunk=64),
}


# fields added to TitansConfig after states had been saved, with the value that configs without them meant
_FIELDS_ADDED_LATER = {"final_norm": True, "memory_normalize_values": True, "memory_layers": None,
                       "memory_forget_to": "zero"}


# parameters (millions) of each preset's Transformer++ / SWA and MAG / MAC / MAL models, as built;
# tests/models/test_models.py holds them to 1 %
PRESET_PARAMETERS: dict[str, dict[str, float]] = {
    "cpu": {"transformer": 0.84, "mag": 1.20},
    "main": {"transformer": 0.84, "mag": 0.93},
    "small": {"transformer": 6.49, "mag": 10.23},
    "170m": {"transformer": 109.53, "mag": 149.08},
    "340m": {"transformer": 336.38, "mag": 476.44},
    "760m": {"transformer": 728.70, "mag": 1042.60},
}
