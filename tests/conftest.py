"""Shared fixtures: an isolated environment, real git repositories, and a trained showcase project."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import settings

from engine import Engine, started_engine

# Property tests explore the same examples on every run, so CI cannot turn red by chance.
settings.register_profile("mlgate", derandomize=True, database=None)
settings.load_profile("mlgate")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
BIN = Path(sys.executable).parent
# The base-image stand-in's cache outlives the session's temporary HOME.
ENGINE_CACHE = Path(os.environ.get("MLGATE_ENGINE_CACHE") or Path.home() / ".cache" / "mlgate-engine")
SERVING_BATCH = 50
EXAMPLE_REPOSITORY = "acme/example"  # GITHUB_REPOSITORY for the example's bento and image
FAST_EVALUATE = {
    "bootstrap": {"samples": 200, "seed": 0},
    "permutation_importance": {"max_rows": 200, "repeats": 2},
}


@pytest.fixture(scope="session", autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep HOME, git config, tool homes and caches in temp dirs; turn telemetry off."""
    home = tmp_path_factory.mktemp("home")
    gitconfig = home / ".gitconfig"
    gitconfig.write_text(
        "[user]\n\tname = mlgate tests\n\temail = tests@mlgate.invalid\n[init]\n\tdefaultBranch = main\n"
    )
    saved = dict(os.environ)
    os.environ.update(
        HOME=str(home),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_CONFIG_HOME=str(home / ".config"),
        GIT_CONFIG_GLOBAL=str(gitconfig),
        GIT_CONFIG_NOSYSTEM="1",
        BENTOML_HOME=str(home / "bentoml"),
        BENTOML_DO_NOT_TRACK="true",
        DVC_NO_ANALYTICS="1",
        ITERATIVE_DO_NOT_TRACK="1",
        DVC_SITE_CACHE_DIR=str(home / "dvc-site-cache"),
        PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}",
    )
    yield
    os.environ.clear()
    os.environ.update(saved)


def run(
    *args: str | Path, cwd: Path, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command, returning its output; show both streams when a checked command fails."""
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, env=env, timeout=900
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{args} exited {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


def mlgate(*args: str | Path, cwd: Path, check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the installed `mlgate` console script."""
    return run(BIN / "mlgate", *args, cwd=cwd, check=check)


def write_params(repo: Path, params: dict) -> None:
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def read_params(repo: Path) -> dict:
    return yaml.safe_load((repo / "params.yaml").read_text())


def init_repo(path: Path, params: dict | None = None) -> Path:
    """A real git + DVC repository holding the example pipeline (fast evaluate settings)."""
    path.mkdir(parents=True, exist_ok=True)
    for name in ("dvc.yaml", ".gitignore"):
        shutil.copy(ROOT / name, path / name)
    (path / ".mlgate").mkdir(exist_ok=True)
    shutil.copy(ROOT / ".mlgate" / "version", path / ".mlgate" / "version")
    shutil.copytree(ROOT / "data" / "raw", path / "data" / "raw", dirs_exist_ok=True)
    example = yaml.safe_load((ROOT / "params.yaml").read_text())
    example["evaluate"].update(FAST_EVALUATE)
    write_params(path, params or example)
    run("git", "init", "-q", "-b", "main", cwd=path)
    run(BIN / "dvc", "init", "-q", cwd=path)
    run("git", "add", "-A", cwd=path)
    run("git", "commit", "-q", "-m", "init", cwd=path)
    return path


def repro(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run(BIN / "dvc", "repro", *args, cwd=repo)


def commit_all(repo: Path, message: str) -> None:
    run("git", "add", "-A", cwd=repo)
    run("git", "commit", "-q", "-m", message, cwd=repo)


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """A fresh repository with the example pipeline, not yet run."""
    return init_repo(tmp_path / "repo")


@pytest.fixture(scope="session")
def trained_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example pipeline reproduced and committed once per session; copy it, never change it."""
    repo = init_repo(tmp_path_factory.mktemp("showcase") / "repo")
    repro(repo)
    commit_all(repo, "train")
    return repo


@pytest.fixture
def trained_repo(trained_template: Path, tmp_path: Path) -> Path:
    """A private copy of the trained example repository (git history and DVC cache included)."""
    target = tmp_path / "trained"
    shutil.copytree(trained_template, target, symlinks=True)
    return target


@pytest.fixture(scope="session")
def serving_repo(trained_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the trained example with serving settings a test can see through: a small batch
    limit, no package lock, and a prediction log."""
    target = tmp_path_factory.mktemp("serving") / "repo"
    shutil.copytree(trained_template, target, symlinks=True)
    params = read_params(target)
    params["serve"] = {
        "max_batch_size": SERVING_BATCH,
        "lock_packages": False,
        "log_predictions": str(target.parent / "predictions.jsonl"),
    }
    write_params(target, params)
    return target


@pytest.fixture(scope="session")
def example_bento(serving_repo: Path) -> dict:
    """The one bento of the session: `mlgate build` of the serving repository, as version 7."""
    env = {**os.environ, "GITHUB_REPOSITORY": EXAMPLE_REPOSITORY}
    result = run(BIN / "mlgate", "build", "--json", "--model-version", "7", cwd=serving_repo, env=env)
    built: dict = json.loads(result.stdout)
    return built


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    """The container engine (scripts/engine.sh); skips, or fails under CI=true, when it cannot start."""
    with started_engine(ENGINE_CACHE) as started:
        yield started


@pytest.fixture(scope="session")
def example_image(engine: Engine, serving_repo: Path, example_bento: dict) -> dict:
    """The one image of the session: `mlgate containerize` of the example bento (`--json`'s answer)."""
    env = {**os.environ, "GITHUB_REPOSITORY": EXAMPLE_REPOSITORY, "DOCKER_HOST": engine.docker_host}
    args = ["containerize", example_bento["tag"], "--network", "host", "--model-version", "7", "--json"]
    result = run(BIN / "mlgate", *args, cwd=serving_repo, env=env)
    image: dict = json.loads(result.stdout)
    return image
