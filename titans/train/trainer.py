"""The training loop: AdamW with warm-up and cosine decay, clipping, accumulation, checkpoints, resume.

One process or several (torchrun): every process builds the same batches and takes its share of the
rows, so the steps do not depend on the number of processes. On the CPU a resumed run repeats the
losses of an uninterrupted one exactly: a batch is a function of the step, and the model, the optimiser
moments, the RNG and any carried state are restored from the checkpoint.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ..data import get_tokenizer, load_documents, split_documents
from ..data.batching import Batch, PackedLanes
from ..data.tokenizers import token_byte_lengths
from ..eval.perplexity import LanguageModelScore, score_language_model
from ..eval.task_batches import TaskBatches, is_task_mixture, parse_mixture
from ..generate import Sampling, generate
from ..models import TitansLM
from .checkpoint import (
    find_checkpoint,
    load_checkpoint,
    load_initial_weights,
    read_trainer,
    save_checkpoint,
)
from .config import TrainConfig
from .distributed import init_distributed, shutdown, wrap_model
from .metrics import MetricsLog, memory_gate_means

# fields that change what the steps compute: a resumed run must keep them
_NUMERIC_FIELDS = ("preset", "variant", "model", "data", "tokenizer", "valid_fraction", "context", "batch_tokens",
                   "accumulation", "carry_state", "lr", "min_lr_ratio", "warmup", "weight_decay", "betas", "clip",
                   "seed", "steps")


_VALID_SEED_OFFSET = 1_000_003  # validation samples are drawn with another seed than the training ones


class TrainingDiverged(RuntimeError):
    """Several steps in a row had a non-finite loss or gradient."""


@dataclass
class RunSummary:
    steps: int
    tokens: int
    seconds: float
    validation: LanguageModelScore | None
    sample: str | None
    run_dir: Path


def learning_rate(config: TrainConfig, step: int) -> float:
    """Linear warm-up to the peak, then cosine decay to ``min_lr_ratio`` of it at the last step."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return config.lr * (config.min_lr_ratio + (1 - config.min_lr_ratio) * cosine)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but this torch sees no CUDA device; use --device cpu")
    return device


