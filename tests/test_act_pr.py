"""The pull-request loop for real under act: this repository's pr.yml, and an adopter calling mlgate-pr.yml.

Everything stays on this machine. A temp git config maps https://github.com/ to local bare repositories
(`url.<dir>.insteadOf`), so act reads `acme/<name>` as the repository while every clone and fetch hits a
local directory. Third-party actions are replaced by the stand-ins in tests/standins/ through act's
`--local-repository`; the recording `cml` stand-in keeps what each comment call was given. Steps run with
the test interpreter's warm mlgate (`MLGATE_PYTHON`), so nothing is installed during a run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import BIN, ROOT, read_params, repro, run, write_params

pytestmark = pytest.mark.slow

STANDINS = ROOT / "tests" / "standins"
STANDIN_FOR = {
    "actions/checkout": "checkout",
    "actions/setup-python": "setup-python",
    "iterative/setup-cml": "setup-cml",
    "actions/upload-artifact": "upload-artifact",
    "aws-actions/configure-aws-credentials": "configure-aws-credentials",
}
PR_LOOP_FILES = [ROOT / ".github" / "workflows" / name for name in ("mlgate-pr.yml", "pr.yml")] + [
    ROOT / "actions" / name / "action.yml" for name in ("setup", "pipeline", "report", "gate")
]
PINNED_USES = re.compile(r"uses:\s*([\w.-]+/[\w.-]+)@([0-9a-f]{40})")
WATERMARK = "--watermark-title=mlgate report"
MARKER = "<!-- mlgate-report -->"
ACT_TIMEOUT = 300
# Host mode (steps run here, no Docker engine); checkouts go through the stand-in; no cache server.
ACT_FLAGS = ("-P", "ubuntu-latest=-self-hosted", "--no-skip-checkout", "--no-cache-server")
ACT_FLAGS += ("--container-daemon-socket", "-")
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
      id-token: write
    uses: acme/mlgate/.github/workflows/mlgate-pr.yml@{sha} # v0
    with:
      mlgate-repository: acme/mlgate
      mlgate-ref: {sha}
"""


def standin_mappings() -> list[str]:
    """`--local-repository` for every pinned third-party action, each to its stand-in (one must exist)."""
    pins = {m.groups() for f in PR_LOOP_FILES for m in PINNED_USES.finditer(f.read_text())}
    missing = sorted(name for name, _ in pins if name not in STANDIN_FOR)
    assert not missing, f"no stand-in under tests/standins for {missing}"
    return [f"{name}@{sha}={STANDINS / STANDIN_FOR[name]}" for name, sha in sorted(pins)]


@dataclass
class ActRun:
    """What one act run left behind: its exit code, its log and the stand-ins' records."""

    returncode: int
    log: str
    record: Path
    seconds: float

    def cml_calls(self) -> list[Path]:
        calls = self.record / "cml"
        return sorted(calls.iterdir(), key=lambda p: int(p.name)) if calls.exists() else []

    def artifact(self, name: str = "mlgate-report") -> Path:
        return self.record / "artifacts" / name


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
        record = self.root / f"record-{self.runs}"
        event_path = self.root / f"event-{self.runs}.json"
        event_path.write_text(json.dumps(event))
        args = [str(BIN / "act"), "pull_request", "-W", workflow, "-e", str(event_path), *ACT_FLAGS]
        args += ["--action-cache-path", str(self.root / "act-cache")]
        args += ["--env", f"MLGATE_PYTHON={BIN / 'python'}", "--env", f"MLGATE_STANDIN_RECORD={record}"]
        for mapping in [*standin_mappings(), f"acme/mlgate@{self.mlgate_sha}={self.mlgate_pinned}"]:
            args += ["--local-repository", mapping]
        if token:
            args += ["-s", "GITHUB_TOKEN=standin-token"]
        return run_act(args, repo, self.env, self.root / f"act-{self.runs}.log", record)


