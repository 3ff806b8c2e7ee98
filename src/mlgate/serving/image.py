"""`mlgate containerize`: a bento's image, built with mlgate's Dockerfile on the local container engine."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from mlgate.errors import ConfigError, ContainerError, MissingDependencyError
from mlgate.project import Project
from mlgate.serving.bento import image_name
from mlgate.serving.settings import SETTINGS_FILE, ServingSettings, load_settings

BUILD_SECONDS = 1800
PROBE_SECONDS = 20
DOCKERFILE = Path("env", "docker", "Dockerfile")
MLGATE_DOCKERFILE = "# Written by `mlgate build`"
BUILD_ARG = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=.*\Z", re.DOTALL)
ENGINE_HINT = (
    "start Docker (or run this on a CI runner that has it), or build the image elsewhere with "
    "`docker build -f env/docker/Dockerfile <bento path>`"
)


@dataclass(frozen=True)
class BuildOptions:
    """What `docker build` is given besides the bento: its network, build arguments and platform."""

    network: str | None = None
    build_args: tuple[str, ...] = ()
    platform: str | None = None

    def arguments(self) -> list[str]:
        """These options as `docker build` flags; a malformed build argument is a ConfigError."""
        flags = ["--network", self.network] if self.network else []
        for pair in self.build_args:
            if not BUILD_ARG.match(pair) or "\n" in pair:
                raise ConfigError(f"--build-arg {pair!r}: expected NAME=VALUE on one line")
            flags += ["--build-arg", pair]
        return flags + (["--platform", self.platform] if self.platform else [])


@dataclass(frozen=True)
class ImageBuild:
    """A container image built from a bento: its name, the tags it got and the engine's image id."""

    bento: str
    image: str
    tags: list[str]
    id: str


def container_engine() -> str:
    """The docker CLI when its daemon answers; otherwise stop with what to do."""
    docker = shutil.which("docker")
    if not docker:
        raise MissingDependencyError(
            f"no container engine found: the docker CLI is not installed; {ENGINE_HINT}"
        )
    try:
        probe = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=PROBE_SECONDS,
        )
    except subprocess.TimeoutExpired:
        probe = None
    if probe is None or probe.returncode != 0:
        raise MissingDependencyError(
            f"no container engine is running: `docker info` cannot reach a Docker daemon"
            f"{_where()}; {ENGINE_HINT}"
        )
    return docker


def _where() -> str:
    host = os.environ.get("DOCKER_HOST")
    return f" at DOCKER_HOST={host}" if host else " at /var/run/docker.sock"


def bento_folder(bento: str) -> Path:
    """A bento given as its folder, or by its tag in BentoML's store; it must carry mlgate's Dockerfile."""
    folder = Path(bento)
    if not (folder / "bento.yaml").is_file():
        import bentoml

        try:
            folder = Path(bentoml.get(bento).path)
        except (bentoml.exceptions.BentoMLException, ValueError):  # ValueError: not a tag, such as a path
            raise ConfigError(
                f"no bento {bento!r}: neither a bento's folder (with bento.yaml) nor a tag in BentoML's "
                "store; build one with `mlgate build`"
            ) from None
    dockerfile = folder / DOCKERFILE
    if not dockerfile.is_file() or not dockerfile.read_text(encoding="utf-8").startswith(MLGATE_DOCKERFILE):
        raise ConfigError(f"{dockerfile}: not mlgate's Dockerfile; rebuild the bento with `mlgate build`")
    return folder


def _version(built: ServingSettings, asked: str | None) -> str | None:
    """The version to tag: the one the bento was built as; another one would disagree with /metadata."""
    if asked and asked != built.model_version:
        shown = f"as version {built.model_version}" if built.model_version else "without a version"
        raise ConfigError(
            f"--model-version {asked}: the bento was built {shown}, which its service reports; "
            f"build it as this version with `mlgate build --model-version {asked}`"
        )
    return built.model_version


def containerize(project: Project, bento: str, version: str | None, options: BuildOptions) -> ImageBuild:
    """Build the bento's image, tagged with the commit and version it was built from; docker's own
    progress goes to stderr."""
    flags = options.arguments()
    folder = bento_folder(bento)
    image = image_name(project)
    if image is None:
        raise ConfigError(
            "cannot tell the image name: set serve.image in params.yaml, or GITHUB_REPOSITORY=owner/repo, "
            "or a git remote `origin` on GitHub"
        )
    built = load_settings(folder / "src" / SETTINGS_FILE)
    version = _version(built, version)
    docker = container_engine()
    tags = [f"{image}:{built.git_commit[:12]}"] + ([f"{image}:{version}"] if version else [])
    args = [docker, "build", "--file", str(folder / DOCKERFILE), *flags]
    for tag in tags:
        args += ["--tag", tag]
    result = subprocess.run([*args, str(folder)], stdout=sys.stderr, timeout=BUILD_SECONDS)
    if result.returncode != 0:
        raise ContainerError(
            f"docker build of {folder} failed (exit {result.returncode}); its output is above"
        )
    inspect = [docker, "image", "inspect", "--format", "{{.Id}}", tags[0]]
    image_id = subprocess.run(inspect, capture_output=True, text=True, timeout=PROBE_SECONDS).stdout.strip()
    return ImageBuild(bento, image, tags, image_id)
