"""Merge to deploy, promotion and rollback, run for real under act, on a real Docker engine and registry.

The world of tests/test_act_pr.py (a temp git config that maps https://github.com/ to local bare
repositories, act in host mode, the test interpreter's warm mlgate) plus: the DVC remote is an S3 bucket
on `moto_server` at 127.0.0.1; the image is built, pushed, run and re-tagged on scripts/engine.sh's
engine and registry, through the build-push and setup-buildx adapters in tests/standins/ (GitHub's
attestation and sign-in stay stood in). One module-scoped history:

    deploy #1 (main)                                  -> version 1
    two merges land together (#7 then #8); their deploys run at the same time, each from its own clone,
    and both tag their image 2 (the build-push adapter's barrier holds each until both have built):
    the deploy whose registry commit lands first      -> version 2, on top of #8
    the other (rejected, or its fetch sees version 2) -> re-applied as version 3, image re-tagged 3
    a README-only pull request from a fresh clone     -> pr.yml pulls every stage from S3, runs none
    promote 2, then 3, to production; roll production back (3 -> 2)

Which deploy wins the race is up to the race; the tests find each run's version from its log.
"""

from __future__ import annotations

import functools
import json
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

import offline_act
from conftest import BIN, run
from engine import Engine, post, wait_ready
from mlgate.serving import oci
from test_act_pr import (
    ACT_FLAGS,
    MARKER,
    WATERMARK,
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

BUCKET = "mlgate-dvc"
AWS = {"AWS_ACCESS_KEY_ID": "standin", "AWS_SECRET_ACCESS_KEY": "standin", "AWS_DEFAULT_REGION": "us-east-1"}
BOT = "github-actions[bot]"
# register.sh prints: "pushed <commit> to main: mlgate: deploy version N to staging [skip ci] (attempt A)"
PUSHED = re.compile(r"\| pushed ([0-9a-f]{40}) to main: mlgate: deploy version (\d+) to staging ")
TAKEN = "version 2 was taken meanwhile; tagging the image as 3"


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
    """The temp home, the local "GitHub" with acme/mlgate, its working copy, and the container engine
    with its registry, where the image is acme/mlgate."""

    root: Path
    env: dict[str, str]
    repo: Path
    engine: Engine
    runs: int = 0
    ports: set[int] = field(default_factory=set)

    def act_call(
        self, event_name: str, workflow: str, event: dict, repo: Path, **extra: str | Path
    ) -> Callable[[], ActRun]:
        """Prepare an act run of a workflow of `repo`: its own record, log, bento home, act cache, smoke port.

        Nothing is shared between two runs but the origin, the S3 remote and the engine with its registry,
        so prepared runs can go at the same time.
        """
        self.runs += 1
        record = self.root / f"record-{self.runs}"
        event_path = self.root / f"event-{self.runs}.json"
        event_path.write_text(json.dumps(event))
        args = [str(BIN / "act"), event_name, "-W", workflow, "-e", str(event_path), *ACT_FLAGS]
        args += ["--action-cache-path", str(self.root / f"act-cache-{self.runs}")]
        args += ["-s", "GITHUB_TOKEN=standin-token"]
        env = {
            "MLGATE_PYTHON": BIN / "python",
            "MLGATE_STANDIN_RECORD": record,
            "DOCKER_HOST": self.engine.docker_host,
            "MLGATE_SMOKE_PORT": self.smoke_port(),
            "BENTOML_HOME": self.bentoml_home(self.runs),
            **AWS,
            **extra,
        }
        for name, value in env.items():
            args += ["--env", f"{name}={value}"]
        for mapping in offline_act.standin_mappings():  # every reusable workflow's and action's pins
            args += ["--local-repository", mapping]
        log = self.root / f"act-{self.runs}.log"
        return functools.partial(run_act, args, repo, self.env, log, record)

    @property
    def image(self) -> str:
        return f"{self.engine.registry}/acme/mlgate"

    def served_digest(self, tag: str) -> str:
        """The digest the registry serves for the image's tag."""
        return oci.digest(f"{self.image}:{tag}")

    def metadata(self, digest: str, deployment: Path | None = None) -> dict:
        """/metadata of the image, run by digest as the smoke test runs it, with the env of a Deployment
        `mlgate k8s render` wrote when one is given."""
        port = self.smoke_port()
        args = ["run", "--detach", "--network", "host", "--read-only", "--tmpfs", "/tmp", "--env"]
        args.append(f"BENTOML_PORT={port}")
        if deployment is not None:
            spec = yaml.safe_load(deployment.read_text())["spec"]["template"]["spec"]["containers"][0]
            for variable in spec["env"]:
                args += ["--env", f"{variable['name']}={variable['value']}"]
        container = self.engine.docker(*args, f"{self.image}@{digest}").stdout.strip()
        try:
            wait_ready(self.engine, container, f"http://127.0.0.1:{port}")
            status, answer = post(f"http://127.0.0.1:{port}/metadata", {})
        finally:
            self.engine.docker("rm", "--force", container, check=False)
        assert status == 200 and isinstance(answer, dict), answer
        return answer

    def bentoml_home(self, run_number: int) -> Path:
        return self.root / f"bentoml-{run_number}"

    def smoke_port(self) -> int:
        """A free loopback port that no other run of this world was given (racing runs must not share one)."""
        port = free_port()
        while port in self.ports:
            port = free_port()
        self.ports.add(port)
        return port

    def deploy_call(
        self, commit: str, repo: Path, before: str | None = None, **extra: str | Path
    ) -> Callable[[], ActRun]:
        """The push event for `commit` on main (after `before`, when given), with `repo`'s HEAD there (act
        reads its sha)."""
        run("git", "checkout", "-q", "--detach", commit, cwd=repo, env=self.env)
        event = {
            "ref": "refs/heads/main",
            **({"before": before} if before else {}),
            "after": commit,
            "head_commit": {"id": commit},
            "repository": {"full_name": "acme/mlgate", "default_branch": "main"},
        }
        return self.act_call("push", ".github/workflows/deploy.yml", event, repo, **extra)

    def dispatch(self, inputs: dict[str, str]) -> ActRun:
        """Run promote.yml by hand (workflow_dispatch) on origin's main."""
        tip = self.origin("rev-parse", "main")
        run("git", "fetch", "-q", "origin", "main", cwd=self.repo, env=self.env)
        run("git", "checkout", "-q", "--detach", tip, cwd=self.repo, env=self.env)
        event = {"ref": "refs/heads/main", "inputs": inputs, "repository": {"full_name": "acme/mlgate"}}
        return self.act_call("workflow_dispatch", ".github/workflows/promote.yml", event, self.repo)()

    def clone(self, name: str) -> Path:
        """A fresh clone of acme/mlgate: another engineer's or another runner's working copy."""
        path = self.root / "work" / name
        run("git", "clone", "-q", "https://github.com/acme/mlgate", path, cwd=self.root, env=self.env)
        return path

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


def build_world(root: Path, template: Path, endpoint: str, engine: Engine) -> DeployWorld:
    root.mkdir(parents=True, exist_ok=True)
    env = {**act_env(root), **AWS}
    # The remote already holds the trained model and its run-cache, as after a green pull request.
    seed_remote(template, root, lambda seed: use_s3_remote(seed, endpoint, env), env)

    repo = root / "work" / "mlgate"
    copy_checkout(repo, template)
    (repo / "registry.yaml").unlink(missing_ok=True)  # the history starts at version 1
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params.setdefault("serve", {})["image"] = f"{engine.registry}/acme/mlgate"  # not a stage param
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run("git", "init", "-q", "-b", "main", cwd=repo, env=env)
    use_s3_remote(repo, endpoint, env)
    commit_in(repo, "mlgate", env)
    publish(repo, "acme/mlgate", root, env)
    run("git", "fetch", "-q", "origin", cwd=repo, env=env)
    return DeployWorld(root, env, repo, engine)


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, trained_template: Path, s3_endpoint: str, engine: Engine
) -> DeployWorld:
    return build_world(tmp_path_factory.mktemp("act-deploy"), trained_template, s3_endpoint, engine)


