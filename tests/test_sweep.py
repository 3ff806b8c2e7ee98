"""Hyperparameter sweeps: candidates, limits, selection on validation rows only, and the leaderboard."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from rich.console import Console
from sklearn import metrics as skm

from conftest import ROOT, commit_all, read_params, repro, run, write_params
from mlgate import api
from mlgate.cli import main
from mlgate.datasets.missing import as_model_input
from mlgate.datasets.schema import FeatureSchema
from mlgate.errors import ConfigError
from mlgate.project import Project
from mlgate.report.leaderboard import leaderboard
from mlgate.report.markdown import render_markdown
from mlgate.report.markdown_sweep import sweep_section
from mlgate.report.terminal import print_report
from mlgate.stages import run_stage
from mlgate.stages.train import build_pipeline
from mlgate.sweep import MAX_RESAMPLES, sweep_points, validation_split
from tabular import DATASETS, Dataset
from test_hostile import HOSTILE, assert_inert
from test_report import assert_golden

# Two to four cheap candidates per table, with values far enough apart that the ranking means something.
GRIDS = {
    "multiclass": {"max_iter": [5, 40], "learning_rate": [0.05, 0.3]},
    "regression": {"max_iter": [5, 40], "max_depth": [2, None]},
    "imbalanced": {"C": [0.001, 1.0]},
}


def sweep_of(grid: dict[str, list[Any]], **settings: Any) -> dict[str, Any]:
    return {
        "method": "grid",
        "n": 10,
        "seed": 0,
        "validation_size": 0.2,
        "n_jobs": 2,
        "params": grid,
    } | settings


def prepare(folder: Path, dataset: Dataset, sweep: dict[str, Any] | None) -> Path:
    """A project holding the table as a CSV, with `sweep` as model.sweep, its data stage run."""
    folder.mkdir(parents=True)
    (folder / "data" / "raw").mkdir(parents=True)
    dataset.frame.to_csv(folder / "data" / "raw" / "data.csv", index=False)
    (folder / ".mlgate").mkdir()
    shutil.copy(ROOT / ".mlgate" / "version", folder / ".mlgate" / "version")
    params = json.loads(json.dumps(dataset.params))
    if sweep is not None:
        params["model"]["sweep"] = sweep
    write_params(folder, params)
    run_stage(Project.at(folder), "data")
    return folder


@pytest.fixture(scope="module", params=DATASETS, ids=lambda make: make.__name__)
def swept(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Dataset, Path]:
    """Each table prepared and trained once with its sweep; copy it before changing it."""
    dataset = request.param()
    folder = prepare(tmp_path_factory.mktemp("sweep") / dataset.name, dataset, sweep_of(GRIDS[dataset.name]))
    run_stage(Project.at(folder), "train")
    return dataset, folder


def record(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "reports" / "sweep.json").read_text())


def loaded(folder: Path) -> tuple[pd.DataFrame, FeatureSchema, dict[str, Any]]:
    project = Project.at(folder)
    schema = FeatureSchema.from_dict(json.loads(project.files.schema.read_text()))
    frame = as_model_input(pd.read_parquet(project.files.train), schema.categorical)
    return frame, schema, project.checked_params(None)


def sklearn_metric(name: str, frame: pd.DataFrame, pipeline: Any, schema: FeatureSchema) -> float:
    """The validation metric as scikit-learn computes it, independently of mlgate's metrics."""
    features, truth = frame[schema.features], frame[schema.target]
    if name == "rmse":
        return float(np.sqrt(skm.mean_squared_error(truth, pipeline.predict(features))))
    proba = pipeline.predict_proba(features)
    if proba.shape[1] == 2:
        return float(skm.roc_auc_score(truth, proba[:, 1]))
    return float(skm.roc_auc_score(truth, proba, multi_class="ovr", labels=pipeline.classes_))


