"""Assemble the report: one plain-data structure that markdown, JSON and the terminal all render."""

from __future__ import annotations

import re
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from mlgate import __version__
from mlgate.errors import ConfigError
from mlgate.layout import LAYOUT
from mlgate.metrics import AVERAGED, point_scores, primary_metric, usable_metrics
from mlgate.project import Project
from mlgate.report import sides
from mlgate.report.changes import (
    data_changes,
    params_changes,
    slice_changes,
    training_drift,
    unpredicted_classes,
)
from mlgate.report.charts import chart_data
from mlgate.report.compare import (
    PAIRED,
    DeltaTest,
    averaging,
    bootstrap_settings,
    delta_tests,
    metric_rows,
    metric_values,
    pairing,
    predictions_of,
    resampling,
)
from mlgate.report.gate import VerdictRows, check_gates
from mlgate.report.headline import headline
from mlgate.report.leaderboard import leaderboard
from mlgate.report.parts import class_counts
from mlgate.report.policy import judging_policy
from mlgate.report.recorded import against_recorded, unrecorded_base
from mlgate.report.streamed import is_partitioned, streamed_scores, streamed_statistics

MARKER = "<!-- mlgate-report -->"
FORMAT = "mlgate-report/1"
DIGITS = 6  # JSON keeps 6 decimals: enough for any metric, no float noise
LONG_DECIMAL = re.compile(r"^[-+]?\d+\.\d{7,}(e[-+]?\d+)?$")
AS_WRITTEN = ("params", "estimator")  # shown as params.yaml spells them, wherever they are: never rounded


def _statistics(
    base: sides.Outputs, head: sides.Outputs, params: dict[str, Any], average: str | None
) -> tuple[dict[str, Any], dict[str, DeltaTest]]:
    """Δ's CI and p-value per metric, and how they were estimated: paired on shared rows, or unpaired.

    A partitioned side (the dask engine's) is compared out of core, part by part (report/streamed.py)."""
    boot = replace(bootstrap_settings(params), resampling=resampling(base, head))
    names = [n for n in metric_values(head.metrics) if n in metric_values(base.metrics)]
    if not base.has_metrics or base.predictions is None or head.predictions is None or boot.samples == 0:
        names = []
    if is_partitioned(base, head):
        with tempfile.TemporaryDirectory(prefix="mlgate-join-") as scratch:
            pair, tests = streamed_statistics(base, head, names, boot, average, Path(scratch))
    else:
        pair = pairing(base, head)
        b, h = predictions_of(base, pair.base, average), predictions_of(head, pair.head, average)
        tests = delta_tests(names, b, h, pair.method, boot) if names and b and h else {}
    stats: dict[str, Any] = {
        "method": pair.method if names else None,
        "resampling": boot.resampling,
        "samples": boot.samples,
        "confidence": boot.confidence,
        "seed": boot.seed,
        "adjustment": "holm",
        "shared_rows": pair.shared,
        "base_rows": pair.base_rows,
        "pr_rows": pair.head_rows,
        "compared_rows": pair.compared,
        "pairing": pair.method,
        "subset": pair.subset,
    }
    return stats, tests


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
    report = assemble_report(rev, base, head, params, sides.lock_drift(project))
    report["recorded"] = _recorded(unrecorded_base(project, base, rev), head)
    return report


def _recorded(recorded: dict[str, Any] | None, head: sides.Outputs) -> dict[str, Any] | None:
    return tidy({**recorded, "rows": against_recorded(recorded, head.metrics)}) if recorded else None


