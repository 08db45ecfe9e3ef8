"""What a training run does: one dataclass, validated, readable from TOML or YAML, saved with the run."""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..config import PRESETS, VARIANTS, TitansConfig
from ..data.recipes import RECIPES
from ..data.subword import subword_vocab_size
from ..eval.task_batches import MIN_SAMPLE_LENGTH


PRECISIONS = ("auto", "fp32", "bf16")

# fields added after runs had been saved, with the value those runs were trained with
_FIELDS_ADDED_LATER = {"row_threads": 1}


@dataclass(frozen=True)
class TrainConfig:
    """A training run; the defaults are the README's main job (the main-preset MAC on the Wikipedia articles, ~9 min)."""

    preset: str = "main"
    """Model preset (titans.config.PRESETS)."""
    variant: str = "mac"
    """Model variant: mac, mag, mal, lmm, transformer, swa."""
    model: dict = field(default_factory=dict)
    """Model fields overriding the preset (e.g. {"dim": 128}); vocab_size comes from the tokenizer."""
    data: str = "wikipedia"
    """A corpus recipe (wikipedia, shakespeare, milton, austen; DNA: bacteria, ecoli, klebsiella, drosophila), a
    path (text file, folder of .txt, enwik8, text8, FASTA), or a long-context task mixture such as tasks:pk,n,w
    or tasks:all (answers scored only; titans.eval; a task named twice is drawn twice as often)."""
    task_questions: int = 1
    """Questions per sample of a task mixture: the last ends the sample; the others are asked, and answered,
    at random places after the facts (more copy targets per step, at every distance)."""
    task_min_length: int = 0
    """A task mixture's length curriculum: each training row packs samples of lengths log-uniform in
    [task_min_length, context] bytes (0: one sample of context bytes per row; validation always is)."""
    task_align: int = 0
    """A task mixture's answer placement: half the training samples end their prompt at a multiple of
    task_align bytes from the row's start (0: wherever the sample's length puts it). Set it to MAC's segment:
    evaluation prompts of 2^k bytes start the answer on a segment boundary, where MAC's attention holds none
    of the question, and packed training samples put it there about once in a segment's length
    (experiments/long_context/README.md, "What caps MAC")."""
    init: str = ""
    """Start from these weights (a run folder, a checkpoint, or a save_pretrained folder) with a fresh optimiser
    and schedule: fine-tuning, or a curriculum in stages. The model must be configured the same, but for the
    attention window, MAC segment and what the memory forgets towards ("": a fresh initialisation)."""
    tokenizer: str = "auto"
    """bytes (vocab 256), bpe-N (a SentencePiece BPE of N pieces fitted to the training split, cached; see
    titans.data.subword), llama2 (the 32K SentencePiece of the paper's family), a SentencePiece .model path,
    nucleotides / nucleotides-masked for DNA, or auto: the data recipe's own (bpe-8192 for wikipedia, the main
    job's; nucleotides for the genomes; bytes for every other recipe, path and task mixture).
    ``tokenizer_name`` is the one it resolves to."""
    valid_fraction: float = 0.05
    """Share of the corpus held out for validation (deterministic; see titans.data.split_documents)."""
    context: int = 256
    """Tokens per row of a batch."""
    batch_tokens: int = 2048
    """Tokens per optimiser step, all processes together (rows = batch_tokens // context). The main job's
    2,048 (8 rows of 256) learn more per token than 4,096 in its few passes over the articles (0.013 bits per
    byte lower at the same 2.2M tokens, both read on the same validation lanes) for 0.75-0.95x of MAC's
    tokens per second on two cores (1,024: 0.62-0.68x); benchmarks/README.md, "Half the batch, a higher
    floor"."""
    accumulation: int = 1
    """Micro-batches per step on each process (gradient accumulation); must divide the rows per process."""
    row_threads: int = 0
    """On the CPU, each micro-batch's rows are split into this many shares that run at once, one thread and
    one intra-op thread each, their gradients summed in a fixed order (0: torch's intra-op thread count,
    at most the rows; 1: one forward over all rows with torch's intra-op parallelism). The memory models'
    many small ops leave cores idle under intra-op parallelism: on two cores the main job's MAC step (then of
    16 rows) took 0.70-0.75x the time (benchmarks/README.md, "Rows over threads and the head in blocks"). Taken as 1 on a
    GPU, under torchrun and with compile. The shares change how rows are batched in a matmul, so a resumed
    run repeats its losses exactly with the same count: a run records the count it resolved 0 to, and a
    resume keeps it (with carry_state each share keeps its rows' states). Each share holds a set of
    gradients until they are summed: on many cores with a large model, a smaller count saves memory."""
    carry_state: bool = False
    """Carry each row's model state into the next step (truncated backprop through the memory)."""
    document_resets: bool = True
    """Restart the model at each training document's first token (the memory back to its initial weights,
    attention blind to what came before). False reads the training documents as one stream, so that with
    carry_state a memory runs on across documents, far past the longest one, as it does when a long text is
    read (validation keeps the resets)."""
    steps: int = 1400
    """Optimiser steps (with ``minutes``, the most that the budget may take)."""
    minutes: float = 0.0
    """A budget of training time instead of a count of steps (0: none). The run ends after the step at which
    its steps' own time (batch, forward, backward, update; not validation, checkpoints or the sample) reaches
    this many minutes, and the cosine decays over that time instead of over ``steps``: two models given the
    same budget have had the same time to learn, however fast each one's step is (benchmarks/main_job.py),
    where steps set from a timed step misjudged a model's pace by up to a fifth here. The warm-up still counts
    steps. Such a run follows the machine's pace, so it is not repeatable to the loss: a resume continues
    its clock from the checkpoint."""
    lr: float = 2e-3
    """Peak learning rate (AdamW). The main job's 1,400 steps ended at 2.287 bits per byte at 2e-3, 2.289 at 1.5e-3
    and 2.313 at 4e-3 (one thread each), and 2.297 at 3e-3, the rate chosen while the memory was in every block
    (benchmarks/README.md, "The learning rate of the memory in the last block"); at 2e-3 as run, 2.283."""
    min_lr_ratio: float = 0.5
    """Final learning rate as a share of the peak, reached by the cosine decay. The main job, a few passes
    over its articles in ten minutes, ended 0.020 higher decaying to zero than to a tenth (then at 16 rows and
    lr 2e-3), and 0.009 lower at a half than at a tenth (8 rows, lr 3e-3) (benchmarks/README.md, "Half the batch, a higher floor"): in so short a run the steps at a high
    rate are worth more than the settling at the end."""
    warmup: int = 40
    """Steps of linear warm-up."""
    weight_decay: float = 0.1
    """AdamW weight decay (matrices only; norms, gains and biases are not decayed)."""
    betas: tuple = (0.9, 0.95)
    """AdamW betas."""
    clip: float = 1.0
    """Gradient-norm clipping threshold (0: none)."""
    seed: int = 0
    """Seed of the initialisation, the document order and the sampling."""
    eval_every: int = 280
    """Validate every this many steps (and at the end)."""
    eval_tokens: int = 32768
    """Validation tokens per evaluation (at most the validation split)."""
    save_every: int = 280
    """Checkpoint every this many steps (and at the end)."""
    keep_checkpoints: int = 2
    """Checkpoints kept in the run folder (oldest deleted first)."""
    max_bad_steps: int = 5
    """Consecutive non-finite steps after which the run stops (each one is skipped and reported)."""
    device: str = "auto"
    """cpu, cuda, cuda:N, or auto (cuda when available)."""
    compile: bool = False
    """Compile the model with torch.compile."""
    precision: str = "auto"
    """fp32, or bf16 (autocast: matmuls in bfloat16, the memory's state and gates in float32); auto: bf16 on
    CUDA, fp32 on the CPU (where a resumed run then repeats the losses exactly)."""
    checkpointing: bool = False
    """Recompute each block in the backward pass instead of keeping its activations (long contexts)."""
    distributed: str = "ddp"
    """With several processes (torchrun): ddp (replicated) or fsdp (FSDP2 fully_shard, for large presets)."""
    sample_tokens: int = 300
    """Tokens generated from a validation prompt at the end of the run (0: none)."""
    out: str = "runs/main"
    """Run folder: checkpoints, metrics.jsonl, loss.png, the effective config."""

    def __post_init__(self):
        def fail(what: str, fix: str):
            raise ValueError(f"TrainConfig: {what}; {fix}")

        if self.preset not in PRESETS:
            fail(f"unknown preset {self.preset!r}", f"choose one of {', '.join(PRESETS)}")
        if self.variant not in VARIANTS:
            fail(f"unknown variant {self.variant!r}", f"choose one of {', '.join(VARIANTS)}")
        if self.row_threads < 0:
            fail(f"row_threads = {self.row_threads}", "use 0 (as many as torch's threads) or a positive count")
        for name in ("context", "batch_tokens", "accumulation", "steps", "eval_every", "eval_tokens",
                     "save_every", "keep_checkpoints", "max_bad_steps", "task_questions"):
            if getattr(self, name) < 1:
                fail(f"{name} = {getattr(self, name)}", "it must be a positive integer")
        if self.batch_tokens < self.context:
            fail(f"batch_tokens = {self.batch_tokens} < context = {self.context}",
                 "a step needs at least one full row")
        if not 0 < self.valid_fraction <= 0.5:
            fail(f"valid_fraction = {self.valid_fraction}", "use a share in (0, 0.5]")
        if not 0 <= self.minutes < math.inf:
            fail(f"minutes = {self.minutes}", "give a budget in minutes, or 0 to train for `steps` steps")
        if self.lr <= 0 or not 0 <= self.min_lr_ratio <= 1:
            fail(f"lr = {self.lr}, min_lr_ratio = {self.min_lr_ratio}", "lr > 0 and min_lr_ratio in [0, 1]")
        if self.warmup < 0 or self.clip < 0 or self.weight_decay < 0 or self.sample_tokens < 0:
            fail("warmup, clip, weight_decay and sample_tokens must be >= 0", "fix the negative value")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            fail(f"betas = {self.betas}", "give two numbers in [0, 1)")
        if self.precision not in PRECISIONS:
            fail(f"precision = {self.precision!r}", f"use one of {', '.join(PRECISIONS)}")
        if self.distributed not in ("ddp", "fsdp"):
            fail(f"distributed = {self.distributed!r}", "use ddp or fsdp")
        if self.task_min_length and not (
            self.data.startswith("tasks:") and MIN_SAMPLE_LENGTH <= self.task_min_length <= self.context
        ):
            fail(f"task_min_length = {self.task_min_length} with data = {self.data!r}, context = {self.context}",
                 f"it applies to task mixtures (data = tasks:...) and must lie in [{MIN_SAMPLE_LENGTH}, context]; "
                 "0 turns it off")
        if not self.document_resets and self.data.startswith("tasks:"):
            fail("document_resets = false with a task mixture",
                 "the resets keep each packed task sample from seeing the others: keep them for tasks:...")
        if self.task_align and not (self.data.startswith("tasks:") and 0 < self.task_align <= self.context):
            fail(f"task_align = {self.task_align} with data = {self.data!r}, context = {self.context}",
                 "it applies to task mixtures (data = tasks:...) and must lie in [1, context]; 0 turns it off")
        if self.data.startswith("tasks:") and self.tokenizer_name != "bytes":
            fail(f"data = {self.data!r} with tokenizer = {self.tokenizer!r}",
                 "long-context task samples are measured in bytes; use tokenizer = bytes (or auto)")
        try:
            subword_vocab_size(self.tokenizer_name)
        except ValueError as error:
            fail(str(error), "the other tokenizers are bytes, llama2, a SentencePiece .model file or a saved "
                             "tokenizer folder")
        if "vocab_size" in self.model:
            fail("model.vocab_size is set", "the tokenizer decides the vocabulary; remove it")
        self.model_config(256)  # unknown or invalid model fields fail now, not after the data is loaded

    @property
    def tokenizer_name(self) -> str:
        """The tokenizer the run reads its data with: ``tokenizer``, or for auto the data recipe's own."""
        if self.tokenizer != "auto":
            return self.tokenizer
        recipe = RECIPES.get(self.data)
        return recipe.tokenizer if recipe else "bytes"

    @property
    def rows(self) -> int:
        return self.batch_tokens // self.context

    def model_config(self, vocab_size: int) -> TitansConfig:
        fields = {f.name for f in dataclasses.fields(TitansConfig)}
        unknown = sorted(set(self.model) - fields)
        if unknown:
            raise ValueError(f"TrainConfig: unknown model fields {unknown}; known: {sorted(fields)}")
        try:
            return TitansConfig.from_name(self.preset, variant=self.variant, vocab_size=vocab_size, **self.model)
        except (TypeError, OverflowError) as error:  # a model field of the wrong type
            raise ValueError(f"TrainConfig: model fields {self.model!r:.200}: {error}") from None

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["betas"] = list(self.betas)
        return data

    @classmethod
    def from_dict(cls, data: dict, base: "TrainConfig | None" = None) -> "TrainConfig":
        """The fields of ``data`` over the defaults, or over ``base`` when given."""
        if not isinstance(data, dict):
            raise ValueError(f"TrainConfig: expected a table of fields, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(str(k) for k in set(data) - known)
        if unknown:
            raise ValueError(f"TrainConfig: unknown fields {unknown}; known: {sorted(known)}")
        data = dict(data)
        for name, value in data.items():
            _check_type(name, value)
        if "betas" in data:
            data["betas"] = tuple(data["betas"])
        return cls(**data) if base is None else dataclasses.replace(base, **data)

    @classmethod
    def from_saved(cls, data: dict) -> "TrainConfig":
        """A run's saved settings (``train_config.json``, a checkpoint's ``trainer.json``): a field the run
        predates takes the value that its steps were computed with, not today's default."""
        if not isinstance(data, dict):
            raise ValueError(f"TrainConfig: expected a table of fields, got {type(data).__name__}")
        return cls.from_dict({**_FIELDS_ADDED_LATER, **data})

    @classmethod
    def from_file(cls, path: str | Path, base: "TrainConfig | None" = None) -> "TrainConfig":
        """Read a TOML (``.toml``) or YAML (``.yaml``/``.yml``) file of TrainConfig fields (over ``base``)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file {path} does not exist")
        if path.suffix not in (".toml", ".yaml", ".yml"):
            raise ValueError(f"config file {path}: expected a .toml, .yaml or .yml file")
        if path.stat().st_size > _MAX_CONFIG_BYTES:
            raise ValueError(f"config file {path} is {path.stat().st_size:,} bytes: not a run config (those are a "
                             f"few dozen lines); check the path")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(f"config file {path} is not UTF-8 text (byte {error.start:,}); give a TOML or YAML "
                             f"file of TrainConfig fields") from None
        if path.suffix == ".toml":
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError as error:
                raise ValueError(f"config file {path} is not valid TOML: {error}; fix that line") from None
        else:
            import yaml

            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError as error:
                where = getattr(error, "problem_mark", None)
                line = f" (line {where.line + 1})" if where is not None else ""
                raise ValueError(f"config file {path} is not valid YAML{line}: "
                                 f"{getattr(error, 'problem', None) or error}; fix that line") from None
            except RecursionError:
                raise ValueError(f"config file {path}: YAML nested too deeply; a run config is a flat table "
                                 f"of TrainConfig fields") from None
            data = {} if data is None else data
        if not isinstance(data, dict):
            raise ValueError(f"config file {path}: expected a table of TrainConfig fields, got a "
                             f"{type(data).__name__}")
        try:
            return cls.from_dict(data, base)
        except ValueError as error:
            raise ValueError(f"config file {path}: {error}") from None

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1) + "\n")


_MAX_CONFIG_BYTES = 1 << 20
_DEFAULTS = {f.name: (f.default if f.default is not dataclasses.MISSING else f.default_factory())
             for f in dataclasses.fields(TrainConfig)}


def _check_type(name: str, value) -> None:
    """A field's value of the type its default has (a YAML/TOML file can hold any type): a clear error
    instead of a TypeError from a comparison deep inside."""
    default = _DEFAULTS[name]
    if isinstance(default, bool):
        ok = isinstance(value, bool)
        kind = "true or false"
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
        kind = "an integer"
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        kind = "a finite number"
    elif isinstance(default, str):
        ok = isinstance(value, str)
        kind = "a string"
    elif isinstance(default, dict):
        ok = isinstance(value, dict) and all(isinstance(k, str) for k in value)
        kind = "a table of model fields"
    else:  # betas
        ok = (isinstance(value, (list, tuple)) and all(isinstance(b, (int, float)) and not isinstance(b, bool)
                                                      for b in value))
        kind = "a list of numbers"
    if not ok:
        raise ValueError(f"TrainConfig: {name} = {value!r:.80} is not {kind}")
