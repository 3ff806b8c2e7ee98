"""Build, containerise and serve the bento: a self-contained folder with the model, settings and mlgate."""

from __future__ import annotations

import copy
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from mlgate.errors import MissingDependencyError, MlgateError
from mlgate.fsio import atomic_write_json, atomic_write_text
from mlgate.layout import LAYOUT
from mlgate.modelio import PINNED_LIBRARIES, read_card, verify_sha256
from mlgate.project import Project
from mlgate.serving.settings import SETTINGS_FILE, ServingSettings
from mlgate.serving.wheel import base_requirements, build_wheel
from mlgate.vcs import head, origin_slug, tool

STOP_SECONDS = 30  # how long `mlgate serve` waits for the server to stop after Ctrl-C
SERVICE_STUB = '''"""Entry point of the bento: the mlgate service, set up by serving.json beside this file."""

from mlgate.serving.service import Service

__all__ = ["Service"]
'''
DOCKERFILE_TEMPLATE = "Dockerfile.template"
# Adjusts BentoML's Dockerfile so hadolint passes: a bash SHELL with pipefail for its piped RUN steps
# (DL4006), no brace expansion in the clean-up step (SC3009), and `useradd -l` so a high UID does not
# bloat the image (DL3046).
DOCKERFILE_BLOCKS = """{% extends bento_base_template %}
{% block SETUP_BENTO_USER %}
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG BENTO_USER={{ bento__user }}
ARG BENTO_USER_UID={{ bento__uid_gid }}
ARG BENTO_USER_GID={{ bento__uid_gid }}
RUN groupadd -g $BENTO_USER_GID -o $BENTO_USER && \\
    useradd -l -m -u $BENTO_USER_UID -g $BENTO_USER_GID -o -r $BENTO_USER
{% endblock %}
{% block SETUP_BENTO_ENTRYPOINT %}
RUN rm -rf /var/lib/apt /var/lib/cache /var/lib/log
EXPOSE 3000
EXPOSE {{ __prometheus_port__ }}
RUN chmod +x {{ bento__entrypoint }}
USER {{ bento__user }}
ENTRYPOINT [ "{{ bento__entrypoint }}" ]
{% endblock %}
"""
ENGINE_HINT = (
    "start Docker (or run this on a CI runner that has it), or build the image elsewhere with "
    "`docker build -f env/docker/Dockerfile <bento path>`"
)


@dataclass(frozen=True)
class BentoBuild:
    """A bento in BentoML's store, and the image name its container gets."""

    tag: str
    path: str
    labels: dict[str, str]
    image: str | None  # None when neither serve.image, GITHUB_REPOSITORY nor a GitHub origin names it


@dataclass(frozen=True)
class ImageBuild:
    """A container image built from a bento."""

    bento: str
    image: str
    tags: list[str]


def _run(args: list[str], cwd: Path, what: str) -> str:
    """Run a tool to completion; a failure becomes an MlgateError carrying its last lines of output."""
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise MlgateError(f"{what} failed (exit {result.returncode}):\n{tail}")
    return result.stdout


def bentoml_executable() -> str:
    """The `bentoml` CLI next to this Python, or on PATH."""
    found = tool("bentoml")
    if not shutil.which(found):
        raise MissingDependencyError(
            "BentoML is not installed; install mlgate with the serve extra: pip install 'mlgate[serve]'"
        )
    return found


def service_name(serve: dict[str, Any], root: Path) -> str:
    """serve.name, or the repository's name (GITHUB_REPOSITORY, else its folder) as a valid bento name."""
    if serve["name"]:
        return str(serve["name"])
    slug = os.environ.get("GITHUB_REPOSITORY", "")
    folder = slug.rpartition("/")[2] or root.resolve().name
    name = re.sub(r"[^a-z0-9_.-]+", "-", folder.lower()).strip("-._")
    return name[:63] or "mlgate-model"


def stage(
    project: Project, params: dict[str, Any], dest: Path, version: str | None, registry_sha256: str | None
) -> ServingSettings:
    """Fill `dest` with what the service reads: model files, metrics, serving.json and the entry module."""
    files = project.files
    card = read_card(files.card)
    verify_sha256(files.model, card["sha256"], project.shown(files.card))
    if registry_sha256:
        verify_sha256(files.model, registry_sha256, "the registry")
    for source, target in (
        (files.model, LAYOUT.model),
        (files.card, LAYOUT.card),
        (files.metrics, LAYOUT.metrics),
    ):
        if source.is_file():
            (dest / target).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / target)
    commit = head(project.root) or "unknown"
    settings = ServingSettings.from_params(
        params,
        name=service_name(params["serve"], project.root),
        git_commit=commit,
        model_version=version,
        registry_sha256=registry_sha256,
    )
    labels = {"git_commit": commit, "model_sha256": card["sha256"], "mlgate_version": _mlgate_version()}
    if version:
        labels["model_version"] = version
    settings = replace(settings, labels=labels)
    atomic_write_json(dest / SETTINGS_FILE, settings.to_json())
    atomic_write_text(dest / "service.py", SERVICE_STUB)
    return settings


def _mlgate_version() -> str:
    from mlgate import __version__

    return __version__


def python_packages(card: dict[str, Any]) -> list[str]:
    """mlgate's requirements with the model's training libraries pinned, plus the serving stack."""
    libraries = card.get("libraries", {})
    pins = [f"{name}=={libraries[name]}" for name in PINNED_LIBRARIES if name in libraries]
    pinned = {name for name in PINNED_LIBRARIES if name in libraries}
    rest = [
        req
        for req in base_requirements()
        if re.split(r"[<>=!~ \[]", req, maxsplit=1)[0].lower() not in pinned
    ]
    serving = [f"bentoml=={metadata.version('bentoml')}", f"pydantic=={metadata.version('pydantic')}"]
    return pins + rest + serving


