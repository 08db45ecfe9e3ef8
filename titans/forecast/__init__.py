"""Long-term time-series forecasting with the neural memory (paper §5.6, Table 3; SPEC §5).

``sources`` / ``csvfile``: the series (registry recipes, LTSF CSVs); ``windows``: the LTSF protocol
(splits, training-set z-scores, sliding windows); ``models``: the neural-memory forecasters and the
baselines (DLinear, PatchTST, seasonal naive); ``train`` / ``metrics``: one training loop, MSE / MAE;
``run`` / ``report``: a whole run and its JSON, markdown and PNG. ``titans forecast`` is the CLI.
"""

from .config import MODELS, ForecastConfig
from .csvfile import read_ltsf_csv
from .run import eval_run, train_run
from .series import Series
from .sources import SOURCES, load_series
from .windows import ForecastData, Windows, prepare

__all__ = ["MODELS", "SOURCES", "ForecastConfig", "ForecastData", "Series", "Windows", "eval_run", "load_series",
           "prepare", "read_ltsf_csv", "train_run"]
