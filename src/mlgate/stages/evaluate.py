"""The evaluate stage: metrics with bootstrap CIs, per-row predictions, DVC plots, slices, importance."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlgate.datasets.schema import ROW_ID, FeatureSchema
from mlgate.errors import DataValidationError
from mlgate.fsio import output_set
from mlgate.metrics import (
    NEEDS_PROBA,
    Predictions,
    bootstrap_intervals,
    metric_names,
    point_scores,
    primary_metric,
)
from mlgate.modelio import load_model
from mlgate.plots import classification_plots, importance_plot, regression_plots
from mlgate.progress import step
from mlgate.stages.data import TEST_FILE
from mlgate.stages.train import categorical_features, read_prepared

METRICS_FILE = Path("reports/metrics.json")
PREDICTIONS_FILE = Path("reports/predictions.parquet")
PLOTS_DIR = Path("reports/plots")
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


def proba_column(label: Any) -> str:
    """Name of the predictions column holding the probability of one class."""
    return f"proba_{label}"


def predict_frame(
    model: Any, test: pd.DataFrame, schema: FeatureSchema, card: dict[str, Any]
) -> pd.DataFrame:
    """Per-row predictions keyed by row id: target, prediction and class probabilities."""
    features = test[schema.features]
    out = pd.DataFrame({ROW_ID: test[ROW_ID].to_numpy(), "target": test[schema.target].to_numpy()})
    out["prediction"] = model.predict(features)
    if schema.task == "classification" and hasattr(model, "predict_proba"):
        proba = model.predict_proba(features)
        for index, label in enumerate(card["classes"]):
            out[proba_column(label)] = proba[:, index]
    return out


def predictions_from_frame(frame: pd.DataFrame, task: str, classes: list[Any]) -> Predictions:
    """Turn a predictions table into the arrays the metrics read."""
    if task == "regression":
        return Predictions(task, frame["target"].to_numpy(float), frame["prediction"].to_numpy(float))
    index = {str(label): i for i, label in enumerate(classes)}
    unknown = set(frame["target"].astype(str)) - set(index)
    if unknown:
        raise DataValidationError(f"test set has classes the model never saw: {', '.join(sorted(unknown))}")
    y_true = frame["target"].astype(str).map(index).to_numpy(int)
    y_pred = frame["prediction"].astype(str).map(index).to_numpy(int)
    columns = [proba_column(label) for label in classes]
    proba = frame[columns].to_numpy(float) if all(c in frame for c in columns) else None
    return Predictions(task, y_true, y_pred, proba)


def usable_metrics(names: list[str], predictions: Predictions) -> list[str]:
    """Drop probability metrics when the estimator gives no probabilities."""
    return [n for n in names if predictions.proba is not None or n not in NEEDS_PROBA]


def metric_block(names: list[str], predictions: Predictions, bootstrap: dict[str, Any]) -> dict[str, Any]:
    """Point values with bootstrap confidence intervals."""
    values = point_scores(names, predictions)
    block: dict[str, Any] = {name: {"value": value} for name, value in values.items()}
    samples = bootstrap["samples"]
    if samples:
        with step(f"bootstrap {samples} resamples × {predictions.rows} rows", total=samples) as advance:
            intervals = bootstrap_intervals(
                names, predictions, samples, bootstrap["confidence"], bootstrap["seed"], advance
            )
        for name, (low, high) in intervals.items():
            block[name].update(ci_low=low, ci_high=high)
    return block


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


def run(params: dict[str, Any]) -> None:
    """Run the evaluate stage."""
    model, card = load_model(extra_trusted=params["serve"]["trusted_types"])
    test, schema = read_prepared(TEST_FILE)
    test = categorical_features(test, schema)
    with step(f"predict {len(test)} test rows"):
        table = predict_frame(model, test, schema, card)
    predictions = predictions_from_frame(table, schema.task, card["classes"])
    names = usable_metrics(metric_names(params), predictions)
    metrics = metric_block(names, predictions, params["evaluate"]["bootstrap"])
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
    _write(metrics, table, plots)
    summary = ", ".join(f"{n}={metrics[n]['value']:.4f}" for n in names)
    print(f"evaluate: {summary}")


def _write(metrics: dict[str, Any], table: pd.DataFrame, plots: dict[str, Any]) -> None:
    staging = PLOTS_DIR.with_name(".plots.new")
    shutil.rmtree(staging, ignore_errors=True)
    with output_set() as outputs:
        for name, content in plots.items():
            (outputs.text if isinstance(content, str) else outputs.json)(staging / name, content)
        outputs.parquet(PREDICTIONS_FILE, table)
        outputs.json(METRICS_FILE, metrics)
    shutil.rmtree(PLOTS_DIR, ignore_errors=True)
    staging.rename(PLOTS_DIR)
