"""The training loop: AdamW with warm-up and cosine decay, clipping, accumulation, checkpoints, resume.

One process or several (torchrun): every process builds the same batches and takes its share of the
rows, so the steps do not depend on the number of processes. On the CPU a resumed run repeats the
losses of an uninterrupted one exactly: a batch is a function of the step, and the model, the optimiser
moments, the RNG and any carried state are restored from the checkpoint.

SIGINT (Ctrl-C) and SIGTERM end a run cleanly: the step under way finishes, a checkpoint is written and
:class:`TrainingInterrupted` says where and how to resume (a second signal abandons the step at once; the
previous checkpoint stays). A resume whose newest checkpoint is damaged starts from the newest intact one.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import shlex
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ..data import get_tokenizer, load_documents, split_documents
from ..data.batching import Batch, PackedLanes
from ..data.subword import fit_subword_tokenizer, subword_vocab_size
from ..data.tokenizers import encode_compact, token_byte_lengths
from ..eval.perplexity import LanguageModelScore, score_language_model
from ..eval.task_batches import TaskBatches, is_task_mixture, parse_mixture
from ..generate import TEXT_SAMPLING, generate
from ..models import TitansLM
from ..ops.row_parallel import even_slices, in_parallel
from .checkpoint import (
    CheckpointError,
    check_saved_tokenizer,
    load_checkpoint,
    load_initial_weights,
    read_trainer,
    resume_candidates,
    save_checkpoint,
    verify_checkpoint,
)
from .config import TrainConfig
from .distributed import init_distributed, shutdown, wrap_model
from .metrics import MetricsLog, memory_gate_means, read_metrics

# fields that change what the steps compute: a resumed run must keep them
_NUMERIC_FIELDS = ("preset", "variant", "model", "data", "tokenizer", "valid_fraction", "context", "batch_tokens",
                   "accumulation", "row_threads", "carry_state", "document_resets", "precision", "lr",
                   "min_lr_ratio", "warmup", "weight_decay", "betas", "clip", "seed", "steps", "minutes")


_VALID_SEED_OFFSET = 1_000_003  # validation samples are drawn with another seed than the training ones


class TrainingDiverged(RuntimeError):
    """Several steps in a row had a non-finite loss or gradient."""


class TrainingInterrupted(Exception):
    """SIGINT or SIGTERM stopped the run. The message is the one line for the user (the step, the
    checkpoint, the command that resumes); ``exit_code`` follows the shell: 128 + the signal (130, 143)."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class RunSummary:
    """What this invocation did: a resume counts only the steps, tokens and time it ran itself."""

    steps: int
    tokens: int
    seconds: float
    validation: LanguageModelScore | None
    sample: str | None
    run_dir: Path
    resumed_from: int = 0
    """The step this invocation started from (0: a new run)."""
    already_finished: bool = False
    """The run had reached its last step before this invocation, which then did nothing."""
    sample_path: Path | None = None


class _StopSignals:
    """While active, SIGINT and SIGTERM only raise a flag that the loop reads between steps, so that the
    step under way finishes and a checkpoint can be written; a second signal raises KeyboardInterrupt at
    once (abandoning the step: the user asked twice). Handlers can only be set in the main thread;
    elsewhere (a notebook's worker thread) the signals keep their usual effect."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.received: int | None = None
        self._previous: dict = {}

    def __enter__(self) -> "_StopSignals":
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum, frame) -> None:
        if self.received is not None:
            raise KeyboardInterrupt
        self.received = signum


def _signal_name(signum: int) -> str:
    return signal.Signals(signum).name


def finished_run(config: TrainConfig) -> RunSummary | None:
    """The summary of the run in ``config.out`` when its newest checkpoint is at the last step (resuming
    it has nothing to do), found without loading the data or the model; None otherwise."""
    run_dir = Path(config.out)
    candidates = resume_candidates(run_dir)
    if not candidates:
        return None
    try:
        info = verify_checkpoint(candidates[0])
    except CheckpointError:
        return None  # damaged: Trainer.run reports it and falls back to an intact one
    return _finished_summary(run_dir, info["step"]) if _at_end(config, info) else None


def _at_end(config: TrainConfig, info: dict) -> bool:
    """Whether a checkpoint's trainer info is that of the run's last step: ``steps`` taken, or the
    ``minutes`` budget spent."""
    return info["step"] >= config.steps or _spent(config, info.get("train_seconds", 0.0))


def _spent(config: TrainConfig, seconds: float) -> bool:
    """Whether ``seconds`` of training time have used up the run's ``minutes`` budget (never without one)."""
    return bool(config.minutes) and seconds >= config.minutes * 60


