"""Model outputs in the batch: prediction drift against the test set, and metrics when labels arrived."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from mlgate.datasets.missing import as_model_input
from mlgate.datasets.profile import categorical_profile, numeric_profile
from mlgate.metrics import (
    HIGHER_IS_BETTER,
    PROBA_PREFIX,
    metric_block,
    model_outputs,
    predictions_from_frame,
    usable_metrics,
)
from mlgate.modelio import load_model
from mlgate.monitor.accumulate import make_counter, text_values
from mlgate.project import Project

PREDICTION = "prediction"


@dataclass
class OutputCollector:
    """Targets, predictions and class probabilities gathered chunk by chunk (a few columns only)."""

    task: str
    target: str
    parts: dict[str, list[Any]] = field(default_factory=dict)

    def add(self, chunk: pa.Table) -> None:
        for name in chunk.column_names:
            column = chunk.column(name)
            if self.task == "classification" and name in (self.target, PREDICTION):
                values: Any = _labels(column)
            else:
                values = column.to_numpy(zero_copy_only=False).astype(float)
            self.parts.setdefault(name, []).append(values)

    def merge(self, other: OutputCollector) -> OutputCollector:
        """This collector's columns followed by another's."""
        parts = {name: list(values) for name, values in self.parts.items()}
        for name, values in other.parts.items():
            parts.setdefault(name, []).extend(values)
        return OutputCollector(self.task, self.target, parts)

    def column(self, name: str) -> np.ndarray | None:
        parts = self.parts.get(name)
        return np.concatenate(parts) if parts else None


def _labels(column: pa.ChunkedArray) -> np.ndarray:
    """Class labels as text, with integral floats written as integers (1.0 and 1 are one class)."""
    if pa.types.is_floating(column.type):
        values = column.to_numpy(zero_copy_only=False)
        whole = np.isfinite(values) & (values == np.round(values))
        return np.array(
            [
                str(int(v)) if w else (None if np.isnan(v) else str(v))
                for v, w in zip(values, whole, strict=True)
            ],
            dtype=object,
        )
    return np.asarray(text_values(column).to_numpy(zero_copy_only=False), dtype=object)


def prediction_profile(test_predictions: Any, task: str) -> dict[str, Any]:
    """A profile of the test set's predictions, binned like a feature's."""
    column = test_predictions[PREDICTION]
    if task == "classification":
        return categorical_profile(column, max_categories=1000)
    return numeric_profile(column, bins=20)


def prediction_counter(profile: dict[str, Any], predictions: np.ndarray, task: str) -> Any:
    """Current predictions counted over the test-set prediction bins."""
    counter = make_counter(profile)
    array = pa.chunked_array(
        [pa.array(predictions, pa.string() if task == "classification" else pa.float64())]
    )
    counter.add(array)
    return counter


def current_metrics(
    collector: OutputCollector, classes: list[Any], names: list[str], evaluate: dict[str, Any]
) -> dict[str, Any]:
    """Metrics of the labelled rows with bootstrap CIs, as the evaluate stage computes them."""
    import pandas as pd

    frame = pd.DataFrame(
        {"target": collector.column(collector.target), "prediction": collector.column(PREDICTION)}
    )
    for label in classes:
        proba = collector.column(f"{PROBA_PREFIX}{label}")
        if proba is not None:
            frame[f"{PROBA_PREFIX}{label}"] = proba
    frame = frame[frame["target"].notna()]
    if collector.task == "classification":
        frame = frame[frame["target"].astype(str).isin([str(c) for c in classes])]
    predictions = predictions_from_frame(frame, collector.task, classes, evaluate["average"])
    block = metric_block(usable_metrics(names, predictions), predictions, evaluate["bootstrap"])
    return {"rows": predictions.rows, "metrics": block, "average": predictions.class_average}


def compare_metrics(
    current: dict[str, Any], recorded: dict[str, Any] | None, settings: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """Each metric against its floor and its recorded value; alarm lines for what fell too far."""
    table, alarms = {}, []
    for name, value in current["metrics"].items():
        higher = HIGHER_IS_BETTER[name]
        sign = 1 if higher else -1
        before = (
            (recorded or {}).get(name, {}).get("value")
            if isinstance((recorded or {}).get(name), dict)
            else None
        )
        floor = settings["metric_floors"].get(name)
        best_case = value.get("ci_high" if higher else "ci_low", value["value"])
        below_floor = floor is not None and sign * (value["value"] - floor) < 0
        dropped = before is not None and sign * (best_case - before) < -settings["max_metric_drop"]
        table[name] = {
            **value,
            "recorded": before,
            "floor": floor,
            "below_floor": below_floor,
            "dropped": dropped,
        }
        if below_floor:
            alarms.append(f"{name} {value['value']:.4f} is worse than its floor {floor}")
        if dropped:
            alarms.append(
                f"{name} {value['value']:.4f} (CI best case {best_case:.4f}) fell more than "
                f"{settings['max_metric_drop']} from the recorded {before:.4f}"
            )
    return table, alarms


class ModelPredictor:
    """The reference version's model, predicting labelled batches that arrive without predictions."""

    def __init__(self, model: Any, card: dict[str, Any]) -> None:
        self.model = model
        self.card = card
        self.features = [f["name"] for f in card["features"]]
        self.categorical = [f["name"] for f in card["features"] if f["kind"] == "categorical"]

    def outputs(self, chunk: pa.Table) -> pa.Table:
        """Prediction and class-probability columns for one chunk."""
        frame = as_model_input(chunk.select(self.features).to_pandas(), self.categorical)
        outputs = model_outputs(self.model, frame, self.card["task"], self.card["classes"])
        return pa.table({name: pa.array(values) for name, values in outputs.items()})


def load_predictor(project: Project, model_sha256: str | None, trusted: list[str]) -> ModelPredictor:
    """The workspace model, refused unless it is the reference version's (sha256 from the registry)."""
    files = project.files
    model, card = load_model(files.model, files.card, trusted, model_sha256)
    return ModelPredictor(model, card)
