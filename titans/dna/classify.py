"""Training and scoring sequence classifiers on labelled DNA, several models x several seeds.

Protocol (the same for every model): the test part is never seen before the end. A stratified tenth of
the training part (drawn with the run's seed) is held out for early stopping; AdamW with a cosine rate
over at most ``epochs`` epochs; the weights of the epoch with the best validation accuracy (ties: lower
validation loss) are scored on the test part. Accuracy is reported per seed and as mean ± sample std.
"""

from __future__ import annotations

import copy
import math
import statistics
import time
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F

from ..config import VARIANTS, TitansConfig
from ..data.tokenizers import NucleotideTokenizer
from ..models import TitansLM
from .classifier import ConvClassifier, SequenceClassifier
from .labelled import LabelledSequences

MODELS = ("cnn", *VARIANTS)

# Backbone for short sequences (60 bases): every variant's window and segment cover the whole sequence, so
# the variants differ by their memory, not by what attention can see.
SHORT_SEQUENCE_MODEL = {"dim": 64, "layers": 2, "heads": 4, "window": 64, "segment": 64, "persistent": 4,
                        "memory_heads": 4, "memory_chunk": 8, "memory_depth": 2, "memory_expansion": 2}


@dataclass(frozen=True)
class ClassifyConfig:
    """One classification run (a model on a data set, for one seed)."""

    model: str = "mag"
    """cnn (the convolutional baseline) or a Titans variant (mac, mag, mal, lmm, transformer, swa)."""
    backbone: dict = field(default_factory=lambda: dict(SHORT_SEQUENCE_MODEL))
    """TitansConfig fields of a fresh backbone (ignored with a pre-trained one)."""
    pooling: str = "flatten"
    """flatten, last or mean (titans.dna.classifier); flatten measured best on splice junctions."""
    epochs: int = 30
    """At most this many passes over the training part."""
    patience: int = 10
    """Stop after this many epochs without a better validation accuracy."""
    batch: int = 64
    """Sequences per step."""
    lr: float = 2e-3
    """Peak AdamW rate (cosine to a tenth); a pre-trained backbone usually wants less."""
    weight_decay: float = 0.05
    """AdamW weight decay."""
    dropout: float = 0.1
    """Dropout before the head (and inside the CNN)."""
    valid_fraction: float = 0.1
    """Stratified share of the training part held out for early stopping."""
    seed: int = 0
    """Seed of the initialisation, the validation draw and the batch order."""

    def __post_init__(self):
        if self.model not in MODELS:
            raise ValueError(f"model {self.model!r}: expected one of {', '.join(MODELS)}")
        if self.epochs < 1 or self.patience < 1 or self.batch < 1 or self.lr <= 0:
            raise ValueError("epochs, patience and batch must be positive, and lr > 0")
        if not 0 < self.valid_fraction < 0.5:
            raise ValueError(f"valid_fraction {self.valid_fraction}: use a share in (0, 0.5)")


