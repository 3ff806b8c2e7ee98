"""Assemble the report: one plain-data structure that markdown, JSON and the terminal all render."""

from __future__ import annotations

import re
from typing import Any

from mlgate import __version__
from mlgate.errors import ConfigError
from mlgate.project import LAYOUT, Project
from mlgate.report import sides
from mlgate.report.charts import chart_data
from mlgate.report.compare import (
    bootstrap_settings,
    data_changes,
    delta_intervals,
    metric_rows,
    metric_values,
    pairing,
    params_changes,
    predictions_of,
    slice_changes,
)
from mlgate.report.gate import check_gates

MARKER = "<!-- mlgate-report -->"
FORMAT = "mlgate-report/1"
DIGITS = 6  # JSON keeps 6 decimals: enough for any metric, no float noise
LONG_DECIMAL = re.compile(r"^[-+]?\d+\.\d{7,}(e[-+]?\d+)?$")


def _statistics(
    base: sides.Outputs, head: sides.Outputs, params: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Δ's CIs per metric and how they were estimated."""
    boot = bootstrap_settings(params)
    method, aligned = pairing(base, head)
    stats: dict[str, Any] = {
        "method": None,
        "samples": boot.samples,
        "confidence": boot.confidence,
        "seed": boot.seed,
    }
    base_predictions = predictions_of(
        sides.Outputs(base.source, predictions=aligned, card=base.card, data=base.data)
    )
    head_predictions = predictions_of(head)
    if not base.has_metrics or base_predictions is None or head_predictions is None or boot.samples == 0:
        return stats, {}
    names = [n for n in metric_values(head.metrics) if n in metric_values(base.metrics)]
    stats["method"] = method
    return stats, delta_intervals(names, base_predictions, head_predictions, method, boot)


def _base_summary(rev: str, base: sides.Outputs) -> dict[str, Any]:
    how = {
        "dvc-cache": "read from the DVC cache",
        "dvc-remote": "read from the DVC remote",
        "worktree": f"reproduced in a temporary git worktree with mlgate {base.mlgate_version} "
        f"(shared DVC cache; {base.stale_reason})",
        "none": f"no baseline on {rev}" + (f" ({base.stale_reason})" if base.stale_reason else ""),
    }[base.source]
    return {
        "rev": rev,
        "sha": base.revision,
        "available": base.has_metrics,
        "source": base.source,
        "mlgate_version": base.mlgate_version,
        "has_params": bool(base.params),
        "how": how,
    }


def _headline(
    rev: str, primary: str, rows: list[dict[str, Any]], gate: dict[str, Any], stats: dict[str, Any]
) -> dict[str, Any]:
    row = next((r for r in rows if r["metric"] == primary), None) or {}
    if row.get("base") is None:
        line = f"No baseline on {rev}: absolute values only; only min/max gates apply."
    else:
        line = _verdict_line(primary, row, stats)
    return {
        "passed": gate["passed"],
        "reason": gate["reason"],
        "metric": primary,
        "base": row.get("base"),
        "pr": row.get("pr"),
        "delta": row.get("delta"),
        "delta_pct": row.get("delta_pct"),
        "verdict": line,
    }


def _verdict_line(primary: str, row: dict[str, Any], stats: dict[str, Any]) -> str:
    verdict, interval = row.get("verdict", ""), row.get("delta_ci")
    if interval is None:
        return f"{primary} {verdict}: no confidence interval (no predictions or bootstrap.samples is 0)."
    level = f"{100 * stats['confidence']:.0f}%"
    ci = f"{stats['method']} bootstrap, {level} CI of Δ [{interval[0]:+.4f}, {interval[1]:+.4f}]"
    if verdict == "better":
        return f"{primary} improved significantly ({ci})."
    if verdict == "worse":
        return f"{primary} got significantly worse ({ci})."
    return f"No significant change in {primary} ({ci})."


def _reproduce(rev: str) -> list[str]:
    return [
        f"git fetch origin {rev}",
        "mlgate validate && dvc repro",
        f"mlgate report --base {rev}",
        f"mlgate gate --base {rev}",
    ]


def _lock_note(drift: list[str]) -> str | None:
    if not drift:
        return None
    return (
        f"The committed dvc.lock differs from the one just reproduced (stages: {', '.join(drift)}); "
        "commit the reproduced dvc.lock so its outputs can be cached for the next pull request."
    )


def build_report(
    project: Project, rev: str, params: dict[str, Any], reproduce: bool = True
) -> dict[str, Any]:
    """Compare the workspace with the base revision; return the whole report as plain data."""
    head = sides.workspace_outputs(project)
    if not head.has_metrics:
        raise ConfigError(
            f"{LAYOUT.metrics} is missing in the workspace: run `mlgate validate && dvc repro` first"
        )
    base = sides.base_outputs(project, rev, reproduce=reproduce)
    return assemble_report(rev, base, head, params, sides.lock_drift(project))


def assemble_report(
    rev: str, base: sides.Outputs, head: sides.Outputs, params: dict[str, Any], drift: list[str]
) -> dict[str, Any]:
    """Everything after the reads: statistics, gates, diffs and chart data, with no float noise."""
    from mlgate.metrics import primary_metric

    primary = primary_metric(params)
    stats, intervals = _statistics(base, head, params)
    rows = metric_rows(base, head, intervals)
    gate = check_gates(
        params.get("gates") or {}, rows, (head.metrics or {}).get("slices") or {}, primary, rev
    )
    changes = params_changes(base.params, head.params) if base.params else []
    report = {
        "format": FORMAT,
        "mlgate_version": __version__,
        "task": params["model"]["task"],
        "primary": primary,
        "base": _base_summary(rev, base),
        "headline": _headline(rev, primary, rows, gate, stats),
        "gate": gate,
        "statistics": stats,
        "metrics": rows,
        "params": changes,
        "gates_changed": any(c["key"].startswith("gates.") for c in changes),
        "data": data_changes(base.data, head.data),
        "slices": slice_changes(base.metrics, head.metrics, primary),
        "charts": chart_data(base, head),
        "lock_note": _lock_note(drift),
        "reproduce": _reproduce(rev),
        "metrics_json": {"base": base.metrics, "pr": head.metrics},
    }
    return tidy(report)


def tidy(value: Any) -> Any:
    """Round every float to a fixed number of decimals, so no float noise reaches any output."""
    if isinstance(value, float):
        return round(value, DIGITS)
    if isinstance(value, dict):
        return {_tidy_key(key): tidy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [tidy(item) for item in value]
    return value


def _tidy_key(key: Any) -> Any:
    """A slice group named by a long decimal (a numeric column's value) gets 4 significant digits."""
    if isinstance(key, str) and LONG_DECIMAL.match(key):
        return f"{float(key):.4g}"
    return key