def make_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW; weight decay on matrices (linear weights, embeddings, the memory's initial weights) only."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr, betas=config.betas)


class Trainer:
    """``Trainer(config).run(resume=False)``; ``documents`` replaces the config's corpus (tests, notebooks)."""

    def __init__(self, config: TrainConfig, *, documents=None, progress: bool = True):
        self.config = config
        self.progress = progress
        self.device = resolve_device(config.device)
        self.topology = init_distributed(self.device)
        if self.device.type == "cuda" and self.topology.world > 1:
            self.device = torch.device("cuda", self.topology.local_rank)
        per_process, remainder = divmod(config.rows, self.topology.world)
        if remainder or per_process % config.accumulation:
            raise ValueError(f"{config.rows} rows per step (batch_tokens // context) must split evenly over "
                             f"{self.topology.world} processes x {config.accumulation} micro-batches")
        self.run_dir = Path(config.out)
        self.tokenizer = get_tokenizer(config.tokenizer)
        if documents is None and is_task_mixture(config.data):
            self._task_batches()
        else:
            self._packed_lanes(load_documents(config.data) if documents is None else documents)
        self.token_bytes = token_byte_lengths(self.tokenizer)

        torch.manual_seed(config.seed)
        self.model = TitansLM(config.model_config(self.tokenizer.vocab_size)).to(self.device)
        if config.init:
            load_initial_weights(self.model, Path(config.init))
        self.model.gradient_checkpointing = config.checkpointing
        self.module = self.model
        self.model = wrap_model(self.model, self.topology, config.distributed, self.device)
        self.optimizer = make_optimizer(self.model, config)
        self.forward = torch.compile(self.model) if config.compile else self.model
        self.autocast = self.device.type == "cuda"  # bf16 on CUDA; the CPU runs float32 (exact resume)

    def _packed_lanes(self, docs) -> None:
        config = self.config
        train_docs, valid_docs = split_documents(docs, config.valid_fraction)
        self.train_lanes = PackedLanes([self.tokenizer.encode(d.text) for d in train_docs], config.rows,
                                       config.context, seed=config.seed)
        valid_tokens = [self.tokenizer.encode(d.text) for d in valid_docs]
        valid_rows = max(self.topology.world, min(config.rows, sum(map(len, valid_tokens)) // (config.context + 1)))
        self.valid_lanes = PackedLanes(valid_tokens, valid_rows, config.context, shuffle=False)

    def _task_batches(self) -> None:
        """Long-context task samples (titans.eval.task_batches): only the answers are scored, and
        validation draws other samples of the same mixture."""
        config = self.config
        names = parse_mixture(config.data)
        rows, context, questions = config.rows, config.context, config.task_questions
        self.train_lanes = TaskBatches(names, rows, context, seed=config.seed, questions=questions,
                                       min_length=config.task_min_length)
        self.valid_lanes = TaskBatches(names, rows, context, seed=config.seed + _VALID_SEED_OFFSET, questions=questions)

    # ---- one step ----

    def _loss(self, batch: Batch, state, n_scored_global: int):
        """Sum of the scored tokens' losses, scaled so that gradients average over the global batch."""
        inputs, targets = batch.inputs.to(self.device), batch.targets.to(self.device)
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            logits, state = self.forward(inputs, state, reset=batch.device_reset(self.device))
        losses = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), reduction="none")
        nats = (losses * batch.scored.to(self.device).flatten()).sum()
        # DDP averages gradients over processes; scale by world so the result is the global mean
        return nats * self.topology.world / max(n_scored_global, 1), nats.detach(), state

    def _step(self, step: int, carried: list | None):
        config, topology = self.config, self.topology
        batch = self.train_lanes.batch(step)
        mine = batch.rows(slice(topology.rank, None, topology.world))
        size = mine.inputs.shape[0] // config.accumulation
        micro = [mine.rows(slice(i * size, (i + 1) * size)) for i in range(config.accumulation)]
        if not config.carry_state or self.train_lanes.is_lane_start(step) or carried is None:
            carried = [None] * config.accumulation
        nats_total, new_states = 0.0, []
        for i, (part, state) in enumerate(zip(micro, carried)):
            sync = i == config.accumulation - 1 or not hasattr(self.model, "no_sync")
            context = contextlib.nullcontext() if sync else self.model.no_sync()
            with context:
                loss, nats, state = self._loss(part, state, batch.num_scored)
                loss.backward()
            nats_total += float(nats)
            new_states.append(state.detach() if config.carry_state else None)
        loss_value = topology.sum(nats_total) / max(batch.num_scored, 1)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(),
                                                   config.clip if config.clip > 0 else float("inf"))
        grad_norm = float(grad_norm.full_tensor() if hasattr(grad_norm, "full_tensor") else grad_norm)
        finite = math.isfinite(loss_value) and math.isfinite(grad_norm)
        if finite:
            for group in self.optimizer.param_groups:
                group["lr"] = learning_rate(config, step)
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return finite, loss_value, grad_norm, (new_states if config.carry_state else None)

    # ---- the run ----

    def validate(self) -> LanguageModelScore:
        batches = max(1, self.config.eval_tokens // (self.valid_lanes.rows * self.config.context))
        return score_language_model(self.module, self.valid_lanes, self.token_bytes, max_batches=batches,
                                    device=self.device, topology=self.topology, autocast=self.autocast,
                                    carry_state=self.config.carry_state)

    def _check_resumable(self, saved: dict) -> None:
        saved_config = TrainConfig.from_dict(saved["train_config"])
        changed = [f for f in _NUMERIC_FIELDS if getattr(saved_config, f) != getattr(self.config, f)]
        if changed:
            raise ValueError(f"cannot resume: the checkpoint was trained with other {', '.join(changed)} "
                             f"({', '.join(f'{f}={getattr(saved_config, f)!r}' for f in changed)}); "
                             f"resume with the same settings or start a new run folder")

    def _save(self, step: int, carried) -> None:
        trainer_info = {"train_config": self.config.to_dict(), "tokens": step * self.config.batch_tokens}
        save_checkpoint(self.run_dir / "checkpoints", step, self.model, self.optimizer, self.tokenizer,
                        trainer_info, rank=self.topology.rank, carried=carried, keep=self.config.keep_checkpoints,
                        barrier=self.topology.barrier)

    def run(self, resume: bool = False) -> RunSummary:
        config, topology = self.config, self.topology
        start, carried = 0, None
        if resume:
            checkpoint = find_checkpoint(self.run_dir)
            self._check_resumable(read_trainer(checkpoint))
            restored = load_checkpoint(checkpoint, self.model, self.optimizer, rank=topology.rank)
            start, carried = restored.step, restored.carried
        elif (self.run_dir / "checkpoints" / "latest").exists():
            raise FileExistsError(f"{self.run_dir} already holds a run; pass --resume to continue it or "
                                  f"choose another --out (nothing was overwritten)")
        if topology.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            config.save(self.run_dir / "train_config.json")
        log = MetricsLog(self.run_dir, resume_step=start) if topology.is_main else None
        bar = self._progress_bar(start)
        score, bad, began = None, 0, time.perf_counter()
        for step in range(start, config.steps):
            tick = time.perf_counter()
            finite, loss, grad_norm, carried_next = self._step(step, carried)
            seconds = time.perf_counter() - tick
            if not finite:
                bad += 1
                self._say(f"step {step + 1}: non-finite loss or gradient (loss {loss}, grad norm {grad_norm}); "
                          f"step skipped ({bad} in a row)")
                if bad >= config.max_bad_steps:
                    saved = (self.run_dir / "checkpoints" / "latest").exists()
                    where = (f"the last good checkpoint is in {self.run_dir / 'checkpoints'}; lower --lr or raise "
                             f"--warmup and --resume" if saved else
                             "no checkpoint had been written yet; lower --lr or raise --warmup and start again")
                    raise TrainingDiverged(f"{bad} non-finite steps in a row up to step {step + 1}; the run "
                                           f"stopped: {where}")
                continue
            bad, carried = 0, carried_next
            done = step + 1
            record = {"kind": "train", "step": done, "tokens": done * config.batch_tokens, "loss": loss,
                      "lr": learning_rate(config, step), "grad_norm": grad_norm,
                      "tokens_per_s": config.batch_tokens / seconds, **memory_gate_means(self.module)}
            if log:
                log.write(record)
            if bar:
                bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{record['tokens_per_s']:.0f}")
                bar.update(1)
            if done % config.eval_every == 0 or done == config.steps:
                score = self.validate()
                if log:
                    scored = score.to_dict()
                    scored["scored_tokens"] = scored.pop("tokens")  # "tokens" counts training tokens
                    log.write({"kind": "valid", "step": done, "tokens": record["tokens"], **scored})
                    log.plot()
                self._say(f"step {done}: validation loss {score.loss:.4f}, {score.bits_per_byte:.4f} bits per byte")
            if done % config.save_every == 0 or done == config.steps:
                self._save(done, carried)
        if bar:
            bar.close()
        sample = self._sample() if config.sample_tokens else None
        summary = RunSummary(config.steps, config.steps * config.batch_tokens, time.perf_counter() - began, score,
                             sample, self.run_dir)
        shutdown(topology)
        return summary

    def _sample(self) -> str:
        """A continuation of the start of a validation document (every process decodes; rank 0 reports)."""
        prompt = self.valid_lanes.documents[0][:64]
        out = generate(self.module, [prompt], self.config.sample_tokens, Sampling(temperature=0.8, top_k=50),
                       seed=self.config.seed)[0]
        return self.tokenizer.decode(prompt) + self.tokenizer.decode(out)

    def _progress_bar(self, start: int):
        if not (self.progress and self.topology.is_main):
            return None
        from tqdm import tqdm

        return tqdm(total=self.config.steps, initial=start, desc="train", unit="step", file=sys.stderr,
                    dynamic_ncols=True)

    def _say(self, message: str) -> None:
        if self.topology.is_main:
            print(message, file=sys.stderr, flush=True)
