"""Quality gates from params.yaml `gates:`, checked against a report's metric rows and slices.

`mlgate gate` and the report's headline both call `check_gates` on the same report data, so a PR
comment and a CI check cannot disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from mlgate.metrics import HIGHER_IS_BETTER
from mlgate.report.compare import significantly_worse

TOLERANCE = 1e-12  # ignore float noise when a value sits exactly on a threshold
MIN_TEST_ROWS, MIN_TEST_SHARE = 30, 0.5  # min_test_rows when unset: half the base's test rows, and 30


@dataclass(frozen=True)
class VerdictRows:
    """The rows a verdict rests on (`compared`), how they were chosen, and the base's test rows."""

    compared: int
    paired: bool
    base_rows: int


def _check(gate: str, status: str, message: str, threshold: Any = None, actual: Any = None) -> dict[str, Any]:
    return {"gate": gate, "status": status, "message": message, "threshold": threshold, "actual": actual}


def allowed_drop(rule: Any, base: float) -> tuple[float, str]:
    """The tolerated drop against the base: a number is absolute, "2%" is relative to the base value."""
    if isinstance(rule, str):
        percent = float(rule.rstrip("%"))
        return abs(base) * percent / 100, rule
    return float(rule), f"{float(rule):.4f}"


def _bounds(metric: str, rule: dict[str, Any], value: float) -> list[dict[str, Any]]:
    checks = []
    if "min" in rule:
        ok = value >= rule["min"] - TOLERANCE
        text = (
            f"{metric} {value:.4f} ≥ min {rule['min']:.4f}"
            if ok
            else f"{metric} {value:.4f} is below the minimum {rule['min']:.4f} "
            f"(short by {rule['min'] - value:.4f})"
        )
        checks.append(_check(f"{metric}.min", "pass" if ok else "fail", text, rule["min"], value))
    if "max" in rule:
        ok = value <= rule["max"] + TOLERANCE
        text = (
            f"{metric} {value:.4f} ≤ max {rule['max']:.4f}"
            if ok
            else f"{metric} {value:.4f} is above the maximum {rule['max']:.4f} "
            f"(over by {value - rule['max']:.4f})"
        )
        checks.append(_check(f"{metric}.max", "pass" if ok else "fail", text, rule["max"], value))
    return checks


def _drop(
    metric: str, rule: dict[str, Any], row: dict[str, Any], base_rev: str, alpha: float
) -> dict[str, Any]:
    """The worsening against the base on the compared rows, within `max_drop` or significant or both."""
    gate = f"{metric}.max_drop"
    if row.get("base") is None:
        return _check(
            gate, "skip", f"{metric}: no baseline on {base_rev}, max_drop not checked", rule["max_drop"]
        )
    delta = row["delta"] if row.get("delta") is not None else row["pr"] - row["base"]
    drop = -delta if HIGHER_IS_BETTER.get(metric, True) else delta
    allowed, shown = allowed_drop(rule["max_drop"], row["base"])
    interval = row.get("delta_ci")
    ci = f"CI of Δ [{interval[0]:+.4f}, {interval[1]:+.4f}]" if interval else "no CI"
    if drop <= TOLERANCE:
        text = f"{metric} did not drop (Δ {delta:+.4f}); max_drop {shown}"
        return _check(gate, "pass", text, rule["max_drop"], drop)
    if drop <= allowed + TOLERANCE:
        text = f"{metric} drop {drop:.4f} within max_drop {shown}"
        return _check(gate, "pass", text, rule["max_drop"], drop)
    # one-sided and for this metric alone: is the PR worse at all?
    significant = row.get("p_worse") is None or row["p_worse"] < alpha
    if rule.get("require_significant") and not significant:
        text = f"{metric} dropped {drop:.4f} (> max_drop {shown}) but not significantly ({ci}); passes"
        return _check(gate, "pass", text, rule["max_drop"], drop)
    worse = (
        f", one-sided p {row['p_worse']:.3g}"
        if rule.get("require_significant") and row.get("p_worse") is not None
        else ""
    )
    over = f"over max_drop {shown} by {drop - allowed:.4f}"
    text = f"{metric} dropped {drop:.4f} vs {base_rev}, {over} ({ci}{worse})"
    return _check(gate, "fail", text, rule["max_drop"], drop)


