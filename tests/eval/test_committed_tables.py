"""The committed recall table is what table.py makes of the committed results (a dry run once overwrote it)."""

import subprocess
import sys
from pathlib import Path

FOLDER = Path(__file__).resolve().parents[2] / "experiments" / "long_context"


def test_long_context_table_matches_its_results():
    made = subprocess.run([sys.executable, str(FOLDER / "table.py")], capture_output=True, text=True, check=True)
    assert made.stdout == (FOLDER / "results" / "table.md").read_text(), (
        "experiments/long_context/results/table.md is stale: run `python experiments/long_context/table.py > "
        "experiments/long_context/results/table.md`")
