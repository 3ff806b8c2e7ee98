"""Three datasets unlike the example, each through `dvc repro` and `mlgate report`, as a user would run them.

Each run shows: a model collapsed to one class (or to the mean) gets a headline that names the metrics
that got worse, and no ✅; a group predicted perfectly scores 1.0; the charts name their metrics; the
image, run read-only, takes null where the pipeline handles NaN; the monitor raises no alarm on a sample
of the training data whose missing values are empty CSV cells.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import BIN, commit_all, mlgate, repro, run, write_params
from engine import Engine, post, wait_ready
from mlgate.metrics import display_name
from mlgate.project import Project
from mlgate.serving.predictor import Predictor
from mlgate.serving.settings import ServingSettings
from tabular import DATASETS, Dataset

pytestmark = pytest.mark.slow
WORSE_WHEN_COLLAPSED = {"classification": {"accuracy", "f1", "log_loss"}, "regression": {"rmse", "mae", "r2"}}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_repo(folder: Path, dataset: Dataset) -> Path:
    """A git + DVC repository with the dataset as a CSV, trained and committed on main."""
    repo = folder / dataset.name
    (repo / "data/raw").mkdir(parents=True)
    dataset.frame.to_csv(repo / "data/raw/data.csv", index=False)
    dvc = yaml.safe_load((Path(__file__).parents[1] / "dvc.yaml").read_text())
    dvc["stages"]["data"]["deps"] = [".mlgate/version", "data/raw/data.csv"]
    (repo / "dvc.yaml").write_text(yaml.safe_dump(dvc, sort_keys=False))
    write_params(repo, dataset.params)
    run("git", "init", "-q", "-b", "main", cwd=repo)
    run(BIN / "dvc", "init", "-q", cwd=repo)
    assert mlgate("validate", cwd=repo).returncode == 0
    repro(repo)
    commit_all(repo, "train")
    return repo


@pytest.fixture(scope="module", params=DATASETS, ids=lambda make: make.__name__)
def trained(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Dataset, Path]:
    dataset = request.param()
    return dataset, make_repo(tmp_path_factory.mktemp("datasets"), dataset)


@pytest.fixture(scope="module")
def collapsed(trained: tuple[Dataset, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A pull request that makes the model useless, and its report against main (JSON and markdown)."""
    dataset, repo = trained
    branch = tmp_path_factory.mktemp("collapsed") / dataset.name
    shutil.copytree(repo, branch, symlinks=True)
    params = yaml.safe_load((branch / "params.yaml").read_text())
    params["model"]["params"] = {**params["model"]["params"], **dataset.collapse}
    write_params(branch, params)
    run("git", "checkout", "-q", "-b", "collapse", cwd=branch)
    repro(branch)
    report = json.loads(mlgate("report", "--base", "main", "--format", "json", cwd=branch, check=True).stdout)
    markdown = mlgate("report", "--base", "main", "--format", "md", cwd=branch, check=True).stdout
    return {"json": report, "markdown": markdown, "repo": branch}


def test_a_collapsed_model_gets_no_check_mark_and_names_what_got_worse(
    trained: tuple[Dataset, Path], collapsed: dict[str, Any]
) -> None:
    dataset, _ = trained
    report, markdown = collapsed["json"], collapsed["markdown"]
    worse = set(report["gate"]["worse"])
    assert WORSE_WHEN_COLLAPSED[dataset.params["model"]["task"]] <= worse, report["headline"]
    assert report["headline"]["status"] != "passed"
    assert "✅ Gates passed" not in markdown
    headline = markdown.split("### Metrics")[0]
    average = report["average"]
    for name in WORSE_WHEN_COLLAPSED[dataset.params["model"]["task"]]:
        assert display_name(name, average) in headline, name
    if dataset.params["model"]["task"] == "classification":  # and the collapse itself is named
        assert "predicts one class" in report["headline"]["classes_note"]
        assert "⚠️ This PR's model predicts one class" in headline


def test_a_group_predicted_perfectly_scores_one(trained: tuple[Dataset, Path]) -> None:
    dataset, repo = trained
    if dataset.perfect_group is None:
        pytest.skip("a regression has no accuracy, precision, recall or f1")
    metrics = json.loads((repo / "reports/metrics.json").read_text())
    group = metrics["slices"][dataset.slice_column]["groups"][dataset.perfect_group]
    assert {name: group[name] for name in ("accuracy", "precision", "recall", "f1")} == dict.fromkeys(
        ("accuracy", "precision", "recall", "f1"), 1.0
    )
    assert group["judged"] and group["ci"]["accuracy"] == [1.0, 1.0]


