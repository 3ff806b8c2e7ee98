"""The data, train and evaluate stages, run in-process on real data for speed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from conftest import FAST_EVALUATE, ROOT, read_params, write_params
from mlgate.errors import ConfigError, DataValidationError, ModelIntegrityError
from mlgate.project import Project
from mlgate.stages import run_stage

CLASSIFIERS = [
    ("sklearn.linear_model.LogisticRegression", {"max_iter": 500}),
    ("sklearn.ensemble.RandomForestClassifier", {"n_estimators": 20}),
    ("sklearn.ensemble.HistGradientBoostingClassifier", {"max_iter": 20}),
    ("sklearn.svm.SVC", {"probability": True}),
    ("sklearn.neighbors.KNeighborsClassifier", {}),
]
REGRESSORS = [
    ("sklearn.linear_model.Ridge", {}),
    ("sklearn.ensemble.RandomForestRegressor", {"n_estimators": 20}),
    ("sklearn.ensemble.HistGradientBoostingRegressor", {"max_iter": 20}),
]


def example_params(**overrides: dict) -> dict:
    import yaml

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["evaluate"].update(FAST_EVALUATE)
    for section, values in overrides.items():
        params[section] = {**params.get(section, {}), **values}
    return params


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / ".mlgate").mkdir()
    shutil.copy(ROOT / ".mlgate" / "version", tmp_path / ".mlgate" / "version")
    shutil.copytree(ROOT / "data" / "raw", tmp_path / "data" / "raw")
    write_params(tmp_path, example_params())
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_all() -> None:
    for stage in ("data", "train", "evaluate"):
        run_stage(Project.at(), stage)


def regression_params() -> dict:
    params = example_params(
        model={
            "task": "regression",
            "estimator": "sklearn.ensemble.RandomForestRegressor",
            "params": {"n_estimators": 30},
        },
    )
    params["data"] = {"source": "sklearn:diabetes", "target": "target"}
    params["evaluate"].pop("primary")
    params.pop("gates")  # the example gates roc_auc, which a regression does not have
    return params


def test_metrics_match_scikit_learn_computed_independently(project: Path) -> None:
    run_all()
    metrics = json.loads(Path("reports/metrics.json").read_text())
    predictions = pd.read_parquet("reports/predictions.parquet")
    y, proba = predictions["target"], predictions["proba_1"]
    assert metrics["accuracy"]["value"] == pytest.approx(skm.accuracy_score(y, predictions["prediction"]))
    assert metrics["f1"]["value"] == pytest.approx(skm.f1_score(y, predictions["prediction"]))
    assert metrics["roc_auc"]["value"] == pytest.approx(skm.roc_auc_score(y, proba))
    assert metrics["log_loss"]["value"] == pytest.approx(skm.log_loss(y, predictions[["proba_0", "proba_1"]]))
    for name in ("accuracy", "roc_auc", "log_loss"):
        assert metrics[name]["ci_low"] <= metrics[name]["value"] <= metrics[name]["ci_high"]
    assert {p.name for p in Path("reports/plots").iterdir()} == {
        "roc.json",
        "precision_recall.json",
        "confusion.csv",
        "importance.json",
    }


def test_data_stage_outputs(project: Path) -> None:
    run_stage(Project.at(), "data")
    train, test = (
        pd.read_parquet("data/prepared/train.parquet"),
        pd.read_parquet("data/prepared/test.parquet"),
    )
    report = json.loads(Path("reports/data.json").read_text())
    assert len(train) + len(test) == report["rows"] == 569
    assert train["row_id"].is_unique and not set(train["row_id"]) & set(test["row_id"])
    assert abs(train["target"].mean() - test["target"].mean()) < 0.02  # stratified
    profile = json.loads(Path("reports/reference_profile.json").read_text())
    radius = profile["features"]["mean radius"]
    assert len(radius["counts"]) == len(radius["edges"]) + 1 and sum(radius["counts"]) == len(train)
    first_ids = list(test["row_id"])
    run_stage(Project.at(), "data")
    assert list(pd.read_parquet("data/prepared/test.parquet")["row_id"]) == first_ids


def test_training_is_deterministic(project: Path) -> None:
    run_stage(Project.at(), "data")
    run_stage(Project.at(), "train")
    first = json.loads(Path("models/model.json").read_text())["sha256"]
    run_stage(Project.at(), "train")
    assert json.loads(Path("models/model.json").read_text())["sha256"] == first


@pytest.mark.parametrize(
    ("estimator", "params"), CLASSIFIERS, ids=[e.rsplit(".", 1)[1] for e, _ in CLASSIFIERS]
)
def test_any_classifier(project: Path, estimator: str, params: dict) -> None:
    write_params(project, example_params(model={"estimator": estimator, "params": params}))
    run_all()
    metrics = json.loads(Path("reports/metrics.json").read_text())
    assert metrics["roc_auc"]["value"] > 0.9


@pytest.mark.parametrize(
    ("estimator", "params"), REGRESSORS, ids=[e.rsplit(".", 1)[1] for e, _ in REGRESSORS]
)
def test_any_regressor(project: Path, estimator: str, params: dict) -> None:
    config = regression_params()
    config["model"].update(estimator=estimator, params=params)
    write_params(project, config)
    run_all()
    metrics = json.loads(Path("reports/metrics.json").read_text())
    assert set(metrics) >= {"rmse", "mae", "r2"} and metrics["r2"]["value"] > 0.2
    assert {p.name for p in Path("reports/plots").iterdir()} == {
        "predicted_vs_actual.json",
        "residuals.json",
        "importance.json",
    }


def test_multiclass_with_slices(project: Path) -> None:
    params = example_params(
        model={"estimator": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 500}}
    )
    params["data"] = {"source": "sklearn:wine", "target": "target"}
    params["evaluate"]["slices"] = ["target"]
    params["evaluate"]["min_slice_rows"] = 10  # the 36 test rows hold about 12 of each class
    write_params(project, params)
    run_all()
    by_class = json.loads(Path("reports/metrics.json").read_text())["slices"]["target"]
    assert set(by_class["groups"]) == {"0", "1", "2"}
    assert all(group["judged"] and "accuracy" in group["ci"] for group in by_class["groups"].values())
    assert by_class["max_gap"]["accuracy"] >= 0 and 0 < by_class["gap_p"]["accuracy"] <= 1
    low, high = by_class["gap_ci"]["accuracy"]
    assert low <= high


def csv_with_categories(path: Path, rows: int = 400) -> None:
    rng = np.random.default_rng(1)
    color = rng.choice(["red", "green", "blue"], rows)
    size = rng.normal(10, 2, rows)
    label = ((color == "red") ^ (size > 10)).astype(int)
    frame = pd.DataFrame({"color": color, "size": size, "shop": rng.choice(["a", "b"], rows), "label": label})
    frame.loc[::37, "size"] = np.nan
    frame.to_csv(path, index=False)


def test_csv_source_with_categorical_columns(project: Path) -> None:
    csv_with_categories(project / "shop.csv")
    params = example_params(
        model={"estimator": "sklearn.ensemble.HistGradientBoostingClassifier", "params": {"max_iter": 30}}
    )
    params["data"] = {
        "source": "shop.csv",
        "target": "label",
        "expectations": {"columns": {"color": {"allowed": ["red", "green", "blue"]}}},
    }
    params["evaluate"]["slices"] = ["shop"]
    write_params(project, params)
    run_all()
    card = json.loads(Path("models/model.json").read_text())
    kinds = {f["name"]: f["kind"] for f in card["features"]}
    assert kinds == {"size": "numeric", "color": "categorical", "shop": "categorical"}
    assert json.loads(Path("reports/metrics.json").read_text())["accuracy"]["value"] > 0.8


def _expect(project: Path, data: dict, *fragments: str) -> None:
    params = read_params(project)
    params["data"].update(data)
    write_params(project, params)
    with pytest.raises(DataValidationError) as error:
        run_stage(Project.at(), "data")
    for fragment in fragments:
        assert fragment in str(error.value)
    assert not Path("data/prepared").exists()


def test_missing_column(project: Path) -> None:
    _expect(project, {"expectations": {"required_columns": ["age"]}}, "age: required column is missing")


def test_wrong_dtype_and_range_are_reported_together(project: Path) -> None:
    _expect(
        project,
        {"expectations": {"columns": {"mean radius": {"dtype": "string"}, "mean area": {"max": 100}}}},
        "mean radius: expected dtype string, found float64",
        "mean area:",
        "above max 100",
    )


def test_too_many_nulls(project: Path) -> None:
    csv_with_categories(project / "shop.csv")
    _expect(
        project,
        {
            "source": "shop.csv",
            "target": "label",
            "expectations": {"columns": {"size": {"max_null_fraction": 0.01}}},
        },
        "size: null fraction 0.028 exceeds max_null_fraction 0.01",
    )


def test_target_with_one_class(project: Path) -> None:
    pd.DataFrame({"x": range(20), "y": [1] * 20}).to_csv(project / "one.csv", index=False)
    _expect(
        project,
        {"source": "one.csv", "target": "y", "expectations": {}},
        "y: classification needs at least 2 classes, found 1",
    )


def test_corrupt_model_is_refused(project: Path) -> None:
    run_stage(Project.at(), "data")
    run_stage(Project.at(), "train")
    with open("models/model.skops", "r+b") as handle:
        handle.seek(200)
        handle.write(b"tampered")
    with pytest.raises(ModelIntegrityError, match=r"sha256 .* does not match"):
        run_stage(Project.at(), "evaluate")


def test_outputs_are_readable_like_any_file(project: Path) -> None:
    run_stage(Project.at(), "data")
    assert Path("reports/data.json").stat().st_mode & 0o444 == 0o444


def test_failed_stage_leaves_previous_outputs(project: Path) -> None:
    run_all()
    before = {
        p: p.read_bytes()
        for p in [Path("models/model.skops"), Path("models/model.json"), Path("reports/metrics.json")]
    }
    params = read_params(project)
    params["model"]["params"] = {"n_estimators": -1}
    write_params(project, params)
    with pytest.raises(ConfigError):
        run_stage(Project.at(), "train")
    assert {p: p.read_bytes() for p in before} == before
    assert not list(Path("models").glob(".*.tmp"))


def test_stage_refuses_a_stale_version_file(project: Path) -> None:
    Path(".mlgate/version").write_text("0.0.1\n")
    with pytest.raises(ConfigError, match=r"\.mlgate/version says 0\.0\.1 .* run `mlgate validate`"):
        run_stage(Project.at(), "data")


def test_an_estimator_that_cannot_take_nan_names_numeric_impute(project: Path) -> None:
    """The multiclass table has NaN in a numeric column; with numeric_impute: none they reach a
    LogisticRegression, which gets one line saying what to change, not scikit-learn's paragraph."""
    import tabular

    dataset = tabular.multiclass()
    dataset.frame.to_csv(project / "data/raw/data.csv", index=False)
    params = dataset.params
    params["model"].update(estimator="sklearn.linear_model.LogisticRegression", params={})
    write_params(project, params)
    run_stage(Project.at(), "data")
    with pytest.raises(ConfigError) as error:
        run_stage(Project.at(), "train")
    message = str(error.value)
    assert message.startswith("params.yaml: model.preprocessing.numeric_impute: ") and "\n" not in message
    params["model"]["preprocessing"]["numeric_impute"] = "median"
    write_params(project, params)
    run_stage(Project.at(), "train")
