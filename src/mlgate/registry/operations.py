"""What users do to the registry: record, promote, roll back, deprecate, ask for the next version."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgate.errors import ConfigError, RegistryError
from mlgate.project import Project
from mlgate.registry import lineage
from mlgate.registry.document import Registry, load, locked, save
from mlgate.registry.verify import consistency_problems
from mlgate.vcs import git, git_or_none
from mlgate.yamldoc import read_yaml


@dataclass(frozen=True)
class Settings:
    """The `registry:` section of params.yaml, resolved against the project."""

    path: Path
    shown: str
    model: str | None
    tag: bool
    lock_timeout: float


def settings(project: Project) -> Settings:
    """The registry settings of a project (schema defaults when it has no params.yaml)."""
    section = project.section("registry")
    path = project.registry_file
    return Settings(path, project.shown(path), section["model"], section["tag"], section["lock_timeout"])


def load_registry(project: Project) -> Registry:
    """The project's registry, validated."""
    config = settings(project)
    return load(config.path, config.shown)


@contextlib.contextmanager
def transaction(config: Settings, new_model: str | None = None) -> Iterator[Registry]:
    """Lock, load (or start, when `new_model` is given and no file exists), yield, then save on success.

    A file that fails to load, or whose contents contradict each other, is never written: the error
    propagates before any save.
    """
    with locked(config.path, config.lock_timeout):
        if new_model is not None and not config.path.exists():
            registry = Registry(model=new_model)
        else:
            registry = load(config.path, config.shown)
            _refuse_inconsistent(registry, config.shown)
        yield registry
        save(registry, config.path)


def _refuse_inconsistent(registry: Registry, shown: str) -> None:
    """Refuse to build on a registry whose contents contradict each other."""
    problems = consistency_problems(registry)
    if problems:
        listed = "\n".join(f"  {problem}" for problem in problems)
        raise ConfigError(
            f"{shown}: refusing to change an inconsistent registry; fix it first "
            f"(`mlgate registry verify` lists the problems):\n{listed}"
        )


def next_version(project: Project) -> int:
    """The version the next `record` gets (1 for a registry not created yet)."""
    config = settings(project)
    return load(config.path, config.shown).next_version() if config.path.exists() else 1


def _event(
    project: Project, registry: Registry, action: str, fields: dict[str, Any], reason: str | None
) -> dict[str, Any]:
    """Append an event to the history and return it."""
    event = {
        "id": len(registry.events) + 1,
        "action": action,
        **fields,
        "at": lineage.now(),
        "by": lineage.actor(project),
        "reason": reason,
    }
    registry.events.append(event)
    return event


def _allocate(registry: Registry, requested: int | None) -> int:
    """Pick the new version: the requested one if free and not below the next, else the next."""
    upcoming = registry.next_version()
    if requested is None:
        return upcoming
    if any(entry["version"] == requested for entry in registry.versions):
        raise RegistryError(f"version {requested} is taken; the next free version is {upcoming}")
    if requested < upcoming:
        raise RegistryError(
            f"version {requested} is below the latest; versions only increase (next: {upcoming})"
        )
    return requested


@dataclass(frozen=True)
class RecordRequest:
    """What `record` is told on top of what it reads from the workspace."""

    version: int | None = None
    pr: int | None = None
    run_url: str | None = None
    bento_tag: str | None = None
    image: str | None = None
    digest: str | None = None
    image_tags: tuple[str, ...] = ()
    gate_report: Path | None = None
    reason: str | None = None
    tag: bool | None = None
    gate_override: str | None = None


def _new_entry(project: Project, params: dict[str, Any], request: RecordRequest) -> dict[str, Any]:
    """Build a version entry from the workspace; version and created_at are set under the lock."""
    return {
        "status": "active",
        "created_by": lineage.actor(project),
        "source": lineage.source(project, request.pr, request.run_url),
        "lineage": lineage.lineage(project, params),
        "model": lineage.model_files(project),
        "params": params,
        "metrics": lineage.metrics(project),
        "gate": lineage.gate_verdict(project, request.gate_report, request.gate_override),
        "bento": {"tag": request.bento_tag},
        "image": {"name": request.image, "digest": request.digest, "tags": list(request.image_tags)},
    }


