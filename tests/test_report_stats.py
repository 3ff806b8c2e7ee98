"""The report's statistics and pure logic: bootstrap calibration and power, verdicts, diffs, float noise."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from scipy.stats import norm

from mlgate.metrics import Predictions
from mlgate.report import compare
from mlgate.report.build import tidy
from mlgate.report.changes import data_changes, flatten, params_changes
from mlgate.report.compare import PAIRED, UNPAIRED, Bootstrap, delta_tests, verdict
from mlgate.yamldoc import parse_yaml

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
        low, high = delta_tests(["roc_auc"], base, pr, PAIRED, Bootstrap(300, 0.95, trial))[
            "roc_auc"
        ].interval
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
        test = delta_tests(["accuracy"], base, pr, UNPAIRED, Bootstrap(300, 0.95, trial))["accuracy"]
        low, high = test.interval
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
        test = delta_tests(["roc_auc"], base, pr, PAIRED, Bootstrap(300, 0.95, trial))["roc_auc"]
        detected += verdict("roc_auc", test.delta, test.p_value, 0.05) == "worse"
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
    fast = {n: t.interval for n, t in delta_tests(names, base, pr, PAIRED, Bootstrap(400, 0.95, 0)).items()}
    monkeypatch.setattr(compare, "SUBSAMPLE_ROWS", rows)
    full = {n: t.interval for n, t in delta_tests(names, base, pr, PAIRED, Bootstrap(200, 0.95, 0)).items()}
    for name in names:
        width, full_width = fast[name][1] - fast[name][0], full[name][1] - full[name][0]
        assert width == pytest.approx(full_width, rel=0.2), name
        assert sum(fast[name]) / 2 == pytest.approx(sum(full[name]) / 2, abs=0.15 * full_width), name


def test_identical_predictions_give_a_zero_width_paired_interval() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 100)
    same = scored(y, y + rng.normal(0, 1, 100))
    tests = delta_tests(["roc_auc", "accuracy"], same, same, PAIRED, Bootstrap(100, 0.95, 0))
    assert {name: test.interval for name, test in tests.items()} == {
        "roc_auc": (0.0, 0.0),
        "accuracy": (0.0, 0.0),
    }
    assert {name: test.p_value for name, test in tests.items()} == {"roc_auc": 1.0, "accuracy": 1.0}


@pytest.mark.parametrize(
    ("name", "delta", "p_adjusted", "expected"),
    [
        ("roc_auc", 0.02, 0.001, "better"),
        ("roc_auc", -0.02, 0.001, "worse"),
        ("rmse", -1.0, 0.01, "better"),
        ("log_loss", 0.1, 0.02, "worse"),
        ("roc_auc", 0.01, 0.3, "no significant change"),
        ("accuracy", 0.01, None, "better (no CI)"),
        ("accuracy", 0.0, None, "no change"),
    ],
)
def test_verdict_takes_the_direction_from_the_metric(name, delta, p_adjusted, expected) -> None:
    assert verdict(name, delta, p_adjusted, 0.05) == expected


def test_params_changes_list_only_changed_keys_as_written() -> None:
    base = (
        "model:\n  params: {max_depth: 8, n_estimators: 200, learning_rate: 0.0001}\n"
        "data:\n  drop: [a]\nold: 1\n"
    )
    head = (
        "model:\n  params: {max_depth: 3, n_estimators: 200, learning_rate: 0.00001}\n"
        "data:\n  drop:\n    - a\n    - b\nnew: {}\n"
    )
    changes = params_changes(parse_yaml(base, "base"), parse_yaml(head, "head"))
    assert changes["estimator"] is None
    assert changes["changes"] == [
        {"key": "model.params.max_depth", "base": "8", "pr": "3", "change": "changed"},
        {"key": "model.params.learning_rate", "base": "0.0001", "pr": "0.00001", "change": "changed"},
        {"key": "data.drop", "base": "[a]", "pr": "[a, b]", "change": "changed"},
        {"key": "new", "base": None, "pr": "{}", "change": "added"},
        {"key": "old", "base": "1", "pr": None, "change": "removed"},
    ]
    assert flatten({"a": {"b": {"c": 1}}}) == {("a", "b", "c"): 1}


def test_a_new_estimator_lists_its_params_under_each_estimator() -> None:
    base = "model:\n  estimator: sklearn.ensemble.RandomForestClassifier\n  params: {n_estimators: 200}\n"
    head = "model:\n  estimator: sklearn.ensemble.HistGradientBoostingClassifier\n  params: {max_iter: 3}\n"
    changes = params_changes(parse_yaml(base, "base"), parse_yaml(head, "head"))
    assert [c["key"] for c in changes["changes"]] == ["model.estimator"]
    assert changes["estimator"] == {
        "base": {"estimator": "sklearn.ensemble.RandomForestClassifier", "params": {"n_estimators": "200"}},
        "pr": {"estimator": "sklearn.ensemble.HistGradientBoostingClassifier", "params": {"max_iter": "3"}},
    }


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


def _outputs(row_ids: list[int]) -> Any:
    import pandas as pd

    from mlgate.report.sides import Outputs

    frame = pd.DataFrame({"row_id": row_ids, "target": [0, 1] * (len(row_ids) // 2), "prediction": 0})
    return Outputs("workspace", predictions=frame)


@pytest.mark.parametrize(
    ("base_rows", "pr_rows", "method", "shared"),
    [
        (range(100), range(100), "paired", 100),  # the same test set
        (range(100), range(40, 160), "paired", 60),  # 60 of the base's 100 rows
        (range(100), range(95, 195), "paired", 5),  # few shared rows: the gate's min_test_rows judges that
        (range(40), range(40, 80), "unpaired", 0),  # none shared: new rows, each side on its own
    ],
)
def test_shared_rows_are_compared_paired(base_rows, pr_rows, method, shared) -> None:
    from mlgate.report.compare import pairing

    paired = pairing(_outputs(list(base_rows)), _outputs(list(pr_rows)))
    assert (paired.method, paired.shared) == (method, shared)
    if method == "paired":
        assert paired.base["row_id"].tolist() == paired.head["row_id"].tolist()
        assert len(paired.head) == shared


def test_data_changes_warn_about_many_rows_lost_and_say_how_rows_match() -> None:
    base = {"rows": 1000, "row_identity": {"id_column": None}}
    assert "lost 200 of 1000 rows (-20.0%)" in data_changes(base, {**base, "rows": 800})["rows_warning"]
    assert data_changes(base, {**base, "rows": 950})["rows_warning"] is None
    assert "hash of their values" in data_changes(base, base)["identity"]
    assert "`customer`" in data_changes(base, {**base, "row_identity": {"id_column": "customer"}})["identity"]


def test_a_saturated_primary_metric_gets_a_note() -> None:
    from mlgate.report.headline import saturation

    at_best = {"base": 1.0, "pr": 1.0, "base_ci": [1.0, 1.0], "pr_ci": [1.0, 1.0]}
    assert saturation("roc_auc", at_best, "macro") == (
        "roc_auc (macro) is saturated (1 on both sides) and cannot show a regression; gate a second metric"
    )
    flat = {"base": 0.4, "pr": 0.4, "base_ci": [0.4, 0.4], "pr_ci": [0.4, 0.4]}
    assert "CI of width 0 on both sides" in (saturation("log_loss", flat, None) or "")
    assert (
        saturation("roc_auc", {"base": 0.97, "pr": 0.99, "base_ci": [0.95, 0.99], "pr_ci": [0.97, 1.0]}, None)
        is None
    )


def test_a_pr_that_changes_the_averaging_is_compared_under_the_base_s() -> None:
    from mlgate.report.compare import DeltaTest, metric_rows
    from mlgate.report.sides import Outputs

    metrics = {"accuracy": {"value": 0.9}, "f1": {"value": 0.8, "ci_low": 0.7, "ci_high": 0.9}}
    base = Outputs("workspace", metrics={**metrics, "average": "macro"})
    head = Outputs("workspace", metrics={**metrics, "f1": {"value": 0.6}, "average": "weighted"})
    tests = {name: DeltaTest(-0.05, (-0.08, -0.02), 0.001, 0.001) for name in metrics}
    rows = {row["metric"]: row for row in metric_rows(base, head, tests, 0.05, {"f1": 0.75})}
    assert (rows["f1"]["pr"], rows["f1"]["pr_ci"], rows["f1"]["verdict"]) == (0.75, None, "worse")
    assert rows["accuracy"]["pr"] == 0.9  # accuracy does not average over classes


def _with_ids(predictions: Predictions, ids: np.ndarray) -> Predictions:
    from dataclasses import replace

    return replace(predictions, row_ids=ids)


@pytest.mark.parametrize("subsample", [None, 100])
@pytest.mark.parametrize("method", [PAIRED, UNPAIRED])
def test_poisson_deviations_do_not_depend_on_the_rows_order(
    method: str, subsample: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each resample weighs a row by its id, so shuffled rows (another partitioning) give the same draws;
    with `subsample`, the m-out-of-n subset is picked by id too. Multinomial draws do change."""
    if subsample:
        monkeypatch.setattr(compare, "SUBSAMPLE_ROWS", subsample)
    rng = np.random.default_rng(3)
    rows, names = 300, ["accuracy", "roc_auc", "f1"]
    y = (rng.random(rows) < 0.5).astype(int)
    ids = rng.choice(1 << 62, 2 * rows, replace=False)
    base = _with_ids(scored(y, y + rng.normal(0, 1.0, rows)), ids[:rows])
    pr = _with_ids(scored(y, y + rng.normal(0, 1.2, rows)), ids[:rows] if method == PAIRED else ids[rows:])
    deviations = compare.paired_deviations if method == PAIRED else compare.unpaired_deviations
    order = rng.permutation(rows)
    for resampling, same in ((compare.POISSON, True), (compare.MULTINOMIAL, False)):
        boot = Bootstrap(50, 0.95, 1, resampling)
        first = deviations(names, base, pr, boot)
        shuffled = deviations(names, base.take(order), pr.take(order), boot)
        unchanged = all(np.allclose(first[n], shuffled[n], rtol=0, atol=1e-12) for n in names)
        assert unchanged == same, resampling