@dataclass
class Deploy:
    """One deploy run, the commit it deployed, the version it recorded and the registry commit it pushed."""

    result: ActRun
    commit: str
    version: int
    landed: str


def deployed(result: ActRun, commit: str) -> Deploy:
    """The succeeded run of `commit`, with the version and registry commit its register step printed."""
    assert_succeeded(result)
    pushed = PUSHED.findall(result.log)
    assert len(pushed) == 1, result.log[-8000:]
    landed, number = pushed[0]
    return Deploy(result, commit, int(number), landed)


@pytest.fixture(scope="module")
def first(world: DeployWorld) -> Deploy:
    commit = head(world.repo, world.env)
    return deployed(world.deploy_call(commit, world.repo)(), commit)


@dataclass
class Race:
    """The racing deploys by the pull request each one deployed, their barrier, and main right after."""

    by_pr: dict[int, Deploy]
    barrier: Path
    tip: str

    def holding(self, number: int) -> Deploy:
        (deploy,) = [d for d in self.by_pr.values() if d.version == number]
        return deploy


@pytest.fixture(scope="module")
def raced(world: DeployWorld, first: Deploy) -> Race:
    """Two merges land before either deploy runs; then both deploys run at once, each from its own clone.

    Both run `dvc repro --pull` and take the next version (2) before the build-push adapter's barrier
    lets either go on, so both reach the registry push with version 2 and one of them must re-apply.
    """
    merges = {
        7: world.merge("Document the deploy (#7)", "Deploys record every version."),
        8: world.merge("Merge pull request #8 from acme/more-docs", "Promotion is one click."),
    }
    barrier = world.root / "barrier"
    calls = {
        pr: world.deploy_call(commit, world.clone(f"runner-{pr}"), MLGATE_STANDIN_BARRIER=f"{barrier}:2")
        for pr, commit in merges.items()
    }
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        started = {pr: pool.submit(call) for pr, call in calls.items()}
        results = {pr: future.result() for pr, future in started.items()}
    by_pr = {pr: deployed(results[pr], merges[pr]) for pr in merges}
    return Race(by_pr, barrier, world.origin("rev-parse", "main"))


