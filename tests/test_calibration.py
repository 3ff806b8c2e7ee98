"""The verdicts' error rates, measured: false alarms under the null, power against a real drop, slice gaps.

Each test runs TRIALS simulated comparisons with fixed seeds, at RESAMPLES bootstrap resamples, on a
small test set (n = 150) and on one large enough for the m-out-of-n path (n = 6,000), paired (both
models scored on the same rows) and unpaired (each on its own test set). The cutoffs come from the
binomial distribution at one-sided 99%: a rate that is truly at its bound fails a test 1% of the time.

- Null: both sides draw their predictions from the same per-row error model, so no metric truly
  changes; any metric flagged (after Holm's adjustment over the six metrics) is a false alarm, and the
  family-wise rate must stay within 5%.
- Power: the PR's accuracy is lower by an effect sized for 90% power at that n (a two-proportion
  z-test at Holm's first-step level, 5% / 6); accuracy must be flagged worse in at least 80% of trials.
- Slice-gap null: groups that do not differ; the permutation test of the gap must flag at most 5%.

Null and power also run with the Poisson bootstrap the dask engine records (`bootstrap.method: poisson`,
weights keyed by synthetic unique row ids): at n = 150 as above, and at n = 6,000 the null only, on
LARGE_POISSON_TRIALS trials. A trial at n = 6,000 costs as much as a multinomial one, and the full matrix
would add ~4 minutes to the suite; the nulls guard the hash-picked m-out-of-n subset, and power at
n = 6,000 rests on the same scoring and sqrt(m / n) rescale the multinomial cases measure. The bounds are
those above, computed for the number of trials run.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy.stats import binom, norm

from mlgate.metrics import METRICS_BY_TASK, Predictions, score
from mlgate.monitor.stats import adjust_pvalues
from mlgate.report.compare import MULTINOMIAL, PAIRED, POISSON, UNPAIRED, Bootstrap, delta_tests, verdict
from mlgate.slicing import slice_metrics

TRIALS, RESAMPLES, ALPHA = 500, 200, 0.05
NAMES = list(METRICS_BY_TASK["classification"])
ACCURACY = 0.85  # of the base model, and of both models under the null
SIZES = (150, 6_000)
LARGE_POISSON_TRIALS = 200  # n = 6,000 with the Poisson bootstrap: within the suite's time budget


def null_cutoff(trials: int) -> int:
    """Flagged trials allowed at a true 5% rate."""
    return int(binom.ppf(0.99, trials, ALPHA))


def power_cutoff(trials: int) -> int:
    """Detected trials needed at a true 80% rate."""
    return int(binom.ppf(0.01, trials, 0.80))


NULL_CUTOFF = null_cutoff(TRIALS)
NULL_CASES = [
    *((rows, MULTINOMIAL, TRIALS) for rows in SIZES),
    (150, POISSON, TRIALS),
    (6_000, POISSON, LARGE_POISSON_TRIALS),
]
POWER_CASES = [*((rows, MULTINOMIAL) for rows in SIZES), (150, POISSON)]


def side(y: np.ndarray, accuracy: float, rng: np.random.Generator) -> Predictions:
    """A binary model's predictions: each row right with probability `accuracy`, a confidence in (0.5, 1)."""
    correct = rng.random(len(y)) < accuracy
    predicted = np.where(correct, y, 1 - y)
    confidence = rng.uniform(0.5, 1.0, len(y))
    positive = np.where(predicted == 1, confidence, 1 - confidence)
    return Predictions("classification", y, predicted, np.c_[1 - positive, positive], labels=2)


def with_row_ids(base: Predictions, head: Predictions, method: str, seed: int) -> tuple[Predictions, ...]:
    """Both sides with unique random row ids: the same ones when paired, none shared when unpaired."""
    ids = np.random.default_rng([seed, 1]).choice(1 << 62, 2 * base.rows, replace=False)
    head_ids = ids[: base.rows] if method == PAIRED else ids[base.rows :]
    return replace(base, row_ids=ids[: base.rows]), replace(head, row_ids=head_ids)