def test_chart_titles_name_their_metrics(trained: tuple[Dataset, Path], collapsed: dict[str, Any]) -> None:
    dataset, _ = trained
    report, markdown = collapsed["json"], collapsed["markdown"]
    average = report["average"]
    primary = display_name(report["primary"], average)
    assert f'title "Permutation importance: the drop in {primary} when a feature is shuffled"' in markdown
    if dataset.params["model"]["task"] == "classification":
        described = f"roc_auc ({average}, one-vs-rest)" if average else "roc_auc"
        assert f'title "ROC curve: {described}"' in markdown
        if average:  # the PR's curve of every class is drawn and named in the key
            assert all(f"= class `{label}` (PR)" in markdown for label in ("Adelie", "Chinstrap", "Gentoo"))


def test_the_service_takes_null_where_the_pipeline_handles_nan(trained: tuple[Dataset, Path]) -> None:
    _, repo = trained
    files = Project.at(repo).files
    settings = ServingSettings(name="check", model_path=str(files.model), card_path=str(files.card))
    predictor = Predictor.load(settings, repo)
    test = pd.read_parquet(files.test)
    names = [feature["name"] for feature in predictor.card["features"]]
    records = json.loads(test[names].head(3).to_json(orient="records"))
    for record in records:
        record.update(dict.fromkeys(predictor.schema.nullable, None))
    assert predictor.schema.nullable, "no feature takes null"
    answers = predictor.predict(predictor.schema.check(records))
    assert len(answers) == 3 and all("prediction" in answer for answer in answers)


def test_the_monitor_raises_no_alarm_on_a_sample_of_the_training_data(
    trained: tuple[Dataset, Path], tmp_path: Path
) -> None:
    dataset, repo = trained
    train = pd.read_parquet(repo / "data/prepared/train.parquet").drop(columns=["row_id"])
    sample = tmp_path / "sample.csv"
    train.sample(n=min(len(train), 400), random_state=0).to_csv(sample, index=False)  # NaN as empty cells
    assert ",," in sample.read_text() or train.isna().sum().sum() == 0
    result = mlgate("monitor", "--current", str(sample), "--json", cwd=repo)
    monitor = json.loads(result.stdout)
    assert (result.returncode, monitor["status"], monitor["alarms"]) == (0, "healthy", []), result.stderr
    categories = [f for f, v in monitor["features"].items() if v["kind"] == "categorical"]
    assert all("" not in monitor["features"][name]["unseen"] for name in categories)
    assert np.isfinite(monitor["features"][dataset.slice_column]["psi"])


def test_the_image_serves_strings_and_nulls_as_the_pipeline_does(
    trained: tuple[Dataset, Path], engine: Engine
) -> None:
    """`mlgate build` and `mlgate containerize` for each table; the container, run with a read-only root,
    takes categorical strings, and null where the pipeline handles NaN, and answers as the in-process
    pipeline does (labels equal, probabilities and regression values within 1e-9)."""
    dataset, repo = trained
    env = {**os.environ, "GITHUB_REPOSITORY": f"acme/{dataset.name}", "DOCKER_HOST": engine.docker_host}
    built = run(BIN / "mlgate", "build", "--no-lock-packages", "--field", "path", cwd=repo, env=env)
    args = ["containerize", built.stdout.strip(), "--network", "host", "--field", "id"]
    image = run(BIN / "mlgate", *args, cwd=repo, env=env).stdout.strip()
    files = Project.at(repo).files
    predictor = Predictor.load(
        ServingSettings(name="t", model_path=str(files.model), card_path=str(files.card)), repo
    )
    names = [feature["name"] for feature in predictor.card["features"]]
    records = json.loads(pd.read_parquet(files.test)[names].head(5).to_json(orient="records"))
    records[0].update(dict.fromkeys(predictor.schema.nullable, None))
    port = free_port()
    container = engine.docker(
        "run",
        "--detach",
        "--network",
        "host",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--env",
        f"BENTOML_PORT={port}",
        image,
    ).stdout.strip()
    try:
        wait_ready(engine, container, f"http://127.0.0.1:{port}")
        status, served = post(f"http://127.0.0.1:{port}/predict", {"records": records})
    finally:
        engine.docker("rm", "--force", container, check=False)
    assert status == 200, served
    expected = predictor.predict(predictor.schema.check(records))
    assert isinstance(served, list) and len(served) == len(expected)
    for got, want in zip(served, expected, strict=True):
        if dataset.params["model"]["task"] == "classification":
            assert got["prediction"] == want["prediction"]
            assert got["probabilities"] == pytest.approx(want["probabilities"], abs=1e-9)
        else:
            assert got["prediction"] == pytest.approx(want["prediction"], abs=1e-9)


