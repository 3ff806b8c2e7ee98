"""Project-level files mlgate keeps: `.mlgate/version`, which ties cached stage results to a release."""

from __future__ import annotations

from pathlib import Path

from mlgate import __version__
from mlgate.errors import ConfigError
from mlgate.fsio import atomic_write_text

VERSION_FILE = Path(".mlgate/version")


def check_version_file(path: Path = VERSION_FILE) -> None:
    """Fail fast when the stages' cache key (.mlgate/version) names another mlgate release."""
    recorded = path.read_text(encoding="utf-8").strip() if path.is_file() else None
    if recorded != __version__:
        found = f"says {recorded}" if recorded else "is missing"
        raise ConfigError(
            f"{path} {found} but mlgate {__version__} is running; run `mlgate validate` to refresh it, "
            "then `dvc repro` again (stages depend on it, so results of another release are not reused)"
        )


def refresh_version_file(path: Path = VERSION_FILE) -> bool:
    """Write the running mlgate version to .mlgate/version; return True when it changed."""
    current = path.read_text(encoding="utf-8").strip() if path.is_file() else None
    if current == __version__:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, __version__ + "\n")
    return True
