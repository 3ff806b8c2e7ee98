"""The report's headline: the gate's verdict, every metric that got significantly worse, and saturation.

A ✅ says that the gates passed and that no metric is significantly worse. Gates that pass while some
metric got significantly worse give a ⚠️ naming those metrics, so the verdict never hides a regression
that only the table shows.
"""

from __future__ import annotations

from typing import Any

from mlgate.metrics import BEST_VALUE, display_name
from mlgate.report.md import p_text

PASSED, WARNED, FAILED = "passed", "passed with regressions", "failed"
SAME = 1e-12


def saturation(primary: str, row: dict[str, Any], average: str | None) -> str | None:
    """A note when the primary metric cannot show a regression: at its best value, or with no spread."""
    base, pr = row.get("base"), row.get("pr")
    if base is None or pr is None:
        return None
    name = display_name(primary, average)
    best = BEST_VALUE.get(primary)
    if best is not None and abs(base - best) < SAME and abs(pr - best) < SAME:
        return (
            f"{name} is saturated ({best:g} on both sides) and cannot show a regression; gate a second metric"
        )
    widths = [ci[1] - ci[0] for ci in (row.get("base_ci"), row.get("pr_ci")) if ci]
    if len(widths) == 2 and max(widths) < SAME:
        return f"{name} has a CI of width 0 on both sides and cannot show a regression; gate a second metric"
    return None


def _ci_text(row: dict[str, Any], stats: dict[str, Any]) -> str:
    interval, level = row["delta_ci"], f"{100 * stats['confidence']:.0f}%"
    poisson = " Poisson" if stats.get("resampling") == "poisson" else ""
    text = f"{stats['method']}{poisson} bootstrap, {level} CI of Δ [{interval[0]:+.4f}, {interval[1]:+.4f}]"
    adjusted = row.get("p_adjusted")
    return text + (f", Holm-adjusted p {p_text(adjusted, stats['samples'])}" if adjusted is not None else "")


def verdict_line(primary: str, row: dict[str, Any], stats: dict[str, Any], average: str | None) -> str:
    """What happened to the primary metric, in one sentence."""
    name, verdict = display_name(primary, average), row.get("verdict", "")
    if row.get("delta_ci") is None:
        return f"{name} {verdict}: no confidence interval (no predictions or bootstrap.samples is 0)."
    ci = _ci_text(row, stats)
    if verdict == "better":
        return f"{name} improved significantly ({ci})."
    if verdict == "worse":
        return f"{name} got significantly worse ({ci})."
    return f"No significant change in {name} ({ci})."


def worse_line(primary: str, rows: list[dict[str, Any]], average: str | None) -> str | None:
    """The other metrics that got significantly worse, each with its Δ."""
    others = [r for r in rows if r.get("verdict") == "worse" and r["metric"] != primary]
    if not others:
        return None
    listed = ", ".join(f"{display_name(r['metric'], average)} (Δ {r['delta']:+.4f})" for r in others)
    return f"Also significantly worse: {listed}."


def headline(
    rev: str,
    primary: str,
    rows: list[dict[str, Any]],
    gate: dict[str, Any],
    stats: dict[str, Any],
    average: str | None,
) -> dict[str, Any]:
    """The headline as plain data: status, the primary metric base → PR, the verdict and its notes."""
    row = next((r for r in rows if r["metric"] == primary), None) or {}
    lines: list[str | None] = [f"No baseline on {rev}: absolute values only; only min/max gates apply."]
    if row.get("base") is not None:
        lines = [verdict_line(primary, row, stats, average), worse_line(primary, rows, average)]
    status = FAILED if not gate["passed"] else WARNED if gate["worse"] else PASSED
    return {
        "passed": gate["passed"],
        "status": status,
        "reason": gate["reason"],
        "metric": primary,
        "metric_name": display_name(primary, average),
        "base": row.get("base"),
        "pr": row.get("pr"),
        "delta": row.get("delta"),
        "delta_pct": row.get("delta_pct"),
        "worse": [display_name(name, average) for name in gate["worse"]],
        "verdict": " ".join(line for line in lines if line),
        "saturation": saturation(primary, row, average),
    }