def _finished_summary(run_dir: Path, step: int) -> RunSummary:
    """An already finished run: its validation at the last step, read back from metrics.jsonl."""
    final = None
    for r in read_metrics(run_dir / "metrics.jsonl"):
        if r.get("kind") == "valid" and r.get("step") == step and "scored_tokens" in r:
            final = LanguageModelScore(r["loss"], r["bits_per_byte"], r["scored_tokens"], r.get("bytes", 0))
    return RunSummary(0, 0, 0.0, final, None, run_dir, resumed_from=step, already_finished=True)


def resume_command(run_dir: Path) -> str:
    """The command that continues the run in ``run_dir`` (the CLI reads its settings from the folder)."""
    return f"titans train --resume --out {shlex.quote(str(run_dir))}"


def learning_rate(config: TrainConfig, step: int, seconds: float = 0.0) -> float:
    """Linear warm-up to the peak, then cosine decay to ``min_lr_ratio`` of it at the last step; with a
    ``minutes`` budget, at the budget's end, ``seconds`` of training time having been spent before this step."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    if config.minutes:
        progress = seconds / (config.minutes * 60)
    else:
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
        self._bar = None
        self.trained_seconds = 0.0
        """Time spent in training steps so far, all invocations of the run (the clock of a ``minutes`` budget)."""
        # a named tokenizer fails here, before a corpus is fetched; "bpe-N" is fitted to the training split;
        # documents passed in are no recipe, so auto reads them as bytes
        self.tokenizer_name = "bytes" if documents is not None and config.tokenizer == "auto" else config.tokenizer_name
        self.tokenizer = None if subword_vocab_size(self.tokenizer_name) else get_tokenizer(self.tokenizer_name)
        if documents is None and is_task_mixture(config.data):
            self._task_batches()
        else:
            self._packed_lanes(load_documents(config.data) if documents is None else documents)
        self.token_bytes = token_byte_lengths(self.tokenizer)

        torch.set_flush_denormal(True)  # see titans.ops.chunk_step.flush_small_: subnormals are slow on CPUs
        torch.manual_seed(config.seed)
        self.model = TitansLM(config.model_config(self.tokenizer.vocab_size)).to(self.device)
        if config.init:
            check_saved_tokenizer(load_initial_weights(self.model, Path(config.init)), self.tokenizer, "init")
        self.model.gradient_checkpointing = config.checkpointing
        self.module = self.model
        self.model = wrap_model(self.model, self.topology, config.distributed, self.device)
        self.optimizer = make_optimizer(self.model, config)
        self.forward = torch.compile(self.model) if config.compile else self.model
        self.autocast = config.precision == "bf16" or (config.precision == "auto" and self.device.type == "cuda")
        self.row_shares = self._row_shares()
        # recorded as resolved, so that a resume on a machine with other threads splits the rows alike
        self.config = config = config.replace(row_threads=self.row_shares)

    def _row_shares(self) -> int:
        """Shares of each micro-batch's rows that run on threads at once (TrainConfig.row_threads)."""
        config = self.config
        if self.device.type != "cpu" or self.topology.world > 1 or config.compile:
            return 1
        rows = config.rows // config.accumulation
        return max(1, min(config.row_threads or torch.get_num_threads(), rows))

    def _packed_lanes(self, docs) -> None:
        config = self.config
        train_docs, valid_docs = split_documents(docs, config.valid_fraction)
        if self.tokenizer is None:  # "bpe-N": one process fits it, the others read it from the cache
            texts, pieces = [d.text for d in train_docs], subword_vocab_size(self.tokenizer_name)
            if self.topology.is_main:
                self.tokenizer = fit_subword_tokenizer(texts, pieces)
            self.topology.barrier()
            if not self.topology.is_main:
                self.tokenizer = fit_subword_tokenizer(texts, pieces)
        self.train_lanes = PackedLanes([encode_compact(self.tokenizer, d.text) for d in train_docs], config.rows,
                                       config.context, seed=config.seed)
        valid_tokens = [encode_compact(self.tokenizer, d.text) for d in valid_docs]
        valid_rows = max(self.topology.world, min(config.rows, sum(map(len, valid_tokens)) // (config.context + 1)))
        self.valid_lanes = PackedLanes(valid_tokens, valid_rows, config.context, shuffle=False)

    def _task_batches(self) -> None:
        """Long-context task samples (titans.eval.task_batches): only the answers are scored, and
        validation draws other samples of the same mixture."""
        config = self.config
        names = parse_mixture(config.data)
        rows, context, questions = config.rows, config.context, config.task_questions
        self.train_lanes = TaskBatches(names, rows, context, seed=config.seed, questions=questions,
                                       min_length=config.task_min_length, align=config.task_align)
        self.valid_lanes = TaskBatches(names, rows, context, seed=config.seed + _VALID_SEED_OFFSET, questions=questions)

    # ---- one step ----

    def _loss(self, batch: Batch, state, n_scored_global: int):
        """Sum of the scored tokens' losses, scaled so that gradients average over the global batch."""
        inputs, targets = batch.inputs.to(self.device), batch.targets.to(self.device)
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            reset = batch.device_reset(self.device) if self.config.document_resets else None
            nats, state = self.forward(inputs, state, reset=reset, targets=targets,
                                       target_weights=batch.scored.to(self.device))
        # DDP averages gradients over processes; scale by world so the result is the global mean
        return nats * self.topology.world / max(n_scored_global, 1), nats.detach(), state

    def _step(self, step: int, carried: list | None):
        config, topology = self.config, self.topology
        batch = self.train_lanes.batch(step)
        mine = batch.rows(slice(topology.rank, None, topology.world))
        size = mine.inputs.shape[0] // config.accumulation
        micro = [mine.rows(slice(i * size, (i + 1) * size)) for i in range(config.accumulation)]
        shares = self.row_shares
        if not config.carry_state or self.train_lanes.is_lane_start(step) or carried is None:
            carried = [None] * (config.accumulation * shares)
        elif len(carried) != config.accumulation * shares:
            raise ValueError(f"the run carries {len(carried)} states and this process splits its rows into "
                             f"{config.accumulation * shares}: resume with the row_threads it was trained with "
                             f"(--row-threads {len(carried) // config.accumulation})")
        nats_total, new_states = 0.0, []
        for i, part in enumerate(micro):
            states = carried[i * shares:(i + 1) * shares]
            if shares > 1:
                nats, states = self._backward_in_shares(part, states, batch.num_scored)
            else:
                sync = i == config.accumulation - 1 or not hasattr(self.model, "no_sync")
                with contextlib.nullcontext() if sync else self.model.no_sync():
                    loss, nats, state = self._loss(part, states[0], batch.num_scored)
                    loss.backward()
                states = [state]
            nats_total += float(nats)
            new_states += [state.detach() if config.carry_state else None for state in states]
        loss_value = topology.sum(nats_total) / max(batch.num_scored, 1)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(),
                                                   config.clip if config.clip > 0 else float("inf"))
        grad_norm = float(grad_norm.full_tensor() if hasattr(grad_norm, "full_tensor") else grad_norm)
        finite = math.isfinite(loss_value) and math.isfinite(grad_norm)
        if finite:
            for group in self.optimizer.param_groups:
                group["lr"] = learning_rate(config, step, self.trained_seconds)
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return finite, loss_value, grad_norm, (new_states if config.carry_state else None)

    def _backward_in_shares(self, batch: Batch, states: list, n_scored_global: int):
        """The rows of ``batch`` in ``len(states)`` contiguous shares on as many threads at once
        (titans.ops.row_parallel), each taking its forward and its loss's gradients; the gradients are
        summed in share order into ``.grad`` (a fixed order, so a step repeats exactly). Returns the summed
        nats and each share's new state. The memory's logged gate means (``last_stats``) are then those of
        the share whose forward ended last."""
        params = [p for p in self.model.parameters() if p.requires_grad]

        def share(job):
            rows, state = job
            loss, nats, state = self._loss(batch.rows(rows), state, n_scored_global)
            return torch.autograd.grad(loss, params, allow_unused=True), nats, state

        results = in_parallel(share, list(zip(even_slices(batch.inputs.shape[0], len(states)), states)))
        for p, *grads in zip(params, *(grads for grads, _, _ in results)):
            grads = [g for g in grads if g is not None]
            if grads:
                total = functools.reduce(torch.add, grads)
                p.grad = total if p.grad is None else p.grad + total
        return sum(nats for _, nats, _ in results), [state for _, _, state in results]

    # ---- the run ----

    def validation_batches(self) -> int:
        """Batches of the validation lanes that a validation reads: eval_tokens' worth, at least one."""
        return max(1, self.config.eval_tokens // (self.valid_lanes.rows * self.config.context))

    def validate(self) -> LanguageModelScore:
        return score_language_model(self.module, self.valid_lanes, self.token_bytes,
                                    max_batches=self.validation_batches(),
                                    device=self.device, topology=self.topology, autocast=self.autocast,
                                    carry_state=self.config.carry_state)

    def _check_resumable(self, saved: dict) -> None:
        saved_config = TrainConfig.from_saved(saved["train_config"])

        def value(config: TrainConfig, name: str):  # "auto" and the tokenizer it names are the same setting
            return config.tokenizer_name if name == "tokenizer" else getattr(config, name)

        changed = [f for f in _NUMERIC_FIELDS if value(saved_config, f) != value(self.config, f)]
        if changed:
            raise ValueError(f"cannot resume: the checkpoint was trained with other {', '.join(changed)} "
                             f"({', '.join(f'{f}={value(saved_config, f)!r}' for f in changed)}); "
                             f"resume with the same settings or start a new run folder")

    def _save(self, step: int, carried) -> None:
        trainer_info = {"train_config": self.config.to_dict(), "tokens": step * self.config.batch_tokens,
                        "train_seconds": self.trained_seconds}
        save_checkpoint(self.run_dir / "checkpoints", step, self.model, self.optimizer, self.tokenizer,
                        trainer_info, rank=self.topology.rank, carried=carried, keep=self.config.keep_checkpoints,
                        barrier=self.topology.barrier)

    def _restore(self) -> tuple[int, list | None]:
        """Load the newest intact checkpoint (resume_candidates: the one ``latest`` names first). A damaged
        one is reported and skipped, so that a write cut short or a corrupted file costs the steps since the
        previous checkpoint, not the run; settings that differ from the run's are an error, not damage."""
        candidates = resume_candidates(self.run_dir)
        if not candidates:
            if (self.run_dir / "train_config.json").is_file():
                self._say(f"{self.run_dir} holds no checkpoint yet (the run stopped before its first): "
                          f"starting it from step 0")
                return 0, None
            raise CheckpointError(f"no checkpoint at {self.run_dir}: nothing to resume; give the --out of an "
                                  f"earlier titans train run, or drop --resume to start a new run there")
        damaged = []
        for checkpoint in candidates:
            try:
                self._check_resumable(read_trainer(checkpoint))
                check_saved_tokenizer(checkpoint, self.tokenizer, "resume")
                restored = load_checkpoint(checkpoint, self.model, self.optimizer, rank=self.topology.rank)
            except CheckpointError as error:
                damaged.append(f"{checkpoint.name}: {error}")
                self._say(f"checkpoint {checkpoint} is damaged and was skipped: {error}")
                continue
            if damaged:
                self._say(f"resuming from {checkpoint.name}, the newest intact checkpoint (step {restored.step})")
            self.trained_seconds = restored.trainer.get("train_seconds", 0.0)
            return restored.step, restored.carried
        raise CheckpointError(f"no intact checkpoint in {self.run_dir / 'checkpoints'} "
                              f"({'; '.join(damaged)}); start a new run with another --out")

    def _finished(self, start: int) -> RunSummary:
        """A resume of a run that had already taken its last step: nothing is trained or generated again."""
        shutdown(self.topology)
        return _finished_summary(self.run_dir, start)

    def _write_config(self) -> None:
        """``train_config.json``, replaced atomically: a resume reads its settings from it."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.run_dir / "train_config.json.tmp"
        self.config.save(tmp)
        os.replace(tmp, self.run_dir / "train_config.json")

    def run(self, resume: bool = False) -> RunSummary:
        config, topology = self.config, self.topology
        start, carried = 0, None
        if resume:
            start, carried = self._restore()
            if start >= config.steps or _spent(config, self.trained_seconds):
                return self._finished(start)
        elif (self.run_dir / "checkpoints" / "latest").exists():
            raise FileExistsError(f"{self.run_dir} already holds a run; pass --resume to continue it or "
                                  f"choose another --out (nothing was overwritten)")
        if topology.is_main:
            self._write_config()
        log = MetricsLog(self.run_dir, resume_step=start) if topology.is_main else None
        began = time.perf_counter()
        self._bar = self._progress_bar(start)
        try:
            with _StopSignals() as signals:
                score, carried, done = self._loop(start, carried, log, signals, began)
        finally:
            if self._bar is not None:
                self._bar.close()
                self._bar = None
        sample, sample_path = None, None
        if config.sample_tokens and signals.received is None:  # stopped during the last step: no sample
            sample = self._sample()
            if topology.is_main:
                sample_path = self.run_dir / "sample.txt"
                sample_path.write_text(sample + "\n")
        summary = RunSummary(done - start, (done - start) * config.batch_tokens,
                             time.perf_counter() - began, score, sample, self.run_dir, resumed_from=start,
                             sample_path=sample_path)
        shutdown(topology)
        return summary

    def _loop(self, start: int, carried, log: MetricsLog | None, signals: _StopSignals, began: float):
        """Steps ``start`` to the end; returns the last validation, the carried state and the steps done.
        Checks for a stop signal after every step (see _interrupt)."""
        config = self.config
        score, bad, saved = None, 0, start
        done = start
        try:
            for step in range(start, config.steps):
                lr = learning_rate(config, step, self.trained_seconds)
                tick = time.perf_counter()
                finite, loss, grad_norm, carried_next = self._step(step, carried)
                seconds = time.perf_counter() - tick
                self.trained_seconds += self._slowest(seconds)
                done = step + 1
                last = done == config.steps or _spent(config, self.trained_seconds)
                if finite:
                    bad, carried = 0, carried_next
                    record = {"kind": "train", "step": done, "tokens": done * config.batch_tokens, "loss": loss,
                              "lr": lr, "grad_norm": grad_norm, "train_seconds": self.trained_seconds,
                              "tokens_per_s": config.batch_tokens / seconds, **memory_gate_means(self.module)}
                    if log:
                        log.write(record)
                    self._advance_bar(loss, done - start, began)
                    validating = done % config.eval_every == 0 or last
                    if validating:
                        score = self._validate_and_log(done, log)
                    if done % config.save_every == 0 or last:
                        self._save(done, carried)
                        saved = done
                    if log and (validating or saved == done):  # loss.png keeps up with the checkpoints
                        log.plot()
                else:
                    bad += 1
                    self._say(f"step {done}: non-finite loss or gradient (loss {loss}, grad norm {grad_norm}); "
                              f"step skipped ({bad} in a row)")
                    self._advance_bar(float("nan"), done - start, began)
                    if bad >= config.max_bad_steps:
                        self._diverged(bad, done)
                    if last and saved != done:  # the budget ran out on a skipped step: end where a resume would
                        self._save(done, carried)
                if last:
                    break
                if self._stop_requested(signals):
                    self._interrupt(signals.received or signal.SIGTERM, done, saved, carried, log)
        except KeyboardInterrupt:
            # a second signal (or a KeyboardInterrupt without our handler) during a step or a save
            signum = signals.received or signal.SIGINT
            raise TrainingInterrupted(self._abandoned_message(signum, done), 128 + signum) from None
        return score, carried, done

    def _slowest(self, seconds: float) -> float:
        """A step's time on the slowest process: every process must see the same clock, so that all of
        them end a ``minutes`` budget at the same step (only then is it a collective)."""
        if not self.config.minutes or self.topology.world == 1:
            return seconds
        return self.topology.max(seconds)

    def _validate_and_log(self, done: int, log: MetricsLog | None) -> LanguageModelScore:
        score = self.validate()
        if log:
            scored = score.to_dict()
            scored["scored_tokens"] = scored.pop("tokens")  # "tokens" counts training tokens
            log.write({"kind": "valid", "step": done, "tokens": done * self.config.batch_tokens, **scored})
        self._say(f"step {done}: validation loss {score.loss:.4f}, {score.bits_per_byte:.4f} bits per byte")
        return score

    def _diverged(self, bad: int, done: int) -> None:
        saved = (self.run_dir / "checkpoints" / "latest").exists()
        where = (f"the last good checkpoint is in {self.run_dir / 'checkpoints'}; lower --lr or raise "
                 f"--warmup and --resume" if saved else
                 "no checkpoint had been written yet; lower --lr or raise --warmup and start again")
        raise TrainingDiverged(f"{bad} non-finite steps in a row up to step {done}; the run stopped: {where}")

    def _stop_requested(self, signals: _StopSignals) -> bool:
        """Whether any process received a stop signal: all must stop at the same step, since writing a
        checkpoint is collective (torchrun forwards a signal to every process, not always at once)."""
        if self.topology.world == 1:
            return signals.received is not None
        return self.topology.sum(float(signals.received is not None)) > 0

    def _interrupt(self, signum: int, done: int, saved: int, carried, log: MetricsLog | None) -> None:
        """Write a checkpoint at ``done`` (unless one was just written) and redraw loss.png, then stop."""
        if saved != done:
            self._save(done, carried)
        if log:
            log.plot()
        where = self.run_dir / "checkpoints" / f"step_{done:07d}"
        raise TrainingInterrupted(f"interrupted by {_signal_name(signum)} after step {done} of {self.config.steps}; "
                                  f"checkpoint written to {where}; resume with: {resume_command(self.run_dir)}",
                                  128 + signum)

    def _abandoned_message(self, signum: int, done: int) -> str:
        """A second signal: whatever was under way (a step, a validation, a checkpoint) was dropped."""
        candidates = resume_candidates(self.run_dir)
        kept = (f"the newest checkpoint is {candidates[0]}" if candidates else
                "no checkpoint had been written yet")
        return (f"interrupted by {_signal_name(signum)} a second time: stopped at once with {done} of "
                f"{self.config.steps} steps done; {kept}; resume with: {resume_command(self.run_dir)}")

    def _sample(self) -> str:
        """A continuation of the start of a validation document (every process decodes; rank 0 reports)."""
        prompt = self.valid_lanes.documents[0][:64]
        out = generate(self.module, [prompt], self.config.sample_tokens, TEXT_SAMPLING, seed=self.config.seed)[0]
        return self.tokenizer.decode(prompt) + self.tokenizer.decode(out)

    def _progress_bar(self, start: int):
        """Steps done of all, the elapsed time and the ETA (from this invocation's own rate), the loss and
        the tokens per second averaged over this invocation (validation and checkpoints included); under a
        ``minutes`` budget, the steps done and the time."""
        if not (self.progress and self.topology.is_main):
            return None
        from tqdm import tqdm

        # a minutes budget ends at a step known only when it comes: no total, no ETA
        total = None if self.config.minutes else self.config.steps
        return tqdm(total=total, initial=start, desc="train", unit="step", file=sys.stderr, dynamic_ncols=True)

    def _advance_bar(self, loss: float, steps_run: int, began: float) -> None:
        if self._bar is None:
            return
        tokens_per_s = steps_run * self.config.batch_tokens / max(time.perf_counter() - began, 1e-9)
        self._bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{tokens_per_s:,.0f}", refresh=False)
        self._bar.update(1)

    def _say(self, message: str) -> None:
        """A log line on stderr; above the progress bar when one is shown (never onto its line)."""
        if not self.topology.is_main:
            return
        if self._bar is not None:
            self._bar.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr, flush=True)
