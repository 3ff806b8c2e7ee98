"""The demo's workflow runs under act; scripts/demo_story.sh calls it when act is installed.

Each run is one event of one of the workflows `mlgate init` wrote in the sandbox repository (the current
directory), run through scripts/offline_act.py: a local "GitHub" of bare repositories, act in host mode,
the stand-ins and adapters of tests/standins/ for every third-party action (the Docker ones run on the
demo's engine). It prints the job's steps, what each stood-in step was given, and what the job pushed;
a failed job prints the tail of act's log.

    demo_act.py publish ROOT            this checkout as acme/mlgate in the local GitHub; prints its commit
    demo_act.py push ROOT               the push of HEAD to main: the deploy workflow
    demo_act.py pull-request ROOT N     pull request N from the current branch into main: the PR workflow
    demo_act.py dispatch ROOT KEY=VALUE...   the promote workflow, run by hand with these inputs
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import textwrap
from pathlib import Path

import yaml

from offline_act import (
    ActRun,
    ActRunner,
    act_env,
    git,
    publish,
    pull_request_event,
    snapshot_checkout,
    standin_mappings,
)

MLGATE = "acme/mlgate"
WORKFLOWS = {
    "push": ".github/workflows/mlgate-deploy.yml",
    "pull_request": ".github/workflows/mlgate.yml",
    "workflow_dispatch": ".github/workflows/mlgate-promote.yml",
}
ACTOR = "ada"
LOG_TAIL = 40
# Where the printed comment stops: mermaid plots and folded blocks read poorly in a terminal.
FOLDED = ("### Plots", "<details>")


def stood_in_line(text: str) -> str:
    return f"   \033[2m[{text}]\033[0m"


def short(reference: str) -> str:
    """An image reference or a digest with the digest cut to 12 hex digits: ghcr.io/a/b@sha256:0123…"""
    name, _, digest = reference.rpartition("sha256:")
    return f"{name}sha256:{digest[:12]}…"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def publish_mlgate(root: Path) -> str:
    """Commit this checkout as it stands into ROOT/mlgate and publish it as acme/mlgate."""
    env = act_env(root)
    repo = root / "mlgate"
    snapshot_checkout(repo)
    git("init", "-q", "-b", "main", cwd=repo, env=env)
    git("add", "-A", cwd=repo, env=env)
    git("commit", "-q", "-m", "mlgate as it stands in the checkout", cwd=repo, env=env)
    publish(repo, MLGATE, root, env)
    return git("rev-parse", "HEAD", cwd=repo, env=env)


class Sandbox:
    """The act root of the demo, and the repository in the current directory with its origin there."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = act_env(root)
        self.repo = Path.cwd()
        # The configured URL; `git remote get-url` would print it rewritten to the local directory.
        self.slug = git("config", "remote.origin.url", cwd=self.repo, env=self.env).split("github.com/")[1]
        self.origin = root / "github" / self.slug
        self.mlgate_sha = git("rev-parse", "HEAD", cwd=root / "mlgate", env=self.env)

    def runner(self) -> ActRunner:
        step_env: dict[str, object] = {
            "DOCKER_HOST": os.environ["DOCKER_HOST"],  # the demo's engine (scripts/engine.sh)
            "MLGATE_SMOKE_PORT": free_port(),
            "BENTOML_HOME": os.environ["BENTOML_HOME"],
        }
        pinned = f"{MLGATE}@{self.mlgate_sha}={self.root / 'mlgate'}"
        return ActRunner(self.root, self.env, [*standin_mappings(), pinned], step_env, ["--actor", ACTOR])

    def main_tip(self) -> str:
        return git("rev-parse", "main", cwd=self.origin, env=self.env)

    def run(self, event_name: str, event: dict) -> ActRun:
        """Run the event under act and print the job's steps, the stood-in calls and what it pushed."""
        workflow = WORKFLOWS[event_name]
        before = self.main_tip()
        result = self.runner().run(self.repo, event_name, workflow, event)
        verdict = "succeeded" if result.succeeded else "failed"
        print(f"   act {event_name} {workflow}: the job {verdict} in {result.seconds:.0f}s")
        steps = textwrap.wrap(self.steps(workflow, result.log), 100, break_on_hyphens=False)
        print("   steps: " + "\n          ".join(step.replace("\xa0", " ") for step in steps))
        for line in stood_in(result.record):
            print(stood_in_line(line))
        pushed = git("log", "--format=%h %an: %s", f"{before}..main", cwd=self.origin, env=self.env)
        for line in filter(None, pushed.splitlines()):
            print(f"   the job pushed {line}")
        return result

    def steps(self, workflow: str, log: str) -> str:
        """The job's steps as the log reports them: ✓ passed, ✗ failed, - did not run."""
        marks = []
        for name in self.step_names(workflow):
            if f"Failure - Main {name} [" in log:
                mark = "✗"
            elif f"Success - Main {name} [" in log:
                mark = "✓"
            else:
                mark = "-"
            marks.append(f"{mark} {name}".replace(" ", "\xa0"))  # lines break between steps only
        return "\xa0· ".join(marks)

    def step_names(self, workflow: str) -> list[str]:
        """The step names of the workflow's jobs, read from the reusable workflow a caller job uses."""
        names = []
        for job in yaml.safe_load((self.repo / workflow).read_text())["jobs"].values():
            if "uses" in job:
                path = job["uses"].split("@")[0].removeprefix(f"{MLGATE}/")
                job = next(iter(yaml.safe_load((self.root / "mlgate" / path).read_text())["jobs"].values()))
            names += [step["name"] for step in job.get("steps", []) if "name" in step]
        return names

    def fail(self, result: ActRun) -> None:
        """Print act's log up to the first failed step (or its end), and stop the demo."""
        lines = result.log.rstrip().splitlines()
        end = next((n + 1 for n, line in enumerate(lines) if "❌  Failure" in line), len(lines))
        shown = lines[max(0, end - LOG_TAIL) : end] + ([lines[-1]] if end < len(lines) else [])
        print("\nact's log, up to the first failure:", *shown, sep="\n", file=sys.stderr)
        raise SystemExit(1)


