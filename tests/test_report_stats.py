"""The report's statistics and pure logic: bootstrap calibration and power, verdicts, diffs, float noise."""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy.stats import norm

from mlgate.metrics import Predictions
from mlgate.report import compare
from mlgate.report.build import tidy
from mlgate.report.compare import (
    PAIRED,
    UNPAIRED,
    Bootstrap,
    data_changes,
    delta_intervals,
    flatten,
    params_changes,
    verdict,
)

POSITIVE_SHARE = 0.63  # class balance of the example (breast_cancer)


def scored(y: np.ndarray, score: np.ndarray) -> Predictions:
    """A binary scorer's predictions: probability from the score, label at the 0.5 threshold."""
    p = 1 / (1 + np.exp(-(score - 0.5) * 4))
    return Predictions("classification", y, (score > 0.5).astype(int), np.c_[1 - p, p])


def population_auc(noise: float) -> float:
    """ROC AUC of `y + Normal(0, noise)`: the two classes' scores are 1 apart."""
    return float(norm.cdf(1 / (noise * np.sqrt(2))))


def noise_for_auc(auc: float) -> float:
    return float(1 / (norm.ppf(auc) * np.sqrt(2)))


def test_paired_bootstrap_is_calibrated_where_the_true_delta_is_known() -> None:
    """500 fresh test sets scored by two different scorers: the 95% CI of Δ covers the true Δ 95% ± 3%."""
    rng = np.random.default_rng(2026)
    base_noise, pr_noise = 1.0, 1.25
    true_delta = population_auc(pr_noise) - population_auc(base_noise)
    trials, rows, covered = 500, 150, 0
    for trial in range(trials):
        y = (rng.random(rows) < 0.5).astype(int)
        base = scored(y, y + rng.normal(0, base_noise, rows))
        pr = scored(y, y + rng.normal(0, pr_noise, rows))
        low, high = delta_intervals(["roc_auc"], base, pr, PAIRED, Bootstrap(300, 0.95, trial))["roc_auc"]
        covered += low <= true_delta <= high
    assert 0.92 <= covered / trials <= 0.98, covered / trials


def test_unpaired_bootstrap_is_calibrated_for_independent_test_sets() -> None:
    """Each side on its own fresh test set; the unpaired CI of Δ (accuracy) covers the true Δ 95% ± 3%."""
    rng = np.random.default_rng(7)
    true_delta = norm.cdf(0.5 / 1.25) - norm.cdf(0.5 / 1.0)  # accuracy of `y + noise > 0.5`
    trials, rows, covered = 500, 200, 0
    for trial in range(trials):
        y_base, y_pr = (rng.random((2, rows)) < 0.5).astype(int)
        base = scored(y_base, y_base + rng.normal(0, 1.0, rows))
        pr = scored(y_pr, y_pr + rng.normal(0, 1.25, rows))
        low, high = delta_intervals(["accuracy"], base, pr, UNPAIRED, Bootstrap(300, 0.95, trial))["accuracy"]
        covered += low <= true_delta <= high
    assert 0.92 <= covered / trials <= 0.98, covered / trials


def test_a_weakened_model_is_detected_at_the_example_test_size() -> None:
    """A model degraded from AUC 0.99 to 0.96 on 143 test rows is flagged worse in at least 80% of trials."""
    rng = np.random.default_rng(11)
    strong, weak = noise_for_auc(0.99), noise_for_auc(0.96)
    trials, rows, detected = 200, 143, 0
    for trial in range(trials):
        y = (rng.random(rows) < POSITIVE_SHARE).astype(int)
        shared = rng.normal(0, strong, rows)
        base = scored(y, y + shared)
        pr = scored(y, y + shared + rng.normal(0, np.sqrt(weak**2 - strong**2), rows))
        interval = delta_intervals(["roc_auc"], base, pr, PAIRED, Bootstrap(300, 0.95, trial))["roc_auc"]
        detected += verdict("roc_auc", 0.0, interval) == "worse"
    assert detected / trials >= 0.80, detected / trials


