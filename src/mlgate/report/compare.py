"""Base versus PR: which test rows are compared, each metric's Δ with its bootstrap CI and p-value, verdicts.

One rule decides how (docs/report.md): when the two test sets share rows, both models are compared on the
shared rows with one weight matrix (paired), so the noise of the shared rows cancels, and a PR gains nothing
from rows it moved out of the base's test set. When they share none (new features, a new source), each side
is resampled on its own test set (unpaired). The gate's min_test_rows then asks for enough compared rows.

The verdict of each metric comes from its bootstrap p-value, adjusted with Holm's method over all the
metrics the report compares, so that six metrics do not flag a change by chance more often than one would.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from mlgate.metrics import (
    HIGHER_IS_BETTER,
    NEEDS_PROBA,
    PROBA_PREFIX,
    RESAMPLE_CELLS,
    SCORERS,
    Predictions,
    percentile_interval,
    point_scores,
    predictions_from_frame,
    resample_weights,
    score,
)
from mlgate.monitor.stats import adjust_pvalues
from mlgate.report.sides import Outputs
from mlgate.rowhash import SUBSAMPLE_STREAM, poisson_weights, uniform

PAIRED, UNPAIRED = "paired", "unpaired"
NOT_METRICS = {"n_test", "slices", "average", "bootstrap"}
SUBSAMPLE_ROWS = 5_000  # above this many test rows, Δ's CI uses an m-out-of-n bootstrap (delta_tests)
MULTINOMIAL, POISSON = "multinomial", "poisson"


@dataclass(frozen=True)
class Bootstrap:
    """How Δ's confidence interval is estimated."""

    samples: int
    confidence: float
    seed: int
    resampling: str = MULTINOMIAL  # or POISSON: Poisson(1) weights keyed by row id, as the dask engine's

    @property
    def alpha(self) -> float:
        return 1.0 - self.confidence


def bootstrap_settings(params: dict[str, Any]) -> Bootstrap:
    """The evaluate.bootstrap settings, with the schema's defaults."""
    settings = (params.get("evaluate") or {}).get("bootstrap") or {}
    return Bootstrap(
        int(settings.get("samples", 1000)),
        float(settings.get("confidence", 0.95)),
        int(settings.get("seed", 0)),
    )


def resampling(*sides: Outputs) -> str:
    """POISSON when either side's metrics.json says its CIs came from a Poisson bootstrap, else MULTINOMIAL.

    Δ's resamples then do not depend on how the rows are ordered or partitioned, like the side's own CIs.
    """
    recorded = [(outputs.metrics or {}).get("bootstrap") for outputs in sides]
    poisson = any(isinstance(r, dict) and r.get("method") == POISSON for r in recorded)
    return POISSON if poisson else MULTINOMIAL