def bentofile(
    settings: ServingSettings, card: dict[str, Any], wheel: str, lock_packages: bool
) -> dict[str, Any]:
    """The bentofile.yaml: the model files travel as included files, mlgate as a wheel in the build folder."""
    python_version = ".".join(card.get("libraries", {}).get("python", "3.11").split(".")[:2])
    return {
        "service": "service:Service",
        "name": settings.name,
        "labels": settings.labels,
        "include": ["service.py", SETTINGS_FILE, f"{LAYOUT.model.parent}/*", f"{LAYOUT.metrics.parent}/*"],
        "python": {"packages": python_packages(card), "wheels": [wheel], "lock_packages": lock_packages},
        "docker": {"python_version": python_version, "dockerfile_template": DOCKERFILE_TEMPLATE},
    }


def build(
    project: Project, version: str | None, registry_sha256: str | None, lock_packages: bool | None
) -> BentoBuild:
    """Build the bento into BentoML's store; return its tag, path, labels and image name."""
    bentoml_executable()
    params = project.params
    with tempfile.TemporaryDirectory(prefix="mlgate-bento-") as folder:
        context = Path(folder)
        settings = stage(project, params, context, version, registry_sha256)
        wheel = build_wheel(context / "wheels")
        lock = params["serve"]["lock_packages"] if lock_packages is None else lock_packages
        spec = bentofile(settings, read_card(context / LAYOUT.card), f"wheels/{wheel.name}", lock)
        atomic_write_text(context / "bentofile.yaml", yaml.safe_dump(spec, sort_keys=False))
        atomic_write_text(context / DOCKERFILE_TEMPLATE, DOCKERFILE_BLOCKS)
        tag, path = _build_apart(context)
    return BentoBuild(tag, path, settings.labels, image_name(project))


def _build_apart(context: Path) -> tuple[str, str]:
    """Build with BentoML's Python API in a fresh process: the build imports the service, which loads
    the model, and a long-lived process must not keep that import."""
    spawn = multiprocessing.get_context("spawn")
    with spawn.Pool(1) as pool:
        try:
            return pool.apply(_build_bentofile, (str(context),))
        except Exception as exc:  # BentoML raises its own types for every build failure
            raise MlgateError(f"bentoml build failed: {type(exc).__name__}: {exc}") from None


def _build_bentofile(context: str) -> tuple[str, str]:
    """BentoML's build of the bentofile in `context`; the tag and the bento's folder in the store."""
    import bentoml

    os.dup2(2, 1)  # this process only builds: what BentoML prints is progress, and stdout is the caller's
    os.chdir(context)  # BentoML refuses files outside the working directory

    bento = bentoml.bentos.build_bentofile(f"{context}/bentofile.yaml", build_ctx=context)
    return str(bento.tag), str(bento.path)


def image_name(project: Project) -> str | None:
    """serve.image, or ghcr.io/<owner>/<repo> from GITHUB_REPOSITORY or the `origin` remote, lower-cased."""
    serve = project.params["serve"]
    if serve["image"]:
        return str(serve["image"]).lower()
    slug = os.environ.get("GITHUB_REPOSITORY") or origin_slug(project.root)
    return f"ghcr.io/{slug}".lower() if slug else None


def container_engine() -> str:
    """The docker CLI when its daemon answers; otherwise stop with what to do."""
    docker = shutil.which("docker")
    if not docker:
        raise MissingDependencyError(
            f"no container engine found: the docker CLI is not installed; {ENGINE_HINT}"
        )
    try:
        probe = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True, timeout=20
        )
    except subprocess.TimeoutExpired:
        probe = None
    if probe is None or probe.returncode != 0:
        raise MissingDependencyError(
            f"no container engine is running: `docker info` cannot reach a Docker daemon; {ENGINE_HINT}"
        )
    return docker


def containerize(project: Project, bento: str, version: str | None) -> ImageBuild:
    """Build the container image of a bento, tagged with the git commit and the version when given."""
    container_engine()
    image = image_name(project)
    if image is None:
        raise MlgateError(
            "cannot tell the image name: set serve.image in params.yaml, or GITHUB_REPOSITORY=owner/repo, "
            "or a git remote `origin` on GitHub"
        )
    commit = head(project.root) or "unknown"
    tags = [f"{image}:{commit[:12]}"] + ([f"{image}:{version}"] if version else [])
    args = [bentoml_executable(), "containerize", bento, "--backend", "docker"]
    for tag in tags:
        args += ["--image-tag", tag]
    _run(args, project.root, "bentoml containerize")
    return ImageBuild(bento, image, tags)


def serve(project: Project, host: str, port: int) -> int:
    """Serve the project's current model in the foreground until interrupted; return the exit code."""
    params = copy.deepcopy(project.params)
    if params["serve"]["log_predictions"]:  # the staging folder goes away; keep the log in the project
        params["serve"]["log_predictions"] = str(project.resolve(params["serve"]["log_predictions"]))
    with tempfile.TemporaryDirectory(prefix="mlgate-serve-") as folder:
        context = Path(folder)
        stage(project, params, context, None, None)
        command = [bentoml_executable(), "serve", "service:Service", "--host", host, "--port", str(port)]
        return _foreground(command, context)


def _foreground(command: list[str], cwd: Path) -> int:
    """Run a server until it exits; SIGTERM and Ctrl-C stop it first, so the caller still cleans up."""
    server = subprocess.Popen(command, cwd=cwd)
    previous = signal.signal(signal.SIGTERM, lambda signum, _: server.send_signal(signum))
    try:
        return server.wait()
    except KeyboardInterrupt:  # the terminal sent SIGINT to the server too
        try:
            server.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
