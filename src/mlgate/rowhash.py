"""Per-row random numbers keyed by a row's id, so a row's draw never depends on how rows are partitioned.

`uniform(row_ids, seed, stream)` is splitmix64 over the id mixed with the seed and a stream number: the
hash split uses stream 0, resample b of the Poisson bootstrap uses stream b + 1.
"""

from __future__ import annotations

import numpy as np

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
MIX_2 = np.uint64(0x94D049BB133111EB)
# The streams `uniform` draws from, one per use, so that no two uses of one seed draw the same numbers:
# the hash split uses 0 and resample b of the Poisson bootstrap b + 1, and these lie far beyond them.
TRAIN_SAMPLE_STREAM = 1 << 30  # model.train_rows' sample
PREDICTION_SAMPLE_STREAM = (1 << 30) + 1  # the dask engine's plot and importance rows
SUBSAMPLE_STREAM = (1 << 30) + 2  # the report's m-out-of-n subset of a large test set
REPORT_SAMPLE_STREAM = (1 << 30) + 3  # the report's chart rows of a partitioned side
JOIN_STREAM = (1 << 30) + 4  # the bucket a row goes to in the report's join on row id
SLICE_SAMPLE_STREAM = (1 << 30) + 5  # the dask engine's permutation-test rows of a slice column
POISSON_CDF = np.cumsum([np.exp(-1.0) / np.prod(np.arange(1, k + 1, dtype=float)) for k in range(24)])


def _splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = x + GOLDEN
        z = (z ^ (z >> np.uint64(30))) * MIX_1
        z = (z ^ (z >> np.uint64(27))) * MIX_2
        return z ^ (z >> np.uint64(31))


def uniform(row_ids: np.ndarray, seed: int, stream: int = 0) -> np.ndarray:
    """One number in [0, 1) per row id, the same for the same (id, seed, stream) on every machine."""
    key = _splitmix64(np.array([seed * 1_000_003 + stream], dtype=np.uint64))
    bits = _splitmix64(np.asarray(row_ids).astype(np.int64).view(np.uint64) ^ key)
    return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def in_test(row_ids: np.ndarray, test_size: float, seed: int) -> np.ndarray:
    """Whether each row belongs to the test split of `data.split.method: hash`."""
    return uniform(row_ids, seed) < test_size


def poisson_weights(row_ids: np.ndarray, seed: int, resamples: range) -> np.ndarray:
    """Poisson(1) bootstrap weights, resamples × rows: row i's weight in resample b is keyed by (i, b)."""
    weights = np.empty((len(resamples), len(row_ids)))
    for row, b in enumerate(resamples):
        weights[row] = np.searchsorted(POISSON_CDF, uniform(row_ids, seed, b + 1), side="right")
    return weights
