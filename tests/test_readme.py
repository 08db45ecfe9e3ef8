"""The README's usage example runs as written."""

import pathlib
import re

import torch


def test_readme_usage_example_runs():
    readme = (pathlib.Path(__file__).parents[1] / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert blocks, "README.md has no python example"
    scope: dict = {}
    exec(blocks[0], scope)
    assert scope["y"].shape == (2, 1000, 256) and scope["y_next"].shape == (2, 10, 256)
    assert torch.isfinite(scope["y"]).all()
