"""An exported Hugging Face folder loads with trust_remote_code=True in a Python that never imported titans
(its auto_map names the shims it carries), says clearly when titans is not installed, and
TitansLM.from_pretrained reads it back."""

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


def _clean_python(script, *args, cwd, pre=""):
    """Run ``script`` in a fresh interpreter, outside the repository (no PYTHONPATH, the working directory
    elsewhere): titans is reachable only as an installed package, and nothing imports it first."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["HF_HOME"] = str(cwd / "hf-home")  # transformers copies the remote code under HF_HOME/modules
    return subprocess.run([sys.executable, "-c", pre + script, *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_folder_names_and_carries_its_loader_modules(exported):
    _, folder = exported
    auto_map = json.loads((folder / "config.json").read_text())["auto_map"]
    assert auto_map == {"AutoConfig": "configuration_titans.TitansHFConfig",
                        "AutoModelForCausalLM": "modeling_titans.TitansForCausalLM"}
    tokenizer_map = json.loads((folder / "tokenizer_config.json").read_text())["auto_map"]
    assert tokenizer_map == {"AutoTokenizer": ["tokenization_titans.TitansByteTokenizer", None]}
    assert all((folder / name).is_file() for name in FILES)


def test_trust_remote_code_loads_without_importing_titans(exported, tmp_path):
    model, folder = exported
    check = "import sys\nassert 'titans' not in sys.modules\n"
    done = _clean_python(_LOAD, folder, tmp_path / "out.pt", cwd=tmp_path, pre=check)
    assert done.returncode == 0, done.stderr[-3000:]
    result = torch.load(tmp_path / "out.pt")
    assert result["class"] == "TitansForCausalLM"
    assert result["ids"].tolist() == [list(b"Titans")]
    with torch.no_grad():
        assert torch.equal(result["logits"], model(result["ids"])[0])


def test_without_titans_installed_the_error_says_so(exported, tmp_path):
    _, folder = exported
    hide = "import sys\nsys.modules['titans'] = None  # as if titans were not installed\n"
    done = _clean_python(_LOAD, folder, tmp_path / "out.pt", cwd=tmp_path, pre=hide)
    assert done.returncode != 0
    assert "titans package's, which is not installed here" in done.stderr


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


def test_a_sentencepiece_tokenizer_loads_with_trust_remote_code(sp_export, tmp_path):
    _, reference, folder = sp_export
    tokenizer_map = json.loads((folder / "tokenizer_config.json").read_text())["auto_map"]
    assert tokenizer_map == {"AutoTokenizer": ["tokenization_titans.TitansSentencePieceTokenizer", None]}
    text = " long context memory surprise. é"
    done = _clean_python(_LOAD_TOKENIZER, folder, text, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"class": "TitansSentencePieceTokenizer", "ids": reference.encode(text),
                      "text": reference.decode(reference.encode(text))}
