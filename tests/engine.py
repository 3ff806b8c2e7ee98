"""The container engine the tests use: scripts/engine.sh's Docker engine, registry and base image.

`make test` starts it around the whole run (scripts/engine.sh run) and exports its variables; a pytest
run without them starts its own here, once per session, and stops it by PID at the end. A test that
needs the engine skips with one line saying why it cannot start, or fails under CI=true.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "engine.sh"
START_SECONDS = 900  # a cold start builds the base-image stand-in (about a minute here)
READY_SECONDS = 120


@dataclass(frozen=True)
class Engine:
    """A reachable Docker engine, a registry on 127.0.0.1 and the python:<version>-slim base."""

    docker_host: str
    registry: str
    base_image: str

    @classmethod
    def from_env(cls, env: dict[str, str]) -> Engine:
        return cls(env["DOCKER_HOST"], env["MLGATE_ENGINE_REGISTRY"], env["MLGATE_ENGINE_BASE_IMAGE"])

    def docker(
        self, *args: str, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        """Run the docker CLI against this engine."""
        env = {**os.environ, "DOCKER_HOST": self.docker_host}
        result = subprocess.run(["docker", *args], capture_output=True, text=True, env=env, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(
                f"docker {' '.join(args)} exited {result.returncode}:\n{result.stderr[-3000:]}"
            )
        return result


def unavailable(reason: str) -> None:
    """Skip a test that needs the engine, or fail it under CI=true, so CI cannot go green without it."""
    message = f"no container engine: {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true: the container tests must run)")
    pytest.skip(message)


@contextmanager
def started_engine(cache: Path) -> Iterator[Engine]:
    """The engine from `make test`'s environment, else one started here for the session."""
    if os.environ.get("MLGATE_ENGINE_REGISTRY") and os.environ.get("DOCKER_HOST"):
        yield Engine.from_env(dict(os.environ))
        return
    if os.environ.get("MLGATE_ENGINE_UNAVAILABLE"):
        unavailable(os.environ["MLGATE_ENGINE_UNAVAILABLE"])
    env = {**os.environ, "MLGATE_ENGINE_CACHE": str(cache)}
    started = subprocess.run(
        ["bash", str(SCRIPT), "start"], capture_output=True, text=True, env=env, timeout=START_SECONDS
    )
    if started.returncode != 0:
        unavailable(started.stderr.strip().splitlines()[-1] if started.stderr.strip() else "engine.sh failed")
    env_file = started.stdout.strip()
    values = dict(line.split("=", 1) for line in Path(env_file).read_text().splitlines() if "=" in line)
    os.environ["DOCKER_HOST"] = values["DOCKER_HOST"]
    try:
        yield Engine.from_env(values)
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", env_file], capture_output=True, timeout=120)


def wait_ready(engine: Engine, container: str, url: str, timeout: float = READY_SECONDS) -> float:
    """Seconds until the container answers `<url>/readyz`; fail with its logs if it exits or stalls."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=5) as answer:
                if answer.status == 200:
                    return time.monotonic() - started
        except (urllib.error.URLError, OSError):
            pass
        state = engine.docker(
            "inspect", "--format", "{{.State.Running}}", container, check=False
        ).stdout.strip()
        if state != "true":
            break
        time.sleep(0.5)
    logs = engine.docker("logs", container, check=False)
    raise AssertionError(f"container {container} not ready on {url}:\n{(logs.stdout + logs.stderr)[-3000:]}")


def post(url: str, body: object) -> tuple[int, object]:
    """POST JSON; the status and the decoded answer (also for a 4xx)."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")
