"""`mlgate materialise-data` and `mlgate retrain` on their own repositories: real git, DVC and `dvc repro`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import BIN, commit_all, init_repo, mlgate, read_params, repro, run, write_params

RAW = "data/raw/breast_cancer.csv"


def _use_raw_csv(repo: Path) -> None:
    """Point the example at the materialised CSV, as the lead's params.yaml/dvc.yaml change does."""
    params = read_params(repo)
    params["data"]["source"] = RAW
    write_params(repo, params)
    dvc = yaml.safe_load((repo / "dvc.yaml").read_text())
    if RAW not in dvc["stages"]["data"]["deps"]:
        dvc["stages"]["data"]["deps"].append(RAW)
    (repo / "dvc.yaml").write_text(yaml.safe_dump(dvc, sort_keys=False))


@pytest.fixture(scope="module")
def csv_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example switched to a DVC-tracked CSV under data/raw/, trained and committed."""
    repo = init_repo(tmp_path_factory.mktemp("retrain") / "repo")
    params = read_params(repo)
    params["data"]["source"] = "sklearn:breast_cancer"  # whatever the example uses now
    write_params(repo, params)
    _git(repo, "rm", "-q", RAW)  # the example keeps its CSV in git; here DVC tracks it
    commit_all(repo, "the bundled dataset, before it is materialised")
    result = mlgate("materialise-data", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert f"wrote {RAW} and {RAW}.dvc" in result.stdout
    _use_raw_csv(repo)
    assert mlgate("validate", cwd=repo).returncode == 0
    repro(repo)
    commit_all(repo, "train on the tracked CSV")
    return repo


@pytest.fixture
def csv_repo(csv_template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "repo"
    shutil.copytree(csv_template, target, symlinks=True)
    return target


def _batch(repo: Path, rows: int) -> pd.DataFrame:
    frame = pd.read_csv(repo / RAW).sample(n=rows, random_state=0)
    frame["mean radius"] *= 1.1
    return frame


def _git(repo: Path, *args: str) -> str:
    return run("git", *args, cwd=repo).stdout.strip()


def test_materialised_csv_holds_the_bundled_data(csv_template: Path) -> None:
    from mlgate.datasets.sources import load_source

    pd.testing.assert_frame_equal(
        pd.read_csv(csv_template / RAW), load_source("sklearn:breast_cancer", csv_template)
    )
    assert yaml.safe_load((csv_template / f"{RAW}.dvc").read_text())["outs"][0]["path"] == "breast_cancer.csv"
    assert _git(csv_template, "check-ignore", RAW) == RAW  # DVC keeps the data itself out of git


@pytest.mark.slow
def test_retrain_appends_and_commits_on_a_new_branch(csv_repo: Path, tmp_path: Path) -> None:
    _batch(csv_repo, 50).to_csv(tmp_path / "labelled.csv", index=False)
    before = (csv_repo / f"{RAW}.dvc").read_text()
    result = mlgate("retrain", "--data", tmp_path / "labelled.csv", "--branch", "retrain/test", cwd=csv_repo)
    assert result.returncode == 0, result.stderr
    assert f"retrain: {RAW}: 569 → 619 rows; branch retrain/test at " in result.stdout
    assert "no DVC remote configured" in result.stdout
    assert _git(csv_repo, "branch", "--show-current") == "retrain/test"
    assert (
        _git(csv_repo, "log", "-1", "--format=%s")
        == "Retrain: append 50 labelled rows from labelled.csv (619 rows now)"
    )
    changed = set(_git(csv_repo, "show", "--name-only", "--format=", "HEAD").splitlines())
    assert {f"{RAW}.dvc", "dvc.lock"} <= changed
    assert (csv_repo / f"{RAW}.dvc").read_text() != before
    assert _git(csv_repo, "status", "--porcelain") == ""
    assert len(pd.read_csv(csv_repo / RAW)) == 619
    data = yaml.safe_load((csv_repo / "reports/data.json").read_text())
    assert data["rows"] == 619


@pytest.mark.slow
def test_retrain_replace_of_a_csv_kept_in_git_pushes_to_the_remote(csv_repo: Path, tmp_path: Path) -> None:
    """A repository may keep the CSV in git (no remote for CI to pull from); the commit then holds it."""
    run(BIN / "dvc", "remove", f"{RAW}.dvc", cwd=csv_repo)
    remote = tmp_path / "remote"
    run(BIN / "dvc", "remote", "add", "-d", "storage", remote, cwd=csv_repo)
    commit_all(csv_repo, "keep the CSV in git; add a DVC remote")
    assert _git(csv_repo, "ls-files", RAW) == RAW
    _batch(csv_repo, 400).to_csv(tmp_path / "fresh.csv", index=False)
    result = mlgate("retrain", "--data", tmp_path / "fresh.csv", "--replace", cwd=csv_repo)
    assert result.returncode == 0, result.stderr
    assert "pushed to the DVC remote" in result.stdout
    assert _git(csv_repo, "branch", "--show-current").startswith("mlgate/retrain-")
    assert {RAW, "dvc.lock"} <= set(_git(csv_repo, "show", "--name-only", "--format=", "HEAD").splitlines())
    assert not (csv_repo / f"{RAW}.dvc").exists()
    assert len(pd.read_csv(csv_repo / RAW)) == 400
    assert any(path.is_file() for path in remote.rglob("*"))


def test_materialise_for_git_leaves_no_dvc_file(git_repo: Path) -> None:
    params = read_params(git_repo)
    params["data"]["source"] = "sklearn:breast_cancer"
    write_params(git_repo, params)
    (git_repo / RAW).unlink(missing_ok=True)
    (git_repo / f"{RAW}.dvc").unlink(missing_ok=True)
    result = mlgate("materialise-data", "--git", cwd=git_repo)
    assert result.returncode == 0, result.stderr
    assert f"wrote {RAW} (keep it in git: git add {RAW})" in result.stdout
    assert (git_repo / RAW).is_file() and not (git_repo / f"{RAW}.dvc").exists()


def test_retrain_needs_a_file_source(git_repo: Path, tmp_path: Path) -> None:
    params = read_params(git_repo)
    params["data"]["source"] = "sklearn:breast_cancer"  # whatever the example uses now
    write_params(git_repo, params)
    (tmp_path / "b.csv").write_text("target\n1\n")
    result = mlgate("retrain", "--data", tmp_path / "b.csv", cwd=git_repo)
    assert result.returncode == 2
    assert "retraining needs a CSV file under data/raw/; run `mlgate materialise-data`" in result.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("drop_target", "no target column 'target'; retraining needs labels"),
        ("extra_column", "columns differ from the tracked file: unexpected note"),
        ("dirty_tree", "the working tree has uncommitted changes"),
    ],
)
def test_retrain_refuses_bad_input(csv_repo: Path, tmp_path: Path, change: str, message: str) -> None:
    batch = _batch(csv_repo, 5)
    if change == "drop_target":
        batch = batch.drop(columns=["target"])
    if change == "extra_column":
        batch["note"] = "x"
    if change == "dirty_tree":
        (csv_repo / "params.yaml").write_text((csv_repo / "params.yaml").read_text() + "\n# edited\n")
    batch.to_csv(tmp_path / "batch.csv", index=False)
    result = mlgate("retrain", "--data", tmp_path / "batch.csv", cwd=csv_repo)
    assert result.returncode == 2
    assert message in result.stderr
    assert _git(csv_repo, "branch", "--show-current") == "main"


@pytest.mark.slow
def test_retrain_takes_a_glob_and_a_jsonl_batch_as_the_monitor_does(csv_repo: Path, tmp_path: Path) -> None:
    """`monitor.retrain: auto` hands retrain what the monitor read: here two CSVs by glob, then JSONL."""
    batch = _batch(csv_repo, 20)
    (tmp_path / "prod").mkdir()
    batch.iloc[:10].to_csv(tmp_path / "prod" / "a.csv", index=False)
    batch.iloc[10:].to_csv(tmp_path / "prod" / "b.csv", index=False)
    result = mlgate("retrain", "--data", f"{tmp_path}/prod/*.csv", "--branch", "retrain/glob", cwd=csv_repo)
    assert result.returncode == 0, result.stderr
    assert len(pd.read_csv(csv_repo / RAW)) == 589
    run("git", "switch", "-q", "main", cwd=csv_repo)
    run(BIN / "dvc", "checkout", "-q", cwd=csv_repo)
    batch.to_json(tmp_path / "log.jsonl", orient="records", lines=True)
    result = mlgate("retrain", "--data", tmp_path / "log.jsonl", "--branch", "retrain/jsonl", cwd=csv_repo)
    assert result.returncode == 0, result.stderr
    assert len(pd.read_csv(csv_repo / RAW)) == 589
    result = mlgate("retrain", "--data", f"{tmp_path}/none/*.csv", cwd=csv_repo)
    assert result.returncode == 2 and "--data " in result.stderr and "no file matches" in result.stderr
