"""The project: its root folder, and every path mlgate reads or writes there, declared once.

`LAYOUT` (mlgate.layout) holds the paths relative to the root, which is also how git and dvc.lock name
them; a `Project` resolves them under its root. Every library function takes a Project, so the working
directory never decides where a file is (`mlgate -C DIR` sets the root).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from mlgate import __version__
from mlgate.config import ColumnSource, default_section, load_params
from mlgate.errors import ConfigError
from mlgate.fsio import atomic_write_text, shown
from mlgate.layout import LAYOUT, Layout
from mlgate.yamldoc import YamlDocument, read_yaml


@dataclass(frozen=True)
class Project:
    """A project folder: the root, its params file and, when overridden, its registry file."""

    root: Path
    params_file: Path
    registry_override: Path | None = None

    @classmethod
    def at(
        cls, root: str | Path = ".", params: str | Path | None = None, registry: str | Path | None = None
    ) -> Project:
        """The project at `root`; `params` and `registry`, when relative, are relative to the root."""
        top = Path(root).resolve()
        if not top.is_dir():
            raise ConfigError(f"{root}: not a folder (the project root, as -C names it)")
        override = None if registry is None else top / registry
        return cls(top, top / (params or LAYOUT.params), override)

    @cached_property
    def files(self) -> Layout:
        """Every artefact path, under the root."""
        return LAYOUT.under(self.root)

    def resolve(self, path: str | Path) -> Path:
        """A path the user gave, relative to the root unless it is absolute."""
        return self.root / path

    def shown(self, path: str | Path) -> str:
        """A path as messages show it: relative to the working directory when it lies below it."""
        return shown(self.resolve(path))

    def relative(self, path: str | Path) -> str:
        """A path as files record it: relative to the root when it lies below it, else absolute."""
        target = self.resolve(path)
        return (
            target.relative_to(self.root).as_posix()
            if target.is_relative_to(self.root)
            else target.as_posix()
        )

    @property
    def has_params(self) -> bool:
        return self.params_file.is_file()

    def _load(self, columns: ColumnSource | None = None, expectations: bool = True) -> dict[str, Any]:
        shown = self.shown(self.params_file)
        if not self.params_file.is_file():
            raise ConfigError(
                f"{shown}: file not found; run mlgate in the project's folder or pass -C <folder> "
                "(`mlgate init` writes a starter params.yaml)"
            )
        return load_params(self.params_file, columns, shown, expectations)

    @cached_property
    def params(self) -> dict[str, Any]:
        """params.yaml, validated, with defaults filled in."""
        return self._load()

    def checked_params(self, columns: Collection[str] | None) -> dict[str, Any]:
        """params.yaml validated also against the data's columns, when they are known."""
        return self._load(lambda _: columns)

    def params_against_source(self, expectations: bool = True) -> dict[str, Any]:
        """params.yaml validated also against the columns of its source, read from the source's header;
        with `expectations` off, the expectations' columns are left to the data stage's own check."""
        from mlgate.datasets.sources import header_columns

        return self._load(lambda params: header_columns(params["data"]["source"], self.root), expectations)

    def document(self) -> YamlDocument:
        """params.yaml as parsed, with the line of every field, for messages that name them."""
        return read_yaml(self.params_file, self.shown(self.params_file))

    def section(self, name: str) -> dict[str, Any]:
        """One section of params.yaml; its schema defaults when the project has no params.yaml."""
        return dict(self.params[name]) if self.has_params else default_section(name)

    @property
    def registry_file(self) -> Path:
        """The registry file: the override, else `registry.path` of params.yaml."""
        return self.registry_override or self.resolve(self.section("registry")["path"])

    def cache_dir(self) -> Path:
        """The DVC cache folder, wherever DVC's `cache.dir` puts it."""
        from mlgate.vcs import dvc_cache_dir

        return dvc_cache_dir(self.root)

    def check_version(self) -> None:
        """Fail fast when the stages' cache key (.mlgate/version) names another mlgate release."""
        path = self.files.version
        recorded = path.read_text(encoding="utf-8").strip() if path.is_file() else None
        if recorded != __version__:
            found = f"says {recorded}" if recorded else "is missing"
            raise ConfigError(
                f"{self.shown(path)} {found} but mlgate {__version__} is running; run `mlgate validate` to "
                "refresh it, then `dvc repro` again (stages depend on it, so results of another release "
                "are not reused)"
            )

    def refresh_version(self) -> bool:
        """Write the running mlgate version to .mlgate/version; return True when it changed."""
        path = self.files.version
        current = path.read_text(encoding="utf-8").strip() if path.is_file() else None
        if current == __version__:
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, __version__ + "\n")
        return True
