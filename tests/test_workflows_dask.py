"""The Dask cluster's secrets in the reusable workflows: optional, passed only through `env:`, and only on
trusted refs (docs/scaling.md, "Security").

A Dask scheduler runs any function sent to it, and the pull-request job runs the pull request's own
`dvc.yaml`, so the address and certificates reach the step that runs the pipeline only for a
same-repository pull request, and the deploy's only on the default branch. GitHub already withholds
secrets from a fork's `pull_request` run; the explicit condition keeps it so under any other trigger.
The act test runs the very expressions of the workflows with the secrets set and a fork's event.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import offline_act
from conftest import ROOT
from test_workflows_lint import load

WORKFLOWS = ROOT / ".github" / "workflows"
DASK_SECRETS = {
    "dask-address": "MLGATE_DASK_ADDRESS",
    "dask-tls-ca": "MLGATE_DASK_TLS_CA",
    "dask-tls-cert": "MLGATE_DASK_TLS_CERT",
    "dask-tls-key": "MLGATE_DASK_TLS_KEY",
}
SAME_REPOSITORY = "github.event.pull_request.head.repo.full_name == github.repository"
DEFAULT_BRANCH = "github.ref == format('refs/heads/{0}', github.event.repository.default_branch)"
# Per reusable workflow: the trusted-ref condition, and the one job and step that runs the pipeline.
TRUSTED = {
    "mlgate-pr.yml": (SAME_REPOSITORY, "mlgate", "./.mlgate-src/actions/pr"),
    "mlgate-pr-oidc.yml": (SAME_REPOSITORY, "mlgate", "./.mlgate-src/actions/pr"),
    "mlgate-deploy.yml": (DEFAULT_BRANCH, "deploy", "./.mlgate-src/actions/deploy"),
}
SECRET_USE = re.compile(r"secrets\.(dask-[\w-]+)")


def gated(condition: str, secret: str) -> str:
    return f"${{{{ {condition} && secrets.{secret} || '' }}}}"


def dask_secret_uses(node: Any, keys: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str, str]]:
    """Every string in a parsed workflow that names a dask secret: its keys, the secret and the string."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from dask_secret_uses(value, (*keys, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from dask_secret_uses(value, (*keys, index))
    elif isinstance(node, str):
        for secret in SECRET_USE.findall(node):
            yield keys, secret, node


def pipeline_env(name: str) -> dict[str, str]:
    """The dask entries of the `env:` of the step that runs the pipeline."""
    _, job, action = TRUSTED[name]
    steps = [s for s in load(WORKFLOWS / name)["jobs"][job]["steps"] if s.get("uses") == action]
    assert len(steps) == 1, f"{name}: one step of job {job} runs {action}"
    return {k: v for k, v in (steps[0].get("env") or {}).items() if k in DASK_SECRETS.values()}


@pytest.mark.parametrize("name", TRUSTED)
def test_dask_secrets_are_optional_and_described(name: str) -> None:
    declared = load(WORKFLOWS / name)["on"]["workflow_call"]["secrets"]
    for secret in DASK_SECRETS:
        spec = declared.get(secret)
        assert spec is not None, f"{name}: secret {secret} is not declared"
        assert spec.get("required") is False, f"{name}: secret {secret} must be optional"
        assert str(spec.get("description") or "").strip(), f"{name}: secret {secret} has no description"


@pytest.mark.parametrize("name", TRUSTED)
def test_dask_secrets_reach_only_env_values_never_run(name: str) -> None:
    doc = load(WORKFLOWS / name)
    uses = list(dask_secret_uses(doc["jobs"]))
    assert {secret for _, secret, _ in uses} == set(DASK_SECRETS), f"{name}: every secret is passed on"
    for keys, secret, _ in uses:
        where = ".".join(map(str, keys))
        # jobs.<job>.steps.<n>.env.<VAR>: a step's env value, named for what mlgate reads
        assert len(keys) == 5 and keys[1] == "steps" and keys[3] == "env", f"{name}: {secret} in {where}"
        assert keys[4] == DASK_SECRETS[secret], f"{name}: {secret} must land in {DASK_SECRETS[secret]}"
    steps = [step for job in doc["jobs"].values() for step in job.get("steps", [])]
    for step in steps:
        assert "dask" not in step.get("run", ""), f"{name}: a run: script names the cluster's secrets"
        assert "dask" not in str(step.get("with", "")), f"{name}: the cluster's secrets go to a with:"
    # no wholesale form that would hand every secret to a step
    assert "toJSON(secrets" not in (WORKFLOWS / name).read_text()
    assert "secrets[" not in (WORKFLOWS / name).read_text()


@pytest.mark.parametrize("name", TRUSTED)
def test_dask_secrets_reach_the_pipeline_step_only_on_a_trusted_ref(name: str) -> None:
    """Pull requests: same repository only. Deploy: its one job, on the default branch only."""
    condition, job, action = TRUSTED[name]
    expected = {var: gated(condition, secret) for secret, var in DASK_SECRETS.items()}
    written = {var: " ".join(value.split()) for var, value in pipeline_env(name).items()}
    assert written == expected, f"{name}: the step running {action} must gate every secret"
    doc = load(WORKFLOWS / name)
    jobs_using = {keys[0] for keys, _, _ in dask_secret_uses(doc["jobs"])}
    assert jobs_using == {job}, f"{name}: only job {job} may get the cluster"
    if name == "mlgate-deploy.yml":
        assert list(doc["jobs"]) == ["deploy"], "the deploy workflow has one job: the one a push to main runs"