def assert_succeeded(result: ActRun) -> None:
    assert result.returncode == 0 and "🏁  Job succeeded" in result.log, result.log[-8000:]


def build_calls(result: ActRun) -> list[dict]:
    calls = result.record / "build-push"
    return [json.loads(p.read_text()) for p in sorted(calls.glob("*.json"))]


def version(registry: dict, number: int) -> dict:
    return next(entry for entry in registry["versions"] if entry["version"] == number)


def test_push_to_main_builds_pushes_and_records_version_1(world: DeployWorld, first: Deploy) -> None:
    result, image = first.result, world.image
    assert first.version == 1 and first.landed == world.origin("rev-parse", "main")
    (call,) = build_calls(result)
    context = Path(call["context"])
    assert context.parent.parent == world.bentoml_home(1) / "bentos" and (context / "bento.yaml").is_file()
    assert call["file"] == str(context / "env" / "docker" / "Dockerfile") and call["push"] == "true"
    assert call["tags"] == [f"{image}:1", f"{image}:{first.commit[:12]}"]
    assert yaml.safe_load((context / "bento.yaml").read_text())["labels"]["model_version"] == "1"

    registry = yaml.safe_load(world.origin("show", f"{first.landed}:registry.yaml"))
    entry = version(registry, 1)
    assert entry["image"] == {"name": image, "digest": call["digest"], "tags": ["1", first.commit[:12]]}
    # The digest recorded is the one the registry serves for the version's tag and the commit's.
    assert world.served_digest("1") == world.served_digest(first.commit[:12]) == call["digest"]
    assert entry["source"]["commit"] == first.commit and entry["bento"]["tag"].endswith(context.name)
    # No branch before it and no version yet: the gate compares the commit with itself (absolute gates).
    assert (entry["gate"]["verdict"], entry["gate"]["base"]) == ("passed", first.commit)
    assert (entry["gate"]["policy_from"], entry["gate"]["override"]) == ("base", None)
    assert registry["aliases"] == {"staging": 1}
    events = [(e["action"], e.get("version"), e.get("to")) for e in registry["events"]]
    assert events == [("register", 1, None), ("promote", None, 1)]

    log = world.origin("log", "-1", "--format=%an|%s|%P", first.landed)
    assert log == f"{BOT}|mlgate: deploy version 1 to staging [skip ci]|{first.commit}"
    # dvc.lock was already current (a run-cache hit), so the bot's commit changes the registry only.
    assert world.origin("diff", "--name-only", first.commit, first.landed).split() == ["registry.yaml"]
    assert "Running stage" not in result.log

    # The smoke test ran the pushed image by digest and compared it with the evaluate stage's answers.
    assert "smoke test: /readyz ok; /predict answered" in result.log
    assert "5 answer(s) equal the evaluate stage's" in result.log
    assert world.engine.docker("ps", "--quiet", "--filter", f"ancestor={image}@{call['digest']}").stdout == ""
    meta = world.metadata(call["digest"])
    assert (meta["model_version"], meta["model_sha256"]) == ("1", entry["model"]["sha256"])
    attest = (result.record / "attest").read_text().strip()
    assert attest == f"{image}@{call['digest']} push-to-registry=true"
    login = (result.record / "login").read_text().strip()
    assert login.startswith("ghcr.io ") and login.endswith(" password=yes")
    # The version's Kubernetes manifests, kept as an artifact, run that digest.
    deployment = yaml.safe_load((result.record / "artifacts/mlgate-k8s-1/deployment.yaml").read_text())
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == f"{image}@{call['digest']}"


