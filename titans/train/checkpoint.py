"""Training checkpoints: safetensors and JSON only (no pickle is ever loaded), written atomically.

A checkpoint is a folder ``step_NNNNNNN`` in the run's ``checkpoints/``:

- ``config.json`` + ``model.safetensors``: the model, loadable on its own with ``TitansLM.from_pretrained``;
- ``optimizer.safetensors``: AdamW moments and steps by parameter name, the param groups in its header;
- ``trainer.json``: format tag, step, the run's config, the RNG states (as lists of bytes);
- ``tokenizer/``: what the tokenizer saved;
- ``carried.rankR.M.safetensors``: process R's carried model state of its M-th share of rows (micro-batches
  in order, each in its ``row_threads`` shares), when the run carries state.

The folder is written under a temporary name and renamed into place, and ``latest`` (a one-line file
naming the newest checkpoint) is replaced only after the rename, so an interrupted write leaves the
previous checkpoint as the one a resume finds.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)

from ..data.tokenizers import CONFIG_FILE as TOKENIZER_CONFIG
from ..data.tokenizers import load_tokenizer, same_tokenizer
from ..models import TitansLM

FORMAT = "titans-checkpoint"
VERSION = 1
_FULL = StateDictOptions(full_state_dict=True, cpu_offload=True)


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, truncated, or not one of ours."""


@dataclass
class Restored:
    step: int
    trainer: dict
    carried: object | None


def _rng_states() -> dict:
    states = {"cpu": torch.get_rng_state().tolist()}
    if torch.cuda.is_available():
        states["cuda"] = [s.tolist() for s in torch.cuda.get_rng_state_all()]
    return states


def _set_rng_states(states: dict) -> None:
    torch.set_rng_state(torch.tensor(states["cpu"], dtype=torch.uint8))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([torch.tensor(s, dtype=torch.uint8) for s in states["cuda"]])


def _optimizer_tensors(state: dict) -> tuple[dict, dict]:
    tensors = {f"{name}/{key}": value.contiguous() for name, entry in state["state"].items()
               for key, value in entry.items()}
    groups = [{k: list(v) if isinstance(v, tuple) else v for k, v in group.items()}
              for group in state["param_groups"]]
    return tensors, {"param_groups": json.dumps(groups)}


def _optimizer_state(tensors: dict, header: dict) -> dict:
    state: dict = {}
    for key, value in tensors.items():
        name, _, slot = key.rpartition("/")
        state.setdefault(name, {})[slot] = value
    groups = json.loads(header["param_groups"])
    for group in groups:
        group["betas"] = tuple(group["betas"])
    return {"state": state, "param_groups": groups}