def test_the_winner_is_the_best_on_validation_rows_and_refitted_on_all_train_rows(
    swept: tuple[Dataset, Path],
) -> None:
    dataset, folder = swept
    sweep = record(folder)
    frame, schema, params = loaded(folder)
    grid = GRIDS[dataset.name]
    assert sweep["sweep"] is True and sweep["candidate_count"] == len(sweep_points(sweep_of(grid)))
    assert sweep["metric"] == ("rmse" if dataset.name == "regression" else "roc_auc")
    assert sweep["bootstrap"]["samples"] == min(params["evaluate"]["bootstrap"]["samples"], MAX_RESAMPLES)
    fit_rows, validation = validation_split(frame, schema, sweep_of(grid))
    assert sweep["validation_rows"] == len(validation) and len(fit_rows) + len(validation) == len(frame)
    sign = 1 if sweep["higher_is_better"] else -1
    ranked = sorted(sweep["candidates"], key=lambda c: c["rank"])
    assert [c["rank"] for c in ranked] == list(range(1, len(ranked) + 1)) and ranked[0]["winner"]
    assert all(sign * (a["value"] - b["value"]) >= 0 for a, b in itertools.pairwise(ranked))
    for candidate in ranked:
        low, high = candidate["ci"]
        assert low <= candidate["value"] <= high
        pipeline = build_pipeline({**params["model"], "params": candidate["params"]}, schema)
        pipeline.fit(fit_rows[schema.features], fit_rows[schema.target])
        assert candidate["value"] == pytest.approx(
            sklearn_metric(sweep["metric"], validation, pipeline, schema)
        )
    margin = sweep["margin"]
    assert margin["runner_up"] == ranked[1]["index"]
    assert margin["value"] == pytest.approx(sign * (ranked[0]["value"] - ranked[1]["value"]))
    assert margin["value"] >= 0 and margin["ci"][0] <= margin["value"] <= margin["ci"][1]
    card = json.loads((folder / "models" / "model.json").read_text())
    assert card["params"] == ranked[0]["params"] and card["train_rows"] == len(frame)


def test_the_test_split_never_reaches_the_selection(swept: tuple[Dataset, Path], tmp_path: Path) -> None:
    dataset, trained = swept
    folder = tmp_path / "copy"
    shutil.copytree(trained, folder)
    frame, schema, _ = loaded(folder)
    test_path = folder / "data" / "prepared" / "test.parquet"
    test = pd.read_parquet(test_path)
    _, validation = validation_split(frame, schema, sweep_of(GRIDS[dataset.name]))
    assert set(validation["row_id"]) <= set(frame["row_id"])
    assert not set(validation["row_id"]) & set(test["row_id"])
    before = (folder / "reports" / "sweep.json").read_bytes()
    card = json.loads((folder / "models" / "model.json").read_text())
    garbage = test.sample(frac=1.0, random_state=1).reset_index(drop=True)
    garbage[schema.target] = garbage[schema.target].iloc[::-1].to_numpy()  # every label moved
    for column in schema.numeric:
        garbage[column] = -garbage[column] * 1000
    garbage.to_parquet(test_path, index=False)
    run_stage(Project.at(folder), "train")
    assert (folder / "reports" / "sweep.json").read_bytes() == before
    assert json.loads((folder / "models" / "model.json").read_text())["params"] == card["params"]


def test_without_a_sweep_model_params_win_unscored(tmp_path: Path) -> None:
    dataset = DATASETS[1]()
    folder = prepare(tmp_path / "plain", dataset, None)
    run_stage(Project.at(folder), "train")
    sweep = record(folder)
    assert sweep["sweep"] is False and sweep["candidate_count"] == 1 and sweep["margin"] is None
    assert sweep["candidates"][0]["params"] == dataset.params["model"]["params"]
    assert leaderboard(sweep) is None


