"""lm-evaluation-harness (extra ``eval``): the ``titans`` model type on the local tasks in harness_task/
(multiple choice, rolling loglikelihood, generation; no hub), end to end through ``titans eval harness``,
and its numbers against titans' own scorers."""

import json
import math
import sys
from pathlib import Path

import pytest
import torch

from titans import TitansConfig, TitansLM
from titans.cli import main
from titans.data import get_tokenizer
from titans.data.batching import PackedLanes
from titans.eval.perplexity import score_language_model
from titans.generate import Sampling, generate

TASKS = Path(__file__).parent / "harness_task"
NAMES = ["titans_choice", "titans_rolling", "titans_generate"]
WINDOW = 16  # the rolling texts are 1 + 3..7 windows long: the state is carried across windows


@pytest.fixture(scope="module")
def harness():
    return pytest.importorskip("titans.eval.harness", reason="needs the eval extra (lm-eval)")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return TitansLM(TitansConfig.from_name("tiny", variant="mac")).eval()


@pytest.fixture(scope="module")
def samples(harness, model):
    """Every request and answer of one lm-eval run of the three tasks, by task."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    lm = harness.TitansHarnessLM(model=model, tokenizer=get_tokenizer("bytes"), window=WINDOW, batch_size=2)
    manager = TaskManager(include_path=str(TASKS), include_defaults=False)
    results = simple_evaluate(lm, tasks=NAMES, task_manager=manager, log_samples=True, bootstrap_iters=0)
    torch.set_flush_denormal(False)
    return results["samples"]


def test_rolling_loglikelihood_equals_eval_perplexity(samples, model):
    for sample in samples["titans_rolling"]:
        tokens = list(sample["doc"]["text"].encode())
        assert (len(tokens) - 1) % WINDOW == 0 and len(tokens) > 2 * WINDOW
        # titans eval ppl's reading: one lane, WINDOW tokens per call, the state carried
        score = score_language_model(model, PackedLanes([tokens], 1, WINDOW, shuffle=False),
                                     torch.ones(256, dtype=torch.long), carry_state=True)
        assert score.tokens == len(tokens) - 1
        assert sample["resps"][0][0] == pytest.approx(-score.loss * score.tokens, rel=1e-5)


def test_loglikelihood_is_the_sum_of_the_continuations_log_probs(samples, model):
    requests = [(args, resp[0]) for s in samples["titans_choice"] for args, resp in zip(s["arguments"], s["resps"])]
    assert len(requests) == 12  # every choice of every question
    for args, (loglikelihood, greedy) in requests:
        context, continuation = (args[f"arg_{i}"] for i in range(2)) if isinstance(args, dict) else args
        ids, n = list((context + continuation).encode()), len(continuation.encode())
        with torch.no_grad():  # one call over the whole text, no windows
            log_p = model(torch.tensor([ids[:-1]]))[0][0].float().log_softmax(-1)
        picked = log_p[range(len(ids) - 1), ids[1:]][-n:]
        assert loglikelihood == pytest.approx(float(picked.sum()), abs=1e-4)
        assert greedy == bool((log_p[-n:].argmax(-1) == torch.tensor(ids[-n:])).all())


def test_generation_is_greedy_and_cut_at_the_stop_string(samples, model):
    for sample in samples["titans_generate"]:
        prompt = list(sample["doc"]["prompt"].encode())
        full = bytes(generate(model, [prompt], 12, Sampling(temperature=0))[0]).decode(errors="replace")
        assert sample["resps"][0][0] == full.split("\n")[0]


def test_generate_until_stops_at_the_first_stop_string(harness, model):
    from lm_eval.api.instance import Instance

    lm = harness.TitansHarnessLM(model=model, tokenizer=get_tokenizer("bytes"))
    prompts = ["Q: the opposite of hot\nA:", "Q: two plus two\nA:"]
    full = [bytes(generate(model, [list(p.encode())], 20, Sampling(temperature=0))[0]).decode(errors="replace")
            for p in prompts]
    stops = [text[3:5] for text in full]  # two characters the greedy output does contain
    requests = [Instance("generate_until", {}, (p, {"until": stops, "max_gen_toks": 20}), i)
                for i, p in enumerate(prompts)]
    cut = [min(i for i in (text.find(s) for s in stops) if i >= 0) for text in full]
    assert lm.generate_until(requests) == [text[:i] for text, i in zip(full, cut)]
    with pytest.raises(ValueError, match="greedily"):
        lm.generate_until([Instance("generate_until", {}, ("Q:", {"do_sample": True}), 0)])


def test_eval_harness_runs_the_local_tasks_and_writes_the_table(harness, model, tmp_path, capsys):
    run = tmp_path / "run"
    model.save_pretrained(run)
    main(["eval", "harness", str(run), "--tasks", ",".join(NAMES), "--include-path", str(TASKS),
          "--window", str(WINDOW), "--batch", "3", "--out", str(tmp_path / "out")])
    printed = capsys.readouterr().out
    assert all(name in printed for name in NAMES) and "wrote" in printed
    results = json.loads((tmp_path / "out" / "results.json").read_text())["results"]
    assert 0 <= results["titans_choice"]["acc,none"] <= 1
    assert 0 <= results["titans_generate"]["exact_match,none"] <= 1
    # bits per byte over the whole texts: titans eval ppl's nats over every byte (the first is never scored)
    texts = [json.loads(line)["text"] for line in (TASKS / "rolling.jsonl").read_text().splitlines()]
    nats = 0.0
    for text in texts:
        score = score_language_model(model, PackedLanes([list(text.encode())], 1, WINDOW, shuffle=False),
                                     torch.ones(256, dtype=torch.long))
        nats += score.loss * score.tokens
    expected = nats / math.log(2) / sum(len(t.encode()) for t in texts)
    assert results["titans_rolling"]["bits_per_byte,none"] == pytest.approx(expected, rel=1e-5)


def test_the_registered_model_type_loads_a_run_folder(harness, model, tmp_path):
    from lm_eval.api.instance import Instance
    from lm_eval.api.registry import get_model

    model.save_pretrained(tmp_path / "run")
    lm = get_model("titans").create_from_arg_string(f"pretrained={tmp_path / 'run'},window=8", {"batch_size": 2})
    assert (lm.window, lm.batch_size, lm.get_model_info()["variant"]) == (8, 2, "mac")
    request = Instance("loglikelihood", {}, ("Question: two plus two\nAnswer:", " four"), 0)
    direct = harness.TitansHarnessLM(model=model, tokenizer=get_tokenizer("bytes"), window=64)
    assert lm.loglikelihood([request])[0][0] == pytest.approx(direct.loglikelihood([request])[0][0], abs=1e-4)
    with pytest.raises(ValueError, match="not both"):
        harness.TitansHarnessLM(str(tmp_path / "run"), model=model, tokenizer=get_tokenizer("bytes"))


def test_a_wrong_lm_eval_version_is_refused(harness):
    with pytest.raises(ImportError, match="tested with lm-eval"):
        harness.check_lm_eval("0.5.0")
    harness.check_lm_eval("0.4.13")


def test_without_lm_eval_the_command_names_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "lm_eval", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "lm_eval.api.model", None)
    monkeypatch.delitem(sys.modules, "titans.eval.harness", raising=False)
    run = tmp_path / "run"
    TitansLM(TitansConfig.from_name("tiny", variant="swa")).save_pretrained(run)
    with pytest.raises(SystemExit) as stop:
        main(["eval", "harness", str(run), "--tasks", "lambada_openai"])
    assert stop.value.code == 2
    assert "pip install -e '.[eval]'" in capsys.readouterr().err
