"""Merge to deploy, promotion and rollback, run for real under act, with the DVC remote on an S3 stand-in.

The world of tests/test_act_pr.py (a temp git config that maps https://github.com/ to local bare
repositories, act in host mode, the test interpreter's warm mlgate) plus: the DVC remote is an S3 bucket
on `moto_server` at 127.0.0.1, and the Docker actions are the stand-ins in tests/standins/ (build-push
receives the bento folder and returns a digest; the setup-buildx stand-in puts a recording `docker` on
PATH, whose `run` starts a small server answering /readyz and /predict). One module-scoped history:

    deploy #1 (main)           -> version 1
    two merges land together (#7 then #8); their deploys race on the moved main:
    deploy of #7               -> version 2, committed on top of #8
    deploy of #8 (image tagged 2, its registry predates version 2) -> re-applied as version 3, re-tagged
    promote 3 to production; roll staging back (3 -> 2)
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from conftest import BIN, ROOT, run
from test_act_pr import (
    ACT_FLAGS,
    PINNED_USES,
    STANDIN_FOR,
    STANDINS,
    ActRun,
    act_env,
    commit_in,
    copy_checkout,
    head,
    publish,
    run_act,
    seed_remote,
)

pytestmark = pytest.mark.slow

DEPLOY_STANDIN_FOR = {
    **STANDIN_FOR,
    "docker/setup-buildx-action": "setup-buildx",
    "docker/login-action": "login",
    "docker/build-push-action": "build-push",
    "actions/attest-build-provenance": "attest-build-provenance",
    "actions/create-github-app-token": "create-github-app-token",
}
DEPLOY_FILES = [ROOT / ".github" / "workflows" / f for f in ("mlgate-deploy.yml", "mlgate-promote.yml")] + [
    ROOT / "actions" / name / "action.yml" for name in ("setup", "deploy", "promote")
]
IMAGE = "ghcr.io/acme/mlgate"
BUCKET = "mlgate-dvc"
AWS = {"AWS_ACCESS_KEY_ID": "standin", "AWS_SECRET_ACCESS_KEY": "standin", "AWS_DEFAULT_REGION": "us-east-1"}
BOT = "github-actions[bot]"


def deploy_standin_mappings() -> list[str]:
    pins = {m.groups() for f in DEPLOY_FILES for m in PINNED_USES.finditer(f.read_text())}
    missing = sorted(name for name, _ in pins if name not in DEPLOY_STANDIN_FOR)
    assert not missing, f"no stand-in under tests/standins for {missing}"
    return [f"{name}@{sha}={STANDINS / DEPLOY_STANDIN_FOR[name]}" for name, sha in sorted(pins)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto S3 server on loopback with one bucket; stopped by its PID."""
    import boto3

    port = free_port()
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "w")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(
        [BIN / "moto_server", "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline and server.poll() is None, "moto_server did not start"
            time.sleep(0.2)
        boto3.client("s3", endpoint_url=url, **aws_keys()).create_bucket(Bucket=BUCKET)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


def aws_keys() -> dict[str, str]:
    return {
        "aws_access_key_id": AWS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": AWS["AWS_SECRET_ACCESS_KEY"],
        "region_name": AWS["AWS_DEFAULT_REGION"],
    }


def use_s3_remote(repo: Path, endpoint: str, env: dict[str, str]) -> None:
    run(BIN / "dvc", "remote", "add", "-d", "-f", "store", f"s3://{BUCKET}/cache", cwd=repo, env=env)
    run(BIN / "dvc", "remote", "modify", "store", "endpointurl", endpoint, cwd=repo, env=env)


@dataclass
class DeployWorld:
    """The temp home, the local "GitHub" with acme/mlgate, its working copy, the stand-in image registry."""

    root: Path
    env: dict[str, str]
    repo: Path
    registry: Path
    runs: int = 0

    def act(self, event_name: str, workflow: str, event: dict) -> ActRun:
        """Run one event of a workflow of the working copy under act and collect what it left."""
        self.runs += 1
        record = self.root / f"record-{self.runs}"
        event_path = self.root / f"event-{self.runs}.json"
        event_path.write_text(json.dumps(event))
        args = [str(BIN / "act"), event_name, "-W", workflow, "-e", str(event_path), *ACT_FLAGS]
        args += ["--action-cache-path", str(self.root / "act-cache"), "-s", "GITHUB_TOKEN=standin-token"]
        extra = {
            "MLGATE_PYTHON": BIN / "python",
            "MLGATE_STANDIN_RECORD": record,
            "MLGATE_STANDIN_REGISTRY": self.registry,
            "MLGATE_SMOKE_PORT": free_port(),
            "BENTOML_HOME": self.root / "bentoml",
            **AWS,
        }
        for name, value in extra.items():
            args += ["--env", f"{name}={value}"]
        for mapping in deploy_standin_mappings():
            args += ["--local-repository", mapping]
        return run_act(args, self.repo, self.env, self.root / f"act-{self.runs}.log", record)

    def deploy(self, commit: str) -> ActRun:
        """The push event for `commit` on main, with the working copy's HEAD there (act reads its sha)."""
        run("git", "checkout", "-q", "--detach", commit, cwd=self.repo, env=self.env)
        event = {
            "ref": "refs/heads/main",
            "after": commit,
            "head_commit": {"id": commit},
            "repository": {"full_name": "acme/mlgate", "default_branch": "main"},
        }
        return self.act("push", ".github/workflows/deploy.yml", event)

    def dispatch(self, inputs: dict[str, str]) -> ActRun:
        """Run promote.yml by hand (workflow_dispatch) on origin's main."""
        tip = self.origin("rev-parse", "main")
        run("git", "fetch", "-q", "origin", "main", cwd=self.repo, env=self.env)
        run("git", "checkout", "-q", "--detach", tip, cwd=self.repo, env=self.env)
        event = {"ref": "refs/heads/main", "inputs": inputs, "repository": {"full_name": "acme/mlgate"}}
        return self.act("workflow_dispatch", ".github/workflows/promote.yml", event)

    def origin(self, *args: str) -> str:
        return run("git", *args, cwd=self.root / "github" / "acme" / "mlgate", env=self.env).stdout.strip()

    def origin_registry(self) -> dict:
        return yaml.safe_load(self.origin("show", "main:registry.yaml"))

    def merge(self, subject: str, readme_line: str) -> str:
        """Commit a README change on main of the working copy and push it; return the commit."""
        run("git", "fetch", "-q", "origin", cwd=self.repo, env=self.env)
        run("git", "checkout", "-q", "-B", "main", "origin/main", cwd=self.repo, env=self.env)
        with (self.repo / "README.md").open("a") as readme:
            readme.write(f"\n{readme_line}\n")
        run("git", "commit", "-q", "-am", subject, cwd=self.repo, env=self.env)
        run("git", "push", "-q", "origin", "main", cwd=self.repo, env=self.env)
        run("git", "fetch", "-q", "origin", cwd=self.repo, env=self.env)
        return head(self.repo, self.env)


def build_world(root: Path, template: Path, endpoint: str) -> DeployWorld:
    root.mkdir(parents=True, exist_ok=True)
    env = {**act_env(root), **AWS}
    # The remote already holds the trained model and its run-cache, as after a green pull request.
    seed_remote(template, root, lambda seed: use_s3_remote(seed, endpoint, env), env)

    repo = root / "work" / "mlgate"
    copy_checkout(repo, template)
    (repo / "registry.yaml").unlink(missing_ok=True)  # the history starts at version 1
    run("git", "init", "-q", "-b", "main", cwd=repo, env=env)
    use_s3_remote(repo, endpoint, env)
    commit_in(repo, "mlgate", env)
    publish(repo, "acme/mlgate", root, env)
    run("git", "fetch", "-q", "origin", cwd=repo, env=env)
    return DeployWorld(root, env, repo, root / "image-registry")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, trained_template: Path, s3_endpoint: str) -> DeployWorld:
    return build_world(tmp_path_factory.mktemp("act-deploy"), trained_template, s3_endpoint)


@dataclass
class Deploy:
    """One deploy run, the commit it deployed, and main on the origin right after it."""

    result: ActRun
    commit: str
    landed: str


def deploy(world: DeployWorld, commit: str) -> Deploy:
    result = world.deploy(commit)
    assert_succeeded(result)
    return Deploy(result, commit, world.origin("rev-parse", "main"))


@pytest.fixture(scope="module")
def first(world: DeployWorld) -> Deploy:
    return deploy(world, head(world.repo, world.env))


@pytest.fixture(scope="module")
def raced(world: DeployWorld, first: Deploy) -> list[Deploy]:
    """Two merges land before either deploy pushes its registry commit; then both deploys run."""
    seven = world.merge("Document the deploy (#7)", "Deploys record every version.")
    eight = world.merge("Merge pull request #8 from acme/more-docs", "Promotion is one click.")
    return [deploy(world, seven), deploy(world, eight)]


def assert_succeeded(result: ActRun) -> None:
    assert result.returncode == 0 and "🏁  Job succeeded" in result.log, result.log[-8000:]


def build_calls(result: ActRun) -> list[dict]:
    calls = result.record / "build-push"
    return [json.loads(p.read_text()) for p in sorted(calls.glob("*.json"))]


def version(registry: dict, number: int) -> dict:
    return next(entry for entry in registry["versions"] if entry["version"] == number)


def test_push_to_main_builds_pushes_and_records_version_1(world: DeployWorld, first: Deploy) -> None:
    result = first.result
    (call,) = build_calls(result)
    context = Path(call["context"])
    assert context.parent.parent == world.root / "bentoml" / "bentos" and (context / "bento.yaml").is_file()
    assert call["file"] == str(context / "env" / "docker" / "Dockerfile") and call["push"] == "true"
    assert call["tags"] == [f"{IMAGE}:1", f"{IMAGE}:{first.commit[:12]}"]
    assert yaml.safe_load((context / "bento.yaml").read_text())["labels"]["model_version"] == "1"

    registry = yaml.safe_load(world.origin("show", f"{first.landed}:registry.yaml"))
    entry = version(registry, 1)
    assert entry["image"] == {"name": IMAGE, "digest": call["digest"], "tags": ["1", first.commit[:12]]}
    assert entry["source"]["commit"] == first.commit and entry["bento"]["tag"].endswith(context.name)
    assert registry["aliases"] == {"staging": 1}
    events = [(e["action"], e.get("version"), e.get("to")) for e in registry["events"]]
    assert events == [("register", 1, None), ("promote", None, 1)]

    log = world.origin("log", "-1", "--format=%an|%s|%P", first.landed)
    assert log == f"{BOT}|mlgate: deploy version 1 to staging [skip ci]|{first.commit}"
    # dvc.lock was already current (a run-cache hit), so the bot's commit changes the registry only.
    assert world.origin("diff", "--name-only", first.commit, first.landed).split() == ["registry.yaml"]
    assert "Running stage" not in result.log

    docker = (result.record / "docker").read_text().splitlines()
    assert docker[0].startswith("run --detach --rm --publish 127.0.0.1:")
    assert docker[0].endswith(f"{IMAGE}@{call['digest']}")
    assert "mean radius" in json.loads((result.record / "predict.json").read_text())["records"][0]
    assert "smoke test: /readyz ok; /predict answered" in result.log
    attest = (result.record / "attest").read_text().strip()
    assert attest == f"{IMAGE}@{call['digest']} push-to-registry=true"
    login = (result.record / "login").read_text().strip()
    assert login.startswith("ghcr.io ") and login.endswith(" password=yes")


def test_a_second_push_gives_the_next_version_and_a_new_event(
    world: DeployWorld, raced: list[Deploy]
) -> None:
    registry = yaml.safe_load(world.origin("show", f"{raced[0].landed}:registry.yaml"))
    (call,) = build_calls(raced[0].result)
    assert [v["version"] for v in registry["versions"]] == [1, 2]
    assert (
        version(registry, 2)["image"]["digest"] == call["digest"] != version(registry, 1)["image"]["digest"]
    )
    assert version(registry, 2)["source"]["pr"] == 7
    assert registry["events"][-2:] == [
        {**registry["events"][-2], "action": "register", "version": 2},
        {**registry["events"][-1], "action": "promote", "alias": "staging", "from": 1, "to": 2},
    ]
    assert not (raced[0].result.record / "imagetools").exists()


def test_racing_deploys_on_a_moved_main_both_land_with_distinct_versions(
    world: DeployWorld, raced: list[Deploy]
) -> None:
    digests = [build_calls(run.result)[0]["digest"] for run in raced]
    registry = world.origin_registry()
    assert [v["version"] for v in registry["versions"]] == [1, 2, 3]
    assert [version(registry, n)["image"]["digest"] for n in (2, 3)] == digests
    assert [version(registry, n)["source"]["pr"] for n in (2, 3)] == [7, 8]
    assert [version(registry, n)["source"]["commit"] for n in (2, 3)] == [run.commit for run in raced]
    assert registry["aliases"] == {"staging": 3}

    # The second deploy tagged its image 2 (its registry predated version 2), then re-applied as 3.
    late = raced[1].result
    assert build_calls(late)[0]["tags"][0] == f"{IMAGE}:2"
    assert (late.record / "imagetools").read_text().splitlines() == [f"{IMAGE}:3 {IMAGE}@{digests[1]}"]
    assert "version 2 was taken meanwhile; tagging the image as 3" in late.log

    subjects = world.origin("log", "--format=%s", "-4", "main").splitlines()
    assert subjects == [
        "mlgate: deploy version 3 to staging [skip ci]",
        "mlgate: deploy version 2 to staging [skip ci]",
        "Merge pull request #8 from acme/more-docs",
        "Document the deploy (#7)",
    ]


def test_a_readme_only_pr_from_a_fresh_clone_reruns_no_stage(world: DeployWorld, raced: list[Deploy]) -> None:
    clone = world.root / "fresh-clone"
    run("git", "clone", "-q", "https://github.com/acme/mlgate", clone, cwd=world.root, env=world.env)
    run("git", "checkout", "-q", "-b", "docs-only", cwd=clone, env=world.env)
    (clone / "README.md").write_text((clone / "README.md").read_text() + "\nA docs-only change.\n")
    commit_in(clone, "docs only", world.env)
    run(BIN / "mlgate", "validate", cwd=clone, env=world.env)
    output = run(BIN / "dvc", "repro", "--pull", cwd=clone, env=world.env)
    printed = output.stdout + output.stderr
    assert "Running stage" not in printed, printed
    for stage in ("data", "train", "evaluate"):
        assert f"Pulling data for stage: '{stage}'" in printed, printed
    assert "Data and pipelines are up to date." in printed, printed
    assert (clone / "models" / "model.skops").is_file()


def test_promote_retags_by_digest_and_records_the_event(world: DeployWorld, raced: list[Deploy]) -> None:
    result = world.dispatch(
        {"operation": "promote", "version": "3", "alias": "production", "reason": "canary ok"}
    )
    assert_succeeded(result)
    registry = world.origin_registry()
    digest = version(registry, 3)["image"]["digest"]
    assert (result.record / "imagetools").read_text().splitlines() == [f"{IMAGE}:production {IMAGE}@{digest}"]
    assert not (result.record / "build-push").exists()
    assert registry["aliases"] == {"staging": 3, "production": 3}
    event = registry["events"][-1]
    assert (event["action"], event["alias"], event["from"], event["to"], event["reason"]) == (
        "promote",
        "production",
        None,
        3,
        "canary ok",
    )
    assert (
        world.origin("log", "-1", "--format=%an|%s", "main")
        == f"{BOT}|mlgate: promote version 3 to production [skip ci]"
    )


def test_rollback_retags_the_previous_version_by_digest(world: DeployWorld, raced: list[Deploy]) -> None:
    result = world.dispatch({"operation": "rollback", "version": "", "alias": "staging", "reason": "latency"})
    assert_succeeded(result)
    registry = world.origin_registry()
    digest = version(registry, 2)["image"]["digest"]
    assert (result.record / "imagetools").read_text().splitlines() == [f"{IMAGE}:staging {IMAGE}@{digest}"]
    assert registry["aliases"]["staging"] == 2
    event = registry["events"][-1]
    assert (event["action"], event["alias"], event["from"], event["to"]) == ("rollback", "staging", 3, 2)
    assert (
        world.origin("log", "-1", "--format=%s", "main") == "mlgate: roll staging back to version 2 [skip ci]"
    )


def test_every_pinned_deploy_action_has_a_named_standin() -> None:
    for mapping in deploy_standin_mappings():
        action = Path(mapping.split("=", 1)[1]) / "action.yml"
        assert yaml.safe_load(action.read_text())["name"].endswith("stand-in"), action
    assert os.access(STANDINS / "setup-buildx" / "docker", os.X_OK)
