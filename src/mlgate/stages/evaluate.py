"""The evaluate stage: metrics with bootstrap CIs, per-row predictions, DVC plots, slices, importance."""

from __future__ import annotations

import shutil
from typing import Any

import numpy as np
import pandas as pd

from mlgate.compute import Engine
from mlgate.datasets.missing import as_model_input
from mlgate.datasets.schema import ROW_ID, FeatureSchema, read_prepared
from mlgate.errors import DataValidationError
from mlgate.fsio import output_set
from mlgate.metrics import (
    Predictions,
    metric_names,
    point_scores,
    predictions_from_frame,
    primary_metric,
    usable_metrics,
)
from mlgate.modelio import load_model
from mlgate.plots import classification_plots, importance_plot, regression_plots
from mlgate.progress import step
from mlgate.project import Project

MAX_SLICE_GROUPS = 20
SCORING = {  # scikit-learn scorer names for permutation importance: (binary or regression, multiclass)
    "accuracy": ("accuracy", "accuracy"),
    "precision": ("precision", "precision_macro"),
    "recall": ("recall", "recall_macro"),
    "f1": ("f1", "f1_macro"),
    "roc_auc": ("roc_auc", "roc_auc_ovr"),
    "log_loss": ("neg_log_loss", "neg_log_loss"),
    "rmse": ("neg_root_mean_squared_error",) * 2,
    "mae": ("neg_mean_absolute_error",) * 2,
    "r2": ("r2", "r2"),
}


def slice_metrics(
    names: list[str], predictions: Predictions, test: pd.DataFrame, columns: list[str]
) -> dict[str, Any]:
    """Metrics per group of each slice column, and the largest gap between groups."""
    result: dict[str, Any] = {}
    for column in columns:
        if column not in test.columns:
            raise DataValidationError(
                f"params.yaml: evaluate.slices: {column!r} is not a column of the test set"
            )
        groups = test[column].astype(str).where(test[column].notna(), "(missing)")
        top = groups.value_counts().index[:MAX_SLICE_GROUPS]
        per_group = {}
        for group in top:
            mask = (groups == group).to_numpy()
            per_group[str(group)] = {"rows": int(mask.sum()), **point_scores(names, predictions.take(mask))}
        gaps = {}
        for name in names:
            finite = [g[name] for g in per_group.values() if np.isfinite(g[name])]
            gaps[name] = float(max(finite) - min(finite)) if len(finite) > 1 else 0.0
        result[column] = {"groups": per_group, "max_gap": gaps}
    return result


def permutation_importance(
    model: Any, test: pd.DataFrame, schema: FeatureSchema, params: dict[str, Any], classes: int
) -> pd.DataFrame:
    """Permutation importance of each feature on a capped, seeded sample of the test set."""
    from sklearn.inspection import permutation_importance as sk_permutation_importance

    settings = params["evaluate"]["permutation_importance"]
    sample = test.sample(n=min(len(test), settings["max_rows"]), random_state=settings["seed"])
    scorer = SCORING[primary_metric(params)][1 if classes > 2 else 0]
    with step(f"permutation importance on {len(sample)} rows"):
        result = sk_permutation_importance(
            model,
            sample[schema.features],
            sample[schema.target],
            scoring=scorer,
            n_repeats=settings["repeats"],
            random_state=settings["seed"],
            n_jobs=1,
        )
    frame = pd.DataFrame(
        {"feature": schema.features, "importance": result.importances_mean, "std": result.importances_std}
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
    predictions = predictions_from_frame(table, schema.task, card["classes"])
    names = usable_metrics(metric_names(params), predictions)
    metrics = engine.metrics(names, predictions, params["evaluate"]["bootstrap"])
    metrics["n_test"] = predictions.rows
    if params["evaluate"]["slices"]:
        metrics["slices"] = slice_metrics(names, predictions, test, params["evaluate"]["slices"])
    plots = (
        classification_plots(table, card["classes"])
        if schema.task == "classification"
        else regression_plots(table)
    )
    if params["evaluate"]["permutation_importance"]["enabled"]:
        plots["importance.json"] = importance_plot(
            permutation_importance(model, test, schema, params, len(card["classes"]))
        )
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
