"""The registry file's storage: parse it with line marks, write it in one canonical layout, lock it.

The layout is fixed (keys in schema order, block style, two-space indents, no line folding), so
saving an unchanged registry reproduces the file byte for byte and PR diffs show only real changes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlgate.config import load_schema, validate_document
from mlgate.errors import ConfigError, RegistryError
from mlgate.fsio import atomic_write_text, shown
from mlgate.yamldoc import YamlDocument, parse_yaml, read_yaml

SCHEMA = "registry.schema.json"
FORMAT = 1
HEADER = (
    "# The model registry, written by `mlgate registry ...`; change it with those commands.\n"
    "# Format: docs/registry.md. Schema: src/mlgate/schemas/registry.schema.json\n"
)


@dataclass
class Registry:
    """The registry of one model: versions, aliases and the events history."""

    model: str
    aliases: dict[str, int] = field(default_factory=dict)
    versions: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def entry(self, version: int) -> dict[str, Any]:
        """Return a version's entry; a RegistryError names the versions that exist."""
        for entry in self.versions:
            if entry["version"] == version:
                return entry
        known = ", ".join(str(e["version"]) for e in self.versions) or "none yet"
        raise RegistryError(f"version {version} is not in the registry (versions: {known})")

    def resolve(self, reference: str) -> dict[str, Any]:
        """Return the entry a version number, an alias (`production`) or `latest` (the newest version,
        unless an alias is named so) names."""
        if reference.isdigit():
            return self.entry(int(reference))
        if reference in self.aliases:
            return self.entry(self.aliases[reference])
        if reference == "latest" and self.versions:
            return max(self.versions, key=lambda entry: int(entry["version"]))
        known = ", ".join(self.aliases) or "none yet"
        raise RegistryError(f"no version or alias {reference!r} in the registry (aliases: {known})")

    def next_version(self) -> int:
        """The version the next record gets."""
        return max((entry["version"] for entry in self.versions), default=0) + 1

    def aliases_of(self, version: int) -> list[str]:
        """The aliases pointing at a version."""
        return [alias for alias, target in self.aliases.items() if target == version]

    def to_data(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "model": self.model,
            "aliases": self.aliases,
            "versions": self.versions,
            "events": self.events,
        }


class _BlockDumper(yaml.SafeDumper):
    """Indent lists under their key, which reads better than PyYAML's flush-left default."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


# Characters YAML reads as line breaks; unquoted, a reader would turn them into spaces.
_YAML_BREAKS = ("\x85", "\u2028", "\u2029")


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    """Double-quote (and so escape) text holding a YAML line break, so it reads back unchanged."""
    style = '"' if any(mark in text for mark in _YAML_BREAKS) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_BlockDumper.add_representer(str, _represent_text)


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if not ref:
        return schema
    node: Any = load_schema(SCHEMA)
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return dict(node)


def canonical(value: Any, schema: dict[str, Any]) -> Any:
    """Order mapping keys as the schema lists them; free-form mappings keep their order."""
    schema = _resolve(schema)
    if isinstance(value, list):
        return [canonical(item, schema.get("items", {})) for item in value]
    if not isinstance(value, dict):
        return value
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    ordered = {name: canonical(value[name], properties[name]) for name in properties if name in value}
    for name, item in value.items():
        if name not in ordered:
            ordered[name] = canonical(item, extra if isinstance(extra, dict) else {})
    return ordered


def dumps(registry: Registry) -> str:
    """Render the registry in its canonical YAML layout."""
    data = canonical(registry.to_data(), load_schema(SCHEMA))
    body = yaml.dump(
        data,
        Dumper=_BlockDumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        indent=2,
        width=1 << 16,
    )
    return HEADER + body


def parse(document: YamlDocument) -> Registry:
    """Validate a parsed registry file against its schema and build the Registry."""
    if not isinstance(document.data, dict):
        raise document.error((), "expected a mapping with format, model, aliases, versions and events")
    validate_document(document, SCHEMA)
    data = document.data
    return Registry(
        model=data["model"], aliases=data["aliases"], versions=data["versions"], events=data["events"]
    )


def load(path: Path, shown: str | None = None) -> Registry:
    """Read and validate a registry file (named `shown` in messages); a broken file is a ConfigError."""
    if not path.is_file():
        raise RegistryError(f"{shown or path}: no registry yet; `mlgate registry record` creates it")
    return parse(read_yaml(path, shown))


def save(registry: Registry, path: str | Path) -> None:
    """Write the registry atomically in its canonical layout, only when the result is a valid registry: a
    bad value given on the command line (a digest, an alias) must not leave a file nothing can read."""
    text = dumps(registry)
    try:
        parse(parse_yaml(text, shown(Path(path))))
    except ConfigError as exc:
        raise RegistryError(f"registry not written, the change would make it invalid:\n{exc}") from None
    atomic_write_text(path, text)


def lock_path(path: str | Path) -> Path:
    """The lock file serialising writers of a registry; it sits beside the registry, git-ignored."""
    path = Path(path)
    return path.with_name(f".{path.name}.lock")


@contextlib.contextmanager
def locked(path: str | Path, timeout: float) -> Iterator[None]:
    """Hold the registry's write lock; give up after `timeout` seconds with a RegistryError."""
    from filelock import FileLock, Timeout

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_path(path)), timeout=timeout)
    try:
        with lock:
            yield
    except Timeout:
        raise RegistryError(
            f"{shown(Path(path))}: another writer has held {shown(lock_path(path))} for {timeout:g}s; try "
            "again, or delete the lock file if no mlgate process is running"
        ) from None
