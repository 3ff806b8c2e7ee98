"""The evaluate stage's cluster half: predictions made where the partitions live and written as a
partitioned folder, metrics merged from per-partition sums, roc_auc from merged score histograms, and
the sliced metrics (mlgate.cluster.slices).

The workers write the predictions into the project folder, so they must see it (docs/scaling.md).
"""

from __future__ import annotations

from functools import reduce
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlgate.cluster import metrics as merged_metrics
from mlgate.cluster.frames import read_prepared, reduce_tree, tree
from mlgate.cluster.slices import Counts, Scoring, check_counts, group_counts, merge_counts, sliced_metrics
from mlgate.datasets.missing import as_model_input
from mlgate.datasets.schema import ROW_ID, FeatureSchema
from mlgate.metrics import Predictions, model_outputs, predictions_from_frame, usable_metrics
from mlgate.progress import step
from mlgate.rowhash import PREDICTION_SAMPLE_STREAM, uniform
from mlgate.slicing import require_columns

PLOT_ROWS = 200_000  # predictions the plots and importance are drawn from, a seeded sample


def _predictions(
    table: pd.DataFrame, schema: FeatureSchema, card: dict[str, Any], average: str
) -> Predictions:
    return predictions_from_frame(table, schema.task, card["classes"], average)


def _predict(
    part: pd.DataFrame,
    path: Path,
    model: Any,
    schema: FeatureSchema,
    card: dict[str, Any],
    settings: dict[str, Any],
) -> tuple[Any, ...]:
    frame = as_model_input(part, schema.categorical)
    outputs = model_outputs(model, frame[schema.features], schema.task, card["classes"])
    table = pd.DataFrame(
        {ROW_ID: part[ROW_ID].to_numpy(), "target": part[schema.target].to_numpy(), **outputs}
    )
    table.to_parquet(path, index=False)
    p = _predictions(table, schema, card, settings["average"])
    stats = merged_metrics.partition_stats(p, table[ROW_ID].to_numpy(), settings["bootstrap"], None)
    draw = uniform(table[ROW_ID].to_numpy(), 0, PREDICTION_SAMPLE_STREAM)
    sample = table[draw < settings["share"]]
    rows = part[draw < settings["importance_share"]]
    return merged_metrics.score_sketches(p), stats, sample, rows, group_counts(frame, settings["slices"])


def _predict_all(
    test: Any, paths: list[Path], model: Any, schema: FeatureSchema, card: dict[str, Any], settings: Any
) -> tuple[list[list[Any]], Counts]:
    """Every partition's `_predict`, its first four results gathered, its slice counts merged in pairs."""
    import dask
    from distributed import default_client

    model = default_client().scatter(model, broadcast=True)  # sent once, not in every task
    tasks = [
        dask.delayed(_predict, nout=5)(part, path, model, schema, card, settings)
        for part, path in zip(test.to_delayed(), paths, strict=True)
    ]
    counted = tree([task[4] for task in tasks], merge_counts) if settings["slices"] else {}
    parts, counts = dask.compute([[task[i] for i in range(4)] for task in tasks], counted)
    return parts, check_counts(counts)


def _histograms(
    path: Path, schema: FeatureSchema, card: dict[str, Any], settings: dict[str, Any], edges: list[np.ndarray]
) -> dict[str, Any]:
    table = pd.read_parquet(path)
    p = _predictions(table, schema, card, settings["average"])
    return merged_metrics.partition_stats(p, table[ROW_ID].to_numpy(), settings["bootstrap"], edges)


def _settings(evaluate: dict[str, Any], rows: int) -> dict[str, Any]:
    """What the tasks need of params.yaml's `evaluate`, and the shares of the rows they sample."""
    return {
        "average": evaluate["average"],
        "bootstrap": evaluate["bootstrap"],
        "share": PLOT_ROWS / max(rows, 1),
        "importance_share": 1.2 * evaluate["permutation_importance"]["max_rows"] / max(rows, 1),
        "slices": evaluate["slices"],
        "min_slice_rows": evaluate["min_slice_rows"],
    }


def _auc_histograms(
    parts: list[list[Any]], paths: list[Path], schema: FeatureSchema, card: dict[str, Any], settings: Any
) -> tuple[list[np.ndarray], dict[str, Any]]:
    """roc_auc's bins from the partitions' score sketches, and the merged histograms over them."""
    import dask

    sketches = [part[0] for part in parts]
    bins = merged_metrics.auc_bins(settings["bootstrap"]["samples"], len(sketches[0]) if sketches else 1)
    edges = merged_metrics.auc_edges(sketches, bins)
    with step(f"roc_auc histograms on the cluster ({bins} bins)"):
        tasks = [dask.delayed(_histograms)(path, schema, card, settings, edges) for path in paths]
        return edges, reduce_tree(tasks, merged_metrics.merge_stats)


def predict_and_score(
    test: Any,
    folder: Path,
    model: Any,
    schema: FeatureSchema,
    card: dict[str, Any],
    params: dict[str, Any],
    names: list[str],
) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """Write every partition's predictions to `folder`; return metrics.json's block, a seeded sample of
    about PLOT_ROWS predictions for the plots, and about 1.2 × the importance's max_rows test rows for it,
    all taken in the same pass."""
    rows = len(test)  # from the Parquet footers where dask can
    require_columns(params["evaluate"]["slices"], [str(column) for column in test.columns])
    settings = _settings(params["evaluate"], rows)
    paths = [folder / f"part.{number:05d}.parquet" for number in range(test.npartitions)]
    with step(
        f"predict {rows} test rows on {test.npartitions} partition(s), "
        f"{settings['bootstrap']['samples']} Poisson resamples"
    ):
        parts, counts = _predict_all(test, paths, model, schema, card, settings)
    sample = pd.concat([part[2] for part in parts], ignore_index=True)
    importance_rows = pd.concat([part[3] for part in parts], ignore_index=True)
    p = _predictions(sample, schema, card, settings["average"])
    stats = reduce(merged_metrics.merge_stats, [part[1] for part in parts])
    names = usable_metrics(names, p)
    edges, histograms = (
        _auc_histograms(parts, paths, schema, card, settings) if "roc_auc" in names else ([], {})
    )
    stats = {**stats, **histograms}
    block = merged_metrics.metric_block(names, stats, p, settings["bootstrap"])
    if p.class_average:
        block["average"] = p.class_average
    block["n_test"] = rows
    block["bootstrap"] = {"method": "poisson", "samples": settings["bootstrap"]["samples"]}
    if settings["slices"]:
        ranges = {key: value for key, value in histograms.items() if key.startswith(("low", "high"))}
        scoring = Scoring(names, schema, card, edges, ranges)
        block["slices"] = sliced_metrics(test, paths, counts, scoring, settings)
    return block, sample, importance_rows


def read_test(path: Path) -> Any:
    """The prepared test split as a Dask DataFrame."""
    return read_prepared(path)
