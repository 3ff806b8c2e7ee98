"""The evaluate stage: metrics with bootstrap CIs, per-row predictions, DVC plots, slices, importance."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlgate.compute import Engine
from mlgate.datasets.missing import as_model_input
from mlgate.datasets.schema import ROW_ID, FeatureSchema, read_prepared
from mlgate.fsio import OutputSet, output_set
from mlgate.metrics import (
    HIGHER_IS_BETTER,
    NEEDS_PROBA,
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
from mlgate.slicing import group_labels, require_columns, slice_metrics


def slices(
    names: list[str], predictions: Predictions, test: pd.DataFrame, params: dict[str, Any]
) -> dict[str, Any]:
    """Sliced metrics of each `evaluate.slices` column: groups with CIs, the gap, its CI and p-value."""
    evaluate = params["evaluate"]
    require_columns(evaluate["slices"], list(test.columns))
    result = {}
    for column in evaluate["slices"]:
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
    if name in NEEDS_PROBA and not hasattr(model, "predict_proba"):
        name = "accuracy"  # what the model can be scored on; the plot names the metric
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
    if engine.name == "dask":
        _run_on_cluster(project, params, model, card)
        return
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
    plots = stage_plots(model, table, test, schema, params, card)

    def write(outputs: OutputSet) -> tuple[dict[str, Any], dict[str, Any]]:
        outputs.parquet(files.predictions, table)
        return metrics, plots

    write_outputs(project, write)
    print(f"evaluate: {summary_line(metrics, names)}")


def _run_on_cluster(project: Project, params: dict[str, Any], model: Any, card: dict[str, Any]) -> None:
    """Predict and score where the test partitions live; plots and importance from a seeded sample."""
    from mlgate.cluster import evaluate as on_cluster

    files = project.files
    schema = FeatureSchema.from_dict(json.loads(files.schema.read_text(encoding="utf-8")))
    test, names = on_cluster.read_test(files.test), metric_names(params)
    found: dict[str, Any] = {}

    def write(outputs: OutputSet) -> tuple[dict[str, Any], dict[str, Any]]:
        def predict(folder: Path) -> None:
            found["metrics"], found["sample"], found["rows"] = on_cluster.predict_and_score(
                test, folder, model, schema, card, params, names
            )

        outputs.folder(files.predictions, predict)
        rows = as_model_input(found["rows"], schema.categorical)
        return found["metrics"], stage_plots(model, found["sample"], rows, schema, params, card)

    write_outputs(project, write)
    print(f"evaluate: {summary_line(found['metrics'], names)} (on the cluster)")


def summary_line(metrics: dict[str, Any], names: list[str]) -> str:
    """The stage's last line: every metric's point value."""
    return ", ".join(f"{n}={metrics[n]['value']:.4f}" for n in names if n in metrics)


def stage_plots(
    model: Any,
    table: pd.DataFrame,
    test: pd.DataFrame,
    schema: FeatureSchema,
    params: dict[str, Any],
    card: dict[str, Any],
) -> dict[str, Any]:
    """The DVC plots of the task, and permutation importance when enabled."""
    average = params["evaluate"]["average"] if len(card["classes"]) > 2 else None
    plots = (
        classification_plots(table, card["classes"], average)
        if schema.task == "classification"
        else regression_plots(table)
    )
    if params["evaluate"]["permutation_importance"]["enabled"]:
        plots["importance.json"] = importance_plot(permutation_importance(model, test, schema, params, card))
    return plots


def write_outputs(
    project: Project, predictions: Callable[[OutputSet], tuple[dict[str, Any], dict[str, Any]]]
) -> None:
    """Write the predictions through `predictions(outputs)`, then the metrics and plots it returns: all
    of them, or none."""
    files = project.files
    staging = files.plots.with_name(".plots.new")
    shutil.rmtree(staging, ignore_errors=True)
    with output_set() as outputs:
        metrics, plots = predictions(outputs)
        for name, content in plots.items():
            (outputs.text if isinstance(content, str) else outputs.json)(staging / name, content)
        outputs.json(files.metrics, metrics)
    shutil.rmtree(files.plots, ignore_errors=True)
    staging.rename(files.plots)
