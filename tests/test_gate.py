"""Quality gates on report rows: each kind of gate, absolute and relative drops, significance, slices."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlgate.config import load_params
from mlgate.errors import ConfigError
from mlgate.report.gate import VerdictRows, allowed_drop, check_gates

ROOT = Path(__file__).resolve().parents[1]


def row(metric: str, base: float | None, pr: float, ci: list[float] | None = None, verdict: str = "") -> dict:
    """A report row; a worse verdict comes with a small one-sided p-value, as the report computes it."""
    p_worse = None if ci is None else 0.001 if verdict == "worse" else 0.4
    delta = None if base is None else pr - base
    return {
        "metric": metric,
        "base": base,
        "pr": pr,
        "delta": delta,
        "delta_ci": ci,
        "verdict": verdict,
        "p_worse": p_worse,
    }


AUC_DROP = row("roc_auc", 0.99, 0.97, [-0.03, -0.01], "worse")  # a significant drop of 0.02
AUC_NOISE = row(
    "roc_auc", 0.99, 0.97, [-0.05, 0.01], "no significant change"
)  # the same drop, not significant
LOSS_UP = row("log_loss", 0.10, 0.12, [0.01, 0.03], "worse")


ENOUGH = VerdictRows(compared=100, paired=True, base_rows=100)


def verdict(gates: dict, rows: list[dict], slices: dict | None = None, tested: VerdictRows = ENOUGH) -> dict:
    return check_gates(gates, rows, slices or {}, "roc_auc", "main", 0.05, tested, list(slices or {}))


@pytest.mark.parametrize(
    ("gates", "rows", "passed", "fragment"),
    [
        ({}, [AUC_DROP], True, "all 1 gate check(s) passed"),
        ({"metrics": {"roc_auc": {"min": 0.95}}}, [AUC_DROP], True, "all 2 gate check(s) passed"),
        (
            {"metrics": {"roc_auc": {"min": 0.98}}},
            [AUC_DROP],
            False,
            "below the minimum 0.9800 (short by 0.0100)",
        ),
        (
            {"metrics": {"log_loss": {"max": 0.11}}},
            [LOSS_UP],
            False,
            "above the maximum 0.1100 (over by 0.0100)",
        ),
        ({"metrics": {"roc_auc": {"max_drop": 0.01}}}, [AUC_DROP], False, "over max_drop 0.0100 by 0.0100"),
        ({"metrics": {"roc_auc": {"max_drop": 0.03}}}, [AUC_DROP], True, "passed"),
        ({"metrics": {"roc_auc": {"max_drop": "1%"}}}, [AUC_DROP], False, "over max_drop 1%"),
        ({"metrics": {"roc_auc": {"max_drop": "5%"}}}, [AUC_DROP], True, "passed"),
        ({"metrics": {"log_loss": {"max_drop": "10%"}}}, [LOSS_UP], False, "log_loss dropped 0.0200"),
        (
            {"metrics": {"roc_auc": {"max_drop": 0.01, "require_significant": True}}},
            [AUC_NOISE],
            True,
            "passed",
        ),
        (
            {"metrics": {"roc_auc": {"max_drop": 0.01, "require_significant": True}}},
            [AUC_DROP],
            False,
            "over max_drop",
        ),
        ({"metrics": {"roc_auc": {"max_drop": 0.01}}}, [AUC_NOISE], False, "over max_drop"),
        ({"metrics": {"f1": {"min": 0.5}}}, [AUC_DROP], False, "has no value for it"),
    ],
)
def test_each_kind_of_metric_gate(gates: dict, rows: list[dict], passed: bool, fragment: str) -> None:
    result = verdict(gates, rows)
    assert result["passed"] is passed
    assert fragment in result["reason"]


def test_a_drop_within_noise_says_why_it_passes() -> None:
    result = verdict({"metrics": {"roc_auc": {"max_drop": 0.01, "require_significant": True}}}, [AUC_NOISE])
    assert result["checks"][1]["message"] == (
        "roc_auc dropped 0.0200 (> max_drop 0.0100) but not significantly "
        "(CI of Δ [-0.0500, +0.0100]); passes"
    )


def test_without_a_baseline_only_absolute_gates_apply() -> None:
    first = row("roc_auc", None, 0.97)
    result = verdict({"metrics": {"roc_auc": {"min": 0.95, "max_drop": 0.0}}}, [first])
    assert result["passed"]
    assert [c["status"] for c in result["checks"]] == ["pass", "pass", "skip"]
    assert "no baseline on main" in result["checks"][2]["message"]
    assert result["reason"] == "all 2 gate check(s) passed, 1 skipped"


def test_slice_gap_gate() -> None:
    slices = {"sex": {"max_gap": {"roc_auc": 0.08, "accuracy": 0.01}}, "age": {"max_gap": {"roc_auc": 0.02}}}
    failed = verdict({"slice_gap": {"max": 0.05}}, [], slices)
    assert not failed["passed"]
    assert failed["reason"] == "largest roc_auc gap across sex is 0.0800, over the max 0.0500 by 0.0300"
    assert verdict({"slice_gap": {"max": 0.05, "metric": "accuracy", "columns": ["sex"]}}, [], slices)[
        "passed"
    ]
    missing = verdict({"slice_gap": {"max": 0.05, "columns": ["region"]}}, [], slices)
    assert not missing["passed"] and "has no roc_auc gap" in missing["reason"]


def test_allowed_drop_absolute_and_relative() -> None:
    assert allowed_drop(0.01, 0.9) == (0.01, "0.0100")
    assert allowed_drop("2%", 0.5) == pytest.approx((0.01, "2%"))
    assert allowed_drop("2%", -4.0)[0] == pytest.approx(0.08)


def _params(tmp_path: Path, gates: dict) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["gates"] = gates
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("gates", "message"),
    [
        ({"metrics": {"roc_auc": {"max_drop": "two percent"}}}, "gates.metrics.roc_auc.max_drop"),
        ({"metrics": {"roc_auc": {"max_drop": -0.1}}}, "gates.metrics.roc_auc.max_drop"),
        ({"metrics": {"roc_auc": {"minimum": 0.9}}}, "unknown field"),
        ({"metrics": {"auc": {"min": 0.9}}}, "gates.metrics"),
        ({"metrics": {"roc_auc": {}}}, "gates.metrics.roc_auc"),
        ({"slice_gap": {"metric": "roc_auc"}}, "gates.slice_gap.max: required field is missing"),
    ],
)
def test_the_schema_rejects_bad_gates(tmp_path: Path, gates: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_params(_params(tmp_path, gates))


@pytest.mark.parametrize(
    ("gates", "message"),
    [
        ({"metrics": {"rmse": {"max": 3}}}, "gates.metrics.rmse: rmse is not a classification metric"),
        (
            {"slice_gap": {"max": 0.1, "columns": ["sex"]}},
            "gates.slice_gap.columns: not in evaluate.slices: sex",
        ),
    ],
)
def test_gates_the_task_cannot_have_are_config_errors(tmp_path: Path, gates: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_params(_params(tmp_path, gates))


def test_the_example_gates_are_valid_and_defaults_filled() -> None:
    params = load_params(ROOT / "params.yaml")
    assert params["gates"]["metrics"]["roc_auc"] == {
        "min": 0.95,
        "max_drop": 0.01,
        "require_significant": True,
    }
    assert params["gates"]["slice_gap"] is None


@pytest.mark.parametrize(
    ("tested", "minimum", "passed", "fragment"),
    [
        (VerdictRows(38, True, 75), None, True, "verdict on the 38 test rows this PR shares with main"),
        (
            VerdictRows(6, True, 75),
            None,
            False,
            "only the 6 test rows this PR shares with main, fewer than the 38 it needs "
            "(half the 75 test rows of main, and at least 30)",
        ),
        (VerdictRows(29, False, 0), None, False, "only the PR's 29 test rows, fewer than the 30 it needs"),
        (VerdictRows(29, False, 40), 10, True, "at least 10"),
        (VerdictRows(29, True, 40), 100, False, "(gates.min_test_rows)"),
    ],
)
def test_a_verdict_needs_enough_compared_rows(
    tested: VerdictRows, minimum: int | None, passed: bool, fragment: str
) -> None:
    gates = {"min_test_rows": minimum, "metrics": {"roc_auc": {"min": 0.5}}}
    result = verdict(gates, [AUC_DROP], tested=tested)
    assert result["passed"] is passed and fragment in result["checks"][0]["message"]
