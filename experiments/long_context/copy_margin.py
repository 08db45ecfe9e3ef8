"""Does a model read a word answer from the context, before it answers exactly? (the README's W and qa1 attempts)

Exact match says nothing until a whole word is right. This reads, on samples of a task whose answer is a
word (W by default, its needle at depth 50 %, or a bAbI task; evaluation part), the log-probability the
model gives each letter of the answer after the question, teacher-forced, and the same for a distractor:
another sample's answer of the same kind that this prompt does not hold. A model that ignores the
context gives both the same; the gap is what the copy adds, per letter and at the first letter (the one
the lookup must find):

    python experiments/long_context/copy_margin.py experiments/long_context/checkpoints/lmm-mix
    python experiments/long_context/copy_margin.py experiments/long_context/checkpoints/lmm-w --task qa1
"""

from __future__ import annotations

import argparse

import torch

from titans.cli.loading import load_trained
from titans.eval.catalog import make_tasks
from titans.eval.tasks import sample_seed


@torch.no_grad()
def answer_log_probs(model, prompt: bytes, answers: list[str]) -> list[torch.Tensor]:
    """log p of each byte of every answer after ``prompt + " "``, teacher-forced; the prompt is read once
    and each answer continues from its state (the streaming tests hold a split read equal to one call)."""
    _, state = model(torch.tensor([list(prompt)]))
    out = []
    for answer in answers:
        target = list(answer.encode())
        logits, _ = model(torch.tensor([[ord(" "), *target[:-1]]]), state)
        out.append(logits.log_softmax(-1)[0, torch.arange(len(target)), target])
    return out


def distractor(samples: list, i: int) -> str | None:
    """The answer sample ``i`` is compared against: the next sample's answer that differs from its own,
    is of its kind (a name or a word: a capital letter scores low for a word whatever the model read),
    and is not in its prompt (a bAbI story names several places; one it holds may be read from it);
    any of its kind if every one is in the prompt; None if none differs."""
    own = samples[i]
    kind = own.answer[:1].isupper()
    others = [s.answer for s in samples[i + 1:] + samples[:i]
              if s.answer != own.answer and s.answer[:1].isupper() == kind]
    absent = [a for a in others if f" {a}".encode() not in own.prompt]
    return next(iter(absent or others), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="run folder, checkpoint folder, or save_pretrained folder")
    parser.add_argument("--length", type=int, default=512, help="prompt bytes (default: 512)")
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--task", default="w", choices=("w", "qa1", "qa2", "qa3", "qa4", "qa5"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, _ = load_trained(args.checkpoint)
    task = make_tasks([args.task], "eval")[args.task]
    samples = [task.sample(args.length, 0.5, sample_seed("copy-margin", i, args.seed)) for i in range(args.samples)]
    totals, compared = torch.zeros(4), 0
    for i, sample in enumerate(samples):
        other = distractor(samples, i)
        if other is None:
            continue
        own, foreign = answer_log_probs(model, sample.prompt, [sample.answer, other])
        totals += torch.tensor([own.mean(), foreign.mean(), own[0], foreign[0]])
        compared += 1
    if not compared:
        raise SystemExit(f"no sample of {args.samples} has a distractor (another answer of its kind): "
                         "ask for more --samples")
    own, foreign, own_first, foreign_first = (totals / compared).tolist()
    print(f"{args.checkpoint}: log p per letter, the answer {own:.2f}, a distractor {foreign:.2f} "
          f"(gap {own - foreign:.2f}); first letter {own_first:.2f} and {foreign_first:.2f} "
          f"(gap {own_first - foreign_first:.2f}); {compared} {args.task} samples of {args.length} bytes")


if __name__ == "__main__":
    main()