def comparison(
    rows: int, method: str, accuracies: tuple[float, float], seed: int, resampling: str = MULTINOMIAL
) -> dict[str, str]:
    """Each metric's verdict for one simulated pull request, as the report computes it."""
    rng = np.random.default_rng(seed)
    y_base = (rng.random(rows) < 0.5).astype(int)
    y_head = y_base if method == PAIRED else (rng.random(rows) < 0.5).astype(int)
    base, head = side(y_base, accuracies[0], rng), side(y_head, accuracies[1], rng)
    if resampling == POISSON:
        base, head = with_row_ids(base, head, method, seed)
    tests = delta_tests(NAMES, base, head, method, Bootstrap(RESAMPLES, 1 - ALPHA, seed, resampling))
    adjusted = adjust_pvalues([tests[n].p_value for n in NAMES], "holm")
    return {n: verdict(n, tests[n].delta, p, ALPHA) for n, p in zip(NAMES, adjusted, strict=True)}


def drop_for_power(rows: int) -> float:
    """The accuracy drop a two-proportion z-test at level 5% / 6 detects with 90% power at `rows`."""
    z = norm.ppf(1 - ALPHA / len(NAMES) / 2) + norm.ppf(0.90)
    drop = 0.0
    for _ in range(20):  # the variance depends on the PR's accuracy: iterate to the fixed point
        lower = ACCURACY - drop
        drop = z * np.sqrt((ACCURACY * (1 - ACCURACY) + lower * (1 - lower)) / rows)
    return float(drop)


@pytest.mark.slow
@pytest.mark.parametrize("method", [PAIRED, UNPAIRED])
@pytest.mark.parametrize(("rows", "resampling", "trials"), NULL_CASES)
def test_no_change_is_flagged_at_most_five_percent_of_the_time(
    rows: int, resampling: str, trials: int, method: str
) -> None:
    null = (ACCURACY, ACCURACY)
    flagged = sum(
        any(v != "no significant change" for v in comparison(rows, method, null, t, resampling).values())
        for t in range(trials)
    )
    cutoff = null_cutoff(trials)
    assert flagged <= cutoff, f"{flagged} of {trials} null comparisons flagged (cutoff {cutoff})"


@pytest.mark.slow
@pytest.mark.parametrize("method", [PAIRED, UNPAIRED])
@pytest.mark.parametrize(("rows", "resampling"), POWER_CASES)
def test_a_real_drop_in_accuracy_is_flagged(rows: int, resampling: str, method: str) -> None:
    lower = ACCURACY - drop_for_power(rows)
    detected = sum(
        comparison(rows, method, (ACCURACY, lower), 10_000 + t, resampling)["accuracy"] == "worse"
        for t in range(TRIALS)
    )
    cutoff = power_cutoff(TRIALS)
    assert detected >= cutoff, f"{detected} of {TRIALS} drops detected (cutoff {cutoff})"


@pytest.mark.slow
@pytest.mark.parametrize("rows", SIZES)
def test_groups_that_do_not_differ_show_a_significant_gap_at_most_five_percent_of_the_time(rows: int) -> None:
    """max − min over groups is biased upward, so a gap's bootstrap CI sits above 0 even here; the
    permutation test compares it with gaps of shuffled groups, which carry the same bias."""
    import pandas as pd

    flagged = 0
    for trial in range(TRIALS):
        rng = np.random.default_rng(20_000 + trial)
        y = (rng.random(rows) < 0.5).astype(int)
        groups = pd.Series(rng.choice(["north", "south", "east"], rows, p=[0.5, 0.3, 0.2]))
        bootstrap = {"samples": 0, "confidence": 1 - ALPHA, "seed": trial}
        result = slice_metrics(["accuracy"], side(y, ACCURACY, rng), groups, bootstrap, min_rows=20)
        flagged += result["gap_p"]["accuracy"] < ALPHA
    assert flagged <= NULL_CUTOFF, f"{flagged} of {TRIALS} gaps flagged (cutoff {NULL_CUTOFF})"


def test_the_power_effect_is_what_the_docstring_says() -> None:
    """At n = 150 a 90%-power drop from 0.85 is about 0.17; at 6,000, about 0.025."""
    assert drop_for_power(150) == pytest.approx(0.17, abs=0.02)
    assert drop_for_power(6_000) == pytest.approx(0.025, abs=0.005)
    assert score(["accuracy"], side(np.zeros(10_000, int), 0.7, np.random.default_rng(0)))["accuracy"][
        0
    ] == pytest.approx(0.7, abs=0.02)
