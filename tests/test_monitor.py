"""`mlgate monitor` end to end on the trained example: exit codes, reports, inputs, registry versions."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import BIN, ROOT, commit_all, mlgate, read_params, repro, run, write_params

SHIFTED = "mean radius"
NULLED = "mean texture"


def _test_split(repo: Path) -> pd.DataFrame:
    return pd.read_parquet(repo / "data/prepared/test.parquet").drop(columns=["row_id"])


def _drifted(repo: Path) -> pd.DataFrame:
    """The test split with a 0.5σ mean shift in one feature and 30% missing values in another."""
    frame = _test_split(repo)
    train = pd.read_parquet(repo / "data/prepared/train.parquet")
    frame[SHIFTED] += 0.5 * train[SHIFTED].std()
    frame.loc[frame.sample(frac=0.3, random_state=0).index, NULLED] = np.nan
    return frame


def _report(repo: Path, out: str = "reports/monitor") -> dict:
    return json.loads((repo / out / "monitor.json").read_text())


def _mermaid_ok(path: Path) -> None:
    checker = ROOT / "tests/mermaid/check.mjs"
    if shutil.which("node") is None or not (ROOT / "tests/mermaid/node_modules/mermaid").exists():
        pytest.skip("node and tests/mermaid/node_modules are needed to parse Mermaid")
    run("node", checker, path, cwd=ROOT)


def test_test_split_is_healthy(trained_repo: Path) -> None:
    _test_split(trained_repo).to_csv(trained_repo / "batch.csv", index=False)
    result = mlgate("monitor", "--current", "batch.csv", cwd=trained_repo)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("monitor: healthy: 143 rows vs workspace reports/reference_profile.json")
    assert "note: no registry file registry.yaml; compared with the workspace's" in result.stdout
    report = _report(trained_repo)
    assert report["status"] == "healthy" and report["alarms"] == []
    performance = report["performance"]["metrics"]  # labels present: the model predicted them
    assert performance["roc_auc"]["value"] == pytest.approx(performance["roc_auc"]["recorded"])
    assert (
        performance["roc_auc"]["ci_low"]
        < performance["roc_auc"]["value"]
        <= performance["roc_auc"]["ci_high"]
    )
    assert report["prediction_drift"]["psi"] == pytest.approx(0.0, abs=1e-9)
    assert (trained_repo / "reports/monitor/monitor.md").read_text().startswith("## ✅ Monitor: healthy")


def test_drifted_batch_alarms_with_charts(trained_repo: Path) -> None:
    _drifted(trained_repo).drop(columns=["target"]).to_parquet(trained_repo / "drifted.parquet")
    result = mlgate("monitor", "--current", "drifted.parquet", "--out", "out", cwd=trained_repo)
    assert result.returncode == 1, result.stderr
    alarms = [line for line in result.stdout.splitlines() if line.startswith("alarm: ")]
    assert [line.split(":")[1].strip() for line in alarms] == [SHIFTED, NULLED]
    assert "missing rate 0.0% → 30.1%" in alarms[1]
    report = _report(trained_repo, "out")
    assert report["performance"] is None and report["prediction_drift"] is None
    markdown = (trained_repo / "out/monitor.md").read_text()
    assert markdown.startswith("## 🚨 Monitor: alarm")
    assert markdown.count("xychart-beta") == 2
    _mermaid_ok(trained_repo / "out/monitor.md")


def test_metric_floor_alarms_on_labelled_batch(trained_repo: Path) -> None:
    params = read_params(trained_repo)
    params["monitor"] = {"metric_floors": {"accuracy": 0.99}}
    write_params(trained_repo, params)
    _test_split(trained_repo).to_parquet(trained_repo / "labelled.parquet")
    result = mlgate("monitor", "--current", "labelled.parquet", cwd=trained_repo)
    assert result.returncode == 1
    assert "alarm: accuracy 0.9580 is worse than its floor 0.99" in result.stdout


def _log_line(index: int, record: dict, label: int) -> str:
    """One line of the service's prediction log (serve.log_inputs on)."""
    output = {"prediction": label, "probabilities": {"0": 1.0 - label, "1": float(label)}}
    entry = {
        "prediction_id": f"p{index}",
        "model_version": "1",
        "timestamp": "2026-11-26T00:00:00.000Z",
        "output": output,
        "input": record,
    }
    return json.dumps(entry)


def test_prediction_log_jsonl(trained_repo: Path) -> None:
    frame = _test_split(trained_repo).drop(columns=["target"])
    lines = [_log_line(i, row, 1) for i, row in enumerate(frame.to_dict(orient="records"))]
    (trained_repo / "log.jsonl").write_text("\n".join(lines) + "\n")
    result = mlgate("monitor", "--current", "*.jsonl", cwd=trained_repo)
    report = _report(trained_repo)
    assert report["current"]["rows"] == 143
    assert report["schema"] == {"missing": [], "extra": [], "wrong_type": {}}
    assert report["features"][SHIFTED]["drift"] is False
    assert report["prediction_drift"]["drift"] is True  # every logged prediction is class 1
    assert result.returncode == 1 and "alarm: (prediction): distribution drift" in result.stdout


def test_prediction_log_without_inputs_checks_predictions_only(trained_repo: Path) -> None:
    lines = [json.loads(_log_line(i, {}, 1)) for i in range(143)]
    (trained_repo / "log.jsonl").write_text(
        "".join(json.dumps({k: v for k, v in e.items() if k != "input"}) + "\n" for e in lines)
    )
    result = mlgate("monitor", "--current", "log.jsonl", cwd=trained_repo)
    assert result.returncode == 1
    assert "note: the batch has no feature columns" in result.stdout
    assert [line for line in result.stdout.splitlines() if line.startswith("alarm:")] == [
        line for line in result.stdout.splitlines() if line.startswith("alarm: (prediction)")
    ]


