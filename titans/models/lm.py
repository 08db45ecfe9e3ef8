"""The language model around the blocks: embedding, the stack, final norm, head; weights and states on disk.

``logits, state = model(tokens, state=None)``: the state carries every block's memory and attention
cache, so a document can be read in pieces, decoded token by token, or saved and continued later.
``reset`` packs several documents into one row: none of them sees anything of an earlier one.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, load_model, save_file, save_model
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..config import TitansConfig
from ..jsonfile import read_json_object
from ..layers.attention import AttentionState
from ..layers.memory_state import MemoryState
from ..layers.padding import zero_padding
from ..layers.state import TensorState
from ..ops.linear_cross_entropy import linear_cross_entropy
from .lmm import LMMBlock
from .mac import MACBlock, MACState
from .mag import MAGBlock
from .mal import MALBlock
from .swa import SWABlock
from .transformer import TransformerBlock

BLOCKS = {"mac": MACBlock, "mag": MAGBlock, "mal": MALBlock, "lmm": LMMBlock,
          "transformer": TransformerBlock, "swa": SWABlock}


class ModelFileError(ValueError):
    """A weights, configuration or state file that cannot be loaded; the message names it and the fix."""


def _safetensors_shapes(path: Path, fix: str) -> dict:
    """Every tensor's shape from a safetensors header, nothing loaded (the library bounds the header's size
    and checks that the offsets lie inside the file)."""
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError) as error:
        raise ModelFileError(f"{path} is not a readable safetensors file ({error}): damaged or truncated; "
                             f"{fix}") from None


_STATE_TYPES = {"MemoryState": MemoryState, "AttentionState": AttentionState, "MACState": MACState}


@dataclass
class ModelState(TensorState):
    """Per-block states (dicts of MemoryState / AttentionState / tensors), tokens read, config hash."""

    layers: list
    position: int
    fingerprint: str


class TitansLM(nn.Module):
    """A Titans language model (or a baseline): ``logits, state = model(tokens, state=None, mask=None,
    reset=None)``."""

    def __init__(self, config: TitansConfig):
        super().__init__()
        self.config = config
        self.fingerprint = config.fingerprint()  # once: hashing the config inside forward breaks a compile graph
        self.embed = nn.Embedding(config.vocab_size, config.dim)
        nn.init.normal_(self.embed.weight, std=config.init_std)
        self.blocks = nn.ModuleList(BLOCKS[config.block_variant(i)](config)
                                    for i in range(config.layers))
        self.norm = nn.RMSNorm(config.dim, eps=config.norm_eps) if config.final_norm else nn.Identity()
        self.head = None if config.tie_embeddings else nn.Linear(config.dim, config.vocab_size, bias=False)
        self.gradient_checkpointing = False
        """Keep only each block's input for the backward pass and recompute the block there: about one more
        forward of compute for activation memory of one block at a time (long-context training)."""

    def forward(
        self,
        tokens: torch.Tensor,
        state: ModelState | None = None,
        *,
        mask: torch.Tensor | None = None,
        reset: torch.Tensor | None = None,
        targets: torch.Tensor | None = None,
        target_weights: torch.Tensor | None = None,
    ):
        """tokens: ``[B, T]`` int; mask: ``[B, T]`` bool, False for padding (never reaches attention or
        memory). reset: ``[B, T]`` bool, True at the first token of a document packed into the row: its
        tokens see nothing before it (attention, the memory and its conv, MAC's h), also when the row
        is read in pieces with the state carried; the persistent tokens stay visible. Returns logits
        ``[B, T, vocab]`` and the new state.

        With ``targets`` (``[B, T]`` int, the token that should follow each position), returns instead
        the summed cross-entropy in nats (a scalar: float32, float64 for a float64 model), each position
        weighted by ``target_weights`` (``[B, T]``, default 1), and the new state: the head and the loss are
        taken a block of rows at a time (:func:`titans.ops.linear_cross_entropy`), never holding the
        ``[B, T, vocab]`` logits.
        Training goes through here so that a wrapper (DDP, FSDP, compile) sees one forward."""
        x, state = self.features(tokens, state, mask=mask, reset=reset)
        weight = self.embed.weight if self.head is None else self.head.weight
        if targets is not None:
            for name, given in (("targets", targets), ("target_weights", target_weights)):
                if given is not None and given.shape != tokens.shape:
                    raise ValueError(f"{name}: expected {tuple(tokens.shape)} like tokens, got {tuple(given.shape)}")
            flat_weights = None if target_weights is None else target_weights.flatten()
            return linear_cross_entropy(x.flatten(0, 1), weight, targets.flatten(), flat_weights), state
        return F.linear(x, weight), state

    def features(
        self,
        tokens: torch.Tensor,
        state: ModelState | None = None,
        *,
        mask: torch.Tensor | None = None,
        reset: torch.Tensor | None = None,
    ):
        """As :meth:`forward`, but the hidden states ``[B, T, dim]`` that the head reads (after the final norm,
        if the config has one) instead of the logits: what a task head (sequence classification, titans.dna)
        reads."""
        self._check(tokens, state, mask, reset)
        if state is None and reset is not None:
            # a fresh state already starts a document (with the memory primed by the persistent tokens,
            # SPEC §3): a reset at its first token would only discard that priming (cleared without
            # reading it, which would break a torch.compile graph)
            reset = torch.cat([torch.zeros_like(reset[:, :1]), reset[:, 1:]], dim=1)
        x = self.embed(tokens)
        x = zero_padding(x, mask)
        layer_states = [None] * len(self.blocks) if state is None else state.layers
        new_states = []
        for block, block_state in zip(self.blocks, layer_states):
            if self.gradient_checkpointing and torch.is_grad_enabled():
                x, block_state = checkpoint(block, x, block_state, mask=mask, reset=reset, use_reentrant=False)
            else:
                x, block_state = block(x, block_state, mask=mask, reset=reset)
            new_states.append(block_state)
        position = tokens.shape[1] + (0 if state is None else state.position)
        return self.norm(x), ModelState(new_states, position, self.fingerprint)

    def _check(self, tokens, state, mask, reset):
        if tokens.dim() != 2 or tokens.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"tokens: expected a [batch, tokens] integer tensor, got {tuple(tokens.shape)} "
                             f"{tokens.dtype}")
        if tokens.shape[1] == 0:
            raise ValueError("tokens: the sequence is empty (T = 0)")
        # (the id range is read from the values, which would break a torch.compile graph: compiled, the
        # embedding's own index check stands in for it)
        unchecked = torch.compiler.is_compiling() or not tokens.numel()
        if not unchecked and (tokens.min() < 0 or tokens.max() >= self.config.vocab_size):
            raise ValueError(f"tokens: ids must lie in [0, {self.config.vocab_size}), got "
                             f"[{int(tokens.min())}, {int(tokens.max())}]")
        if mask is not None and mask.shape != tokens.shape:
            raise ValueError(f"mask: expected shape {tuple(tokens.shape)} like tokens, got {tuple(mask.shape)}")
        if reset is not None and (reset.shape != tokens.shape or reset.dtype != torch.bool):
            raise ValueError(f"reset: expected a bool tensor of shape {tuple(tokens.shape)} like tokens (True at "
                             f"a document's first token), got {reset.dtype} {tuple(reset.shape)}")
        if state is not None and state.fingerprint != self.fingerprint:
            raise ValueError("state was made by a model with another configuration "
                             f"({state.fingerprint} != {self.fingerprint}); pass state=None to start fresh")

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # ---- weights: config JSON + safetensors, apart from training checkpoints ----

    def save_pretrained(self, directory: str | os.PathLike, dtype: torch.dtype | None = None) -> None:
        """Write ``config.json`` and ``model.safetensors`` (no pickle) into ``directory``; ``dtype`` stores
        the weights in another precision (bfloat16 halves the file; loading casts back to the model's)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / "model.safetensors.tmp"
        save_model(self if dtype is None else copy.deepcopy(self).to(dtype), str(tmp))
        os.replace(tmp, directory / "model.safetensors")  # never a half-written file under the real name
        (directory / "config.json").write_text(json.dumps(self.config.to_dict(), indent=1))

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, map_location: str = "cpu") -> "TitansLM":
        """Load what ``save_pretrained`` wrote, or a Hugging Face folder (``titans export --format hf``,
        ``TitansForCausalLM.save_pretrained``; transformers is not needed to read it)."""
        directory = Path(directory)
        for name in ("config.json", "model.safetensors"):
            if not (directory / name).is_file():
                raise FileNotFoundError(f"{directory / name} is missing: not a directory written by save_pretrained")
        config_file, weights = directory / "config.json", directory / "model.safetensors"
        fix = "the folder is damaged or was not written by titans: save the model again or point at another one"
        fields = read_json_object(config_file, "a model configuration", fix, ModelFileError)
        prefix = ""
        if fields.get("model_type") == "titans":
            # a Hugging Face folder: TitansConfig's fields beside transformers' own, the weights under the
            # wrapper's attribute name (TitansForCausalLM.model)
            fields = {k: v for k, v in fields.items() if k in TitansConfig.__dataclass_fields__}
            prefix = "model."
        try:
            config = TitansConfig.from_dict(fields)
        except (TypeError, ValueError, OverflowError) as error:
            raise ModelFileError(f"{config_file}: not a valid model configuration ({error}); {fix}") from None
        stored = {k[len(prefix):] if k.startswith(prefix) else f"(outside {prefix}) {k}": shape
                  for k, shape in _safetensors_shapes(weights, fix).items()}
        stored_layers = len({k.split(".")[1] for k in stored if k.startswith("blocks.")})
        if not isinstance(config.layers, int) or config.layers != stored_layers:
            raise ModelFileError(f"{config_file} says {config.layers!r} layers, {weights} holds {stored_layers}; {fix}")
        # the shapes the configuration implies, without allocating them (a config.json claiming a huge model
        # is caught here against what the weights file really holds, before anything is allocated)
        try:
            with torch.device("meta"):
                expected = {k: tuple(v.shape) for k, v in cls(config).state_dict().items()}
        except (TypeError, ValueError, RuntimeError, OverflowError) as error:
            raise ModelFileError(f"{config_file}: the configuration cannot be built ({error}); {fix}") from None
        wrong = [f"{k}: file {stored.get(k)}, config {shape}" for k, shape in expected.items() if stored.get(k) != shape]
        extra = sorted(set(stored) - set(expected))
        if wrong or extra:
            raise ModelFileError(f"{weights} does not hold the weights {config_file} describes "
                                 f"({'; '.join(wrong[:3] + [f'unexpected {k}' for k in extra[:3]])}); {fix}")
        model = cls(config)
        try:
            if prefix:
                tensors = load_file(str(weights), device=map_location)
                model.load_state_dict({k[len(prefix):]: t for k, t in tensors.items()}, strict=True)
            else:
                load_model(model, str(weights), device=map_location)
        except (RuntimeError, SafetensorError, OSError) as error:
            raise ModelFileError(f"{weights} cannot be loaded ({error}); {fix}") from None
        bad = [name for name, p in model.state_dict().items() if p.is_floating_point() and not bool(p.isfinite().all())]
        if bad:
            raise ModelFileError(f"{weights} holds non-finite values (NaN or inf) in {', '.join(bad[:3])}: the weights "
                                 f"of a diverged run; load an earlier checkpoint")
        return model

    # ---- memory that persists across sessions ----

    def save_state(self, state: ModelState, path: str | os.PathLike) -> None:
        """Save a state (safetensors, with a JSON header: config hash, position, structure)."""
        tensors, structure = {}, []
        for i, layer in enumerate(state.layers):
            entry = {}
            for key, value in (layer.items() if isinstance(layer, dict) else [("state", layer)]):
                if value is None:
                    entry[key] = None
                elif isinstance(value, torch.Tensor):
                    tensors[f"{i}.{key}"] = value
                    entry[key] = {"type": "Tensor"}
                else:
                    tensors.update({f"{i}.{key}.{n}": t for n, t in value.tensors().items()})
                    entry[key] = {"type": type(value).__name__, **value.header()}
            structure.append(entry if isinstance(layer, dict) else {"state": entry["state"], "bare": True})
        header = {"fingerprint": state.fingerprint, "position": str(state.position),
                  "structure": json.dumps(structure)}
        tmp = f"{path}.tmp"
        # clone: a state may hold one tensor twice (MAC's segment weights are the memory's at a segment
        # boundary), which safetensors refuses to write as shared storage
        save_file({k: v.detach().clone().contiguous() for k, v in tensors.items()}, tmp, metadata=header)
        os.replace(tmp, path)

    def load_state(self, path: str | os.PathLike, device: str = "cpu") -> ModelState:
        """Load a state saved by ``save_state``; a state of another configuration is a clear error."""
        fix = "save the state again with this model, or start from state=None"
        if not Path(path).is_file():
            raise FileNotFoundError(f"no saved state at {path}")
        try:
            with safe_open(str(path), framework="pt", device=device) as f:
                header = f.metadata() or {}
                if "fingerprint" not in header:
                    raise ModelFileError(f"{path} is not a titans model state (no fingerprint in its header); {fix}")
                if header["fingerprint"] != self.fingerprint:
                    raise ModelFileError(f"{path} was saved by a model with another configuration "
                                         f"({header['fingerprint']} != {self.fingerprint}); {fix}")
                # fresh (aligned) copies: a kernel may round differently on a buffer at another alignment, and a
                # loaded state must continue bit for bit as the one that was saved
                tensors = {k: f.get_tensor(k).clone() for k in f.keys()}
        except (SafetensorError, OSError) as error:
            raise ModelFileError(f"{path} is not a readable safetensors file ({error}): damaged or truncated; "
                                 f"{fix}") from None
        bad = [k for k, t in tensors.items() if t.is_floating_point() and not bool(t.isfinite().all())]
        if bad:
            raise ModelFileError(f"{path} holds non-finite values (NaN or inf) in {', '.join(sorted(bad)[:3])}; {fix}")
        try:
            structure = json.loads(header["structure"])
            if not isinstance(structure, list) or len(structure) != len(self.blocks):
                raise ValueError(f"{len(structure) if isinstance(structure, list) else 'no'} layers, the model has "
                                 f"{len(self.blocks)}")
            layers = []
            for i, entry in enumerate(structure):
                bare = entry.pop("bare", False)
                layer = {}
                for key, spec in entry.items():
                    if spec is None:
                        layer[key] = None
                    elif spec["type"] == "Tensor":
                        layer[key] = tensors[f"{i}.{key}"]
                    else:
                        prefix = f"{i}.{key}."
                        own = {k[len(prefix):]: t for k, t in tensors.items() if k.startswith(prefix)}
                        layer[key] = _STATE_TYPES[spec.pop("type")].from_header(own, spec)
                layers.append(layer["state"] if bare else layer)
            position = int(header["position"])
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, RecursionError) as error:
            raise ModelFileError(f"{path}: its header does not describe a state of this model "
                                 f"({type(error).__name__}: {error}); {fix}") from None
        return ModelState(layers, position, header["fingerprint"])