def stood_in(record: Path) -> list[str]:
    """What each stood-in step was asked to do (and what the engine's adapters did), from their records."""
    lines = []
    if (record / "login").exists():
        registry, user, _ = (record / "login").read_text().split("\n")[0].split(" ")
        lines.append(f"stood in: docker/login-action: sign in to {registry} as {user}")
    for call in sorted((record / "build-push").glob("*.json")):
        build = json.loads(call.read_text())
        lines.append(
            f"real engine: docker/build-push-action's adapter ran docker build and push -> "
            f"{', '.join(build['tags'])}, digest {short(build['digest'])} from the registry"
        )
    if (record / "attest").exists():
        subject = (record / "attest").read_text().split()[0]
        lines.append(f"stood in: actions/attest-build-provenance: {short(subject)}, nothing signed")
    if (record / "cml").exists():
        lines.append("stood in: cml comment update --target=pr: the comment below, recorded, not posted")
    return lines


def print_comment(comment: str) -> None:
    """The comment up to its plots and folded blocks, then the titles of what follows."""
    lines = comment.rstrip().splitlines()
    cut = next((n for n, line in enumerate(lines) if line.startswith(FOLDED)), len(lines))
    print(*lines[:cut], sep="\n")
    titles = [
        line.lstrip("# ").replace("<details><summary>", "").split("</summary>")[0]
        for line in lines[cut:]
        if line.startswith(("#", "<details>"))
    ]
    if titles:
        print(f"   (… {len(lines) - cut} more lines: {', '.join(titles)})")


def deploy(sandbox: Sandbox) -> None:
    head = git("rev-parse", "HEAD", cwd=sandbox.repo, env=sandbox.env)
    repository = {"full_name": sandbox.slug, "default_branch": "main"}
    event = {"ref": "refs/heads/main", "after": head, "head_commit": {"id": head}, "repository": repository}
    parents = git("rev-list", "--parents", "-n", "1", head, cwd=sandbox.repo, env=sandbox.env).split()
    if len(parents) > 1:  # main before the push: the merge's first parent, as GitHub sends it
        event["before"] = parents[1]
    result = sandbox.run("push", event)
    if not result.succeeded:
        sandbox.fail(result)


def pull_request(sandbox: Sandbox, number: int) -> None:
    """Run the PR workflow; print the comment cml was given and the gate. A failed gate is not an error."""
    head = {
        "sha": git("rev-parse", "HEAD", cwd=sandbox.repo, env=sandbox.env),
        "ref": git("branch", "--show-current", cwd=sandbox.repo, env=sandbox.env),
    }
    result = sandbox.run("pull_request", pull_request_event(sandbox.slug, number, head, sandbox.main_tip()))
    gate_failed = "Failure - Main Gate [" in result.log and "mlgate gate failed" in result.log
    if not (result.succeeded or gate_failed) or not result.cml_calls():
        sandbox.fail(result)
    print_comment((result.cml_calls()[-1] / "report.md").read_text())
    print("   gate: failed, so the check is red" if gate_failed else "   gate: passed, so the check is green")


def dispatch(sandbox: Sandbox, inputs: dict[str, str]) -> None:
    event = {"ref": "refs/heads/main", "inputs": inputs, "repository": {"full_name": sandbox.slug}}
    result = sandbox.run("workflow_dispatch", event)
    if not result.succeeded:
        sandbox.fail(result)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("publish", "push", "pull-request", "dispatch"):
        command = commands.add_parser(name)
        command.add_argument("root", type=Path, help="the act root in the demo's sandbox")
        if name == "pull-request":
            command.add_argument("number", type=int, help="the pull request's number")
        if name == "dispatch":
            command.add_argument("inputs", nargs="+", help="the workflow's inputs, as KEY=VALUE")
    args = parser.parse_args()
    root = args.root.resolve()
    if args.command == "publish":
        print(publish_mlgate(root))
    elif args.command == "push":
        deploy(Sandbox(root))
    elif args.command == "pull-request":
        pull_request(Sandbox(root), args.number)
    else:
        dispatch(Sandbox(root), dict(item.split("=", 1) for item in args.inputs))


if __name__ == "__main__":
    main()