def act_env(root: Path) -> dict[str, str]:
    """HOME, caches, npm prefix and git config in temp dirs; github.com rewritten to local bare repos."""
    home = root / "home"
    home.mkdir()
    (home / ".actrc").write_text("")
    gitconfig = home / ".gitconfig"
    gitconfig.write_text(
        "[user]\n\tname = mlgate tests\n\temail = tests@mlgate.invalid\n[init]\n\tdefaultBranch = main\n"
        f'[url "{root / "github"}/"]\n\tinsteadOf = https://github.com/\n'
        '[protocol "file"]\n\tallow = always\n[advice]\n\tdetachedHead = false\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RUNNER_", "ACTIONS_"))}
    env.update(
        HOME=str(home),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_CONFIG_HOME=str(home / ".config"),
        NPM_CONFIG_PREFIX=str(root / "npm"),
        NPM_CONFIG_CACHE=str(root / "npm-cache"),
        GIT_CONFIG_GLOBAL=str(gitconfig),
        GIT_CONFIG_NOSYSTEM="1",
        DVC_NO_ANALYTICS="1",
        ITERATIVE_DO_NOT_TRACK="1",
        BENTOML_DO_NOT_TRACK="true",
        DVC_SITE_CACHE_DIR=str(home / "dvc-site-cache"),
    )
    return env


def publish(repo: Path, slug: str, root: Path, env: dict[str, str]) -> None:
    """Make `https://github.com/<slug>` (rewritten by the temp git config) a bare clone of repo."""
    bare = root / "github" / slug
    bare.parent.mkdir(parents=True, exist_ok=True)
    run("git", "init", "-q", "--bare", bare, cwd=root, env=env)
    run("git", "remote", "add", "origin", f"https://github.com/{slug}", cwd=repo, env=env)
    run("git", "push", "-q", "origin", "main", cwd=repo, env=env)


def with_dvc_remote(repo: Path, remote: Path, env: dict[str, str]) -> None:
    run(BIN / "dvc", "remote", "add", "-d", "-f", "store", remote, cwd=repo, env=env)


def run_act(args: list[str], cwd: Path, env: dict[str, str], log_path: Path, record: Path) -> ActRun:
    """Run act (bounded by ACT_TIMEOUT), keep its log, and collect what the run left."""
    started = time.monotonic()
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=ACT_TIMEOUT
    )
    log = result.stdout + result.stderr
    log_path.write_text(log)
    return ActRun(result.returncode, log, record, time.monotonic() - started)


def seed_remote(template: Path, root: Path, configure: Callable[[Path], None], env: dict[str, str]) -> None:
    """Push the trained template's outputs and run-cache to a DVC remote, as after a green PR."""
    seed = root / "seed"
    shutil.copytree(template, seed, symlinks=True)
    configure(seed)
    run(BIN / "dvc", "push", "-q", "--run-cache", cwd=seed, env=env)
    shutil.rmtree(seed)


def copy_checkout(repo: Path, template: Path) -> None:
    """This repository's files as they stand, with the trained example's pipeline state."""
    files = run("git", "ls-files", "-co", "--exclude-standard", cwd=ROOT).stdout.split("\n")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
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
    head_slug = f"contributor/{slug.split('/')[1]}" if fork else slug
    return {
        "action": "synchronize",
        "number": number,
        "pull_request": {
            "number": number,
            "head": {"sha": head(repo, env), "ref": branch, "repo": {"full_name": head_slug, "fork": fork}},
            "base": {"sha": base_sha, "ref": "main", "repo": {"full_name": slug, "fork": False}},
        },
        "repository": {"full_name": slug},
    }


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


def test_gate_failure_fails_the_job_and_still_comments(world: World, pr_params: dict) -> None:
    params = json.loads(json.dumps(pr_params))
    params["gates"] = {"metrics": {"roc_auc": {"min": 0.9999}}}
    event = open_pr(world, world.adopter_repo, "acme/shop", "strict-gate", params, number=22)
    result = world.act(world.adopter_repo, ".github/workflows/mlgate.yml", event)
    assert result.returncode != 0 and "🏁  Job failed" in result.log
    assert "mlgate gate failed" in result.log and "below the minimum" in result.log
    assert "Failure - Main Gate" in result.log
    (call,) = result.cml_calls()
    assert "❌" in (call / "report.md").read_text()


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