def record(project: Project, request: RecordRequest) -> dict[str, Any]:
    """Register the workspace's model as a new version; return its entry."""
    if request.digest is not None and not request.digest.startswith("sha256:"):
        raise RegistryError(f"--digest {request.digest!r}: expected sha256:<64 hex digits>")
    config = settings(project)  # validates params.yaml, so a broken file is never recorded
    written = read_yaml(project.params_file, project.shown(project.params_file)).data
    entry = _new_entry(project, written, request)
    make_tag = config.tag if request.tag is None else request.tag
    with transaction(config, new_model=config.model or lineage.default_model_name(project)) as registry:
        version = _allocate(registry, request.version)
        entry = {"version": version, "status": "active", "created_at": lineage.now(), **entry}
        registry.versions.append(entry)
        _event(project, registry, "register", {"version": version}, request.reason)
        if make_tag:
            create_tag(project, registry.model, version, entry["source"]["commit"])
    return entry


def tag_name(model: str, version: int) -> str:
    """The GTO-style tag of a version; GTO reads versions as semver, hence `.0.0`."""
    return f"{model}@v{version}.0.0"


def create_tag(project: Project, model: str, version: int, commit: str | None) -> str:
    """Create the annotated git tag of a version on its source commit."""
    if commit is None:
        raise RegistryError("--tag needs a git repository with a commit to tag")
    name = tag_name(model, version)
    if git_or_none(project.root, "rev-parse", "-q", "--verify", f"refs/tags/{name}"):
        raise RegistryError(f"git tag {name} exists already; delete it or record another version")
    message = f"Registering artifact {model} version v{version}.0.0"
    git(project.root, "tag", "-a", name, "-m", message, commit, what="tag the version")
    return name


def _check_alias_target(registry: Registry, version: int) -> None:
    if registry.entry(version)["status"] == "deprecated":
        raise RegistryError(f"version {version} is deprecated; an alias cannot point at it")


def promote(project: Project, version: int, alias: str, reason: str | None = None) -> dict[str, Any]:
    """Point an alias at a version; return the event."""
    with transaction(settings(project)) as registry:
        _check_alias_target(registry, version)
        current = registry.aliases.get(alias)
        if current == version:
            raise RegistryError(f"{alias} already points at version {version}")
        registry.aliases[alias] = version
        return _event(project, registry, "promote", {"alias": alias, "from": current, "to": version}, reason)


def alias_stack(registry: Registry, alias: str) -> list[int]:
    """The versions that held an alias, replayed from history: promote pushes, rollback pops."""
    stack: list[int] = []
    for event in registry.events:
        if event.get("alias") != alias:
            continue
        if event["action"] == "rollback":
            while stack and stack[-1] != event["to"]:
                stack.pop()
        if not stack or stack[-1] != event["to"]:
            stack.append(event["to"])
    return stack


def rollback_target(registry: Registry, alias: str) -> int:
    """The version an alias returns to: the previous holder that is not deprecated."""
    if alias not in registry.aliases:
        raise RegistryError(f"alias {alias!r} points at no version; nothing to roll back")
    current = registry.aliases[alias]
    earlier = [v for v in alias_stack(registry, alias)[:-1] if v != current]
    for version in reversed(earlier):
        if registry.entry(version)["status"] != "deprecated":
            return version
    raise RegistryError(f"no earlier active version held {alias}; nothing to roll back to")


def rollback(project: Project, alias: str, reason: str | None = None) -> dict[str, Any]:
    """Move an alias back to the version that held it before; return the event."""
    with transaction(settings(project)) as registry:
        target = rollback_target(registry, alias)
        current = registry.aliases[alias]
        registry.aliases[alias] = target
        return _event(project, registry, "rollback", {"alias": alias, "from": current, "to": target}, reason)


def deprecate(project: Project, version: int, reason: str | None = None) -> dict[str, Any]:
    """Retire a version that no alias points at; return the event."""
    with transaction(settings(project)) as registry:
        entry = registry.entry(version)
        if entry["status"] == "deprecated":
            raise RegistryError(f"version {version} is deprecated already")
        holding = registry.aliases_of(version)
        if holding:
            raise RegistryError(f"version {version} is {', '.join(holding)}; promote another version first")
        entry["status"] = "deprecated"
        return _event(project, registry, "deprecate", {"version": version}, reason)
