"""The pull-request loop for real under act: this repository's pr.yml, and an adopter calling mlgate-pr.yml.

Everything stays on this machine, through scripts/offline_act.py (shared with the demo): a temp git config
maps https://github.com/ to local bare repositories (`url.<dir>.insteadOf`), so act reads `acme/<name>` as
the repository while every clone and fetch hits a local directory. Third-party actions are replaced by the
stand-ins in tests/standins/ through act's `--local-repository`; the recording `cml` stand-in keeps what
each comment call was given. Steps run with the test interpreter's warm mlgate (`MLGATE_PYTHON`), so
nothing is installed during a run. tests/test_act_deploy.py imports the plumbing through this module.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

import offline_act
from conftest import BIN, ROOT, read_params, repro, run, write_params
from offline_act import (  # noqa: F401 (ACT_FLAGS, ACT_TIMEOUT, PINNED_USES, run_act: for the other act tests)
    ACT_FLAGS,
    ACT_TIMEOUT,
    PINNED_USES,
    STANDINS,
    ActRun,
    ActRunner,
    act_env,
    publish,
    pull_request_event,
    run_act,
    snapshot_checkout,
)

pytestmark = pytest.mark.slow

STANDIN_FOR = offline_act.PR_LOOP_STANDINS
PR_LOOP_FILES = [
    ROOT / ".github" / "workflows" / name for name in ("mlgate-pr.yml", "mlgate-pr-oidc.yml", "pr.yml")
] + [ROOT / "actions" / name / "action.yml" for name in ("pr", "setup", "pipeline", "report", "gate")]
WATERMARK = "--watermark-title=mlgate report"
MARKER = "<!-- mlgate-report -->"
ADOPTER_CALLER = """\
name: mlgate
on:
  pull_request:
permissions: {{}}
concurrency:
  group: mlgate-${{{{ github.event.pull_request.number }}}}
  cancel-in-progress: true
jobs:
  mlgate:
    permissions:
      contents: read
      pull-requests: write
    uses: acme/mlgate/.github/workflows/mlgate-pr.yml@{sha} # v0
    with:
      mlgate-repository: acme/mlgate
      mlgate-ref: {sha}
"""


def standin_mappings() -> list[str]:
    """`--local-repository` for every pinned third-party action, each to its stand-in (one must exist)."""
    return offline_act.standin_mappings(PR_LOOP_FILES, STANDIN_FOR)


@dataclass
class World:
    """Temp home, local "GitHub", the mlgate repository and an adopter repository, both with a DVC remote."""

    root: Path
    env: dict[str, str]
    mlgate_repo: Path
    mlgate_sha: str
    mlgate_pinned: Path
    adopter_repo: Path
    runs: int = 0

    def act(self, repo: Path, workflow: str, event: dict, token: bool = True) -> ActRun:
        """Run the pull_request event of one workflow under act and collect what it left."""
        self.runs += 1
        mappings = [*standin_mappings(), f"acme/mlgate@{self.mlgate_sha}={self.mlgate_pinned}"]
        runner = ActRunner(self.root, self.env, mappings)
        return runner.run(repo, "pull_request", workflow, event, token=token)


def with_dvc_remote(repo: Path, remote: Path, env: dict[str, str]) -> None:
    run(BIN / "dvc", "remote", "add", "-d", "-f", "store", remote, cwd=repo, env=env)


def seed_remote(template: Path, root: Path, configure: Callable[[Path], None], env: dict[str, str]) -> None:
    """Push the trained template's outputs and run-cache to a DVC remote, as after a green PR."""
    seed = root / "seed"
    shutil.copytree(template, seed, symlinks=True)
    configure(seed)
    run(BIN / "dvc", "push", "-q", "--run-cache", cwd=seed, env=env)
    shutil.rmtree(seed)


def copy_checkout(repo: Path, template: Path) -> None:
    """This repository's files as they stand, with the trained example's pipeline state."""
    snapshot_checkout(repo)
    for name in ("params.yaml", "dvc.lock", ".mlgate/version"):
        shutil.copy2(template / name, repo / name)


def build_world(root: Path, template: Path) -> World:
    root.mkdir(parents=True, exist_ok=True)
    env = act_env(root)
    remote = root / "dvc-remote"
    # The DVC remote holds the trained template's outputs and run-cache, as a team's remote would.
    seed_remote(template, root, lambda seed: with_dvc_remote(seed, remote, env), env)

    # "This repository": mlgate's own files as they stand, with the trained example pipeline.
    mlgate_repo = root / "work" / "mlgate"
    copy_checkout(mlgate_repo, template)
    run("git", "init", "-q", "-b", "main", cwd=mlgate_repo, env=env)
    with_dvc_remote(mlgate_repo, remote, env)
    commit_in(mlgate_repo, "mlgate", env)
    publish(mlgate_repo, "acme/mlgate", root, env)
    mlgate_sha = head(mlgate_repo, env)
    # What `uses: acme/mlgate/...@<sha>` resolves to: a checkout of that commit, apart from the work tree.
    mlgate_pinned = root / "pinned" / "mlgate"
    run("git", "clone", "-q", "https://github.com/acme/mlgate", mlgate_pinned, cwd=root, env=env)
    run("git", "checkout", "-q", "--detach", mlgate_sha, cwd=mlgate_pinned, env=env)

    # An adopter: the trained example with one short caller workflow pinned to mlgate's commit.
    adopter_repo = root / "work" / "shop"
    shutil.copytree(template, adopter_repo, symlinks=True)
    shutil.rmtree(adopter_repo / ".dvc" / "cache", ignore_errors=True)
    with_dvc_remote(adopter_repo, remote, env)
    caller = adopter_repo / ".github" / "workflows" / "mlgate.yml"
    caller.parent.mkdir(parents=True)
    caller.write_text(ADOPTER_CALLER.format(sha=mlgate_sha))
    commit_in(adopter_repo, "adopt mlgate", env)
    publish(adopter_repo, "acme/shop", root, env)
    return World(root, env, mlgate_repo, mlgate_sha, mlgate_pinned, adopter_repo)


