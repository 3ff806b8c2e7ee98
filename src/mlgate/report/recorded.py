"""The PR against the last recorded version, when the base's own model was never recorded.

A deploy that the gate refused leaves main ahead of production: main's model is in no registry entry. The
base comparison alone would then judge the PR against a model nobody serves, so the report adds the PR
against the newest version the base's registry recorded (its recorded values: there are no predictions
to resample).
"""

from __future__ import annotations

from typing import Any

from mlgate.errors import ConfigError
from mlgate.project import Project
from mlgate.registry.document import parse
from mlgate.report.compare import metric_values
from mlgate.report.sides import Outputs
from mlgate.vcs import read_at
from mlgate.yamldoc import parse_yaml


def unrecorded_base(project: Project, base: Outputs, rev: str) -> dict[str, Any] | None:
    """The last recorded version against the PR when the base's model is in none of the base's registry
    entries; None when it is, or when there is no registry or no base model to tell."""
    model = (base.card or {}).get("sha256")
    if not model or base.revision is None:
        return None
    path = project.relative(project.registry_file)
    text = read_at(project.root, base.revision, path)
    if not text:
        return None
    try:
        versions = parse(parse_yaml(text, f"{rev}:{path}")).versions
    except ConfigError:
        return None  # the base's registry is broken: `mlgate registry verify` says so, not the report
    if not versions or any(entry["model"]["sha256"] == model for entry in versions):
        return None
    latest = max(versions, key=lambda entry: int(entry["version"]))
    return {
        "version": latest["version"],
        "commit": latest["source"]["commit"],
        "model_sha256": model,
        "metrics": {name: value.get("value") for name, value in metric_values(latest.get("metrics")).items()},
    }


def against_recorded(
    recorded: dict[str, Any] | None, head_metrics: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """One row per metric both hold: the recorded value, the PR's, and Δ."""
    if not recorded:
        return []
    pr = {name: entry.get("value") for name, entry in metric_values(head_metrics).items()}
    rows = []
    for name, value in recorded["metrics"].items():
        if value is not None and pr.get(name) is not None:
            rows.append({"metric": name, "recorded": value, "pr": pr[name], "delta": pr[name] - value})
    return rows
