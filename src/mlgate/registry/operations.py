"""What users do to the registry: record, promote, roll back, deprecate, ask for the next version."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgate.errors import RegistryError
from mlgate.registry import lineage
from mlgate.registry.document import Registry, load, transaction


@dataclass(frozen=True)
class Settings:
    """The `registry:` section of params.yaml, resolved."""

    path: Path
    model: str | None
    tag: bool
    lock_timeout: float


def settings(params_path: str | Path = "params.yaml", registry_path: str | Path | None = None) -> Settings:
    """Read the registry settings from params.yaml (schema defaults when it is absent)."""
    from mlgate.config import apply_defaults, load_params, load_schema

    if Path(params_path).is_file():
        section = load_params(params_path)["registry"]
    else:
        section = apply_defaults(load_schema("params.schema.json")["properties"]["registry"], {})
    path = Path(registry_path) if registry_path is not None else Path(section["path"])
    return Settings(
        path=path, model=section["model"], tag=section["tag"], lock_timeout=section["lock_timeout"]
    )


def next_version(config: Settings) -> int:
    """The version the next `record` gets (1 for a registry not created yet)."""
    return load(config.path).next_version() if config.path.exists() else 1


def _event(registry: Registry, action: str, fields: dict[str, Any], reason: str | None) -> dict[str, Any]:
    """Append an event to the history and return it."""
    event = {
        "id": len(registry.events) + 1,
        "action": action,
        **fields,
        "at": lineage.now(),
        "by": lineage.actor(),
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
    gate_report: str | Path | None = None
    reason: str | None = None
    tag: bool | None = None


def _new_entry(params: dict[str, Any], request: RecordRequest) -> dict[str, Any]:
    """Build a version entry from the workspace; version and created_at are set under the lock."""
    return {
        "status": "active",
        "created_by": lineage.actor(),
        "source": lineage.source(request.pr, request.run_url),
        "lineage": lineage.lineage(params),
        "model": lineage.model_files(),
        "params": params,
        "metrics": lineage.metrics(),
        "gate": lineage.gate_verdict(request.gate_report),
        "bento": {"tag": request.bento_tag},
        "image": {"name": request.image, "digest": request.digest, "tags": list(request.image_tags)},
    }


def record(config: Settings, params_path: str | Path, request: RecordRequest) -> dict[str, Any]:
    """Register the workspace's model as a new version; return its entry."""
    from mlgate.config import read_yaml

    if request.digest is not None and not request.digest.startswith("sha256:"):
        raise RegistryError(f"--digest {request.digest!r}: expected sha256:<64 hex digits>")
    params = read_yaml(params_path).data
    entry = _new_entry(params, request)
    make_tag = config.tag if request.tag is None else request.tag
    with transaction(
        config.path, config.lock_timeout, new_model=config.model or lineage.default_model_name()
    ) as registry:
        version = _allocate(registry, request.version)
        entry = {"version": version, "status": "active", "created_at": lineage.now(), **entry}
        registry.versions.append(entry)
        _event(registry, "register", {"version": version}, request.reason)
        if make_tag:
            create_tag(registry.model, version, entry["source"]["commit"])
    return entry


def tag_name(model: str, version: int) -> str:
    """The GTO-style tag of a version; GTO reads versions as semver, hence `.0.0`."""
    return f"{model}@v{version}.0.0"


def create_tag(model: str, version: int, commit: str | None) -> str:
    """Create the annotated git tag of a version on its source commit."""
    if commit is None:
        raise RegistryError("--tag needs a git repository with a commit to tag")
    name = tag_name(model, version)
    if lineage.git("rev-parse", "-q", "--verify", f"refs/tags/{name}", check=False):
        raise RegistryError(f"git tag {name} exists already; delete it or record another version")
    lineage.git("tag", "-a", name, "-m", f"Registering artifact {model} version v{version}.0.0", commit)
    return name


def _check_alias_target(registry: Registry, version: int) -> None:
    if registry.entry(version)["status"] == "deprecated":
        raise RegistryError(f"version {version} is deprecated; an alias cannot point at it")


def promote(config: Settings, version: int, alias: str, reason: str | None = None) -> dict[str, Any]:
    """Point an alias at a version; return the event."""
    with transaction(config.path, config.lock_timeout) as registry:
        _check_alias_target(registry, version)
        current = registry.aliases.get(alias)
        if current == version:
            raise RegistryError(f"{alias} already points at version {version}")
        registry.aliases[alias] = version
        return _event(registry, "promote", {"alias": alias, "from": current, "to": version}, reason)


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


def rollback(config: Settings, alias: str, reason: str | None = None) -> dict[str, Any]:
    """Move an alias back to the version that held it before; return the event."""
    with transaction(config.path, config.lock_timeout) as registry:
        target = rollback_target(registry, alias)
        current = registry.aliases[alias]
        registry.aliases[alias] = target
        return _event(registry, "rollback", {"alias": alias, "from": current, "to": target}, reason)


def deprecate(config: Settings, version: int, reason: str | None = None) -> dict[str, Any]:
    """Retire a version that no alias points at; return the event."""
    with transaction(config.path, config.lock_timeout) as registry:
        entry = registry.entry(version)
        if entry["status"] == "deprecated":
            raise RegistryError(f"version {version} is deprecated already")
        holding = registry.aliases_of(version)
        if holding:
            raise RegistryError(f"version {version} is {', '.join(holding)}; promote another version first")
        entry["status"] = "deprecated"
        return _event(registry, "deprecate", {"version": version}, reason)
