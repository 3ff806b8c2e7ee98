"""Drift and performance monitoring of production data against a model version's reference."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from mlgate.errors import ConfigError
from mlgate.fsio import atomic_write_json, atomic_write_text

DEFAULT_OUT = Path("reports/monitor")


def run_monitor(
    current: str | None = None,
    alias: str | None = None,
    out: str | Path = DEFAULT_OUT,
    params_path: str | Path = "params.yaml",
) -> dict[str, Any]:
    """Check a batch against the reference of the version holding `alias`; write monitor.json and .md.

    `current` is a path or glob of CSV, Parquet or JSONL files, or `python:<module>:<function>`;
    None takes `monitor.current` from params.yaml.
    """
    from mlgate.config import load_params
    from mlgate.monitor.reference import load_reference
    from mlgate.monitor.report import render

    params = load_params(params_path)
    current = current or params["monitor"]["current"]
    if not current:
        raise ConfigError("no batch to check: give --current, or set monitor.current in params.yaml")
    alias = alias or params["monitor"]["alias"]
    reference = load_reference(alias, params["registry"].get("path", "registry.yaml"))
    result = _check_source(current, reference, params)
    out = Path(out)
    atomic_write_json(out / "monitor.json", result)
    atomic_write_text(out / "monitor.md", render(result, params["monitor"]["top_features"]))
    return result


def _check_source(current: str, reference: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Check files as they are; a python: loader's DataFrame goes through a temporary Parquet file."""
    from mlgate.monitor.run import check

    if not current.startswith("python:"):
        return check(current, reference, params)
    from mlgate.datasets.sources import load_source

    with tempfile.TemporaryDirectory(prefix="mlgate-monitor-") as folder:
        path = Path(folder) / "current.parquet"
        load_source(current).to_parquet(path, index=False)
        result = check(str(path), reference, params)
    result["current"]["paths"] = [current]
    return result


__all__ = ["DEFAULT_OUT", "run_monitor"]
