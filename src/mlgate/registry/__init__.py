"""The git-tracked model registry (registry.yaml): versions, aliases and an append-only events history."""

from mlgate.registry.document import Registry, dumps, load, save
from mlgate.registry.operations import (
    RecordRequest,
    Settings,
    deprecate,
    next_version,
    promote,
    record,
    rollback,
    settings,
    tag_name,
)
from mlgate.registry.verify import verify

__all__ = [
    "RecordRequest",
    "Registry",
    "Settings",
    "deprecate",
    "dumps",
    "load",
    "next_version",
    "promote",
    "record",
    "rollback",
    "save",
    "settings",
    "tag_name",
    "verify",
]