def save_checkpoint(directory: Path, step: int, model, optimizer, tokenizer, trainer: dict, *, rank: int,
                    carried=None, keep: int = 2, barrier=lambda: None) -> Path:
    """Write checkpoint ``step`` under ``directory`` (every process calls this; rank 0 writes the shared
    files, every rank its carried state). Returns the checkpoint folder."""
    module = getattr(model, "module", model)
    weights = get_model_state_dict(model, options=_FULL)  # collective under FSDP: all ranks take part
    optim = get_optimizer_state_dict(model, optimizer, options=_FULL)
    final = directory / f"step_{step:07d}"
    tmp = directory / f".step_{step:07d}.tmp"
    if rank == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_file({k: v.contiguous() for k, v in weights.items()}, str(tmp / "model.safetensors"))
        (tmp / "config.json").write_text(json.dumps(module.config.to_dict(), indent=1))
        tensors, header = _optimizer_tensors(optim)
        save_file(tensors, str(tmp / "optimizer.safetensors"), metadata=header)
        tokenizer.save(tmp / "tokenizer")
        info = {"format": FORMAT, "version": VERSION, "step": step, "rng": _rng_states(),
                "carried_states": len(carried or []), **trainer}
        (tmp / "trainer.json").write_text(json.dumps(info))
    barrier()
    for micro, state in enumerate(carried or []):
        module.save_state(state, tmp / f"carried.rank{rank}.{micro}.safetensors")
    barrier()
    if rank == 0:
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        latest = directory / "latest"
        (directory / "latest.tmp").write_text(final.name + "\n")
        os.replace(directory / "latest.tmp", latest)
        for old in sorted(directory.glob("step_*"))[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    barrier()
    return final


def find_checkpoint(path: Path) -> Path:
    """A checkpoint folder itself, or a run folder / checkpoints folder (then its latest checkpoint)."""
    path = Path(path)
    for candidate in (path, path / "checkpoints"):
        if (candidate / "latest").is_file():
            return candidate / (candidate / "latest").read_text().strip()
    if (path / "trainer.json").is_file():
        return path
    raise CheckpointError(f"no checkpoint at {path}: expected a run folder, its checkpoints/ folder, or a "
                          f"step_NNNNNNN folder written by titans train")


def resume_candidates(run_dir: Path) -> list[Path]:
    """The checkpoints of a run a resume may start from, best first: the one ``latest`` names, then the
    older ``step_NNNNNNN`` folders, newest first. Every such folder was renamed into place only once
    complete, so one that fails to load was damaged afterwards; the caller reports it and tries the next.
    Without a usable ``latest`` (missing, empty, naming no folder) all the folders count, newest first."""
    directory = Path(run_dir) / "checkpoints"
    folders = sorted((p for p in directory.glob("step_*") if p.is_dir()), reverse=True)  # zero-padded names
    try:
        named = directory / (directory / "latest").read_text().strip()
    except (OSError, UnicodeDecodeError):
        return folders
    if named.parent != directory or named not in folders:
        return folders
    return [named] + [p for p in folders if p.name < named.name]


def verify_checkpoint(checkpoint: Path) -> dict:
    """Check, without loading the tensors, that a checkpoint is whole: its trainer.json is ours and its
    safetensors files open (a file cut short fails here). Returns the trainer info; CheckpointError names
    the damaged file."""
    info = read_trainer(checkpoint)
    files = ["model.safetensors", "optimizer.safetensors"]
    files += [f"carried.rank0.{micro}.safetensors" for micro in range(info.get("carried_states", 0))]
    for name in files:
        try:
            with safe_open(str(checkpoint / name), framework="pt"):
                pass
        except FileNotFoundError as error:
            raise CheckpointError(f"{checkpoint / name} is missing: the checkpoint is incomplete") from error
        except (SafetensorError, OSError, ValueError) as error:
            raise CheckpointError(f"{checkpoint / name} cannot be read (truncated or corrupt?): {error}") from error
    return info


# fields that shape no weight: a curriculum may change them between stages. How far attention reaches
# (MAC's copy stage runs short segments, so that the copy has to go through its memory), and what the
# memory forgets towards (a model trained forgetting towards zero, fine-tuned forgetting towards W0)
STAGE_FIELDS = frozenset({"window", "segment", "memory_forget_to"})


def check_saved_tokenizer(folder: Path, tokenizer, action: str) -> None:
    """Raise if the checkpoint ``folder`` saved a tokenizer other than ``tokenizer``: its weights were
    trained on other token ids (a ``bpe-N`` fitted to other text has the same size and other pieces)."""
    saved_folder = Path(folder) / "tokenizer"
    if not (saved_folder / TOKENIZER_CONFIG).is_file():
        return  # a save_pretrained folder keeps its tokenizer elsewhere, if at all
    saved = load_tokenizer(saved_folder)
    if not same_tokenizer(saved, tokenizer):
        fix = {"resume": f"the training text changed since the run began (a bpe-N is fitted to it): train it "
                         f"again in a new run folder, or start one with init = {folder} and tokenizer = {saved_folder}",
               "init": f"give tokenizer = {saved_folder} to keep its vocabulary (a bpe-N is fitted to each run's "
                       f"own training text)"}[action]
        raise ValueError(f"{action}: {folder} was trained with another tokenizer ({saved!r}) than this run's "
                         f"({tokenizer!r}); {fix}")


def load_initial_weights(model, path: Path) -> Path:
    """Copy the weights at ``path`` into ``model`` (TrainConfig.init): a run folder, a checkpoint, or a
    save_pretrained folder, whose model must be configured like ``model`` but for ``STAGE_FIELDS``
    (bfloat16 exports are cast back). Returns the folder the weights came from."""
    path = Path(path)
    folder = path if (path / "model.safetensors").is_file() else find_checkpoint(path)
    try:
        saved = TitansLM.from_pretrained(folder)
    except (SafetensorError, OSError, TypeError, ValueError, RuntimeError) as error:  # JSONDecodeError is a ValueError
        raise CheckpointError(f"cannot load the model in {folder}: {error}; point init at a folder written by "
                              f"titans train or save_pretrained") from None
    ours, theirs = model.config.to_dict(), saved.config.to_dict()
    changed = [f"{k} = {v!r} (this run: {ours[k]!r})" for k, v in theirs.items()
               if ours[k] != v and k not in STAGE_FIELDS]
    if changed:
        raise ValueError(f"init: {folder} holds another model ({'; '.join(changed)}); "
                         f"set this run's model fields to match it")
    model.load_state_dict(saved.state_dict())
    return folder


def read_trainer(checkpoint: Path) -> dict:
    """The checkpoint's ``trainer.json``, checked to be ours."""
    try:
        info = json.loads((checkpoint / "trainer.json").read_text())
    except FileNotFoundError as error:
        raise CheckpointError(f"{checkpoint} has no trainer.json: not a titans training checkpoint") from error
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{checkpoint}/trainer.json is not valid JSON (truncated?): {error}") from error
    if info.get("format") != FORMAT:
        raise CheckpointError(f"{checkpoint} is not a titans training checkpoint (format {info.get('format')!r})")
    if info.get("version") != VERSION:
        raise CheckpointError(f"{checkpoint} has checkpoint version {info.get('version')}; this titans reads "
                              f"version {VERSION}")
    return info


def _read_safetensors(path: Path) -> tuple[dict, dict]:
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
        return load_file(str(path)), header
    except FileNotFoundError as error:
        raise CheckpointError(f"{path} is missing: the checkpoint is incomplete") from error
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{path} cannot be read (truncated or corrupt?): {error}") from error


def load_checkpoint(checkpoint: Path, model, optimizer, *, rank: int) -> Restored:
    """Restore model, optimiser and RNG from ``checkpoint``; returns the step and the trainer info."""
    info = read_trainer(checkpoint)
    module = getattr(model, "module", model)
    weights, _ = _read_safetensors(checkpoint / "model.safetensors")
    expected = set(module.state_dict())
    if set(weights) != expected:
        missing, extra = sorted(expected - set(weights)), sorted(set(weights) - expected)
        raise CheckpointError(f"{checkpoint} holds another model (missing {missing[:3]}, unexpected "
                              f"{extra[:3]}); resume with the config it was trained with")
    tensors, header = _read_safetensors(checkpoint / "optimizer.safetensors")
    try:
        set_model_state_dict(model, weights, options=StateDictOptions(full_state_dict=True))
        set_optimizer_state_dict(model, optimizer, _optimizer_state(tensors, header),
                                 options=StateDictOptions(full_state_dict=True))
    except (RuntimeError, KeyError, ValueError) as error:
        raise CheckpointError(f"{checkpoint} does not fit this model or optimiser: {error}") from error
    _set_rng_states(info["rng"])
    carried = []
    for micro in range(info.get("carried_states", 0)):
        path = checkpoint / f"carried.rank{rank}.{micro}.safetensors"
        try:
            carried.append(module.load_state(path))
        except (SafetensorError, OSError, ValueError) as error:
            raise CheckpointError(f"{path} cannot be read (missing, truncated or corrupt?): {error}") from error
    return Restored(info["step"], info, carried or None)
