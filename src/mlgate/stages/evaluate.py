"""The evaluate stage: metrics with bootstrap CIs, per-row predictions, DVC plots, slices, importance."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from mlgate.compute import Engine
from mlgate.datasets.missing import as_model_input
from mlgate.datasets.schema import ROW_ID, FeatureSchema, read_prepared
from mlgate.errors import DataValidationError
from mlgate.fsio import output_set
from mlgate.metrics import (
    HIGHER_IS_BETTER,
    Predictions,
    display_name,
    metric_names,
    model_outputs,
    point_scores,
    predictions_from_frame,
    primary_metric,
    usable_metrics,
)
from mlgate.modelio import load_model
from mlgate.plots import classification_plots, importance_plot, regression_plots
from mlgate.progress import step
from mlgate.project import Project
from mlgate.slicing import group_labels, slice_metrics


def slices(
    names: list[str], predictions: Predictions, test: pd.DataFrame, params: dict[str, Any]
) -> dict[str, Any]:
    """Sliced metrics of each `evaluate.slices` column: groups with CIs, the gap, its CI and p-value."""
    evaluate = params["evaluate"]
    result = {}
    for column in evaluate["slices"]:
        if column not in test.columns:
            raise DataValidationError(
                f"params.yaml: evaluate.slices: {column!r} is not a column of the test set"
            )
        with step(f"slice metrics by {column}"):
            labels = group_labels(test[column])
            result[column] = slice_metrics(
                names, predictions, labels, evaluate["bootstrap"], evaluate["min_slice_rows"]
            )
    return result


def importance_scorer(name: str, task: str, classes: list[Any], average: str) -> Callable[..., float]:
    """A scikit-learn scorer that is mlgate's own metric, so importance means what the report's does."""
    sign = 1.0 if HIGHER_IS_BETTER[name] else -1.0

    def scorer(estimator: Any, features: pd.DataFrame, target: pd.Series) -> float:
        frame = pd.DataFrame(
            {"target": target.to_numpy(), **model_outputs(estimator, features, task, classes)}
        )
        return sign * point_scores([name], predictions_from_frame(frame, task, classes, average))[name]

    return scorer


def permutation_importance(
    model: Any, test: pd.DataFrame, schema: FeatureSchema, params: dict[str, Any], card: dict[str, Any]
) -> pd.DataFrame:
    """Permutation importance of each feature on a capped, seeded sample of the test set, scored on the
    primary metric."""
    from sklearn.inspection import permutation_importance as sk_permutation_importance

    settings = params["evaluate"]["permutation_importance"]
    sample = test.sample(n=min(len(test), settings["max_rows"]), random_state=settings["seed"])
    name, average = primary_metric(params), params["evaluate"]["average"]
    with (
        step(f"permutation importance on {len(sample)} rows"),
        np.errstate(invalid="ignore", divide="ignore"),
    ):
        result = sk_permutation_importance(
            model,
            sample[schema.features],
            sample[schema.target],
            scoring=importance_scorer(name, schema.task, card["classes"], average),
            n_repeats=settings["repeats"],
            random_state=settings["seed"],
            n_jobs=1,
        )
    metric = display_name(name, average if len(card["classes"]) > 2 else None)
    frame = pd.DataFrame(
        {
            "feature": schema.features,
            "importance": result.importances_mean,
            "std": result.importances_std,
            "metric": metric,
        }
    )
    return frame.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)


def predict_frame(
    model: Any, test: pd.DataFrame, schema: FeatureSchema, card: dict[str, Any], engine: Engine
) -> pd.DataFrame:
    """Per-row predictions keyed by row id: target, prediction and class probabilities."""
    outputs = engine.predict(model, test, schema, card["classes"])
    return pd.DataFrame(
        {ROW_ID: test[ROW_ID].to_numpy(), "target": test[schema.target].to_numpy(), **outputs}
    )


def run(project: Project, params: dict[str, Any], engine: Engine) -> None:
    """Run the evaluate stage."""
    files = project.files
    model, card = load_model(files.model, files.card, params["serve"]["trusted_types"])
    test, schema = read_prepared(files.test, files.schema, project.shown(files.test))
    test = as_model_input(test, schema.categorical)
    with step(f"predict {len(test)} test rows"):
        table = predict_frame(model, test, schema, card, engine)
    average = params["evaluate"]["average"]
    predictions = predictions_from_frame(table, schema.task, card["classes"], average)
    names = usable_metrics(metric_names(params), predictions)
    metrics = engine.metrics(names, predictions, params["evaluate"]["bootstrap"])
    if predictions.class_average:
        metrics["average"] = predictions.class_average
    metrics["n_test"] = predictions.rows
    if params["evaluate"]["slices"]:
        metrics["slices"] = slices(names, predictions, test, params)
    plots = (
        classification_plots(table, card["classes"], predictions.class_average)
        if schema.task == "classification"
        else regression_plots(table)
    )
    if params["evaluate"]["permutation_importance"]["enabled"]:
        plots["importance.json"] = importance_plot(permutation_importance(model, test, schema, params, card))
    _write(project, metrics, table, plots)
    summary = ", ".join(f"{n}={metrics[n]['value']:.4f}" for n in names)
    print(f"evaluate: {summary}")


def _write(project: Project, metrics: dict[str, Any], table: pd.DataFrame, plots: dict[str, Any]) -> None:
    files = project.files
    staging = files.plots.with_name(".plots.new")
    shutil.rmtree(staging, ignore_errors=True)
    with output_set() as outputs:
        for name, content in plots.items():
            (outputs.text if isinstance(content, str) else outputs.json)(staging / name, content)
        outputs.parquet(files.predictions, table)
        outputs.json(files.metrics, metrics)
    shutil.rmtree(files.plots, ignore_errors=True)
    staging.rename(files.plots)
