"""Progress bars of the long verbs (issue 29 §3): on a terminal each shows one on stderr with log lines written
above it, never onto its line; ``--no-progress`` shows none. The models are fresh tiny ones and every input
is written here, so each verb runs in about a second."""

import contextlib
import io
import random

import pytest
import torch

from titans import TitansConfig, TitansLM
from titans.cli import main
from titans.data.tokenizers import NucleotideTokenizer

PROSE = "The house stood at the end of a long lane. Every evening the family walked down to the river.\n" * 60


class Terminal(io.StringIO):
    """stderr as a terminal, so that tqdm shows its bar (it stays silent on a pipe)."""

    def isatty(self):
        return True


def on_terminal(argv) -> str:
    """What ``titans ARGV`` writes to stderr when that is a terminal (redirected inside the test: pytest
    puts its own capture back between a fixture and the test)."""
    with contextlib.redirect_stderr(Terminal()) as stderr:
        main(argv)
    return stderr.getvalue()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A byte-level model, a DNA model (with its tokenizer), prose, a genome, a labelled DNA set, a CSV."""
    root = tmp_path_factory.mktemp("inputs")
    torch.manual_seed(0)
    TitansLM(TitansConfig.from_name("tiny", variant="mac")).save_pretrained(root / "bytes-model")
    dna = root / "dna-model"
    TitansLM(TitansConfig.from_name("tiny", variant="lmm", vocab_size=NucleotideTokenizer().vocab_size)
             ).save_pretrained(dna)
    NucleotideTokenizer().save(dna / "tokenizer")
    (root / "prose.txt").write_text(PROSE)
    rng = random.Random(0)
    (root / "genome.fa").write_text(">chr\n" + "".join(rng.choice("ACGT") for _ in range(1200)) + "\n")
    for part, count in (("train", 16), ("test", 8)):
        for label in ("negative", "positive"):
            (root / "bench" / part / label).mkdir(parents=True)
            for i in range(count):
                (root / "bench" / part / label / f"{i}.txt").write_text("".join(rng.choice("ACGT") for _ in range(20)))
    rows = [f"2016-07-01 {h % 24:02d}:00:00,{h % 7}.5,{h % 5}.25" for h in range(200)]
    (root / "series.csv").write_text("date,HUFL,OT\n" + "\n".join(rows) + "\n")
    return root


def verbs(root, out):
    """Each long verb (by its bar's name) with small settings."""
    recall = ["--lengths", "256", "--samples", "2", "--batch", "2", "--block", "100", "--haystack",
              str(root / "prose.txt")]
    forecast = ["--models", "naive,dlinear", "--horizons", "8", "--seeds", "0", "--lookback", "24", "--epochs", "1",
                "--moving-average", "5", "--plot-windows", "0", "--out", str(out / "forecast")]
    return {
        "eval niah": ["eval", "niah", str(root / "bytes-model"), "--tasks", "pk", "--depths", "50", *recall,
                      "--out", str(out / "niah")],
        "eval babilong": ["eval", "babilong", str(root / "bytes-model"), "--tasks", "qa1", *recall,
                          "--out", str(out / "babilong")],
        "eval ppl --by-position": ["eval", "ppl", str(root / "bytes-model"), "--data", str(root / "prose.txt"),
                                   "--split", "all", "--by-position", "--length", "300", "--documents", "1",
                                   "--limit", "100", "--first-bin", "64", "--context", "128",
                                   "--out", str(out / "pos")],
        "dna eval": ["dna", "eval", str(root / "dna-model"), "--data", str(root / "genome.fa"), "--length", "300",
                     "--segments", "2", "--block", "128", "--limit", "100", "--out", str(out / "context")],
        "dna classify": ["dna", "classify", "--data", str(root / "bench"), "--models", "cnn", "--seeds", "0",
                         "--epochs", "2", "--batch", "8", "--out", str(out / "classify")],
        "forecast train": ["forecast", "train", "--data", str(root / "series.csv"), *forecast],
        "forecast eval": ["forecast", "eval", str(out / "forecast")],  # after forecast train
    }


def test_no_progress_shows_no_bar_even_on_a_terminal(files, tmp_path):
    for name, argv in verbs(files, tmp_path).items():
        err = on_terminal([*argv, "--no-progress"])
        assert name not in err and "\r" not in err, f"{name} drew a bar: {err[-300:]!r}"


def test_a_bar_on_a_terminal_with_log_lines_above_it(files, tmp_path):
    err = on_terminal(verbs(files, tmp_path)["eval niah"])
    assert "eval niah" in err and "512/512" in err  # 2 samples x 256 prompt bytes, block by block
    at = err.index("pk 256 depth 50%")
    assert err[at - 1] in "\r\n", repr(err[at - 60:at + 20])  # written above the bar, not glued to its "...]"


@pytest.mark.parametrize("name", ["dna eval", "dna classify", "forecast train", "eval ppl --by-position"])
def test_every_long_verb_draws_its_bar(files, tmp_path, name):
    assert f"{name}:" in on_terminal(verbs(files, tmp_path)[name])
