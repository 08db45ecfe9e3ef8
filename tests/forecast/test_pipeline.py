"""A tiny run of the whole pipeline on a CSV the test writes: every model trained and scored, the JSON,
markdown and PNG written, the weights saved and re-scored, through the API and the CLI."""

import json

import pytest
from forecast_files import write_csv

from titans.cli import main
from titans.forecast import ForecastConfig, eval_run, train_run

TINY = dict(lookback=24, horizons=(6, 12), seeds=(0, 1), epochs=2, patience=1, epoch_windows=64, batch_size=16,
            dim=8, layers=1, heads=2, patch_len=8, stride=4, memory_chunk=2, window=2, moving_average=5,
            plot_windows=2)


def test_whole_pipeline_train_then_eval(tmp_path):
    csv = write_csv(tmp_path / "tiny.csv", 400)
    out = tmp_path / "run"
    config = ForecastConfig(data=str(csv), out=str(out), **TINY)
    results = train_run(config, log=lambda message: None)

    models = config.models
    assert [(r["model"], r["horizon"], r["seed"]) for r in results["runs"]] == [
        (m, h, s) for h in (6, 12) for m in models for s in (0, 1)]
    assert json.loads((out / "results.json").read_text()) == results
    assert results["windows"]["6"] == {"train": 251, "valid": 35, "test": 75}
    for run in results["runs"]:
        assert run["mse"] > 0 and run["mae"] > 0
        trained = run["model"] != "naive"
        assert (run["epochs"] >= 1) == trained and (out / "models" / f"{run['model']}-H{run['horizon']}-seed"
                                                         f"{run['seed']}.safetensors").is_file() == trained
    table = (out / "results.md").read_text()
    for model in models:
        assert f"| {model} |" in table
    assert "H=6" in table and "H=12" in table and "average" in table
    for horizon in (6, 12):
        assert (out / f"forecast-H{horizon}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    rescored = eval_run(out, log=lambda message: None)
    assert [(r["model"], r["horizon"], r["seed"]) for r in rescored["runs"]] == [
        (r["model"], r["horizon"], r["seed"]) for r in results["runs"]]
    for before, after in zip(results["runs"], rescored["runs"]):
        assert after["mse"] == pytest.approx(before["mse"], rel=1e-6)
    assert (out / "eval.md").is_file() and (out / "eval.json").is_file()


def test_cli_train_and_eval(tmp_path, capsys):
    csv = write_csv(tmp_path / "ETTlike.csv", 300)
    out = tmp_path / "cli"
    main(["forecast", "train", "--data", str(csv), "--models", "naive,dlinear", "--horizons", "8", "--seeds", "[0]",
          "--lookback", "24", "--epochs", "1", "--moving-average", "5", "--out", str(out)])
    printed = capsys.readouterr().out
    assert "| dlinear |" in printed and (out / "forecast-H8.png").is_file()
    config = json.loads((out / "config.json").read_text())
    assert config["models"] == ["naive", "dlinear"] and config["horizons"] == [8]
    main(["forecast", "eval", str(out)])
    assert "| naive |" in capsys.readouterr().out


def test_cli_reports_a_bad_csv_without_a_traceback(tmp_path, capsys):
    csv = write_csv(tmp_path / "nan.csv", 300, cell=lambda t, c: "nan" if (t, c) == (10, 0) else None)
    with pytest.raises(SystemExit) as exit_info:
        main(["forecast", "train", "--data", str(csv), "--out", str(tmp_path / "never")])
    assert exit_info.value.code == 2
    assert "line 12, column 'HUFL': missing value" in capsys.readouterr().err


def test_config_reads_lists_from_the_command_line():
    config = ForecastConfig(models="dlinear, memory", horizons=96, seeds="0,1")
    assert config.models == ("dlinear", "memory") and config.horizons == (96,) and config.seeds == (0, 1)
    with pytest.raises(ValueError, match="choose from"):
        ForecastConfig(models="dlinear,arima")
    assert ForecastConfig().lr_of("dlinear") == 5e-3 and ForecastConfig(lr=0.01).lr_of("memory") == 0.01
    with pytest.raises(ValueError, match="model_lr"):
        ForecastConfig(model_lr={"arima": 0.1})
