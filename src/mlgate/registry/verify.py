"""Check a registry: its schema, that its parts agree with each other, and that model files match."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path
from typing import Any

from mlgate.errors import ConfigError, RegistryError
from mlgate.fsio import sha256_file
from mlgate.project import Project
from mlgate.registry import lineage
from mlgate.registry.document import Registry, load
from mlgate.vcs import cache_object


def _monotonic_problems(registry: Registry) -> list[str]:
    problems = []
    versions = [entry["version"] for entry in registry.versions]
    for before, after in itertools.pairwise(versions):
        if after <= before:
            problems.append(f"versions are not increasing: {after} comes after {before}")
    created = [entry["created_at"] for entry in registry.versions]
    for index, (before, after) in enumerate(itertools.pairwise(created)):
        if after < before:
            problems.append(
                f"version {versions[index + 1]} was created at {after}, before version {versions[index]}"
            )
    for position, event in enumerate(registry.events, start=1):
        if event["id"] != position:
            problems.append(f"event {position} has id {event['id']}; ids count up from 1 with no gaps")
    times = [event["at"] for event in registry.events]
    for index, (before, after) in enumerate(itertools.pairwise(times)):
        if after < before:
            problems.append(f"event {index + 2} happened at {after}, before event {index + 1}")
    return problems


def _event_versions(event: dict[str, Any]) -> list[int]:
    return [v for v in (event.get("version"), event.get("from"), event.get("to")) if v is not None]


def _history_problems(registry: Registry) -> list[str]:
    """Compare what the events say with the aliases and statuses in the file."""
    known = {entry["version"] for entry in registry.versions}
    problems = [
        f"event {event['id']} ({event['action']}) names version {version}, which is not in the registry"
        for event in registry.events
        for version in _event_versions(event)
        if version not in known
    ]
    registered = Counter(e["version"] for e in registry.events if e["action"] == "register")
    problems += [
        f"version {v} has {registered[v]} register events; expected exactly 1"
        for v in sorted(known)
        if registered[v] != 1
    ]
    replayed: dict[str, int] = {}
    retired: set[int] = set()
    for event in registry.events:
        if event["action"] in ("promote", "rollback"):
            if replayed.get(event["alias"]) != event["from"]:
                problems.append(
                    f"event {event['id']} moves {event['alias']} from {event['from']}, "
                    f"but the history has it at {replayed.get(event['alias'])}"
                )
            replayed[event["alias"]] = event["to"]
        elif event["action"] == "deprecate":
            retired.add(event["version"])
    if replayed != registry.aliases:
        problems.append(
            f"aliases {registry.aliases} disagree with the events history, which gives {replayed}"
        )
    deprecated = {e["version"] for e in registry.versions if e["status"] == "deprecated"}
    if deprecated != retired:
        problems.append(
            f"deprecated versions {sorted(deprecated)} disagree with the deprecate events {sorted(retired)}"
        )
    return problems


def _alias_problems(registry: Registry) -> list[str]:
    problems = []
    status = {entry["version"]: entry["status"] for entry in registry.versions}
    for alias, version in registry.aliases.items():
        if version not in status:
            problems.append(f"alias {alias} points at version {version}, which is not in the registry")
        elif status[version] == "deprecated":
            problems.append(f"alias {alias} points at version {version}, which is deprecated")
    return problems


def _params_problems(registry: Registry) -> list[str]:
    return [
        f"version {entry['version']}: params_sha256 does not match its params snapshot"
        for entry in registry.versions
        if entry["lineage"]["params_sha256"] != lineage.params_digest(entry["params"])
    ]


def consistency_problems(registry: Registry) -> list[str]:
    """Every way the registry contradicts itself (files on disk are not looked at)."""
    checks = (_monotonic_problems, _history_problems, _alias_problems, _params_problems)
    return [problem for check in checks for problem in check(registry)]


def _describes_workspace(entry: dict[str, Any], card_sha256: str | None, outs: dict[str, str]) -> bool:
    """Whether an entry claims to be the model now in the workspace (by model card or dvc.lock)."""
    path = entry["model"]["path"]
    recorded_md5 = entry["lineage"]["outs"].get(path)
    return entry["model"]["sha256"] == card_sha256 or (
        recorded_md5 is not None and recorded_md5 == outs.get(path)
    )


def _file_problems(project: Project, registry: Registry) -> list[str]:
    """Model files present on disk (workspace or DVC cache) whose sha256 differs from the registry."""
    card_sha256 = _card_sha256(project.files.card)
    outs = lineage.dvc_outs(project)
    cache = project.cache_dir()
    problems = []
    for entry in registry.versions:
        model = entry["model"]
        files = []
        cached = cache_object(cache, entry["lineage"]["outs"].get(model["path"]) or "")
        if cached is not None:
            files.append(cached)
        workspace = project.resolve(model["path"])
        if workspace.is_file() and _describes_workspace(entry, card_sha256, outs):
            files.append(workspace)
        for path in files:
            actual = sha256_file(path)
            if actual != model["sha256"]:
                problems.append(
                    f"version {entry['version']}: {project.shown(path)} has sha256 {actual[:12]}…, "
                    f"the registry says {model['sha256'][:12]}…"
                )
    return problems


def _card_sha256(card_path: Path) -> str | None:
    try:
        return json.loads(card_path.read_text(encoding="utf-8")).get("sha256")
    except (OSError, ValueError, AttributeError):
        return None


def verify(project: Project) -> list[str]:
    """Every problem with the project's registry file; an empty list means it is sound."""
    path = project.registry_file
    shown = project.shown(path)
    if not path.is_file():
        raise RegistryError(f"{shown}: no registry to verify")
    try:
        registry = load(path, shown)
    except ConfigError as exc:
        return str(exc).splitlines()
    return consistency_problems(registry) + _file_problems(project, registry)