def test_a_second_push_gives_the_next_version_and_a_new_event(world: DeployWorld, raced: Race) -> None:
    won = raced.holding(2)
    registry = yaml.safe_load(world.origin("show", f"{won.landed}:registry.yaml"))
    (call,) = build_calls(won.result)
    assert [v["version"] for v in registry["versions"]] == [1, 2]
    assert (
        version(registry, 2)["image"]["digest"] == call["digest"] != version(registry, 1)["image"]["digest"]
    )
    assert version(registry, 2)["source"]["commit"] == won.commit
    assert registry["events"][-2:] == [
        {**registry["events"][-2], "action": "register", "version": 2},
        {**registry["events"][-1], "action": "promote", "alias": "staging", "from": 1, "to": 2},
    ]
    retagged = re.compile(rf"{re.escape(world.image)}:\S+ -> sha256:")
    assert TAKEN not in won.result.log and not retagged.search(won.result.log)  # nothing re-tagged


def test_racing_deploys_on_a_moved_main_both_land_with_distinct_versions(
    world: DeployWorld, raced: Race
) -> None:
    image = world.image
    # Each build waited at the barrier until the other had arrived: the two runs overlapped.
    assert sorted(p.read_text() for p in raced.barrier.iterdir()) == sorted(
        d.commit for d in raced.by_pr.values()
    )
    calls = {pr: build_calls(d.result) for pr, d in raced.by_pr.items()}
    for pr, (call,) in calls.items():
        # Both took version 2 from the same registry (version 1 only), and both smoke tests passed.
        assert call["tags"] == [f"{image}:2", f"{image}:{raced.by_pr[pr].commit[:12]}"]
        assert "smoke test: /readyz ok; /predict answered" in raced.by_pr[pr].result.log
    assert calls[7][0]["digest"] != calls[8][0]["digest"]

    registry = yaml.safe_load(world.origin("show", f"{raced.tip}:registry.yaml"))
    assert [v["version"] for v in registry["versions"]] == [1, 2, 3]
    assert {d.version for d in raced.by_pr.values()} == {2, 3}
    for pr, deploy in raced.by_pr.items():
        entry = version(registry, deploy.version)
        assert entry["image"]["digest"] == calls[pr][0]["digest"]
        assert entry["image"]["tags"] == [str(deploy.version), deploy.commit[:12]]
        assert (entry["source"]["commit"], entry["source"]["pr"]) == (deploy.commit, pr)
        assert entry["gate"]["verdict"] == "passed"  # against main before the merge (same model)
    assert registry["aliases"] == {"staging": 3}

    # The one that lost re-applied its change as version 3 and re-tagged its image, by digest, as 3; it
    # also pointed tag 2, which either push may have left last, back at version 2's image.
    won, late = raced.holding(2), raced.holding(3)
    assert [d for d in raced.by_pr.values() if TAKEN in d.result.log] == [late]
    late_digest, won_digest = (version(registry, n)["image"]["digest"] for n in (3, 2))
    assert (
        f"{image}:3 -> {late_digest}" in late.result.log and f"{image}:2 -> {won_digest}" in late.result.log
    )
    assert [world.served_digest(tag) for tag in ("2", "3")] == [won_digest, late_digest]

    assert raced.tip == late.landed
    history = world.origin("log", "--format=%an|%s|%H", "-4", raced.tip).splitlines()
    assert history == [
        f"{BOT}|mlgate: deploy version 3 to staging [skip ci]|{late.landed}",
        f"{BOT}|mlgate: deploy version 2 to staging [skip ci]|{won.landed}",
        f"mlgate tests|Merge pull request #8 from acme/more-docs|{raced.by_pr[8].commit}",
        f"mlgate tests|Document the deploy (#7)|{raced.by_pr[7].commit}",
    ]


