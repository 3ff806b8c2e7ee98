"""The statistics of the monitor: PSI, chi-square homogeneity tests and multiple-testing corrections.

Both samples are binned counts (the reference profile holds no raw rows), so every test here works on
counts: a 2 × k contingency table of reference versus current.
"""

from __future__ import annotations

import numpy as np

SMOOTHING = 0.5  # added to every bin before PSI, so empty bins (e.g. unseen categories) stay finite


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    """Population stability index of two count vectors over the same bins."""
    ref = np.asarray(reference, dtype=float) + SMOOTHING
    cur = np.asarray(current, dtype=float) + SMOOTHING
    ref, cur = ref / ref.sum(), cur / cur.sum()
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def homogeneity_pvalue(reference: np.ndarray, current: np.ndarray) -> float:
    """P-value of Pearson's chi-square test that both count vectors come from one distribution.

    The same test as `scipy.stats.chi2_contingency` (Yates-corrected for 2 × 2), computed directly:
    the monitor runs it for every feature and scipy's wrapper costs more than the test.
    """
    from scipy.special import chdtrc

    table = np.vstack([reference, current]).astype(float)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 1.0
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    gap = np.abs(table - expected)
    if table.shape[1] == 2:
        gap = np.maximum(gap - 0.5, 0.0)  # Yates' continuity correction
    statistic = float(np.sum(gap**2 / expected))
    return float(chdtrc(table.shape[1] - 1, statistic))


def null_rate_pvalue(
    reference_nulls: int, reference_rows: int, current_nulls: int, current_rows: int
) -> float:
    """P-value that the missing-value rate is the same in both samples (2 × 2 chi-square, Yates-corrected)."""
    return homogeneity_pvalue(
        np.array([reference_nulls, reference_rows - reference_nulls]),
        np.array([current_nulls, current_rows - current_nulls]),
    )


def adjust_pvalues(pvalues: list[float], method: str) -> list[float]:
    """Adjust a family of p-values for multiple testing.

    Benjamini–Hochberg controls the false discovery rate (the monitor's many features); Bonferroni and
    Holm control the family-wise error, Holm's step-down never less powerful (the report's metrics).
    """
    values = np.asarray(pvalues, dtype=float)
    if values.size == 0:
        return []
    if method == "bonferroni":
        return np.minimum(values * values.size, 1.0).tolist()
    if method == "holm":
        order = np.argsort(values, kind="stable")
        stepped = np.maximum.accumulate(values[order] * np.arange(values.size, 0, -1))
        adjusted = np.empty_like(values)
        adjusted[order] = np.minimum(stepped, 1.0)
        return adjusted.tolist()
    if method != "benjamini-hochberg":
        raise ValueError(f"unknown correction {method!r}")
    order = np.argsort(values)
    ranked = values[order] * values.size / np.arange(1, values.size + 1)
    stepped = np.minimum.accumulate(ranked[::-1])[::-1]  # step-up: each p takes the smallest to its right
    adjusted = np.empty_like(values)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted.tolist()