def metric_checks(
    metric: str, rule: dict[str, Any], row: dict[str, Any] | None, base_rev: str, alpha: float
) -> list[dict[str, Any]]:
    """Every configured gate of one metric."""
    if row is None or row.get("pr") is None:
        return [
            _check(
                f"{metric}",
                "fail",
                f"{metric} is gated but the PR's reports/metrics.json has no value for it",
            )
        ]
    checks = _bounds(metric, rule, float(row["pr"]))
    if "max_drop" in rule:
        checks.append(_drop(metric, rule, row, base_rev, alpha))
    return checks


def _gap_check(
    column: str, rule: dict[str, Any], slice_: dict[str, Any], metric: str, alpha: float
) -> dict[str, Any]:
    gate = f"slice_gap.{column}"
    gap = (slice_.get("max_gap") or {}).get(metric)
    if gap is None:
        if any(not group.get("judged", True) for group in (slice_.get("groups") or {}).values()):
            rows = slice_.get("min_rows")
            why = f"slice {column!r}: fewer than two groups of at least {rows} rows, so no gap to judge"
            return _check(gate, "skip", why, rule["max"])
        return _check(
            gate, "fail", f"slice {column!r} has no {metric} gap in reports/metrics.json", rule["max"]
        )
    p_value = (slice_.get("gap_p") or {}).get(metric)
    shown = f"largest {metric} gap across {column} is {gap:.4f}"
    shown += f" (permutation p {p_value:.3g})" if p_value is not None else ""
    if gap <= rule["max"] + TOLERANCE:
        return _check(gate, "pass", f"{shown} ≤ max {rule['max']:.4f}", rule["max"], gap)
    over = f"{shown}, over the max {rule['max']:.4f}"
    if rule.get("require_significant") and p_value is not None and p_value >= alpha:
        return _check(gate, "pass", f"{over} but not significantly; passes", rule["max"], gap)
    return _check(gate, "fail", f"{over} by {gap - rule['max']:.4f}", rule["max"], gap)


def slice_gap_checks(
    rule: dict[str, Any] | None, slices: dict[str, Any], primary: str, alpha: float, columns: list[str]
) -> list[dict[str, Any]]:
    """The largest gap between judged groups of each slice column (`columns`: evaluate.slices) must stay
    under `max`."""
    if not rule:
        return []
    metric = rule.get("metric") or primary
    return [_gap_check(c, rule, slices.get(c) or {}, metric, alpha) for c in rule.get("columns") or columns]


def test_rows_check(minimum: int | None, rows: VerdictRows, base_rev: str) -> dict[str, Any]:
    """Enough compared test rows for a verdict: a PR must not shrink or reshuffle its way past the gate."""
    need = minimum or max(MIN_TEST_ROWS, math.ceil(MIN_TEST_SHARE * rows.base_rows))
    why = f"at least {MIN_TEST_ROWS}"
    if minimum:
        why = "gates.min_test_rows"
    elif rows.base_rows:
        why = f"half the {rows.base_rows} test rows of {base_rev}, and {why}"
    what = (
        f"the {rows.compared} test rows this PR shares with {base_rev}"
        if rows.paired
        else f"the PR's {rows.compared} test rows"
    )
    if rows.compared >= need:
        return _check("min_test_rows", "pass", f"verdict on {what} (at least {need})", need, rows.compared)
    text = (
        f"the verdict would rest on only {what}, fewer than the {need} it needs ({why}); a change to "
        "data.split or to the data that shrinks or reshuffles the test set cannot be judged against "
        f"{base_rev}"
    )
    return _check("min_test_rows", "fail", text, need, rows.compared)


def check_gates(
    gates: dict[str, Any],
    rows: list[dict[str, Any]],
    slices: dict[str, Any],
    primary: str,
    base_rev: str,
    alpha: float,
    tested: VerdictRows,
    slice_columns: list[str],
) -> dict[str, Any]:
    """Evaluate every gate; return the verdict, each check, the reason in one line, and what got worse."""
    by_name = {row["metric"]: row for row in rows}
    checks = [test_rows_check(gates.get("min_test_rows"), tested, base_rev)]
    for metric, rule in (gates.get("metrics") or {}).items():
        checks += metric_checks(metric, rule, by_name.get(metric), base_rev, alpha)
    checks += slice_gap_checks(gates.get("slice_gap"), slices, primary, alpha, slice_columns)
    failures = [c for c in checks if c["status"] == "fail"]
    if failures:
        reason = "; ".join(c["message"] for c in failures)
    else:
        passed = sum(c["status"] == "pass" for c in checks)
        reason = f"all {passed} gate check(s) passed" + (
            f", {len(checks) - passed} skipped" if passed < len(checks) else ""
        )
    worse = significantly_worse(rows)
    return {"passed": not failures, "reason": reason, "checks": checks, "worse": worse}