def commit_in(repo: Path, message: str, env: dict[str, str]) -> None:
    run("git", "add", "-A", cwd=repo, env=env)
    run("git", "commit", "-q", "-m", message, cwd=repo, env=env)


def head(repo: Path, env: dict[str, str]) -> str:
    return run("git", "rev-parse", "HEAD", cwd=repo, env=env).stdout.strip()


def open_pr(world: World, repo: Path, slug: str, branch: str, params: dict, number: int, **opts: Any) -> dict:
    """Commit params (and `change(repo)`, if given) on a branch off main, push it, return the event."""
    env, fork, change = world.env, opts.get("fork", False), opts.get("change")
    run("git", "checkout", "-q", "main", cwd=repo, env=env)
    base_sha = head(repo, env)
    run("git", "checkout", "-q", "-B", branch, cwd=repo, env=env)
    write_params(repo, params)
    if change:
        change(repo)
    commit_in(repo, f"PR {number}", env)
    run("git", "push", "-q", "-f", "origin", branch, cwd=repo, env=env)
    return pull_request_event(slug, number, {"sha": head(repo, env), "ref": branch}, base_sha, fork)


def shallower_model(params: dict) -> dict:
    changed = json.loads(json.dumps(params))
    changed["model"]["params"]["max_depth"] = 3
    changed["model"]["params"]["n_estimators"] = 60
    return changed


def printed_summary(log: str) -> str:
    """The report's job summary as act prints it (act keeps no summary file)."""
    assert f"Summary - {MARKER}" in log, log[-4000:]
    return log.split(f"Summary - {MARKER}", 1)[1]


def assert_succeeded(result: ActRun) -> None:
    assert result.returncode == 0 and "🏁  Job succeeded" in result.log, result.log[-6000:]


def metric_value(report: str, metric: str) -> str:
    """The PR column of a metric's row in the report's metrics table (| Metric | Base | PR | ...)."""
    table = report.split("### Metrics", 1)[1]
    rows = [[c.strip() for c in line.split("|")] for line in table.splitlines() if line.startswith("|")]
    matches = [cells[3] for cells in rows if cells[1].split(" ")[0] == metric]
    assert matches, f"no row for {metric} in\n{report}"
    return matches[0]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, trained_template: Path) -> World:
    return build_world(tmp_path_factory.mktemp("act"), trained_template)


@pytest.fixture(scope="module")
def pr_params(trained_template: Path) -> dict:
    return shallower_model(read_params(trained_template))