def test_the_step_given_the_cluster_runs_the_pipeline() -> None:
    """The secrets go to the composite that runs `dvc repro`, not to one that only reports."""
    pr_steps = load(ROOT / "actions" / "pr" / "action.yml")["runs"]["steps"]
    assert any(s.get("uses") == "./.mlgate-src/actions/pipeline" for s in pr_steps)
    assert "dvc repro" in (ROOT / "actions" / "pipeline" / "repro.sh").read_text()
    assert "dvc repro" in (ROOT / "actions" / "deploy" / "prepare.sh").read_text()


PROBE_CALLER = """\
on: [pull_request, push]
permissions: {}
jobs:
  call:
    permissions: {}
    uses: ./.github/workflows/called.yml
    secrets:
"""
# The caller's own secrets (act's -s), passed on as the called workflow's dask secrets.
GIVEN = {
    "dask-address": "tls://scheduler.invalid:8786",
    "dask-tls-ca": "ca-pem",
    "dask-tls-cert": "cert",
    "dask-tls-key": "key",
}
PR_HEAD = {"sha": "0" * 40, "ref": "change"}
SAME_REPOSITORY_PR = offline_act.pull_request_event("acme/shop", 7, PR_HEAD, "")
FORK_PR = offline_act.pull_request_event("acme/shop", 7, PR_HEAD, "", fork=True)
PUSH = {"repository": {"full_name": "acme/shop", "default_branch": "main"}}


def caller_secret(secret: str) -> str:
    return secret.upper().replace("-", "_")


def probe(tmp_path: Path, name: str, event_name: str, event: dict[str, Any]) -> dict[str, int]:
    """Run the workflow's own dask env under act, secrets set: the length act gives each variable."""
    repo, env = tmp_path / "probe", offline_act.act_env(tmp_path)
    (repo / ".github" / "workflows").mkdir(parents=True)
    secrets = load(WORKFLOWS / name)["on"]["workflow_call"]["secrets"]
    lengths = " ".join(f"{var}=${{#{var}}}" for var in DASK_SECRETS.values())
    called = {
        "on": {"workflow_call": {"secrets": {s: secrets[s] for s in DASK_SECRETS}}},
        "jobs": {
            "probe": {
                "runs-on": "ubuntu-latest",
                "steps": [{"env": pipeline_env(name), "run": f'echo "probe {lengths}"'}],
            }
        },
    }
    (repo / ".github" / "workflows" / "called.yml").write_text(yaml.safe_dump(called, sort_keys=False))
    caller = PROBE_CALLER + "".join(f"      {s}: ${{{{ secrets.{caller_secret(s)} }}}}\n" for s in GIVEN)
    (repo / ".github" / "workflows" / "caller.yml").write_text(caller)
    (tmp_path / "event.json").write_text(json.dumps(event))
    offline_act.git("init", "-q", cwd=repo, env=env)
    offline_act.git("add", "-A", cwd=repo, env=env)
    offline_act.git("commit", "-qm", "probe", cwd=repo, env=env)
    offline_act.git("remote", "add", "origin", "https://github.com/acme/shop", cwd=repo, env=env)
    args = [offline_act.act_binary(), event_name, "-W", ".github/workflows/caller.yml"]
    args += ["-e", str(tmp_path / "event.json"), *offline_act.ACT_FLAGS]
    for secret, value in GIVEN.items():
        args += ["-s", f"{caller_secret(secret)}={value}"]
    result = offline_act.run_act(args, repo, env, tmp_path / "act.log", tmp_path / "record")
    assert result.returncode == 0, result.log[-3000:]
    found = re.search(r"\| probe (.*)", result.log)
    assert found, result.log[-3000:]
    return {var: int(n) for var, n in (pair.split("=") for pair in found.group(1).split())}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "event_name", "event", "given"),
    [
        ("mlgate-pr.yml", "pull_request", SAME_REPOSITORY_PR, True),
        ("mlgate-pr.yml", "pull_request", FORK_PR, False),
        ("mlgate-deploy.yml", "push", {**PUSH, "ref": "refs/heads/main"}, True),
        ("mlgate-deploy.yml", "push", {**PUSH, "ref": "refs/heads/feature"}, False),
    ],
    ids=["pr-same-repository", "pr-fork", "deploy-main", "deploy-other-branch"],
)
def test_act_gives_the_cluster_only_to_trusted_refs(
    tmp_path: Path, name: str, event_name: str, event: dict[str, Any], given: bool
) -> None:
    """act hands secrets to a fork's event too, so here only the workflow's own condition withholds them."""
    lengths = probe(tmp_path, name, event_name, event)
    expected = {DASK_SECRETS[s]: len(v) if given else 0 for s, v in GIVEN.items()}
    assert lengths == expected
