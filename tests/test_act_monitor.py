"""The monitor loop under act: this repository's monitor.yml on a drifted batch, three runs.

Run 1 opens exactly one alarm issue, run 2 updates it instead of opening another, run 3 (after
`monitor.retrain: auto` is committed) pushes the retraining branch and asks for its pull request.
GitHub is the local world of scripts/offline_act.py (bare repositories behind `url.insteadOf`,
stand-ins for third-party actions); `gh` is the recording stand-in in tests/standins/gh/, which keeps
issues in a state file between runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import offline_act
from conftest import BIN, FAST_EVALUATE, ROOT, mlgate, repro, run
from offline_act import STANDINS, ActRun, ActRunner, act_env, publish, snapshot_checkout
from test_act_pr import commit_in, head

pytestmark = pytest.mark.slow

RAW = "data/raw/breast_cancer.csv"
BATCH = "data/production/batch.csv"
STANDIN_FOR = {"actions/checkout": "checkout", "actions/setup-python": "setup-python"}
PINNED_IN = [ROOT / ".github/workflows/mlgate-monitor.yml", ROOT / "actions/setup/action.yml"]


@dataclass
class Gh:
    """The recorded `gh` calls of one act run."""

    calls: list[Path]

    def commands(self) -> list[list[str]]:
        return [(c / "args").read_text().splitlines() for c in self.calls]

    def named(self, *command: str) -> list[Path]:
        return [
            c for c in self.calls if (c / "args").read_text().splitlines()[: len(command)] == list(command)
        ]


def standin_mappings() -> list[str]:
    return offline_act.standin_mappings(PINNED_IN, STANDIN_FOR)


def _drifted_batch(repo: Path) -> pd.DataFrame:
    """The test split, labelled, with a 0.5σ shift in one feature and 30% of another missing."""
    test = pd.read_parquet(repo / "data/prepared/test.parquet").drop(columns=["row_id"])
    train = pd.read_parquet(repo / "data/prepared/train.parquet")
    test["mean radius"] += 0.5 * train["mean radius"].std()
    test.loc[test.sample(frac=0.3, random_state=0).index, "mean texture"] = np.nan
    return test


def _example_on_raw_csv(repo: Path, env: dict[str, str]) -> None:
    """The example switched to a DVC-tracked CSV (as params.yaml will be), trained and pushed."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["evaluate"].update(FAST_EVALUATE)
    params["data"]["source"] = "sklearn:breast_cancer"  # materialised below, whatever the example uses now
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert mlgate("materialise-data", cwd=repo).returncode == 0
    params["data"]["source"] = RAW
    params["monitor"] = {"current": BATCH}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    dvc = yaml.safe_load((repo / "dvc.yaml").read_text())
    if RAW not in dvc["stages"]["data"]["deps"]:
        dvc["stages"]["data"]["deps"].append(RAW)
    (repo / "dvc.yaml").write_text(yaml.safe_dump(dvc, sort_keys=False))
    assert mlgate("validate", cwd=repo).returncode == 0
    repro(repo)
    (repo / BATCH).parent.mkdir(parents=True, exist_ok=True)
    _drifted_batch(repo).to_csv(repo / BATCH, index=False)
    run(BIN / "dvc", "push", "-q", cwd=repo, env=env)


@dataclass
class World:
    root: Path
    env: dict[str, str]
    repo: Path
    runs: int = 0

    def act(self, inputs: dict[str, str]) -> tuple[ActRun, Gh]:
        """Dispatch monitor.yml once under act; return the run and its `gh` calls."""
        self.runs += 1
        repository = {"full_name": "acme/mlgate", "default_branch": "main"}
        event = {"inputs": inputs, "repository": repository}
        env = {**self.env, "PATH": f"{STANDINS / 'gh'}{os.pathsep}{self.env['PATH']}"}
        gh_state = {"MLGATE_STANDIN_GH_STATE": self.root / "gh-state.json"}
        runner = ActRunner(self.root, env, standin_mappings(), gh_state)
        result = runner.run(self.repo, "workflow_dispatch", ".github/workflows/monitor.yml", event)
        calls = result.record / "gh"
        found = sorted(calls.iterdir(), key=lambda p: int(p.name)) if calls.exists() else []
        return result, Gh(found)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("act-monitor")
    env = act_env(root)
    repo = root / "work" / "mlgate"
    snapshot_checkout(repo, skip=("data/", "reports/", "models/"))
    run("git", "init", "-q", "-b", "main", cwd=repo, env=env)
    run(BIN / "dvc", "init", "-q", "-f", cwd=repo, env=env)
    run(BIN / "dvc", "remote", "add", "-d", "store", root / "dvc-remote", cwd=repo, env=env)
    _example_on_raw_csv(repo, env)
    commit_in(repo, "mlgate with the example on a tracked CSV", env)
    publish(repo, "acme/mlgate", root, env)
    return World(root, env, repo)