def _training_drift(base: sides.Outputs, head: sides.Outputs, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Features of the PR's train split that moved from the base's reference profile."""
    if head.train is None or not base.profile:
        return []
    import pyarrow.parquet as pq

    columns = [c for c in base.profile.get("features") or {} if c in pq.read_schema(head.train).names]
    return training_drift(base.profile, pq.read_table(head.train, columns=columns), params["monitor"])


def _rescored(head: sides.Outputs, average: str | None) -> dict[str, float]:
    """The PR's class-averaged metrics scored again from its predictions under the base's averaging."""
    names = [n for n in metric_values(head.metrics) if n in AVERAGED]
    if head.predictions is None:
        return {}
    if is_partitioned(head):
        return streamed_scores(head, names, average)
    predictions = predictions_of(head, None, average)
    assert predictions is not None
    return point_scores(usable_metrics(names, predictions), predictions)


def _mismatch(base: str | None, head: str | None) -> list[str] | None:
    """Both averagings when the two sides average multiclass metrics differently, else None."""
    return [base, head] if base and head and base != head else None


def _gate(
    params: dict[str, Any],
    rows: list[dict[str, Any]],
    head: sides.Outputs,
    rev: str,
    stats: dict[str, Any],
    primary: str,
) -> dict[str, Any]:
    compared = stats["compared_rows"] or int((head.metrics or {}).get("n_test") or 0)
    tested = VerdictRows(compared, stats["pairing"] == PAIRED, stats["base_rows"])
    slices = (head.metrics or {}).get("slices") or {}
    alpha, columns = 1 - stats["confidence"], params["evaluate"]["slices"]
    return check_gates(params["gates"], rows, slices, primary, rev, alpha, tested, columns)


def assemble_report(
    rev: str, base: sides.Outputs, head: sides.Outputs, params: dict[str, Any], drift: list[str]
) -> dict[str, Any]:
    """Everything after the reads: statistics, gates, diffs and chart data, with no float noise.

    `params` are the PR's; the verdict is computed under the base's policy (report/policy.py)."""
    params_diff = params_changes(base.params_document, head.params_document) if base.params else None
    changes = params_diff["changes"] if params_diff else []
    policy = judging_policy(base.params_document, params, rev, changes)
    params = policy.params
    primary, mismatch = primary_metric(params), _mismatch(averaging(base), averaging(head))
    average = averaging(base) or averaging(head)  # a PR's new averaging applies once it is merged
    stats, tests = _statistics(base, head, params, average)
    rows = metric_rows(
        base, head, tests, 1 - stats["confidence"], _rescored(head, average) if mismatch else None
    )
    gate = _gate(params, rows, head, rev, stats, primary)
    data = data_changes(base.data, head.data)
    data["moved_features"] = _training_drift(base, head, params)
    gap_metric = (params["gates"]["slice_gap"] or {}).get("metric") or primary
    classes = (
        unpredicted_classes(class_counts(base.predictions), class_counts(head.predictions))
        if params["model"]["task"] == "classification"
        else None
    )
    report = {
        "format": FORMAT,
        "mlgate_version": __version__,
        "task": params["model"]["task"],
        "primary": primary,
        "average": average,
        "average_mismatch": mismatch,
        "base": _base_summary(rev, base),
        "headline": {**headline(rev, primary, rows, gate, stats, average), "classes_note": classes},
        "gate": gate,
        "statistics": stats,
        "metrics": rows,
        "params": changes,
        "estimator": params_diff["estimator"] if params_diff else None,
        "sweep": leaderboard(head.sweep),
        "policy": policy.to_data(),
        "data": data,
        "slices": slice_changes(base.metrics, head.metrics, gap_metric),
        "charts": chart_data(base, head, average),
        "recorded": None,  # build_report adds the PR against the last recorded version when needed
        "lock_note": _lock_note(drift),
        "reproduce": _reproduce(rev),
        "metrics_json": {"base": base.metrics, "pr": head.metrics},
    }
    return {key: value if key in AS_WRITTEN else tidy(value, AS_WRITTEN) for key, value in report.items()}


def tidy(value: Any, keep: tuple[str, ...] = ()) -> Any:
    """Round every float to a fixed number of decimals, so no float noise reaches any output; what a key
    in `keep` holds stays as it is."""
    if isinstance(value, float):
        return round(value, DIGITS)
    if isinstance(value, dict):
        return {_tidy_key(key): item if key in keep else tidy(item, keep) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [tidy(item, keep) for item in value]
    return value


def _tidy_key(key: Any) -> Any:
    """A slice group named by a long decimal (a numeric column's value) gets 4 significant digits."""
    if isinstance(key, str) and LONG_DECIMAL.match(key):
        return f"{float(key):.4g}"
    return key
