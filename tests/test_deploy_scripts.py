"""actions/deploy/register.sh without act: a push rejected because main moved is re-applied and lands.

The bare origin's pre-receive hook plays the other deploy: on the first push it moves main to a commit
that already records version 1, then rejects the push, as GitHub does when main moved meanwhile.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import BIN, ROOT, run

DEPLOY = ROOT / "actions" / "deploy"
IMAGE = "ghcr.io/acme/shop"
HOOK = """#!/usr/bin/env bash
# Stand-in for a concurrent deploy: once, move main to the prepared commit and reject this push.
if [ ! -e "$GIT_DIR/moved" ]; then
  touch "$GIT_DIR/moved"
  env -u GIT_QUARANTINE_PATH -u GIT_OBJECT_DIRECTORY -u GIT_ALTERNATE_OBJECT_DIRECTORIES \\
    git update-ref refs/heads/main refs/heads/other-deploy
  echo "main moved meanwhile" >&2
  exit 1
fi
"""
DOCKER_STANDIN = """#!/usr/bin/env bash
# docker stand-in: records the call.
echo "$*" >> "$MLGATE_STANDIN_RECORD/docker"
"""


def deploy_env(tmp_path: Path, repo: Path) -> dict[str, str]:
    """The environment the action's step gives register.sh, with a recording docker stand-in on PATH."""
    bin_dir = tmp_path / "standin-bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(DOCKER_STANDIN)
    (bin_dir / "docker").chmod(0o755)
    for name in ("output", "summary"):
        (tmp_path / name).write_text("")
    return {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{BIN}{os.pathsep}{os.environ['PATH']}",
        "GITHUB_ACTION_PATH": str(DEPLOY),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
        "RUNNER_TEMP": str(tmp_path),
        "MLGATE_STANDIN_RECORD": str(tmp_path),
        "MLGATE_VERSION": "1",
        "MLGATE_IMAGE": IMAGE,
        "MLGATE_DIGEST": "sha256:" + "b" * 64,
        "MLGATE_SHA_TAG": "abcdef012345",
        "MLGATE_BENTO_TAG": "shop:standin",
        "MLGATE_PR": "12",
        "MLGATE_ALIAS": "staging",
        "MLGATE_BRANCH": "main",
        "MLGATE_PUSH_TOKEN": "",
        "MLGATE_PUSH_ATTEMPTS": "3",
    }


def other_deploy(repo: Path, origin: Path) -> str:
    """Record version 1 in a separate clone and push it as `other-deploy`; return its commit."""
    other = repo.parent / "other-clone"
    run("git", "clone", "-q", origin, other, cwd=repo.parent)
    for name in ("models", "reports"):
        run("cp", "-R", repo / name, other / name, cwd=repo.parent)
    run(BIN / "mlgate", "registry", "record", "--version", "1", "--digest", "sha256:" + "a" * 64, cwd=other)
    run("git", "add", "registry.yaml", cwd=other)
    run("git", "commit", "-q", "-m", "mlgate: deploy version 1 to staging [skip ci]", cwd=other)
    run("git", "push", "-q", "origin", "HEAD:refs/heads/other-deploy", cwd=other)
    return run("git", "rev-parse", "HEAD", cwd=other).stdout.strip()