def metric_values(metrics: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The metric entries of a metrics.json, without n_test, slices and the averaging."""
    return {k: v for k, v in (metrics or {}).items() if k not in NOT_METRICS and isinstance(v, dict)}


def averaging(outputs: Outputs) -> str | None:
    """How the side's multiclass metrics average over classes, as its metrics.json says; None if not."""
    value = (outputs.metrics or {}).get("average")
    return str(value) if value else None


def predictions_of(outputs: Outputs, frame: Any = None, average: str | None = None) -> Predictions | None:
    """The arrays the metrics read, from a side's predictions (or `frame`, a subset of them) and card,
    averaged over classes as `average` says (default: as the side's own metrics.json does)."""
    frame = outputs.predictions if frame is None else frame
    card = outputs.card or {}
    if frame is None:
        return None
    task = card.get("task") or (outputs.data or {}).get("task") or "classification"
    classes = card.get("classes") or [
        c.removeprefix(PROBA_PREFIX) for c in frame.columns if c.startswith(PROBA_PREFIX)
    ]
    predictions = predictions_from_frame(frame, task, classes, average or averaging(outputs) or "macro")
    return replace(predictions, row_ids=frame["row_id"].to_numpy()) if "row_id" in frame else predictions


@dataclass(frozen=True)
class Pairing:
    """Which predictions the comparison scores, and how many test rows the two sides share."""

    method: str
    base: Any  # the base's predictions table; the shared rows in the PR's order when paired
    head: Any
    shared: int
    base_rows: int
    head_rows: int

    @property
    def compared(self) -> int:
        """How many test rows the verdict rests on: the shared ones when paired, else the PR's."""
        return self.shared if self.method == PAIRED else self.head_rows

    @property
    def subset(self) -> bool:
        """True when a paired comparison leaves out rows of either test set."""
        return self.method == PAIRED and (self.shared < self.base_rows or self.shared < self.head_rows)


def pairing(base: Outputs, head: Outputs) -> Pairing:
    """Paired on the rows both test sets share, when there are any and row ids are unique; else unpaired."""
    b, h = base.predictions, head.predictions
    if b is None or h is None:
        return Pairing(UNPAIRED, b, h, 0, 0 if b is None else len(b), 0 if h is None else len(h))
    unique = not (b["row_id"].duplicated().any() or h["row_id"].duplicated().any())
    shared = h[h["row_id"].isin(b["row_id"])] if unique else h.iloc[:0]
    if len(shared):
        aligned = b.set_index("row_id").loc[shared["row_id"]].reset_index()
        return Pairing(PAIRED, aligned, shared.reset_index(drop=True), len(shared), len(b), len(h))
    return Pairing(UNPAIRED, b, h, len(shared), len(b), len(h))


def _subsample(predictions: Predictions, rows: np.ndarray | None) -> tuple[Predictions, float]:
    """The rows the resamples draw from, and the factor that rescales their spread to the full test set."""
    if rows is None:
        return predictions, 1.0
    return predictions.take(rows), float(np.sqrt(len(rows) / predictions.rows))


def subsample_rows(predictions: Predictions, seed: int, method: str = MULTINOMIAL) -> np.ndarray | None:
    """A seeded subset of SUBSAMPLE_ROWS row indices for a larger test set; None means every row.

    For the Poisson bootstrap, about SUBSAMPLE_ROWS rows picked by their id's hash, so that the subset
    does not depend on the rows' order either.
    """
    rows = predictions.rows
    if rows <= SUBSAMPLE_ROWS:
        return None
    if method == POISSON:
        return np.flatnonzero(in_subset(_row_ids(predictions), seed, rows))
    return np.sort(np.random.default_rng(seed).choice(rows, SUBSAMPLE_ROWS, replace=False))


def in_subset(row_ids: np.ndarray, seed: int, rows: int) -> np.ndarray:
    """Whether each row is in the Poisson bootstrap's subset of a test set of `rows` rows: every row up
    to SUBSAMPLE_ROWS, else those whose id hashes under SUBSAMPLE_ROWS / rows (about SUBSAMPLE_ROWS)."""
    if rows <= SUBSAMPLE_ROWS:
        return np.ones(len(row_ids), dtype=bool)
    return uniform(row_ids, seed, SUBSAMPLE_STREAM) < SUBSAMPLE_ROWS / rows


def _row_ids(predictions: Predictions) -> np.ndarray:
    if predictions.row_ids is None:
        raise ValueError("the Poisson bootstrap keys its weights by row id, and these predictions have none")
    return predictions.row_ids


def resamples(predictions: Predictions, samples: int, seed: int, method: str) -> Iterator[np.ndarray]:
    """Bootstrap weight matrices (resamples × rows) in memory-bounded chunks: multinomial counts, or
    Poisson(1) weights keyed by (row id, resample), which do not depend on the rows' order."""
    if method != POISSON:
        yield from resample_weights(predictions.rows, samples, seed)
        return
    ids = _row_ids(predictions)
    chunk = max(1, min(samples, RESAMPLE_CELLS // max(len(ids), 1)))
    for start in range(0, samples, chunk):
        yield poisson_weights(ids, seed, range(start, min(samples, start + chunk)))


def _deviations(names: list[str], predictions: Predictions, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Each resample's metric minus the metric on the rows resampled from."""
    centre, draws = score(names, predictions), score(names, predictions, weights)
    return {name: draws[name] - centre[name][0] for name in names}


@dataclass(frozen=True)
class Streamed:
    """What the out-of-core comparison (report/streamed.py) computed part by part: each side's point values
    over all its compared rows, and how many rows the predictions it passes were drawn from (in_subset)."""

    base_point: dict[str, float]
    head_point: dict[str, float]
    base_rows: int
    head_rows: int
    error_bound: float = 0.0  # roc_auc's Δ from score histograms is within this of the exact Δ


def _drawn(predictions: Predictions, rows: np.ndarray | None, total: int | None) -> tuple[Predictions, float]:
    """`_subsample`, or for predictions already drawn from `total` rows, the factor for them."""
    if total is None:
        return _subsample(predictions, rows)
    return predictions, float(np.sqrt(predictions.rows / total)) if total else 1.0


def paired_deviations(
    names: list[str], base: Predictions, head: Predictions, boot: Bootstrap, streamed: Streamed | None = None
) -> dict[str, np.ndarray]:
    """Bootstrap deviations of Δ = PR − base, both sides scored with the same weight matrix."""
    total = None if streamed is None else streamed.head_rows
    rows = subsample_rows(head, boot.seed, boot.resampling) if total is None else None
    (base, scale), (head, _) = _drawn(base, rows, total), _drawn(head, rows, total)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for weights in resamples(head, boot.samples, boot.seed, boot.resampling):
        head_dev, base_dev = _deviations(names, head, weights), _deviations(names, base, weights)
        for name in names:
            parts[name].append((head_dev[name] - base_dev[name]) * scale)
    return {name: np.concatenate(chunks) for name, chunks in parts.items()}


def _side_deviations(
    names: list[str], predictions: Predictions, samples: int, seed: int, method: str, total: int | None
) -> dict[str, np.ndarray]:
    rows = subsample_rows(predictions, seed, method) if total is None else None
    predictions, scale = _drawn(predictions, rows, total)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for weights in resamples(predictions, samples, seed, method):
        for name, values in _deviations(names, predictions, weights).items():
            parts[name].append(values * scale)
    return {name: np.concatenate(chunks) for name, chunks in parts.items()}


def unpaired_deviations(
    names: list[str], base: Predictions, head: Predictions, boot: Bootstrap, streamed: Streamed | None = None
) -> dict[str, np.ndarray]:
    """Bootstrap deviations of Δ from independent resamples of the two test sets."""
    head_total, base_total = (None, None) if streamed is None else (streamed.head_rows, streamed.base_rows)
    head_dev = _side_deviations(names, head, boot.samples, boot.seed, boot.resampling, head_total)
    base_dev = _side_deviations(names, base, boot.samples, boot.seed + 1, boot.resampling, base_total)
    return {name: head_dev[name] - base_dev[name] for name in names}


@dataclass(frozen=True)
class DeltaTest:
    """Δ = PR − base of one metric, its percentile bootstrap CI, and bootstrap p-values."""

    delta: float
    interval: tuple[float, float]
    p_value: float  # two-sided: how often the bootstrap Δ falls on the far side of 0, doubled
    p_worse: float  # one-sided: evidence that the PR is not worse (small means significantly worse)
    error_bound: float = 0.0  # roc_auc's Δ from score histograms lies within this of the exact Δ


def bootstrap_p_values(name: str, delta: float, deviations: np.ndarray) -> tuple[float, float]:
    """Two-sided and one-sided (worse) p-values of Δ: the share of bootstrap draws of Δ beyond 0.

    This is the p-value the percentile interval implies (0 lies outside the (1 − α) interval when the
    two-sided p is under α); a draw at exactly 0 counts half to each side, so a metric that cannot move
    (all draws 0) gets p = 1.
    """
    draws = delta + deviations[np.isfinite(deviations)]
    if draws.size == 0:
        return 1.0, 1.0
    ties = 0.5 * np.sum(draws == 0)
    below, above = (np.sum(draws < 0) + ties) / draws.size, (np.sum(draws > 0) + ties) / draws.size
    not_worse = above if HIGHER_IS_BETTER.get(name, True) else below
    return float(min(1.0, 2 * min(below, above))), float(not_worse)


def delta_tests(
    names: list[str],
    base: Predictions,
    head: Predictions,
    method: str,
    boot: Bootstrap,
    streamed: Streamed | None = None,
) -> dict[str, DeltaTest]:
    """Δ's percentile bootstrap CI and p-values for every metric both sides can compute.

    Up to SUBSAMPLE_ROWS test rows this is the plain percentile bootstrap. Above, resamples are drawn from
    a seeded subset of SUBSAMPLE_ROWS rows and their spread is rescaled by sqrt(m / n) (an m-out-of-n
    bootstrap), which keeps a 100,000-row report within its time budget. `boot.resampling` says whether
    a resample draws rows with multinomial counts or weighs each by a Poisson(1) draw keyed by its id.
    With `streamed`, `base` and `head` are the rows already drawn, and the point values are given.
    """
    both_proba = base.proba is not None and head.proba is not None
    usable = [n for n in names if n in SCORERS and (n not in NEEDS_PROBA or both_proba)]
    if not usable or boot.samples == 0:
        return {}
    deviations = (paired_deviations if method == PAIRED else unpaired_deviations)(
        usable, base, head, boot, streamed
    )
    if streamed is None:
        head_point, base_point = point_scores(usable, head), point_scores(usable, base)
    else:
        head_point, base_point = streamed.head_point, streamed.base_point
    tests = {}
    for name in usable:
        delta = float(head_point[name] - base_point[name])
        low, high = percentile_interval(deviations[name], boot.confidence)
        p_value, p_worse = bootstrap_p_values(name, delta, deviations[name])
        bound = streamed.error_bound if streamed is not None and name == "roc_auc" else 0.0
        tests[name] = DeltaTest(delta, (delta + low, delta + high), p_value, p_worse, bound)
    return tests


def verdict(name: str, delta: float, p_adjusted: float | None, alpha: float) -> str:
    """better / worse / no significant change, from the Holm-adjusted p-value and the metric's direction."""
    better = (delta > 0) == HIGHER_IS_BETTER.get(name, True)
    if p_adjusted is None:
        return "no change" if delta == 0 else ("better" if better else "worse") + " (no CI)"
    if p_adjusted < alpha and delta != 0:
        return "better" if better else "worse"
    return "no significant change"


def metric_rows(
    base: Outputs,
    head: Outputs,
    tests: dict[str, DeltaTest],
    alpha: float,
    recomputed: dict[str, float] | None = None,
) -> list[dict[str, Any]]:
    """One row per metric in either side: values, Δ, Δ's CI, p-values (raw and Holm) and the verdict.

    `recomputed` holds PR values scored again from its predictions under the base's averaging, for a PR
    that changes `evaluate.average`: they replace the PR's own values, which average differently.
    """
    base_metrics, head_metrics = metric_values(base.metrics), metric_values(head.metrics)
    adjusted = dict(zip(tests, adjust_pvalues([t.p_value for t in tests.values()], "holm"), strict=True))
    rows = []
    for name in [*head_metrics, *(n for n in base_metrics if n not in head_metrics)]:
        b, h = base_metrics.get(name), head_metrics.get(name)
        row: dict[str, Any] = {"metric": name, "higher_is_better": HIGHER_IS_BETTER.get(name, True)}
        row["status"] = "added" if b is None else "removed" if h is None else "both"
        row["base"] = None if b is None else b.get("value")
        row["pr"] = None if h is None else h.get("value")
        row["pr_ci"] = None if h is None or "ci_low" not in h else [h["ci_low"], h["ci_high"]]
        row["base_ci"] = None if b is None or "ci_low" not in b else [b["ci_low"], b["ci_high"]]
        if recomputed and name in recomputed:
            row["pr"], row["pr_ci"] = recomputed[name], None
        if row["status"] == "both" and row["base"] is not None and row["pr"] is not None:
            row.update(
                _delta_fields(name, row["base"], row["pr"], tests.get(name), adjusted.get(name), alpha)
            )
        rows.append(row)
    return rows


def _delta_fields(
    name: str, base: float, pr: float, test: DeltaTest | None, p_adjusted: float | None, alpha: float
) -> dict[str, Any]:
    delta = pr - base if test is None else test.delta
    bound = {"delta_error_bound": test.error_bound} if test is not None and test.error_bound else {}
    return {
        **bound,
        "delta": delta,
        "delta_pct": 100 * delta / abs(base) if base else None,
        "delta_ci": None if test is None else list(test.interval),
        "p_value": None if test is None else test.p_value,
        "p_adjusted": p_adjusted,
        "p_worse": None if test is None else test.p_worse,
        "verdict": verdict(name, delta, p_adjusted, alpha),
    }


def significantly_worse(rows: list[dict[str, Any]]) -> list[str]:
    """The metrics whose Δ is significantly worse after Holm's adjustment."""
    return [row["metric"] for row in rows if row.get("verdict") == "worse"]