@dataclass
class PullRequestRun:
    """One pull_request run of pr.yml, with the pull request's head and base commits."""

    result: ActRun
    head: str
    base: str


@pytest.fixture(scope="module")
def docs_only_pr(world: DeployWorld, raced: Race) -> PullRequestRun:
    """This repository's pr.yml on a README-only pull request, pushed from a fresh clone of main."""
    clone = world.clone("contributor")
    base = head(clone, world.env)
    run("git", "checkout", "-q", "-b", "docs-only", cwd=clone, env=world.env)
    (clone / "README.md").write_text((clone / "README.md").read_text() + "\nA docs-only change.\n")
    commit_in(clone, "docs only", world.env)
    run("git", "push", "-q", "origin", "docs-only", cwd=clone, env=world.env)
    changed = run("git", "diff", "--name-only", base, "HEAD", cwd=clone, env=world.env).stdout.split()
    assert changed == ["README.md"]
    tip, number = head(clone, world.env), 31
    event = {  # the shape of tests/test_act_pr.py's open_pr
        "action": "synchronize",
        "number": number,
        "pull_request": {
            "number": number,
            "head": {"sha": tip, "ref": "docs-only", "repo": {"full_name": "acme/mlgate", "fork": False}},
            "base": {"sha": base, "ref": "main", "repo": {"full_name": "acme/mlgate", "fork": False}},
        },
        "repository": {"full_name": "acme/mlgate"},
    }
    result = world.act_call("pull_request", ".github/workflows/pr.yml", event, clone)()
    return PullRequestRun(result, tip, base)


def test_a_readme_only_pr_from_a_fresh_clone_reruns_no_stage(docs_only_pr: PullRequestRun) -> None:
    result = docs_only_pr.result
    assert_succeeded(result)
    assert f"checkout stand-in: acme/mlgate@{docs_only_pr.head} -> . ({docs_only_pr.head})" in result.log
    # The runner's checkout has no DVC cache: every stage's outputs come from S3 and none runs.
    assert "Pipeline: `dvc repro --pull` (remote 'store')" in result.log
    assert "Running stage" not in result.log, result.log[-8000:]
    for stage in ("data", "train", "evaluate"):
        assert f"Pulling data for stage: '{stage}'" in result.log
    assert "Data and pipelines are up to date." in result.log
    # The report read main's outputs from the same remote rather than reproducing them.
    assert f"mlgate report: {docs_only_pr.base} → workspace" in result.log
    assert "base: read from the DVC cache" in result.log
    (call,) = result.cml_calls()
    args = (call / "args").read_text().splitlines()
    assert args[:2] == ["comment", "update"] and WATERMARK in args
    assert MARKER in (call / "report.md").read_text()