def encode(part: LabelledSequences, tokenizer: NucleotideTokenizer) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(tokens ``[N, T]`` padded on the right with ``<pad>``, mask ``[N, T]`` or None when no sequence
    is padded (the backbones' unmasked path is faster), labels ``[N]``)."""
    longest = max(map(len, part.sequences))
    tokens = torch.full((len(part), longest), tokenizer.PAD, dtype=torch.long)
    mask = torch.zeros(len(part), longest, dtype=torch.bool)
    for i, sequence in enumerate(part.sequences):
        ids = torch.from_numpy(tokenizer.encode_array(sequence).astype("int64"))
        tokens[i, : len(ids)], mask[i, : len(ids)] = ids, True
    return tokens, (None if bool(mask.all()) else mask), torch.tensor(part.labels, dtype=torch.long)


def stratified_holdout(labels: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train indices, validation indices): ``ceil(fraction * n_c)`` of each class c, drawn with ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    keep, held = [], []
    for c in labels.unique().tolist():
        rows = (labels == c).nonzero().flatten()
        rows = rows[torch.randperm(len(rows), generator=generator)]
        cut = min(len(rows) - 1, math.ceil(fraction * len(rows)))
        held.append(rows[:cut])
        keep.append(rows[cut:])
    return torch.cat(keep).sort().values, torch.cat(held).sort().values


def make_classifier(config: ClassifyConfig, classes: int, tokenizer: NucleotideTokenizer, length: int,
                    backbone: TitansLM | None = None) -> torch.nn.Module:
    """The model of ``config`` for sequences of at most ``length`` bases (a pre-trained ``backbone``
    replaces the fresh one: its variant wins)."""
    if config.model == "cnn":
        return ConvClassifier(tokenizer.vocab_size, classes, length, dropout=config.dropout)
    if backbone is None:
        backbone = TitansLM(TitansConfig(**{**config.backbone, "variant": config.model,
                                            "vocab_size": tokenizer.vocab_size}))
    elif backbone.config.vocab_size != tokenizer.vocab_size:
        raise ValueError(f"the pre-trained backbone has a vocabulary of {backbone.config.vocab_size}, the "
                         f"{tokenizer.name} tokenizer {tokenizer.vocab_size}: pre-train it on DNA "
                         f"(titans dna pretrain) with the same tokenizer")
    return SequenceClassifier(backbone, classes, pooling=config.pooling, dropout=config.dropout, length=length)


@torch.no_grad()
def evaluate(model: torch.nn.Module, tokens, mask, labels, batch: int = 256) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of ``model`` in eval mode."""
    model.eval()
    correct, loss = 0, 0.0
    for start in range(0, len(labels), batch):
        part = slice(start, start + batch)
        logits = model(tokens[part], None if mask is None else mask[part])
        correct += int((logits.argmax(-1) == labels[part]).sum())
        loss += float(F.cross_entropy(logits, labels[part], reduction="sum"))
    return correct / len(labels), loss / len(labels)


def train_classifier(config: ClassifyConfig, train: LabelledSequences, test: LabelledSequences, *,
                     backbone: TitansLM | None = None, log=print, progress=None) -> dict:
    """Train one model for one seed (module doc) and return its record: test accuracy and loss, the best
    epoch, the validation curve, parameters, seconds. progress: called with 1 after every epoch (a
    progress bar's ``update``), or None."""
    if train.classes != test.classes:
        raise ValueError(f"train classes {train.classes} differ from test classes {test.classes}")
    tokenizer = NucleotideTokenizer()
    tokens, mask, labels = encode(train, tokenizer)
    fit, held = stratified_holdout(labels, config.valid_fraction, config.seed)
    torch.manual_seed(config.seed)
    length = max(map(len, train.sequences + test.sequences))
    model = make_classifier(config, len(train.classes), tokenizer, length,
                            None if backbone is None else copy.deepcopy(backbone))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(fit) / config.batch)
    total = steps_per_epoch * config.epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(step, total) / total)))
    generator = torch.Generator().manual_seed(config.seed)
    best, best_state, curve, since_best = None, None, [], 0
    start = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        model.train()
        for rows in fit[torch.randperm(len(fit), generator=generator)].split(config.batch):
            loss = F.cross_entropy(model(tokens[rows], None if mask is None else mask[rows]), labels[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
        accuracy, valid_loss = evaluate(model, tokens[held], None if mask is None else mask[held], labels[held])
        curve.append({"epoch": epoch, "valid_accuracy": accuracy, "valid_loss": valid_loss})
        if best is None or (accuracy, -valid_loss) > (best["valid_accuracy"], -best["valid_loss"]):
            best, best_state, since_best = curve[-1], copy.deepcopy(model.state_dict()), 0
        else:
            since_best += 1
        log(f"  epoch {epoch}: valid accuracy {accuracy:.4f}, loss {valid_loss:.4f}")
        if progress is not None:
            progress(1)
        if since_best >= config.patience:
            break
    model.load_state_dict(best_state)
    test_tokens, test_mask, test_labels = encode(test, tokenizer)
    test_accuracy, test_loss = evaluate(model, test_tokens, test_mask, test_labels)
    return {"config": asdict(config), "pretrained": backbone is not None, "test_accuracy": test_accuracy,
            "test_loss": test_loss, "best_epoch": best["epoch"], "epochs_run": len(curve), "curve": curve,
            "parameters": sum(p.numel() for p in model.parameters()),
            "seconds": time.perf_counter() - start}


def summarise(records: list[dict]) -> dict:
    """Mean and sample std of the test accuracy over seeds (std 0 for one seed)."""
    accuracies = [r["test_accuracy"] for r in records]
    return {"mean": statistics.fmean(accuracies),
            "std": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
            "seeds": [r["config"]["seed"] for r in records], "accuracies": accuracies}
