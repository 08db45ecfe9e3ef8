"""The README's usage example runs as written."""

import pathlib
import re

import torch


def test_readme_usage_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the examples write files
    readme = (pathlib.Path(__file__).parents[1] / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert blocks, "README.md has no python example"
    assert len(blocks) == 2, "README.md should have the layer and the model examples"
    scope: dict = {}
    exec(blocks[0], scope)
    assert scope["y"].shape == (2, 1000, 256) and scope["y_next"].shape == (2, 10, 256)
    assert torch.isfinite(scope["y"]).all()
    exec(blocks[1], scope)
    assert scope["logits"].shape == (1, 50, 256)
    assert [len(t) for t in scope["new_tokens"]] == [20, 20]
    assert (tmp_path / "my-model" / "model.safetensors").is_file() and (tmp_path / "doc.state.safetensors").is_file()