@pytest.fixture(scope="module")
def promoted(world: DeployWorld, raced: Race) -> list[ActRun]:
    """promote.yml by hand, twice: version 2 to production, then version 3."""
    return [
        world.dispatch(
            {"operation": "promote", "version": str(number), "alias": "production", "reason": reason}
        )
        for number, reason in ((2, "first production release"), (3, "canary ok"))
    ]


def test_promote_retags_by_digest_and_records_the_event(
    world: DeployWorld, raced: Race, promoted: list[ActRun]
) -> None:
    for result in promoted:
        assert_succeeded(result)
        assert not (result.record / "build-push").exists()  # no rebuild
    registry = world.origin_registry()
    digest = version(registry, 3)["image"]["digest"]
    assert digest == build_calls(raced.holding(3).result)[0]["digest"]
    assert f"{world.image}:production -> {digest}" in promoted[-1].log
    assert world.served_digest("production") == digest
    # Version 3's image was built as 2 (it lost the race); its Deployment tells it the registry's version.
    deployment = raced.holding(3).result.record / "artifacts/mlgate-k8s-3/deployment.yaml"
    meta = world.metadata(world.served_digest("production"), deployment)
    assert (meta["model_version"], meta["model_sha256"]) == ("3", version(registry, 3)["model"]["sha256"])
    assert registry["aliases"] == {"staging": 3, "production": 3}
    event = registry["events"][-1]
    assert (event["action"], event["alias"], event["from"], event["to"], event["reason"]) == (
        "promote",
        "production",
        2,
        3,
        "canary ok",
    )
    assert (
        world.origin("log", "-1", "--format=%an|%s", "main")
        == f"{BOT}|mlgate: promote version 3 to production [skip ci]"
    )


def test_rollback_retags_the_previous_version_by_digest(
    world: DeployWorld, raced: Race, promoted: list[ActRun]
) -> None:
    result = world.dispatch(
        {"operation": "rollback", "version": "", "alias": "production", "reason": "latency"}
    )
    assert_succeeded(result)
    registry = world.origin_registry()
    digest = version(registry, 2)["image"]["digest"]
    assert digest == build_calls(raced.holding(2).result)[0]["digest"]
    assert (
        world.served_digest("production") == digest and f"{world.image}:production -> {digest}" in result.log
    )
    assert registry["aliases"] == {"staging": 3, "production": 2}
    event = registry["events"][-1]
    assert (event["action"], event["alias"], event["from"], event["to"]) == ("rollback", "production", 3, 2)
    assert (
        world.origin("log", "-1", "--format=%s", "main")
        == "mlgate: roll production back to version 2 [skip ci]"
    )


def test_every_pinned_deploy_action_has_a_named_standin_or_adapter() -> None:
    for mapping in offline_act.standin_mappings():
        action = Path(mapping.split("=", 1)[1]) / "action.yml"
        assert yaml.safe_load(action.read_text())["name"].endswith(("stand-in", "adapter (real engine)")), (
            action
        )


def test_a_failed_gate_stops_the_deploy_before_anything_is_built(
    world: DeployWorld, promoted: list[ActRun]
) -> None:
    """The branch before the push asks roc_auc ≥ 0.999; the pushed commit (a README change) is judged by
    that policy, fails, and nothing is built, pushed or recorded."""
    clone = world.clone("gate")
    params = yaml.safe_load((clone / "params.yaml").read_text())
    params["gates"]["metrics"]["roc_auc"]["min"] = 0.999
    (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run("git", "commit", "-q", "-am", "Raise the bar", cwd=clone, env=world.env)
    before = head(clone, world.env)
    with (clone / "README.md").open("a") as readme:
        readme.write("\nA docs change.\n")
    run("git", "commit", "-q", "-am", "Docs (#9)", cwd=clone, env=world.env)
    run("git", "push", "-q", "origin", "HEAD:refs/heads/gate-test", cwd=clone, env=world.env)  # fetchable
    registry = world.origin("show", "main:registry.yaml")
    result = world.deploy_call(head(clone, world.env), clone, before=before)()
    assert result.returncode != 0 and f"the gate failed against {before}" in result.log, result.log[-6000:]
    assert "is below the minimum 0.9990" in result.log
    assert build_calls(result) == [] and world.origin("show", "main:registry.yaml") == registry