@pytest.fixture(scope="module")
def pr_metrics(trained_template: Path, pr_params: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The PR's metrics, computed independently of the workflow by a local `dvc repro`."""
    local = tmp_path_factory.mktemp("local") / "repo"
    shutil.copytree(trained_template, local, symlinks=True)
    write_params(local, pr_params)
    repro(local)
    return json.loads((local / "reports" / "metrics.json").read_text())


@pytest.fixture(scope="module")
def this_repo_runs(world: World, pr_params: dict) -> list[ActRun]:
    """This repository's pr.yml on one PR, run twice (a second push to the same PR)."""
    event = open_pr(world, world.mlgate_repo, "acme/mlgate", "tune-model", pr_params, number=11)
    return [world.act(world.mlgate_repo, ".github/workflows/pr.yml", event) for _ in range(2)]


@pytest.fixture(scope="module")
def adopter_run(world: World, pr_params: dict) -> ActRun:
    event = open_pr(world, world.adopter_repo, "acme/shop", "tune-model", pr_params, number=21)
    return world.act(world.adopter_repo, ".github/workflows/mlgate.yml", event)


def check_reported(result: ActRun, metrics: dict) -> str:
    """The run passed, cml got `comment update` with the report, and its table shows the run's metrics."""
    assert_succeeded(result)
    calls = result.cml_calls()
    assert len(calls) == 1, result.log[-4000:]
    args = (calls[0] / "args").read_text().splitlines()
    assert args[:2] == ["comment", "update"]
    assert "--target=pr" in args and WATERMARK in args and "--publish=false" in args
    assert (calls[0] / "token").read_text().strip() == "yes"
    report = (calls[0] / "report.md").read_text()
    assert MARKER in report
    assert (result.record / "setup-cml-vega").read_text().strip() == "false"
    for metric, value in metrics.items():
        if isinstance(value, dict) and "value" in value:
            assert metric_value(report, metric) == f"{value['value']:.4f}", metric
    assert (result.artifact() / "report.md").read_text() == report
    return report


def test_this_repo_pr_runs_pipeline_report_and_gate(this_repo_runs: list[ActRun], pr_metrics: dict) -> None:
    result = this_repo_runs[0]
    check_reported(result, pr_metrics)
    assert "checkout stand-in: acme/mlgate@" in result.log and "-> .mlgate-src" in result.log
    assert "dvc repro --pull" in result.log
    assert "Success - Main Gate" in result.log


def test_same_pr_twice_updates_one_comment(this_repo_runs: list[ActRun]) -> None:
    titles = []
    for result in this_repo_runs:
        assert_succeeded(result)
        (call,) = result.cml_calls()
        titles.append(
            [a for a in (call / "args").read_text().splitlines() if a.startswith("--watermark-title")]
        )
    assert titles == [[WATERMARK], [WATERMARK]]


def test_adopter_repo_gets_the_same_behaviour(world: World, adopter_run: ActRun, pr_metrics: dict) -> None:
    check_reported(adopter_run, pr_metrics)
    # The called workflow ran the actions and the package of the mlgate commit the caller pinned.
    assert f"checkout stand-in: acme/mlgate@{world.mlgate_sha} -> .mlgate-src" in adopter_run.log
    assert f"matched https://github.com/acme/mlgate with ref {world.mlgate_sha}" in adopter_run.log


def stump(params: dict) -> dict:
    """A model too weak for main's gate (roc_auc ≥ 0.95): one tree, one split."""
    changed = json.loads(json.dumps(params))
    changed["model"]["params"].update(n_estimators=1, max_depth=1)
    return changed


def loosened(params: dict) -> dict:
    changed = stump(params)
    changed["gates"]["metrics"]["roc_auc"]["min"] = 0.0
    return changed


def shrunk(params: dict) -> dict:
    changed = json.loads(json.dumps(params))
    changed["data"]["split"]["test_size"] = 0.02
    return changed


def own_policy(params: dict) -> dict:
    changed = loosened(params)
    changed["gates"]["policy_from"] = "head"
    return changed


@pytest.mark.parametrize(
    ("change", "number", "failed_check", "pending"),
    [
        (loosened, 22, "below the minimum 0.9500", ["gates.metrics.roc_auc.min"]),
        (shrunk, 24, "the verdict would rest on only", ["data.split.test_size"]),
        (own_policy, 25, "below the minimum 0.9500", ["gates.metrics.roc_auc.min", "gates.policy_from"]),
    ],
    ids=["loosens-gates", "shrinks-test-set", "policy-from-head"],
)
def test_a_pr_cannot_set_the_policy_that_judges_it(
    world: World,
    trained_template: Path,
    change: Callable[[dict], dict],
    number: int,
    failed_check: str,
    pending: list[str],
) -> None:
    """main's gates judge the PR; its changes to them are listed, apply after merge, and the job fails."""
    params = change(read_params(trained_template))
    event = open_pr(world, world.adopter_repo, "acme/shop", f"policy-{number}", params, number=number)
    result = world.act(world.adopter_repo, ".github/workflows/mlgate.yml", event)
    assert result.returncode != 0 and "🏁  Job failed" in result.log, result.log[-6000:]
    assert "mlgate gate failed" in result.log and failed_check in result.log
    assert "Failure - Main Gate" in result.log
    (call,) = result.cml_calls()
    report = (call / "report.md").read_text()
    assert "**❌ Gates failed**" in report
    section = report.split("### Policy changes (apply after merge)", 1)[1].split("###", 1)[0]
    assert f"This verdict uses `{event['pull_request']['base']['sha']}`'s" in section  # main before the PR
    assert [
        row.split("|")[1].strip().strip("`") for row in section.splitlines() if row.startswith("| `")
    ] == (pending)


def test_fork_pr_skips_the_comment_and_stays_green(world: World, pr_params: dict) -> None:
    event = open_pr(world, world.adopter_repo, "acme/shop", "fork-change", pr_params, number=23, fork=True)
    result = world.act(world.adopter_repo, ".github/workflows/mlgate.yml", event, token=False)
    assert_succeeded(result)
    assert result.cml_calls() == [] and not (result.record / "setup-cml-vega").exists()
    summary = (result.artifact() / "summary.md").read_text()
    assert MARKER in summary and "No pull-request comment" in summary and "fork" in summary
    assert "No pull-request comment: this pull request comes from a fork" in printed_summary(result.log)
    assert "fork pull requests get no secrets" in result.log


def test_every_pinned_action_has_a_standin() -> None:
    mappings = standin_mappings()
    assert len(mappings) == len(STANDIN_FOR)
    for mapping in mappings:
        assert (Path(mapping.split("=", 1)[1]) / "action.yml").is_file()
    assert yaml.safe_load((STANDINS / "setup-cml" / "action.yml").read_text())["name"].endswith("stand-in")
