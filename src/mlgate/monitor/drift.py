"""Turn per-feature counts into verdicts: distribution drift, missing-rate change, unseen categories.

A feature drifts only when its test is significant after the multiple-testing correction AND its PSI
is over the limit: significance alone alarms on trivia in huge batches, PSI alone on noise in small ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlgate.monitor.accumulate import CategoricalCounter, NumericCounter, reference_bins
from mlgate.monitor.stats import adjust_pvalues, homogeneity_pvalue, null_rate_pvalue, psi

LIMIT_KEYS = ("psi", "p_value", "null_rate_delta", "unseen_share")


def limits_for(settings: dict[str, Any], name: str) -> dict[str, float]:
    """The thresholds of one feature: its own from `monitor.features`, else the defaults."""
    own = settings["features"].get(name, {})
    return {key: own.get(key, settings[key]) for key in LIMIT_KEYS}


def feature_result(
    profile: dict[str, Any], counter: NumericCounter | CategoricalCounter, reference_rows: int
) -> dict[str, Any]:
    """Raw statistics of one feature (p-values not yet corrected)."""
    reference = reference_bins(profile)
    current = counter.counts if isinstance(counter, NumericCounter) else counter.binned()
    reference_nulls = round(profile["null_rate"] * reference_rows)
    comparable = bool(reference.sum() and current.sum())
    null_rates = {
        "reference": profile["null_rate"],
        "current": counter.nulls / counter.rows if counter.rows else 0.0,
    }
    result: dict[str, Any] = {
        "kind": profile["kind"],
        "rows": counter.rows,
        "psi": psi(reference, current) if comparable else 0.0,
        "p_value": homogeneity_pvalue(reference, current) if comparable else 1.0,
        "null_rate": null_rates,
        "null_p_value": null_rate_pvalue(reference_nulls, reference_rows, counter.nulls, counter.rows),
        "histogram": _histogram(profile, reference, current, null_rates),
    }
    if isinstance(counter, NumericCounter):
        result["mean"] = {"reference": profile.get("mean"), "current": counter.summary()["mean"]}
        result["invalid"] = counter.invalid
    else:
        unseen = counter.unseen()
        present = counter.rows - counter.nulls
        result["unseen"] = dict(list(unseen.items())[:20])
        result["unseen_share"] = sum(unseen.values()) / present if present else 0.0
    return result


def _histogram(
    profile: dict[str, Any], reference: np.ndarray, current: np.ndarray, null_rates: dict[str, float]
) -> dict[str, Any]:
    """Bin labels and both sides' shares of all rows (missing values as the last bin), for the charts."""
    if profile["kind"] == "numeric":
        edges = profile["edges"]
        labels = [f"<{edges[0]:.3g}"] + [f"≥{e:.3g}" for e in edges] if edges else ["all"]
    else:
        labels = [*profile["counts"], "(unseen)"]
    return {
        "labels": [*labels[: len(reference)], "(missing)"],
        "reference": _shares(reference, null_rates["reference"]),
        "current": _shares(current, null_rates["current"]),
    }


def _shares(counts: np.ndarray, null_rate: float) -> list[float]:
    total = counts.sum()
    present = counts / total * (1 - null_rate) if total else np.zeros(len(counts))
    return np.round(np.append(present, null_rate), 6).tolist()


def decide(results: dict[str, dict[str, Any]], settings: dict[str, Any]) -> list[str]:
    """Correct every p-value as one family, mark what alarms, and return one line per alarm."""
    names = list(results)
    family = [results[n]["p_value"] for n in names] + [results[n]["null_p_value"] for n in names]
    adjusted = adjust_pvalues(family, settings["correction"])
    alarms = []
    for index, name in enumerate(names):
        result, limits = results[name], limits_for(settings, name)
        result["p_adjusted"], result["null_p_adjusted"] = adjusted[index], adjusted[len(names) + index]
        null_change = result["null_rate"]["current"] - result["null_rate"]["reference"]
        result["drift"] = result["p_adjusted"] < limits["p_value"] and result["psi"] > limits["psi"]
        result["null_alarm"] = (
            result["null_p_adjusted"] < limits["p_value"] and abs(null_change) > limits["null_rate_delta"]
        )
        result["unseen_alarm"] = result.get("unseen_share", 0.0) > limits["unseen_share"]
        alarms += _alarm_lines(name, result)
    return alarms


def _alarm_lines(name: str, result: dict[str, Any]) -> list[str]:
    lines = []
    if result["drift"]:
        lines.append(
            f"{name}: distribution drift (PSI {result['psi']:.3f}, adjusted p {result['p_adjusted']:.2g})"
        )
    if result["null_alarm"]:
        rates = result["null_rate"]
        lines.append(
            f"{name}: missing rate {rates['reference']:.1%} → {rates['current']:.1%} "
            f"(adjusted p {result['null_p_adjusted']:.2g})"
        )
    if result["unseen_alarm"]:
        shown = ", ".join(list(result["unseen"])[:5])
        lines.append(
            f"{name}: unseen categories in {result['unseen_share']:.1%} of the rows with a value ({shown})"
        )
    return lines
