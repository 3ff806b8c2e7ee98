"""The pipeline end to end: real git repositories, real `dvc repro`, DVC's own validation."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import BIN, ROOT, SHARED, commit_all, mlgate, read_params, repro, run, write_params

pytestmark = pytest.mark.slow


def ran_stages(output: str) -> list[str]:
    return re.findall(r"Running stage '(\w+)'", output)


def test_dvc_accepts_dvc_yaml(git_repo: Path) -> None:
    listed = run(BIN / "dvc", "stage", "list", cwd=git_repo).stdout
    assert [line.split()[0] for line in listed.splitlines()] == ["data", "train", "evaluate"]


def test_dvc_yaml_matches_dvc_schema() -> None:
    schema_path = SHARED / "schemas" / "dvc-yaml.schema.json"
    if not schema_path.exists():
        pytest.skip("../shared/schemas is only present in this workplace and its CI")
    from jsonschema import Draft7Validator, validators

    schema = json.loads(schema_path.read_text())
    validator_class = validators.validator_for(schema, default=Draft7Validator)
    errors = list(validator_class(schema).iter_errors(yaml.safe_load((ROOT / "dvc.yaml").read_text())))
    assert errors == []


def test_params_change_reruns_only_the_stages_that_read_them(trained_repo: Path) -> None:
    assert ran_stages(repro(trained_repo).stdout) == []
    params = read_params(trained_repo)
    params["evaluate"]["bootstrap"]["samples"] = 150
    write_params(trained_repo, params)
    assert ran_stages(repro(trained_repo).stdout) == ["evaluate"]
    params["model"]["params"]["max_depth"] = 4
    write_params(trained_repo, params)
    assert ran_stages(repro(trained_repo).stdout) == ["train", "evaluate"]


def test_switch_to_regression_needs_only_params(trained_repo: Path) -> None:
    params = read_params(trained_repo)
    params["data"] = {"source": "sklearn:diabetes", "target": "target"}
    params["model"].update(
        task="regression", estimator="sklearn.ensemble.HistGradientBoostingRegressor", params={"max_iter": 50}
    )
    params["evaluate"]["primary"] = "rmse"
    params["gates"] = {"metrics": {"rmse": {"max_drop": "5%"}}}
    write_params(trained_repo, params)
    assert mlgate("validate", cwd=trained_repo).returncode == 0
    assert ran_stages(repro(trained_repo).stdout) == ["data", "train", "evaluate"]
    metrics = json.loads((trained_repo / "reports/metrics.json").read_text())
    assert set(metrics) == {"rmse", "mae", "r2", "n_test"}


def test_mlgate_upgrade_invalidates_cached_results(trained_repo: Path) -> None:
    (trained_repo / ".mlgate" / "version").write_text("0.0.1\n")
    run(BIN / "dvc", "commit", "-f", "-q", cwd=trained_repo)
    commit_all(trained_repo, "pretend an older mlgate ran the pipeline")
    assert ran_stages(repro(trained_repo).stdout) == []
    assert ".mlgate/version: updated" in mlgate("validate", cwd=trained_repo).stdout
    shutil.rmtree(trained_repo / ".dvc" / "cache" / "runs")  # this release has never run here
    assert ran_stages(repro(trained_repo).stdout) == ["data", "train", "evaluate"]


def test_fresh_clone_reuses_the_run_cache(trained_repo: Path, tmp_path: Path) -> None:
    remote = tmp_path / "dvc-remote"
    run(BIN / "dvc", "remote", "add", "-d", "storage", remote, cwd=trained_repo)
    commit_all(trained_repo, "remote")
    run(BIN / "dvc", "push", "--run-cache", cwd=trained_repo)
    clone = tmp_path / "clone"
    run("git", "clone", "-q", trained_repo, clone, cwd=tmp_path)
    output = run(BIN / "dvc", "repro", "--pull", cwd=clone).stdout
    assert ran_stages(output) == []
    assert (clone / "models/model.skops").exists() and (clone / "reports/metrics.json").exists()


def test_validate_checks_dvc_yaml_against_params(git_repo: Path) -> None:
    dvc = yaml.safe_load((git_repo / "dvc.yaml").read_text())
    dvc["stages"]["train"]["cmd"] = "python train.py"
    dvc["stages"]["evaluate"]["params"].append("evaluate.nonexistent")
    (git_repo / "dvc.yaml").write_text(yaml.safe_dump(dvc, sort_keys=False))
    result = mlgate("validate", cwd=git_repo)
    assert result.returncode == 2
    assert re.search(
        r"dvc\.yaml:\d+: stages\.train\.cmd: every stage must call an mlgate command", result.stderr
    )
    assert re.search(
        r"dvc\.yaml:\d+: stages\.evaluate\.params\[2\]: 'evaluate\.nonexistent' is not set in params\.yaml",
        result.stderr,
    )
    assert "Traceback" not in result.stderr


def test_validate_requires_a_file_source_as_dependency(git_repo: Path) -> None:
    params = read_params(git_repo)
    params["data"] = {"source": "data/raw/shop.csv", "target": "label"}
    write_params(git_repo, params)
    result = mlgate("validate", cwd=git_repo)
    assert result.returncode == 2
    assert "stages.data.deps: data.source 'data/raw/shop.csv' must be listed in deps" in result.stderr
