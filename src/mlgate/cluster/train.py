"""The train stage's cluster half: a seeded, stratified sample drawn on the workers, and incremental
learning over every partition for an estimator with `partial_fit`.

What scales: the sample is held by the runner, so `model.train_rows` bounds its memory; an estimator
with `partial_fit` sees every row, its preprocessing fitted on the sample and then frozen.
"""

from __future__ import annotations

import warnings
from contextlib import nullcontext
from typing import Any

import numpy as np
import pandas as pd

from mlgate.cluster.frames import merged, per_partition
from mlgate.datasets.missing import as_model_input
from mlgate.datasets.sampling import add_counts, candidates, choose, quotas, strata_counts
from mlgate.datasets.schema import FeatureSchema
from mlgate.progress import step

DEFAULT_ROWS = 1_000_000
WINDOW = 4  # transformed partitions in flight while the runner calls partial_fit


def _every_row(part: pd.DataFrame) -> pd.DataFrame:
    return part


def _strata_and_categories(part: pd.DataFrame, schema: FeatureSchema) -> tuple[Any, Any]:
    categories = {c: set(part[c].dropna().astype(str).unique()) for c in schema.categorical}
    return strata_counts(part, schema), categories


def _add(a: tuple[Any, Any], b: tuple[Any, Any]) -> tuple[Any, Any]:
    return add_counts(a[0], b[0]), {c: values | b[1][c] for c, values in a[1].items()}


def sample_rows(
    train: Any, schema: FeatureSchema, rows: int | None, seed: int
) -> tuple[pd.DataFrame, int, dict[str, list[str]]]:
    """At most `rows` train rows (DEFAULT_ROWS when None), drawn as mlgate.datasets.sampling draws them
    from one frame; how many rows the split has in all; and every category of each categorical feature
    in the whole split (for the model card), counted in the same pass."""
    counts, found = merged(train, _strata_and_categories, _add, schema)
    categories = {column: sorted(values) for column, values in found.items()}
    total = sum(counts.values())
    if total <= (rows or DEFAULT_ROWS):  # every row, in partition order, as the local engine reads them
        with step(f"bring the {total} train rows from the cluster"):
            return pd.concat(per_partition(train, _every_row), ignore_index=True), total, categories
    wanted, share = quotas(counts, rows or DEFAULT_ROWS)
    with step(f"sample {sum(wanted.values())} of {total} train rows on the cluster"):
        drawn = pd.concat(per_partition(train, candidates, schema, seed, share), ignore_index=True)
    return choose(drawn, wanted), total, categories


def _transformed(part: pd.DataFrame, preprocess: Any, schema: FeatureSchema) -> tuple[Any, np.ndarray]:
    frame = as_model_input(part, schema.categorical)
    return preprocess.transform(frame[schema.features]), frame[schema.target].to_numpy()


def fit_incremental(
    pipeline: Any, train: Any, sample: pd.DataFrame, schema: FeatureSchema, epochs: int
) -> Any:
    """Fit the preprocessing on the sample, freeze it, then `partial_fit` the estimator on every
    partition, transformed on the workers, `epochs` times over."""
    preprocess, estimator = pipeline.named_steps["preprocess"], pipeline.named_steps["estimator"]
    preprocess.fit(sample[schema.features], sample[schema.target])
    classes = np.unique(sample[schema.target].to_numpy()) if schema.task == "classification" else None
    extra = {"classes": classes} if classes is not None else {}
    parts = train.to_delayed()
    for epoch in range(epochs):
        with step(
            f"partial_fit over {len(parts)} partition(s), epoch {epoch + 1} of {epochs}", total=len(parts)
        ) as advance:
            for features, target in _transformed_in_order(parts, preprocess, schema):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", FutureWarning)
                    estimator.partial_fit(features, target, **extra)
                advance(1)
    return pipeline


def _transformed_in_order(parts: list[Any], preprocess: Any, schema: FeatureSchema) -> Any:
    """Each partition transformed on the workers, in order, WINDOW of them in flight at a time: the
    workers transform the next partitions while the runner learns from this one."""
    import dask
    from distributed import default_client

    client = default_client()
    pending = [
        client.compute(dask.delayed(_transformed)(part, preprocess, schema)) for part in parts[:WINDOW]
    ]
    for index in range(len(parts)):
        future = pending.pop(0)
        if index + WINDOW < len(parts):
            pending.append(
                client.compute(dask.delayed(_transformed)(parts[index + WINDOW], preprocess, schema))
            )
        yield future.result()
        future.release()


def fit_on_workers(pipeline: Any, frame: pd.DataFrame, schema: FeatureSchema) -> Any:
    """Fit on the sample; an estimator with `n_jobs` (forests) runs its joblib parallelism on the workers.
    One without it fits here, as on the local engine (OpenMP threads are not joblib's to move)."""
    from joblib import parallel_backend

    estimator = pipeline.named_steps["estimator"]
    backend = parallel_backend("dask") if "n_jobs" in estimator.get_params() else nullcontext()
    with backend, warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return pipeline.fit(frame[schema.features], frame[schema.target])