def _set_retrain_auto(world: World) -> None:
    """Commit `monitor.retrain: auto` to params.yaml and push it, as a maintainer would."""
    params = yaml.safe_load((world.repo / "params.yaml").read_text())
    params["monitor"]["retrain"] = "auto"
    (world.repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    commit_in(world.repo, "monitor: retrain automatically", world.env)
    run("git", "push", "-q", "origin", "main", cwd=world.repo, env=world.env)


@pytest.fixture(scope="module")
def runs(world: World) -> list[tuple[ActRun, Gh]]:
    """Two dispatches with params.yaml as it is, then one after `monitor.retrain: auto` is committed."""
    done = [world.act({"current": "", "retrain": ""}) for _ in range(2)]
    _set_retrain_auto(world)
    return [*done, world.act({"current": "", "retrain": ""})]


def _succeeded(result: ActRun) -> str:
    assert result.succeeded, result.log[-6000:]
    return result.log


def test_first_alarm_opens_exactly_one_issue(runs: list) -> None:
    result, gh = runs[0]
    log = _succeeded(result)
    assert "alarm: mean radius: distribution drift" in log and "alarm: mean texture: missing rate" in log
    (create,) = gh.named("issue", "create")
    args = (create / "args").read_text().splitlines()
    assert args[args.index("--label") + 1] == "mlgate-monitor" and "--repo" in args
    body = (create / "body.md").read_text()
    assert body.startswith("## 🚨 Monitor: alarm") and "xychart-beta" in body
    assert gh.named("issue", "edit") == [] and gh.named("pr", "create") == []
    assert "mlgate retrain" not in log or "Skipping" in log


def test_second_alarm_updates_the_issue(runs: list) -> None:
    result, gh = runs[1]
    _succeeded(result)
    assert gh.named("issue", "create") == []
    (edit,) = gh.named("issue", "edit")
    assert (edit / "args").read_text().splitlines()[2] == "1"
    assert (edit / "body.md").read_text().startswith("## 🚨 Monitor: alarm")


def test_retrain_auto_pushes_a_branch_and_asks_for_a_pull_request(world: World, runs: list) -> None:
    result, gh = runs[2]
    _succeeded(result)
    assert gh.named("issue", "create") == []
    (edit,) = gh.named("issue", "edit")
    assert "start them by hand" in (edit / "body.md").read_text()
    (pull,) = gh.named("pr", "create")
    args = (pull / "args").read_text().splitlines()
    branch = args[args.index("--head") + 1]
    assert branch.startswith("mlgate/retrain-") and args[args.index("--base") + 1] == "main"
    assert "start the checks by hand" in (pull / "body.md").read_text()
    assert (pull / "token").read_text().strip() == "standin-token"
    bare = world.root / "github" / "acme" / "mlgate"
    subject = run("git", "log", "-1", "--format=%s", branch, cwd=bare, env=world.env).stdout.strip()
    assert subject.startswith("Retrain: append 143 labelled rows from batch.csv (712 rows now)")
    changed = run("git", "show", "--name-only", "--format=", branch, cwd=bare, env=world.env).stdout.split()
    assert f"{RAW}.dvc" in changed and "dvc.lock" in changed
    assert (
        head(world.repo, world.env) != run("git", "rev-parse", branch, cwd=bare, env=world.env).stdout.strip()
    )
