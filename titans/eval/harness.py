"""lm-evaluation-harness support (optional extra ``eval``): a model type registered as ``titans``.

``import titans.eval.harness`` registers :class:`TitansHarnessLM` with lm-eval, so that
``lm_eval.simple_evaluate(model="titans", model_args="pretrained=runs/main", tasks=[...])`` (or
``titans eval harness RUN --tasks ...``) scores a trained model:

- ``loglikelihood``: context + continuation read as one sequence (in windows of ``window`` tokens with the
  state carried), the continuation's log-probability summed; right-padded batches of ``batch_size``.
- ``loglikelihood_rolling``: a whole document read the same way, every token scored once with all of
  the document before it in the state — however long it is (the memory's advantage), in bounded memory.
  Equal to ``titans eval ppl``'s reading of the same text with the state carried.
- ``generate_until``: greedy decoding (``titans.generate``) until a stop string or ``max_gen_toks``.

Titans models are trained without BOS/EOS tokens: a document's first token has nothing before it and is
not scored (as in training and ``eval ppl``). So a rolling loglikelihood covers tokens 2..n, and an
empty context makes the continuation's first token the context.
"""

from __future__ import annotations

import warnings
from importlib.metadata import version

from tqdm import tqdm

try:
    from lm_eval.api.model import LM
    from lm_eval.api.registry import register_model
    from packaging.version import Version
except ImportError:
    raise ImportError("titans eval harness needs lm-evaluation-harness (lm-eval>=0.4.13,<0.5): "
                      "pip install -e '.[eval]'") from None

from ..generate import Sampling, generate
from .likelihood import score_tokens

TESTED_RANGE = "lm-eval>=0.4.13,<0.5"


def check_lm_eval(installed: str | None = None) -> None:
    """Raise ImportError unless lm-eval is at a tested version (``installed`` overrides the real one, for
    tests): another release may change the model API (the request types, what they return)."""
    installed = installed or version("lm-eval")
    if not Version("0.4.13") <= Version(installed) < Version("0.5"):
        raise ImportError(f"titans.eval.harness was tested with {TESTED_RANGE}, but lm-eval {installed} is "
                          f"installed; its model API may differ. Install a tested version: pip install "
                          f"\"{TESTED_RANGE}\"")


check_lm_eval()