def test_the_report_resamples_as_a_side_s_metrics_json_says() -> None:
    """A side whose CIs came from the dask engine's Poisson bootstrap makes Δ's bootstrap Poisson too."""
    import pandas as pd

    from mlgate.report.build import _statistics
    from mlgate.report.headline import verdict_line
    from mlgate.report.sides import Outputs

    rng = np.random.default_rng(4)
    ids, y = rng.choice(1 << 62, 200, replace=False), rng.integers(0, 2, 200)
    metrics = {"accuracy": {"value": 0.8}, "n_test": 200}
    params = {"evaluate": {"bootstrap": {"samples": 100, "confidence": 0.95, "seed": 0}}}

    def side(flip: float, recorded: dict[str, Any]) -> Outputs:
        predicted = np.where(rng.random(200) < flip, 1 - y, y)
        frame = pd.DataFrame({"row_id": ids, "target": y, "prediction": predicted})
        card = {"task": "classification", "classes": [0, 1]}
        return Outputs("workspace", metrics={**metrics, **recorded}, card=card, predictions=frame)

    base, pr = side(0.2, {}), side(0.25, {"bootstrap": {"method": "poisson", "samples": 100}})
    stats, tests = _statistics(base, pr, params, None)
    assert (stats["resampling"], stats["method"]) == ("poisson", "paired")
    base_p, pr_p = compare.predictions_of(base), compare.predictions_of(pr)
    assert base_p is not None and pr_p is not None
    expected = delta_tests(["accuracy"], base_p, pr_p, PAIRED, Bootstrap(100, 0.95, 0, compare.POISSON))
    assert tests == expected
    row = {"verdict": "no significant change", "delta_ci": [-0.1, 0.1], "p_adjusted": 0.5}
    assert "(paired Poisson bootstrap, 95% CI of Δ" in verdict_line("accuracy", row, stats, None)
    assert _statistics(base, side(0.25, {}), params, None)[0]["resampling"] == "multinomial"