def test_grid_order_and_seeded_random_draws() -> None:
    grid = {"a": [1, 2], "b": ["x", "y", "z"]}
    points = sweep_points(sweep_of(grid))
    assert points == [{"a": a, "b": b} for a in (1, 2) for b in ("x", "y", "z")]
    drawn = sweep_points(sweep_of(grid, method="random", n=4, seed=3))
    assert drawn == sweep_points(sweep_of(grid, method="random", n=4, seed=3))
    assert len({json.dumps(p) for p in drawn}) == 4 and all(p in points for p in drawn)
    others = [sweep_points(sweep_of(grid, method="random", n=4, seed=seed)) for seed in range(4, 8)]
    assert any(other != drawn for other in others)
    huge = {f"p{i}": list(range(10)) for i in range(12)}  # 10^12 points: drawn without listing them
    assert len(sweep_points(sweep_of(huge, method="random", n=5))) == 5


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example project (not run), with a valid sweep and the dvc.yaml a sweep needs."""
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "data" / "raw", tmp_path / "data" / "raw")
    (tmp_path / ".mlgate").mkdir()
    shutil.copy(ROOT / ".mlgate" / "version", tmp_path / ".mlgate" / "version")
    set_sweep(tmp_path, sweep_of({"max_depth": [2, 4]}))
    dvc = yaml.safe_load((tmp_path / "dvc.yaml").read_text())
    dvc["stages"]["train"]["params"] += ["evaluate.primary", "evaluate.bootstrap"]
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(dvc, sort_keys=False))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def set_sweep(folder: Path, sweep: dict[str, Any]) -> None:
    params = read_params(folder)
    params["model"]["sweep"] = sweep
    write_params(folder, params)


def validate(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["validate"])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        (
            {"params": {"max_depth": list(range(1, 41)), "min_samples_leaf": list(range(1, 31))}},
            "model.sweep.params: the grid has 1200 candidates, more than the limit of 1000",
        ),
        (
            {"method": "random", "n": 5, "params": {"max_depth": [2, 4]}},
            "model.sweep.n: 5 is more than the 2 candidates of the grid",
        ),
        (
            {"params": {"depth": [2, 4]}},
            "model.sweep.params.depth: RandomForestClassifier takes no param 'depth'",
        ),
        ({"params": {"max_depth": [2, 2]}}, "model.sweep.params.max_depth: [2, 2] has non-unique elements"),
        ({"params": {}}, "model.sweep.params: {} should be non-empty"),
        (
            {"params": {"max_depth": [2]}, "n": 2000},
            "model.sweep.n: 2000 is greater than the maximum of 1000",
        ),
        (
            {"params": {"max_depth": [2]}, "validation_size": 0.9},
            "model.sweep.validation_size: 0.9 is greater",
        ),
        ({"params": {"max_depth": [2]}, "n_jobs": 0}, "model.sweep.n_jobs: 0 fits nothing"),
        ({"params": {"max_depth": [2]}, "method": "bayes"}, 'model.sweep.method: "bayes" is not one of'),
        ({"method": "grid"}, "model.sweep.params: required field is missing"),
    ],
    ids=[
        "too-many",
        "n-over-grid",
        "unknown-param",
        "repeated",
        "empty",
        "n-limit",
        "size",
        "jobs",
        "method",
        "none",
    ],
)
def test_bad_sweeps_are_bad_input_naming_the_field(
    example: Path, capsys: pytest.CaptureFixture[str], sweep: dict[str, Any], message: str
) -> None:
    set_sweep(example, sweep)
    code, err = validate(capsys)
    assert code == 2 and message in err, err
    assert "Traceback" not in err and "params.yaml:" in err


def test_validate_asks_a_sweep_s_train_stage_for_its_output_and_ranking_params(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert validate(capsys)[0] == 0
    dvc = yaml.safe_load((example / "dvc.yaml").read_text())
    dvc["stages"]["train"]["params"] = ["model", "evaluate.bootstrap.samples"]
    dvc["stages"]["train"]["outs"].remove("reports/sweep.json")
    (example / "dvc.yaml").write_text(yaml.safe_dump(dvc, sort_keys=False))
    code, err = validate(capsys)
    assert code == 2 and "stages.train.outs: model.sweep writes reports/sweep.json: list it" in err
    assert (
        "stages.train.params: model.sweep ranks its candidates by evaluate.primary, evaluate.bootstrap" in err
    )
    set_sweep(example, None)  # type: ignore[arg-type]
    assert validate(capsys)[0] == 0  # without a sweep, neither is asked for


def test_a_candidate_that_fails_to_fit_names_itself(example: Path) -> None:
    set_sweep(example, sweep_of({"max_depth": [2, -3]}))
    run_stage(Project.at(), "data")
    with pytest.raises(ConfigError, match=r"model\.sweep: the candidate \{\"max_depth\": -3\} failed to fit"):
        run_stage(Project.at(), "train")


@pytest.fixture(scope="module")
def swept_pr(trained_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """main trained without a sweep; the workspace is branch `pr`, which sweeps max_depth and n_estimators."""
    repo = tmp_path_factory.mktemp("sweep-report") / "repo"
    shutil.copytree(trained_template, repo, symlinks=True)
    assert record(repo)["sweep"] is False  # the example writes its one unscored candidate
    run("git", "checkout", "-q", "-b", "pr", cwd=repo)
    set_sweep(repo, sweep_of({"max_depth": [2, 8], "n_estimators": [20, 60]}))
    dvc = yaml.safe_load((repo / "dvc.yaml").read_text())
    dvc["stages"]["train"]["params"] += ["evaluate.primary", "evaluate.bootstrap"]
    (repo / "dvc.yaml").write_text(yaml.safe_dump(dvc, sort_keys=False))
    assert main(["-C", str(repo), "validate"]) == 0
    repro(repo)
    commit_all(repo, "pr: sweep")
    return repo


@pytest.fixture(scope="module")
def sweep_report(swept_pr: Path) -> dict[str, Any]:
    return api.report(Project.at(swept_pr), "main")


def test_the_report_shows_the_leaderboard(swept_pr: Path, sweep_report: dict[str, Any]) -> None:
    report = sweep_report
    board = report["sweep"]
    assert board["candidates"] == 4 and board["varying"] == ["max_depth", "n_estimators"]
    assert [row["rank"] for row in board["top"]] == [1, 2, 3, 4] and board["top"][0]["winner"]
    winner = json.loads((swept_pr / "models" / "model.json").read_text())["params"]
    assert board["top"][0]["params"] == {k: winner[k] for k in board["varying"]}
    data = json.loads(api.render_report(report, "json"))
    assert data["sweep"] == board
    markdown = render_markdown(report)
    section = markdown[markdown.index("### Hyperparameter sweep") :]
    assert "| Rank | `max_depth` | `n_estimators` | Validation roc_auc ↑ | 95% CI |  |" in section
    assert "The test metrics above are untouched by the selection" in section
    assert "The winner leads the runner-up by" in section
    assert_golden(markdown, "report_sweep.md")
    console = Console(record=True, width=160)
    print_report(console, report)
    assert "Sweep: top of 4 candidates by validation roc_auc ↑" in console.export_text()


def test_hostile_param_names_and_values_stay_text(sweep_report: dict[str, Any]) -> None:
    candidates = [
        {"index": i, "rank": i + 1, "winner": i == 0, "point": {}, "value": 0.9 - i / 10, "ci": [0.5, 0.95]}
        | {"params": {HOSTILE: f"{HOSTILE}{i}", "max_depth": i, f"{HOSTILE}`|": [HOSTILE, i]}}
        for i in range(12)
    ]
    sweep = {
        "sweep": True, "metric": "roc_auc", "higher_is_better": True, "average": None, "method": HOSTILE,
        "candidate_count": 12, "validation_rows": 50, "candidates": candidates,
        "bootstrap": {"samples": 100, "confidence": 0.95, "seed": 0},
        "margin": {"runner_up": 1, "value": 0.1, "ci": [0.01, 0.2]},
    }  # fmt: skip
    board = leaderboard(sweep)
    assert board is not None and len(board["top"]) == 10
    section = sweep_section({"sweep": board}) or ""
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    assert "octocat" in section and len(rows) == 12  # the header, its rule, 10 candidates: no line broke
    assert_inert(render_markdown({**sweep_report, "sweep": board}))
    console = Console(record=True, width=400)
    print_report(console, {**sweep_report, "sweep": board})  # rich markup in the values stays text
    assert "octocat" in console.export_text()