def test_schema_violations(trained_repo: Path) -> None:
    frame = _test_split(trained_repo).drop(columns=["target", "worst area"]).assign(note="x")
    frame[SHIFTED] = frame[SHIFTED].astype(object)
    frame.loc[:4, SHIFTED] = "oops"
    frame.to_csv(trained_repo / "broken.csv", index=False)
    result = mlgate("monitor", "--current", "broken.csv", cwd=trained_repo)
    assert result.returncode == 1
    assert "alarm: missing column(s): worst area" in result.stdout
    assert f"alarm: {SHIFTED}: 5 value(s) are not numbers" in result.stdout
    assert "warning: extra column(s) the model does not read: note" in result.stdout


def test_small_batch_only_gets_the_schema_check(trained_repo: Path) -> None:
    _drifted(trained_repo).head(50).to_csv(trained_repo / "small.csv", index=False)
    result = mlgate("monitor", "--current", "small.csv", cwd=trained_repo)
    assert result.returncode == 0
    assert "note: only 50 rows, fewer than monitor.min_rows (100): drift not tested" in result.stdout
    assert _report(trained_repo)["status"] == "insufficient"


@pytest.mark.parametrize(
    ("current", "message"),
    [
        ("absent.csv", "absent.csv: no such file or folder"),
        ("absent-folder/", "absent-folder: no such file or folder"),
        ("batch.txt", "batch.txt: expected a .csv, .parquet or .jsonl file"),
        ("none-*.csv", "--current none-*.csv: no file matches"),
    ],
)
def test_bad_input_exits_2(trained_repo: Path, current: str, message: str) -> None:
    (trained_repo / "batch.txt").write_text("a,b\n")
    result = mlgate("monitor", "--current", current, cwd=trained_repo)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_missing_profile_exits_2(git_repo: Path) -> None:
    (git_repo / "batch.csv").write_text("a\n1\n")
    result = mlgate("monitor", "--current", "batch.csv", cwd=git_repo)
    assert result.returncode == 2
    assert "reports/reference_profile.json: reference profile not found" in result.stderr


@pytest.mark.slow
def test_alias_reads_the_profile_of_its_version(trained_repo: Path) -> None:
    """The production version's profile (20 bins) is used, not a newer workspace one (5 bins)."""
    assert mlgate("registry", "record", cwd=trained_repo).returncode == 0
    assert mlgate("registry", "promote", "1", "--to", "production", cwd=trained_repo).returncode == 0
    commit_all(trained_repo, "record version 1")
    params = read_params(trained_repo)
    params["data"]["profile"] = {"bins": 5}
    write_params(trained_repo, params)
    repro(trained_repo)
    _drifted(trained_repo).to_csv(trained_repo / "drifted.csv", index=False)
    result = mlgate("monitor", "--current", "drifted.csv", "--alias", "production", cwd=trained_repo)
    assert result.returncode == 1, result.stderr
    assert "rows vs version 1 (production, commit " in result.stdout
    report = _report(trained_repo)
    assert report["reference"]["version"] == 1
    assert len(report["features"][SHIFTED]["histogram"]["labels"]) == 21  # 20 bins + missing
    missing = mlgate("monitor", "--current", "drifted.csv", "--alias", "staging", cwd=trained_repo)
    assert missing.returncode == 2
    assert "no version holds the alias 'staging' (aliases: production)" in missing.stderr
    assert "`mlgate registry promote 1 --to staging`" in missing.stderr  # and how to fix it


def test_demo_script_prints_the_alarm(trained_repo: Path, tmp_path: Path) -> None:
    env = {**os.environ, "MLGATE_DEMO_OUT": str(tmp_path / "demo")}
    result = run("bash", ROOT / "scripts/demo_monitor.sh", trained_repo, cwd=tmp_path, env=env)
    assert "exit code 1: the monitor raised an alarm" in result.stdout
    assert "alarm: mean radius: distribution drift" in result.stdout
    assert run("git", "status", "--porcelain", cwd=trained_repo).stdout == ""  # the repository is untouched


def test_default_batch_from_params_and_python_loader(trained_repo: Path) -> None:
    assert (
        mlgate("monitor", cwd=trained_repo)
        .stderr.strip()
        .endswith("no batch to check: give --current, or set monitor.current in params.yaml")
    )
    (trained_repo / "production.py").write_text(
        "import pandas as pd\n\n\ndef batch():\n"
        "    return pd.read_parquet('data/prepared/test.parquet').drop(columns=['row_id', 'target'])\n"
    )
    params = read_params(trained_repo)
    params["monitor"] = {"current": "python:production:batch"}
    write_params(trained_repo, params)
    env = {**os.environ, "PYTHONPATH": str(trained_repo)}
    result = run(BIN / "mlgate", "monitor", cwd=trained_repo, env=env)
    assert result.stdout.startswith("monitor: healthy: 143 rows")
    assert _report(trained_repo)["current"]["paths"] == ["python:production:batch"]


def test_an_empty_registry_counts_as_none_on_day_one(trained_repo: Path) -> None:
    """`mlgate init` writes an empty registry.yaml; until a deploy records a version the workspace is the
    reference, and the monitor says so instead of failing on the missing production alias."""
    from mlgate.registry.document import Registry, dumps

    (trained_repo / "registry.yaml").write_text(dumps(Registry(model="day-one")))
    _test_split(trained_repo).to_csv(trained_repo / "batch.csv", index=False)
    result = mlgate("monitor", "--current", "batch.csv", cwd=trained_repo)
    assert result.returncode == 0, result.stderr
    note = "note: the registry registry.yaml has no version yet; compared with the workspace's"
    assert note in result.stdout
