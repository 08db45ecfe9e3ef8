"""``titans forecast train | eval``: long-term forecasting with the neural memory and its baselines."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..forecast.config import ForecastConfig
from .fields import add_field_options, given_fields
from .progress import add_progress_option, progress_bar, say


def add_parser(verbs) -> None:
    p = verbs.add_parser("forecast", help="time-series forecasting (LTSF protocol: lookback 96, MSE/MAE)")
    tasks = p.add_subparsers(dest="task", required=True)
    train = tasks.add_parser(
        "train", help="train and score every model x horizon x seed on one series",
        description="Train the neural-memory forecasters and the baselines on one series (a recipe: weather, "
                    "taylor, chicago; or an LTSF CSV such as ETTh1.csv) and score them on the test windows. "
                    "Writes OUT/results.json, results.md, forecast-H*.png and models/*.safetensors. List "
                    "flags take JSON or commas: --horizons 96,192 --models dlinear,memory.")
    add_field_options(train, ForecastConfig)
    add_progress_option(train)
    train.set_defaults(run=run_train)
    evaluate = tasks.add_parser("eval", help="re-score the saved models of a finished run on its test windows")
    evaluate.add_argument("run_dir", help="the --out folder of `titans forecast train`")
    evaluate.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    add_progress_option(evaluate)
    evaluate.set_defaults(run=run_eval)


def run_train(args: argparse.Namespace) -> None:
    from ..forecast import train_run

    config = ForecastConfig().replace(**given_fields(args, ForecastConfig))
    with progress_bar(None, "forecast train", args.progress, unit="epoch") as bar:  # train_run sets the total
        train_run(config, log=say, progress=bar)
    print(f"run folder: {config.out} (results.json, results.md, forecast-H*.png, models/)")
    print((Path(config.out) / "results.md").read_text())


def run_eval(args: argparse.Namespace) -> None:
    from ..forecast import eval_run

    with progress_bar(None, "forecast eval", args.progress, unit="model") as bar:  # eval_run sets the total
        eval_run(args.run_dir, device=args.device, log=say, progress=bar)
    print((Path(args.run_dir) / "eval.md").read_text())
