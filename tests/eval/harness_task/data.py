"""Loads the test tasks' JSONL files from this folder (lm-eval's custom_dataset: no hub, no cache)."""

import json
from pathlib import Path

import datasets


def load(file: str, **_) -> datasets.DatasetDict:
    lines = (Path(__file__).parent / file).read_text().splitlines()
    return datasets.DatasetDict({"test": datasets.Dataset.from_list([json.loads(line) for line in lines if line])})
