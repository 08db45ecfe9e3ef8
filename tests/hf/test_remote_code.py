"""An exported Hugging Face folder loads with trust_remote_code=True in a Python that never imported titans
(its auto_map names the shims it carries), says clearly when titans is not installed, and
TitansLM.from_pretrained reads it back.

The loads run in one clean Python (``_CLEAN``): it imports torch and transformers once, then runs each
load in a process forked from it, which has never imported titans either; three fresh interpreters would
import torch and transformers three times."""

import json
import os
import subprocess
import sys

import pytest
import torch

pytest.importorskip("transformers")

from titans import TitansConfig, TitansLM  # noqa: E402
from titans.cli import main  # noqa: E402
from titans.hf.remote_code import FILES  # noqa: E402

_LOAD = """
import sys
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
model = AutoModelForCausalLM.from_pretrained(sys.argv[1], trust_remote_code=True)
tokenizer = AutoTokenizer.from_pretrained(sys.argv[1], trust_remote_code=True)
ids = tokenizer("Titans", return_tensors="pt")["input_ids"]
with torch.no_grad():
    logits = model(ids).logits
torch.save({"ids": ids, "logits": logits, "class": type(model).__name__}, sys.argv[2])
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    torch.manual_seed(0)
    model = TitansLM(TitansConfig.from_name("tiny", variant="mal")).eval()
    model.save_pretrained(folder / "run")
    try:
        main(["export", str(folder / "run"), str(folder / "hf"), "--format", "hf"])
    finally:
        torch.set_flush_denormal(False)  # main() sets it for the process
    return model, folder / "hf"


_CLEAN = """
import json
import os
import sys
import traceback

import torch  # noqa: F401
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: F401

assert 'titans' not in sys.modules
for name, script, args in json.load(open(sys.argv[1])):
    pid = os.fork()
    if pid == 0:  # as python -c SCRIPT ARGS, stdout and stderr to NAME.out and NAME.err
        for fd, suffix in ((1, ".out"), (2, ".err")):
            with open(name + suffix, "w") as f:
                os.dup2(f.fileno(), fd)
        sys.argv = ["-c", *args]
        code = 0
        try:
            exec(compile(script, "<string>", "exec"), {"__name__": "__main__"})
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    with open(name + ".rc", "w") as f:
        f.write(str(os.waitstatus_to_exitcode(status)))
"""


@pytest.fixture(scope="module")
def clean_runs(exported, sp_export, tmp_path_factory):
    """name -> (exit status, stdout, stderr, working directory) of each load below, run by ``_CLEAN`` outside
    the repository (no PYTHONPATH, the working directory elsewhere): titans is reachable only as an installed
    package, and nothing imports it first."""
    _, folder = exported
    cwd = tmp_path_factory.mktemp("clean")
    check = "import sys\nassert 'titans' not in sys.modules\n"
    hide = "import sys\nsys.modules['titans'] = None  # as if titans were not installed\n"
    runs = [("load", check + _LOAD, [str(folder), str(cwd / "load.pt")]),
            ("hidden", hide + _LOAD, [str(folder), str(cwd / "hidden.pt")]),
            ("sentencepiece", _LOAD_TOKENIZER, [str(sp_export[2]), _SP_TEXT])]
    (cwd / "runs.json").write_text(json.dumps(runs))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["HF_HOME"] = str(cwd / "hf-home")  # transformers copies the remote code under HF_HOME/modules
    done = subprocess.run([sys.executable, "-c", _CLEAN, str(cwd / "runs.json")], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return {name: (int((cwd / f"{name}.rc").read_text()), (cwd / f"{name}.out").read_text(),
                   (cwd / f"{name}.err").read_text(), cwd) for name, _, _ in runs}


def test_the_folder_names_and_carries_its_loader_modules(exported):
    _, folder = exported
    auto_map = json.loads((folder / "config.json").read_text())["auto_map"]
    assert auto_map == {"AutoConfig": "configuration_titans.TitansHFConfig",
                        "AutoModelForCausalLM": "modeling_titans.TitansForCausalLM"}
    tokenizer_map = json.loads((folder / "tokenizer_config.json").read_text())["auto_map"]
    assert tokenizer_map == {"AutoTokenizer": ["tokenization_titans.TitansByteTokenizer", None]}
    assert all((folder / name).is_file() for name in FILES)


def test_trust_remote_code_loads_without_importing_titans(exported, clean_runs):
    model, _ = exported
    code, _, err, cwd = clean_runs["load"]
    assert code == 0, err[-3000:]
    result = torch.load(cwd / "load.pt")
    assert result["class"] == "TitansForCausalLM"
    assert result["ids"].tolist() == [list(b"Titans")]
    with torch.no_grad():
        assert torch.equal(result["logits"], model(result["ids"])[0])


def test_without_titans_installed_the_error_says_so(clean_runs):
    code, _, err, _ = clean_runs["hidden"]
    assert code != 0
    assert "titans package's, which is not installed here" in err


def test_titans_lm_from_pretrained_reads_a_hugging_face_folder(exported):
    model, folder = exported
    loaded = TitansLM.from_pretrained(folder)
    assert loaded.config == model.config
    x = torch.tensor([list(b"read back")])
    with torch.no_grad():
        assert torch.equal(loaded(x)[0], model(x)[0])


_LOAD_TOKENIZER = """
import json
import sys
assert 'titans' not in sys.modules
from transformers import AutoTokenizer
tokenizer = AutoTokenizer.from_pretrained(sys.argv[1], trust_remote_code=True)
ids = tokenizer(sys.argv[2])["input_ids"]
print(json.dumps({"class": type(tokenizer).__name__, "ids": ids, "text": tokenizer.decode(ids)}))
"""
_SP_TEXT = " long context memory surprise. é"


def test_a_sentencepiece_tokenizer_loads_with_trust_remote_code(sp_export, clean_runs):
    _, reference, folder = sp_export
    tokenizer_map = json.loads((folder / "tokenizer_config.json").read_text())["auto_map"]
    assert tokenizer_map == {"AutoTokenizer": ["tokenization_titans.TitansSentencePieceTokenizer", None]}
    text = _SP_TEXT
    code, out, err, _ = clean_runs["sentencepiece"]
    assert code == 0, err[-3000:]
    result = json.loads(out.strip().splitlines()[-1])
    assert result == {"class": "TitansSentencePieceTokenizer", "ids": reference.encode(text),
                      "text": reference.decode(reference.encode(text))}
