"""Where a stage's heavy work runs: the seam a compute engine plugs in under the stages.

The stages decide what to compute and write; an engine does the data-sized work: loading the source,
splitting it, fitting, predicting and the bootstrap. `LocalEngine` does it in this process with pandas
and scikit-learn.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from mlgate.datasets.schema import FeatureSchema
from mlgate.datasets.sources import load_source
from mlgate.errors import DataValidationError
from mlgate.metrics import Predictions, metric_block, model_outputs


class Engine(Protocol):
    """The data-sized work of the stages."""

    def load(self, source: str, root: Path) -> pd.DataFrame: ...

    def split(
        self, frame: pd.DataFrame, schema: FeatureSchema, settings: dict[str, Any]
    ) -> tuple[pd.DataFrame, pd.DataFrame]: ...

    def fit(self, pipeline: Any, frame: pd.DataFrame, schema: FeatureSchema) -> Any: ...

    def predict(
        self, model: Any, frame: pd.DataFrame, schema: FeatureSchema, classes: list[Any]
    ) -> dict[str, Any]: ...

    def metrics(
        self, names: list[str], predictions: Predictions, bootstrap: dict[str, Any]
    ) -> dict[str, Any]: ...


class LocalEngine:
    """Everything in this process, in memory."""

    def load(self, source: str, root: Path) -> pd.DataFrame:
        """The whole source as one DataFrame."""
        return load_source(source, root)

    def split(
        self, frame: pd.DataFrame, schema: FeatureSchema, settings: dict[str, Any]
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Seeded train/test split, stratified for classification."""
        from sklearn.model_selection import train_test_split

        stratify = frame[schema.target] if schema.task == "classification" and settings["stratify"] else None
        try:
            train, test = train_test_split(
                frame, test_size=settings["test_size"], random_state=settings["seed"], stratify=stratify
            )
        except ValueError as exc:
            raise DataValidationError(f"data: cannot split with data.split {settings}: {exc}") from None
        return train.reset_index(drop=True), test.reset_index(drop=True)

    def fit(self, pipeline: Any, frame: pd.DataFrame, schema: FeatureSchema) -> Any:
        """The pipeline fitted on the whole frame."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return pipeline.fit(frame[schema.features], frame[schema.target])

    def predict(
        self, model: Any, frame: pd.DataFrame, schema: FeatureSchema, classes: list[Any]
    ) -> dict[str, Any]:
        """The model's prediction (and class probabilities) for every row."""
        return model_outputs(model, frame[schema.features], schema.task, classes)

    def metrics(
        self, names: list[str], predictions: Predictions, bootstrap: dict[str, Any]
    ) -> dict[str, Any]:
        """Point values with percentile bootstrap intervals, every resample vectorised."""
        return metric_block(names, predictions, bootstrap)