def test_a_rejected_push_is_reapplied_on_the_moved_main_with_the_next_version(
    trained_repo: Path, tmp_path: Path
) -> None:
    origin = tmp_path / "origin.git"
    run("git", "init", "-q", "--bare", origin, cwd=tmp_path)
    run("git", "remote", "add", "origin", origin, cwd=trained_repo)
    run("git", "push", "-q", "origin", "main", cwd=trained_repo)
    deployed = run("git", "rev-parse", "HEAD", cwd=trained_repo).stdout.strip()
    moved_to = other_deploy(trained_repo, origin)
    (origin / "hooks" / "pre-receive").write_text(HOOK)
    (origin / "hooks" / "pre-receive").chmod(0o755)

    env = deploy_env(tmp_path, trained_repo)
    result = subprocess.run(
        ["bash", DEPLOY / "register.sh"],
        cwd=trained_repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    assert "main moved during the push (attempt 1 of 3)" in log
    assert "version 1 was taken meanwhile; tagging the image as 2" in log

    registry = yaml.safe_load(run("git", "show", "main:registry.yaml", cwd=origin).stdout)
    assert [v["version"] for v in registry["versions"]] == [1, 2]
    mine = registry["versions"][1]
    assert mine["image"]["digest"] == env["MLGATE_DIGEST"] and mine["image"]["tags"] == ["2", "abcdef012345"]
    assert mine["source"] == {**mine["source"], "commit": deployed, "pr": 12}
    assert registry["aliases"] == {"staging": 2}
    # Re-tagged by digest: this runner has buildx (the stand-in answers `buildx version`), as GitHub's do.
    assert (tmp_path / "docker").read_text().splitlines() == [
        "buildx version",
        f"buildx imagetools create --tag {IMAGE}:2 {IMAGE}@{env['MLGATE_DIGEST']}",
    ]

    head = run("git", "log", "-1", "--format=%an|%s|%P", "main", cwd=origin).stdout.strip()
    assert head == f"github-actions[bot]|mlgate: deploy version 2 to staging [skip ci]|{moved_to}"
    assert "version=2" in (tmp_path / "output").read_text()
    assert run("git", "rev-parse", "HEAD", cwd=trained_repo).stdout.strip() == deployed


def test_gives_up_after_the_bounded_attempts(trained_repo: Path, tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    run("git", "init", "-q", "--bare", origin, cwd=tmp_path)
    run("git", "remote", "add", "origin", origin, cwd=trained_repo)
    run("git", "push", "-q", "origin", "main", cwd=trained_repo)
    (origin / "hooks" / "pre-receive").write_text("#!/usr/bin/env bash\necho protected >&2\nexit 1\n")
    (origin / "hooks" / "pre-receive").chmod(0o755)
    env = {**deploy_env(tmp_path, trained_repo), "MLGATE_PUSH_ATTEMPTS": "2"}
    result = subprocess.run(
        ["bash", DEPLOY / "register.sh"],
        cwd=trained_repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert "could not push the registry commit to main after 2 attempts" in result.stdout + result.stderr
    assert run("git", "cat-file", "-e", "main:registry.yaml", cwd=origin, check=False).returncode != 0


def load_workflow(name: str) -> dict:
    doc = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())
    doc["on"] = doc.pop(True)
    return doc


@pytest.mark.parametrize("name", ["mlgate-deploy.yml", "mlgate-promote.yml"])
def test_reusable_publishing_workflows_run_their_own_mlgate_checkout_and_leave_concurrency_to_callers(
    name: str,
) -> None:
    doc = load_workflow(name)
    (job,) = doc["jobs"].values()
    local = [step["uses"] for step in job["steps"] if step.get("uses", "").startswith("./")]
    assert local and all(u.startswith("./.mlgate-src/actions/") for u in local)
    checkout = [s for s in job["steps"] if (s.get("with") or {}).get("path") == ".mlgate-src"]
    assert checkout[0]["with"]["ref"] == "${{ inputs.mlgate-ref }}"
    # A group here as well as in the caller would make the called job wait for its own caller.
    assert "concurrency" not in doc and "concurrency" not in job
    assert "push-token" in doc["on"]["workflow_call"]["secrets"]


@pytest.mark.parametrize(
    ("caller", "permissions"),
    [
        (
            "deploy.yml",
            {"contents": "write", "packages": "write", "id-token": "write", "attestations": "write"},
        ),
        ("promote.yml", {"contents": "write", "packages": "write"}),
    ],
)
def test_callers_serialise_on_the_deploy_group_and_grant_only_what_publishing_needs(
    caller: str, permissions: dict
) -> None:
    doc = load_workflow(caller)
    assert doc["concurrency"] == {"group": "deploy", "cancel-in-progress": False}
    (job,) = doc["jobs"].values()
    assert job["permissions"] == permissions
    assert job["secrets"] == {"push-token": "${{ secrets.MLGATE_PUSH_TOKEN }}"}


def test_the_publishing_job_keeps_no_cache_a_pull_request_could_poison() -> None:
    texts = [(ROOT / "actions" / name / "action.yml").read_text() for name in ("deploy", "promote")]
    texts.append((ROOT / ".github" / "workflows" / "mlgate-deploy.yml").read_text())
    for text in texts:
        assert "cache-from" not in text and "cache-to" not in text and "actions/cache" not in text
    action = yaml.safe_load((ROOT / "actions" / "deploy" / "action.yml").read_text())
    build = next(s for s in action["runs"]["steps"] if s.get("id") == "push")
    assert build["with"]["context"] == "${{ steps.prepare.outputs.bento-path }}"
    names = [step["name"] for step in action["runs"]["steps"]]
    assert names == [
        "Reproduce, push the run-cache, build the bento",
        "Set up Docker Buildx",
        "Sign in to the container registry",
        "Build and push the image",
        "Smoke-test the image",
        "Attest build provenance",
        "Record the version and push the registry commit",
        "Render the Kubernetes manifests",
        "Keep the manifests as an artifact",
    ]
