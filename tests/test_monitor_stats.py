"""The monitor's statistics on the bundled example: injected changes are flagged, clean batches are not.

The bundled dataset has neither categorical columns nor missing values, so the example here adds a
categorical `site` column and 10% missing values in `mean smoothness` before profiling the train split.
Every sample is seeded; nothing here runs DVC.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlgate.compute import LocalEngine
from mlgate.datasets.profile import reference_profile
from mlgate.datasets.schema import FeatureSchema
from mlgate.monitor.drift import decide
from mlgate.monitor.reference import Reference
from mlgate.monitor.run import check
from mlgate.monitor.stats import adjust_pvalues, homogeneity_pvalue, psi
from mlgate.project import Project
from mlgate.stages.data import prepare

ROOT = Path(__file__).resolve().parents[1]
SITES = {"north": 0.4, "south": 0.3, "east": 0.2, "west": 0.1}
NULLY = "mean smoothness"
SAMPLES = 200
MAX_FALSE_ALARM_RATE = 0.08


def _augment(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Add the categorical `site` and 10% missing values in one numeric feature."""
    rng = np.random.default_rng(seed)
    frame = frame.copy()
    frame["site"] = rng.choice(list(SITES), size=len(frame), p=list(SITES.values()))
    frame.loc[rng.random(len(frame)) < 0.1, NULLY] = np.nan
    return frame


@pytest.fixture(scope="module")
def example() -> dict[str, Any]:
    """The bundled example split as the data stage splits it, augmented, with its reference profile."""
    project = Project.at(ROOT)
    params = project.params
    train, test, schema = prepare(project, params, LocalEngine())[:3]
    schema = FeatureSchema(schema.target, schema.task, schema.numeric, ("site",))
    train, test = _augment(train, 1), _augment(test, 2)
    profile = reference_profile(train, schema, params["data"]["profile"])
    return {
        "params": params,
        "train": train,
        "test": test,
        "reference": Reference(profile, origin="workspace"),
    }


def _monitor(example: dict[str, Any], frame: pd.DataFrame, folder: Path, **monitor: Any) -> dict[str, Any]:
    path = folder / "batch.parquet"
    frame.drop(columns=["row_id", "target"], errors="ignore").to_parquet(path)  # no labels: drift only
    params = {**example["params"], "monitor": {**example["params"]["monitor"], **monitor}}
    return check(Project.at(folder), str(path), example["reference"], params)


def _flagged(result: dict[str, Any]) -> dict[str, list[str]]:
    return {
        kind: sorted(n for n, f in result["features"].items() if f[kind])
        for kind in ("drift", "null_alarm", "unseen_alarm")
    }


NOTHING: dict[str, list[str]] = {"drift": [], "null_alarm": [], "unseen_alarm": []}


def test_clean_test_split_is_healthy(example: dict[str, Any], tmp_path: Path) -> None:
    result = _monitor(example, example["test"], tmp_path)
    assert result["status"] == "healthy"
    assert _flagged(result) == NOTHING


@pytest.mark.parametrize("feature", ["mean radius", "mean texture", "worst area"])
def test_half_sigma_mean_shift_is_flagged(example: dict[str, Any], tmp_path: Path, feature: str) -> None:
    shifted = example["test"].copy()
    shifted[feature] += 0.5 * example["train"][feature].std()
    result = _monitor(example, shifted, tmp_path)
    assert result["status"] == "alarm"
    assert _flagged(result) == {**NOTHING, "drift": [feature]}


def test_new_category_is_flagged(example: dict[str, Any], tmp_path: Path) -> None:
    batch = example["test"].copy()
    batch.loc[batch.sample(frac=0.05, random_state=0).index, "site"] = "central"
    result = _monitor(example, batch, tmp_path)
    flagged = _flagged(result)
    assert flagged["unseen_alarm"] == ["site"]
    assert (
        flagged["drift"] in ([], ["site"]) and flagged["null_alarm"] == []
    )  # the unseen bin may also move PSI
    assert list(result["features"]["site"]["unseen"]) == ["central"]
    assert any(line.startswith("site: unseen categories") for line in result["alarms"])


