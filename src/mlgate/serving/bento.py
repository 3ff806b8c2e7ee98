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
from mlgate.serving import dockerfile
from mlgate.serving.settings import SETTINGS_FILE, ServingSettings
from mlgate.serving.wheel import base_requirements, build_wheel
from mlgate.vcs import head, origin_slug, tool

STOP_SECONDS = 30  # how long `mlgate serve` waits for the server to stop after Ctrl-C
SERVICE_STUB = '''"""Entry point of the bento: the mlgate service, set up by serving.json beside this file."""

from mlgate.serving.service import Service

__all__ = ["Service"]
'''


@dataclass(frozen=True)
class BentoBuild:
    """A bento in BentoML's store, and the image name its container gets."""

    tag: str
    path: str
    labels: dict[str, str]
    image: str | None  # None when neither serve.image, GITHUB_REPOSITORY nor a GitHub origin names it


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
    """mlgate's requirements with the model's training libraries pinned, and pydantic as served here.

    BentoML adds its own pin (`bentoml==<version>`) to the bento's requirements itself.
    """
    libraries = card.get("libraries", {})
    pins = [f"{name}=={libraries[name]}" for name in PINNED_LIBRARIES if name in libraries]
    pinned = {name for name in PINNED_LIBRARIES if name in libraries} | {"bentoml", "pydantic"}
    rest = [
        req
        for req in base_requirements()
        if re.split(r"[<>=!~ \[]", req, maxsplit=1)[0].lower() not in pinned
    ]
    return pins + rest + [f"pydantic=={metadata.version('pydantic')}"]


def bentofile(
    settings: ServingSettings, card: dict[str, Any], wheel: str, lock_packages: bool
) -> dict[str, Any]:
    """The bentofile.yaml: the model files travel as included files, mlgate as a wheel in the build folder.

    No `dockerfile_template`: `bentoml containerize` cannot read one back (BentoML issue 5566), so mlgate
    writes its own Dockerfile into the built bento instead (serving/dockerfile.py).
    """
    return {
        "service": "service:Service",
        "name": settings.name,
        "labels": settings.labels,
        "include": ["service.py", SETTINGS_FILE, f"{LAYOUT.model.parent}/*", f"{LAYOUT.metrics.parent}/*"],
        "python": {"packages": python_packages(card), "wheels": [wheel], "lock_packages": lock_packages},
        "docker": {"python_version": python_version(card)},
    }


def python_version(card: dict[str, Any]) -> str:
    """The model's Python, major.minor, from its card."""
    return ".".join(card.get("libraries", {}).get("python", "3.11").split(".")[:2])


def build(
    project: Project, version: str | None, registry_sha256: str | None, lock_packages: bool | None
) -> BentoBuild:
    """Build the bento into BentoML's store with mlgate's Dockerfile; return its tag, path, labels, image."""
    bentoml_executable()
    params = project.params
    with tempfile.TemporaryDirectory(prefix="mlgate-bento-") as folder:
        context = Path(folder)
        settings = stage(project, params, context, version, registry_sha256)
        wheel = build_wheel(context / "wheels")
        lock = params["serve"]["lock_packages"] if lock_packages is None else lock_packages
        card = read_card(context / LAYOUT.card)
        spec = bentofile(settings, card, f"wheels/{wheel.name}", lock)
        atomic_write_text(context / "bentofile.yaml", yaml.safe_dump(spec, sort_keys=False))
        tag, path = _build_apart(context)
    facts = image_facts(project, Path(path), settings, card, wheel.name)
    dockerfile.write(Path(path), facts)
    return BentoBuild(tag, path, settings.labels, image_name(project))


def image_facts(
    project: Project, bento: Path, settings: ServingSettings, card: dict[str, Any], wheel: str
) -> dockerfile.ImageFacts:
    """What the bento's Dockerfile states: base image, requirements, wheel and the image's labels."""
    lock = bento / "env" / "python" / "requirements.lock.txt"
    slug = os.environ.get("GITHUB_REPOSITORY") or origin_slug(project.root)
    labels = {
        "org.opencontainers.image.title": settings.name,
        "org.opencontainers.image.revision": settings.git_commit,
        dockerfile.MODEL_SHA256_LABEL: card["sha256"],
    }
    if slug:
        labels["org.opencontainers.image.source"] = f"https://github.com/{slug}"
    if settings.model_version:
        labels["org.opencontainers.image.version"] = settings.model_version
    return dockerfile.ImageFacts(
        base_image=dockerfile.base_image(project.params["serve"]["base_image"], python_version(card)),
        requirements=lock.name if lock.is_file() else "requirements.txt",
        locked=lock.is_file(),
        wheel=wheel,
        labels=labels,
        log_predictions=bool(settings.log_predictions),
    )


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
    import logging

    import bentoml

    # A bento that carries a wheel is a v1 bento, on purpose; BentoML's note that v2 cannot is noise here.
    logging.getLogger("bentoml.build").addFilter(lambda record: "bento v2" not in record.getMessage())
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