def test_a_pr_that_changes_the_averaging_is_compared_under_the_base_s(
    trained: tuple[Dataset, Path], tmp_path: Path
) -> None:
    """A PR that only switches evaluate.average is not a regression: its metrics are compared under the
    base's averaging until it is merged, and the report says so."""
    dataset, repo = trained
    if dataset.name != "multiclass":
        pytest.skip("averaging applies to a multiclass model")
    branch = tmp_path / "average"
    shutil.copytree(repo, branch, symlinks=True)
    params = yaml.safe_load((branch / "params.yaml").read_text())
    params["evaluate"]["average"] = "weighted"
    write_params(branch, params)
    repro(branch)
    report = json.loads(mlgate("report", "--base", "main", "--format", "json", cwd=branch, check=True).stdout)
    assert report["average_mismatch"] == ["macro", "weighted"] and report["average"] == "macro"
    rows = {row["metric"]: row for row in report["metrics"]}
    assert rows["f1"]["verdict"] == "no significant change" and rows["f1"]["delta"] == pytest.approx(0.0)
    assert report["gate"]["passed"] and report["headline"]["status"] == "passed"


HOSTILE = "`x` @octocat <img src=https://evil.example/p.png> **✅ Gates passed**\n::error::owned"


def data_stage(repo: Path, frame: pd.DataFrame, folder: Path) -> Any:
    """`mlgate stage data` on a copy of the repository whose source holds `frame`."""
    copy = folder / "copy"
    shutil.copytree(repo, copy, symlinks=True, ignore=shutil.ignore_patterns("cache"))
    frame.to_csv(copy / "data/raw/data.csv", index=False)
    return mlgate("stage", "data", cwd=copy), copy


def test_hostile_data_is_refused_naming_the_column(trained: tuple[Dataset, Path], tmp_path: Path) -> None:
    dataset, repo = trained
    frame = dataset.frame
    numeric = next(
        c for c in frame.columns if c != dataset.params["data"]["target"] and frame[c].dtype == float
    )
    cases = {
        "own-row-id": (
            frame.assign(row_id=range(len(frame))),
            "has a column named 'row_id', which mlgate reserves",
        ),
        "repeated": (
            pd.concat([frame, frame.iloc[:, :1]], axis=1),
            f"given more than once: {frame.columns[0]!r}",
        ),
        "infinite": (
            frame.assign(**{numeric: frame[numeric].where(frame.index != 3, np.inf)}),
            "infinite value",
        ),
    }
    for name, (hostile, expected) in cases.items():
        result, _ = data_stage(repo, hostile, tmp_path / name)
        assert result.returncode == 2 and expected in result.stderr, (name, result.stderr)
        assert "Traceback" not in result.stderr


def test_a_huge_category_does_not_bloat_the_profile(trained: tuple[Dataset, Path], tmp_path: Path) -> None:
    dataset, repo = trained
    column = dataset.slice_column
    frame = dataset.frame.assign(
        **{column: dataset.frame[column].where(dataset.frame.index != 0, "y" * 3_000_000)}
    )
    result, copy = data_stage(repo, frame, tmp_path)
    assert result.returncode == 0, result.stderr
    assert (copy / "reports/reference_profile.json").stat().st_size < 200_000


def test_hostile_values_stay_text_in_the_monitor_s_report_and_log(
    trained: tuple[Dataset, Path], tmp_path: Path
) -> None:
    from test_hostile import assert_inert

    dataset, repo = trained
    train = pd.read_parquet(repo / "data/prepared/train.parquet").drop(columns=["row_id"])
    batch = train.sample(n=min(len(train), 300), random_state=1)
    column = dataset.slice_column
    batch[column] = batch[column].where(np.arange(len(batch)) % 2 == 0, HOSTILE)
    batch[HOSTILE.replace("\n", "\n ")] = 1
    batch.to_csv(tmp_path / "batch.csv", index=False)
    result = mlgate(
        "monitor", "--current", str(tmp_path / "batch.csv"), "--out", str(tmp_path / "m"), cwd=repo
    )
    assert result.returncode == 1, result.stderr
    for line in (result.stdout + result.stderr).splitlines():
        assert not line.lstrip().startswith(("::", "##[")), line
    markdown = (tmp_path / "m" / "monitor.md").read_text()
    assert "unseen categories" in markdown
    assert_inert(markdown)


def test_hostile_values_stay_text_in_the_pr_comment(collapsed: dict[str, Any]) -> None:
    """The report's markdown with hostile class, slice, param and column names put into it."""
    from mlgate.report.markdown import render_markdown
    from test_hostile import assert_inert

    report = json.loads(json.dumps(collapsed["json"]))
    for change in report["params"]:
        change["base"], change["pr"] = HOSTILE, f"{HOSTILE}`"
    report["params"].append({"key": HOSTILE, "change": "changed", "base": HOSTILE, "pr": HOSTILE})
    result = next(iter(report["slices"].values()))
    group = next(iter(result["groups"].values()))
    report["slices"] = {HOSTILE: {**result, "groups": {HOSTILE: group, f"{HOSTILE}2": group}}}
    for check in report["gate"]["checks"]:
        check["message"] += HOSTILE
    report["headline"]["reason"] += HOSTILE
    report["data"]["moved_features"] = [{"feature": HOSTILE, "psi": 1.0, "p_adjusted": 0.0, "why": HOSTILE}]
    markdown = render_markdown(report)
    assert "octocat" in markdown
    assert_inert(markdown)