def test_a_large_test_set_subsamples_with_the_spread_of_the_full_bootstrap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Above SUBSAMPLE_ROWS the m-out-of-n interval matches the full bootstrap's centre and width."""
    rng = np.random.default_rng(5)
    rows = 40_000
    y = (rng.random(rows) < 0.5).astype(int)
    base, pr = scored(y, y + rng.normal(0, 1.0, rows)), scored(y, y + rng.normal(0, 1.1, rows))
    names = ["roc_auc", "accuracy"]
    fast = delta_intervals(names, base, pr, PAIRED, Bootstrap(400, 0.95, 0))
    monkeypatch.setattr(compare, "SUBSAMPLE_ROWS", rows)
    full = delta_intervals(names, base, pr, PAIRED, Bootstrap(200, 0.95, 0))
    for name in names:
        width, full_width = fast[name][1] - fast[name][0], full[name][1] - full[name][0]
        assert width == pytest.approx(full_width, rel=0.2), name
        assert sum(fast[name]) / 2 == pytest.approx(sum(full[name]) / 2, abs=0.15 * full_width), name


def test_identical_predictions_give_a_zero_width_paired_interval() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 100)
    same = scored(y, y + rng.normal(0, 1, 100))
    assert delta_intervals(["roc_auc", "accuracy"], same, same, PAIRED, Bootstrap(100, 0.95, 0)) == {
        "roc_auc": (0.0, 0.0),
        "accuracy": (0.0, 0.0),
    }


@pytest.mark.parametrize(
    ("name", "delta", "interval", "expected"),
    [
        ("roc_auc", 0.02, (0.01, 0.03), "better"),
        ("roc_auc", -0.02, (-0.03, -0.01), "worse"),
        ("rmse", -1.0, (-2.0, -0.5), "better"),
        ("log_loss", 0.1, (0.05, 0.2), "worse"),
        ("roc_auc", 0.01, (-0.01, 0.03), "no significant change"),
        ("accuracy", 0.01, None, "better (no CI)"),
        ("accuracy", 0.0, None, "no change"),
    ],
)
def test_verdict_takes_the_direction_from_the_metric(name, delta, interval, expected) -> None:
    assert verdict(name, delta, interval) == expected


def test_params_changes_list_only_changed_keys_dotted() -> None:
    base = {"model": {"params": {"max_depth": 8, "n_estimators": 200}}, "data": {"drop": ["a"]}, "old": 1}
    head = {
        "model": {"params": {"max_depth": 3, "n_estimators": 200}},
        "data": {"drop": ["a", "b"]},
        "new": {},
    }
    assert params_changes(base, head) == [
        {"key": "model.params.max_depth", "base": 8, "pr": 3, "change": "changed"},
        {"key": "data.drop", "base": ["a"], "pr": ["a", "b"], "change": "changed"},
        {"key": "new", "base": None, "pr": {}, "change": "added"},
        {"key": "old", "base": 1, "pr": None, "change": "removed"},
    ]
    assert flatten({"a": {"b": {"c": 1}}}) == {"a.b.c": 1}


def test_data_changes_show_rows_balance_and_hashes() -> None:
    base = {
        "rows": 100,
        "train_rows": 80,
        "test_rows": 20,
        "class_balance": {"0": 0.5, "1": 0.5},
        "data_hash": "a",
        "test_hash": "t",
    }
    head = {**base, "rows": 120, "class_balance": {"0": 0.4, "1": 0.6}, "data_hash": "b"}
    changes = data_changes(base, head)
    assert changes["rows"] == [100, 120]
    assert changes["class_balance"] == {"0": [0.5, 0.4], "1": [0.5, 0.6]}
    assert changes["data_hash_changed"] and not changes["test_hash_changed"]


def test_tidy_removes_float_noise() -> None:
    noisy = {"a": 0.1 + 0.2, "b": [1.3000000009e-05, 2], "c": "0.30000000000000004"}
    assert tidy(noisy) == {"a": 0.3, "b": [1.3e-05, 2], "c": "0.30000000000000004"}
    assert not re.search(r"\d\.\d{7,}", repr(tidy({"x": 2 / 3})))
    assert tidy({"0.044641636506989144": 1, "-0.04464164": 2, "1.5": 3}) == {
        "0.04464": 1,
        "-0.04464": 2,
        "1.5": 3,
    }
