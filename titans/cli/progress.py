"""Progress bars for the long-running verbs, as ``titans train`` shows them: a tqdm bar with the elapsed time
and the ETA on stderr, log lines written above it (never onto its line), off with ``--no-progress`` or when
stderr is not a terminal (logs and CI get the log lines alone)."""

from __future__ import annotations

import sys


def add_progress_option(parser) -> None:
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="no progress bar (default: shown when stderr is a terminal)")


def progress_bar(total: int | None, desc: str, enabled: bool = True, unit: str = "it", **options):
    """A tqdm bar on stderr; disabled when ``enabled`` is False or stderr is not a terminal. options: more
    tqdm settings (``unit_scale=True`` for byte counts)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True, leave=False,
                disable=None if enabled else True, **options)


def say(message: str) -> None:
    """A log line on stderr that leaves any open tqdm bar intact (tqdm.write moves it below)."""
    from tqdm import tqdm

    tqdm.write(message, file=sys.stderr)
    sys.stderr.flush()
