"""Where a stage's heavy work runs: the seam a compute engine plugs in under the stages.

The stages decide what to compute and write; an engine does the data-sized work: loading the source,
splitting it, fitting, predicting and the bootstrap. `LocalEngine` does it in this process with pandas
and scikit-learn; the dask engine (mlgate.cluster) runs each stage's cluster half on a Dask cluster.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from mlgate.datasets.sampling import sample_frame
from mlgate.datasets.schema import ROW_ID, FeatureSchema, read_prepared
from mlgate.datasets.sources import load_source
from mlgate.errors import DataValidationError
from mlgate.metrics import Predictions, metric_block, model_outputs
from mlgate.rowhash import in_test


class Engine(Protocol):
    """The data-sized work of the stages; `name` is params.yaml's `compute.engine`."""

    name: str

    def load(self, source: str, root: Path) -> pd.DataFrame: ...

    def split(
        self, frame: pd.DataFrame, schema: FeatureSchema, settings: dict[str, Any]
    ) -> tuple[pd.DataFrame, pd.DataFrame]: ...

    def training_rows(
        self, project: Any, params: dict[str, Any], incremental: bool
    ) -> tuple[pd.DataFrame, FeatureSchema]: ...

    def parallel(self) -> AbstractContextManager[Any]: ...

    def fit(self, pipeline: Any, frame: pd.DataFrame, schema: FeatureSchema) -> Any: ...

    def fit_record(self, pipeline: Any, frame: pd.DataFrame) -> dict[str, Any]: ...

    def categories(self, frame: pd.DataFrame, schema: FeatureSchema) -> dict[str, list[Any]]: ...

    def predict(
        self, model: Any, frame: pd.DataFrame, schema: FeatureSchema, classes: list[Any]
    ) -> dict[str, Any]: ...

    def metrics(
        self, names: list[str], predictions: Predictions, bootstrap: dict[str, Any]
    ) -> dict[str, Any]: ...


@contextmanager
def open_engine(compute: dict[str, Any]) -> Iterator[Any]:
    """The engine params.yaml's `compute` section names, for the length of one stage."""
    if compute["engine"] != "dask":
        yield LocalEngine()
        return
    from mlgate.cluster.engine import dask_engine

    with dask_engine(compute) as engine:
        yield engine


class LocalEngine:
    """Everything in this process, in memory."""

    name = "local"

    def load(self, source: str, root: Path) -> pd.DataFrame:
        """The whole source as one DataFrame."""
        return load_source(source, root)

    def split(
        self, frame: pd.DataFrame, schema: FeatureSchema, settings: dict[str, Any]
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Seeded train/test split: stratified for classification, or by each row id's hash."""
        from sklearn.model_selection import train_test_split

        if settings["method"] == "hash":
            test = in_test(frame[ROW_ID].to_numpy(), settings["test_size"], settings["seed"])
            return frame[~test].reset_index(drop=True), frame[test].reset_index(drop=True)

        stratify = frame[schema.target] if schema.task == "classification" and settings["stratify"] else None
        try:
            train, test = train_test_split(
                frame, test_size=settings["test_size"], random_state=settings["seed"], stratify=stratify
            )
        except ValueError as exc:
            raise DataValidationError(f"data: cannot split with data.split {settings}: {exc}") from None
        return train.reset_index(drop=True), test.reset_index(drop=True)

    rows: int = 0

    def training_rows(
        self, project: Any, params: dict[str, Any], incremental: bool
    ) -> tuple[pd.DataFrame, FeatureSchema]:
        """The prepared train split, or its `model.train_rows` sample (`incremental` changes nothing here:
        the local engine fits every estimator with `fit`)."""
        files = project.files
        frame, schema = read_prepared(files.train, files.schema, project.shown(files.train))
        self.rows = len(frame)
        model = params["model"]
        return sample_frame(frame, schema, model["train_rows"], model["seed"]), schema

    def parallel(self) -> AbstractContextManager[Any]:
        """joblib's default: local processes."""
        return nullcontext()

    def fit_record(self, pipeline: Any, frame: pd.DataFrame) -> dict[str, Any]:
        """How the fit used the train split: every row, or a sample of it."""
        return {"method": "all" if len(frame) == self.rows else "sample", "rows": len(frame), "of": self.rows}

    def categories(self, frame: pd.DataFrame, schema: FeatureSchema) -> dict[str, list[Any]]:
        """Every category of each categorical feature in the rows fitted on."""
        return {c: sorted(frame[c].dropna().unique().tolist()) for c in schema.categorical}

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