def _sample_from_profile(profile: dict[str, Any], rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """Rows from the reference distribution: a bin by its share, uniform inside it; nulls at their rate."""
    columns = {}
    for name, feature in profile["features"].items():
        if feature["kind"] == "numeric":
            bounds = np.array([feature["min"], *feature["edges"], feature["max"]])
            shares = np.array(feature["counts"], dtype=float) / sum(feature["counts"])
            bins = rng.choice(len(shares), size=rows, p=shares)
            values = pd.Series(rng.uniform(bounds[bins], bounds[bins + 1]))
        else:
            shares = np.array(list(feature["counts"].values()), dtype=float)
            values = pd.Series(
                rng.choice(list(feature["counts"]), size=rows, p=shares / shares.sum()), dtype=object
            )
        columns[name] = values.mask(rng.random(rows) < feature["null_rate"])
    return pd.DataFrame(columns)


def test_doubled_null_rate_is_flagged(example: dict[str, Any], tmp_path: Path) -> None:
    profile = example["reference"].profile
    complete = {
        **profile,
        "features": {**profile["features"], NULLY: {**profile["features"][NULLY], "null_rate": 0.0}},
    }
    batch = _sample_from_profile(complete, 600, np.random.default_rng(3))
    batch.loc[np.random.default_rng(4).choice(600, size=120, replace=False), NULLY] = np.nan  # exactly 20%
    result = _monitor(example, batch, tmp_path)
    rates = result["features"][NULLY]["null_rate"]
    assert rates["reference"] == pytest.approx(0.1, abs=0.02)
    assert rates["current"] == pytest.approx(0.2)
    assert _flagged(result) == {**NOTHING, "null_alarm": [NULLY]}


@pytest.mark.parametrize("correction", ["benjamini-hochberg", "bonferroni"])
def test_false_alarm_rate_on_reference_samples(
    example: dict[str, Any], tmp_path: Path, correction: str
) -> None:
    profile = example["reference"].profile
    alarms = 0
    for seed in range(SAMPLES):
        batch = _sample_from_profile(profile, 300, np.random.default_rng(seed))
        alarms += _monitor(example, batch, tmp_path, correction=correction)["status"] == "alarm"
    assert alarms / SAMPLES <= MAX_FALSE_ALARM_RATE


def test_false_alarm_rate_on_fresh_splits(example: dict[str, Any], tmp_path: Path) -> None:
    """The stricter null: train and batch drawn independently from one population, 100 seeded splits."""
    from sklearn.model_selection import train_test_split

    frame = pd.concat([example["train"], example["test"]], ignore_index=True)
    schema = FeatureSchema(
        "target", "classification", tuple(example["reference"].profile["features"])[:-1], ("site",)
    )
    alarms, splits = 0, SAMPLES // 2
    for seed in range(splits):
        train, batch = train_test_split(frame, test_size=0.25, random_state=seed, stratify=frame["target"])
        reference = Reference(
            reference_profile(train, schema, example["params"]["data"]["profile"]), origin="workspace"
        )
        alarms += _monitor({**example, "reference": reference}, batch, tmp_path)["status"] == "alarm"
    assert alarms / splits <= MAX_FALSE_ALARM_RATE


def test_benjamini_hochberg_matches_the_step_up_rule() -> None:
    pvalues = [0.01, 0.04, 0.03, 0.005, 0.5]
    # sorted: 0.005, 0.01, 0.03, 0.04, 0.5 → ×5/rank: 0.025, 0.025, 0.05, 0.05, 0.5 (already monotone)
    assert adjust_pvalues(pvalues, "benjamini-hochberg") == pytest.approx([0.025, 0.05, 0.05, 0.025, 0.5])


def test_bonferroni_multiplies_by_the_family_size_and_caps_at_one() -> None:
    assert adjust_pvalues([0.01, 0.3, 0.002], "bonferroni") == pytest.approx([0.03, 0.9, 0.006])
    assert adjust_pvalues([], "bonferroni") == []


def _result(p_value: float, psi_value: float) -> dict[str, Any]:
    return {
        "psi": psi_value,
        "p_value": p_value,
        "null_p_value": 1.0,
        "null_rate": {"reference": 0.0, "current": 0.0},
    }


@pytest.mark.parametrize(("correction", "expected"), [("benjamini-hochberg", 4), ("bonferroni", 0)])
def test_the_correction_decides_which_moderate_shifts_alarm(
    example: dict[str, Any], correction: str, expected: int
) -> None:
    """Four tests at p=0.004 among eight: BH keeps them (0.004·16/4 = 0.016), Bonferroni does not (0.064)."""
    results = {f"f{i}": _result(0.004 if i < 4 else 0.9, 0.5) for i in range(8)}
    settings = {**example["params"]["monitor"], "correction": correction}
    alarms = decide(results, settings)
    assert len(alarms) == expected
    assert sum(r["drift"] for r in results.values()) == expected


def test_significance_without_effect_size_does_not_alarm(example: dict[str, Any]) -> None:
    results = {"big": _result(1e-12, 0.05), "shifted": _result(1e-12, 0.4)}
    decide(results, example["params"]["monitor"])
    assert (results["big"]["drift"], results["shifted"]["drift"]) == (False, True)


def test_per_feature_limits_override_the_defaults(example: dict[str, Any]) -> None:
    results = {"loose": _result(1e-12, 0.4), "tight": _result(1e-12, 0.4)}
    settings = {**example["params"]["monitor"], "features": {"loose": {"psi": 1.0}}}
    decide(results, settings)
    assert (results["loose"]["drift"], results["tight"]["drift"]) == (False, True)


def test_psi_and_chi_square_on_counts() -> None:
    same = np.array([100, 200, 300])
    assert psi(same, same) == pytest.approx(0.0)
    assert homogeneity_pvalue(same, same) == pytest.approx(1.0)
    assert psi(same, np.array([300, 200, 100])) > 0.5
    assert homogeneity_pvalue(same, np.array([300, 200, 100])) < 1e-10
    assert (
        homogeneity_pvalue(np.array([0, 10]), np.array([0, 5])) == 1.0
    )  # one non-empty bin: nothing to test


def test_chi_square_agrees_with_scipy() -> None:
    from scipy.stats import chi2_contingency

    rng = np.random.default_rng(0)
    for bins in (2, 3, 20):
        for _ in range(20):
            reference, current = rng.integers(1, 50, bins), rng.integers(1, 50, bins)
            expected = chi2_contingency(np.vstack([reference, current])).pvalue
            assert homogeneity_pvalue(reference, current) == pytest.approx(expected, rel=1e-9)
