"""Drift and performance monitoring of production data against a model version's reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlgate.fsio import atomic_write_json, atomic_write_text

DEFAULT_OUT = Path("reports/monitor")


def run_monitor(
    current: str,
    alias: str | None = None,
    out: str | Path = DEFAULT_OUT,
    params_path: str | Path = "params.yaml",
) -> dict[str, Any]:
    """Check a batch against the reference of the version holding `alias`; write monitor.json and monitor.md."""
    from mlgate.config import load_params
    from mlgate.monitor.reference import load_reference
    from mlgate.monitor.report import render
    from mlgate.monitor.run import check

    params = load_params(params_path)
    alias = alias or params["monitor"]["alias"]
    reference = load_reference(alias, params["registry"].get("path", "registry.yaml"))
    result = check(current, reference, params)
    out = Path(out)
    atomic_write_json(out / "monitor.json", result)
    atomic_write_text(out / "monitor.md", render(result, params["monitor"]["top_features"]))
    return result


__all__ = ["DEFAULT_OUT", "run_monitor"]