@register_model("titans")
class TitansHarnessLM(LM):
    """A trained Titans model as an lm-eval ``LM``.

    pretrained: a run folder, checkpoint or save_pretrained folder (what ``titans eval`` reads); or pass
    ``model`` and ``tokenizer`` objects instead. window: tokens per model call while scoring (the state
    carries the rest). batch_size: sequences scored side by side. max_gen_toks: generation length when a
    task does not set one. device: where ``pretrained`` is loaded (cpu or cuda). max_batch_size: accepted
    because lm-eval passes it; unused (no automatic batch size).
    """

    def __init__(self, pretrained: str | None = None, *, model=None, tokenizer=None, device: str | None = None,
                 batch_size: int | str = 8, window: int = 512, max_gen_toks: int = 256,
                 max_batch_size: int | None = None):
        super().__init__()
        if (pretrained is None) == (model is None) or (model is None) != (tokenizer is None):
            raise ValueError("give pretrained=PATH, or model and tokenizer objects (not both)")
        if model is None:
            from ..cli.loading import load_trained

            model, tokenizer = load_trained(str(pretrained), device or "cpu")
        if not str(batch_size).isdigit() or int(batch_size) < 1:
            raise ValueError(f"batch_size must be a positive integer (no 'auto'), got {batch_size!r}")
        for name, value in (("window", window), ("max_gen_toks", max_gen_toks)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.model, self.tokenizer = model.eval(), tokenizer
        self.batch_size, self.window, self.max_gen_toks = int(batch_size), window, max_gen_toks
        self._device = next(model.parameters()).device

    def get_model_info(self) -> dict:
        """Added to lm-eval's results under ``config``."""
        return {"variant": self.model.config.variant, "parameters": self.model.num_parameters(),
                "tokenizer": self.tokenizer.name, "window": self.window}

    # --- scoring ---------------------------------------------------------------------------------------------

    def _encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        """Context and continuation tokens, split where lm-eval splits them: trailing spaces of the context
        go to the continuation, and the whole text is encoded at once (tokens across the boundary stay as
        the model would read them)."""
        stripped = context.rstrip()
        context, continuation = stripped, context[len(stripped):] + continuation
        whole = self.tokenizer.encode(context + continuation)
        n = len(self.tokenizer.encode(context)) if context else 1  # no context: the first token is read only
        if len(whole) <= n:
            warnings.warn(f"nothing to score in the continuation {continuation!r} (context {context!r}): its "
                          f"log-probability counts as 0", stacklevel=3)
        return whole[:n], whole[n:]

    def _score(self, sequences: list[list[int]], what: str, disable_tqdm: bool):
        with tqdm(total=len(sequences), desc=f"titans {what}", disable=disable_tqdm) as bar:
            return score_tokens(self.model, sequences, window=self.window, batch=self.batch_size,
                                progress=bar.update)

    def loglikelihood(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        pairs = [self._encode_pair(*request.args) for request in requests]
        scores = self._score([context + continuation for context, continuation in pairs], "loglikelihood",
                             disable_tqdm)
        results = [score.last(len(continuation)) for score, (_, continuation) in zip(scores, pairs)]
        for request, result in zip(requests, results):
            self.cache_hook.add_partial("loglikelihood", request.args, result)
        return results

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        scores = self._score([self.tokenizer.encode(request.args[0]) for request in requests],
                             "loglikelihood_rolling", disable_tqdm)
        results = [score.last(len(score.logprobs))[0] for score in scores]
        for request, result in zip(requests, results):
            self.cache_hook.add_partial("loglikelihood_rolling", request.args, result)
        return results

    # --- generation ------------------------------------------------------------------------------------------

    def _generation_settings(self, kwargs: dict) -> tuple[tuple[str, ...], int]:
        """Stop strings and token budget from a task's generation_kwargs; sampling is refused."""
        kwargs = dict(kwargs or {})
        if kwargs.pop("do_sample", False) or (kwargs.pop("temperature", 0.0) or 0.0) > 0:
            raise ValueError("titans' lm-eval model decodes greedily; the task asks for sampling (do_sample / "
                             "temperature > 0)")
        until = kwargs.pop("until", None) or ()
        until = (until,) if isinstance(until, str) else tuple(until)
        return until, int(kwargs.pop("max_gen_toks", self.max_gen_toks))

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        """Greedy continuations, cut before the first stop string. Prompts of the same length (and settings)
        are decoded side by side: no padding, so each is what it would be alone."""
        groups: dict[tuple, list[int]] = {}
        prompts = []
        for i, request in enumerate(requests):
            context, kwargs = request.args
            prompts.append(self.tokenizer.encode(context))
            if not prompts[-1]:
                raise ValueError("generate_until: an empty prompt (a Titans model needs a token to start from)")
            groups.setdefault((len(prompts[-1]), *self._generation_settings(kwargs)), []).append(i)
        results: list[str] = [""] * len(requests)
        with tqdm(total=len(requests), desc="titans generate_until", disable=disable_tqdm) as bar:
            for (_, until, max_tokens), members in groups.items():
                for start in range(0, len(members), self.batch_size):
                    rows = members[start:start + self.batch_size]
                    for i, text in zip(rows, self._greedy([prompts[i] for i in rows], until, max_tokens)):
                        results[i] = text
                        self.cache_hook.add_partial("generate_until", requests[i].args, text)
                    bar.update(len(rows))
        return results

    def _greedy(self, prompts: list[list[int]], until: tuple[str, ...], max_tokens: int) -> list[str]:
        """Greedy continuations of prompts of one length, each cut before its first stop string."""
        def stopped(tokens: list[int]) -> bool:
            return _cut(self.tokenizer.decode(tokens), until) is not None

        outputs = generate(self.model, prompts, max_tokens, Sampling(temperature=0), until=stopped if until else None)
        texts = [self.tokenizer.decode(output) for output in outputs]
        return [text[:_cut(text, until)] for text in texts]


def _cut(text: str, until: tuple[str, ...]) -> int | None:
    """Where the first stop string starts in text (None: none occurs)."""
    found = [i for i in (text.find(s) for s in until if s) if i >= 0]
    return min(found) if found else None
