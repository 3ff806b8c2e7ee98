"""The dask engine: a connected client that the stages hand their cluster halves to."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from functools import reduce
from typing import Any, TypeVar

import pandas as pd

from mlgate.cluster.connect import connect
from mlgate.cluster.frames import read_prepared
from mlgate.cluster.train import fit_incremental, fit_on_workers, sample_rows
from mlgate.datasets.schema import FeatureSchema
from mlgate.errors import DataValidationError
from mlgate.progress import step

T = TypeVar("T")
PREPROCESSING_ROWS = (
    100_000  # an incremental estimator's preprocessing sample, when model.train_rows is unset
)


@dataclass
class DaskEngine:
    """The stages' data-sized work on a Dask cluster; `client` is distributed's Client."""

    client: Any
    name: str = "dask"
    train: Any = None  # the prepared train split, once training_rows read it
    rows: int = 0
    epochs: int = 1
    incremental: bool = False
    found: dict[str, list[str]] = field(default_factory=dict)  # the categories sample_rows found

    def training_rows(
        self, project: Any, params: dict[str, Any], incremental: bool
    ) -> tuple[pd.DataFrame, FeatureSchema]:
        """The `model.train_rows` sample (DEFAULT_ROWS when unset), drawn on the cluster."""
        files = project.files
        if not files.train.exists() or not files.schema.is_file():
            raise DataValidationError(f"{project.shown(files.train)}: not found; run the data stage first")
        schema = FeatureSchema.from_dict(json.loads(files.schema.read_text(encoding="utf-8")))
        self.train = read_prepared(files.train)
        model = params["model"]
        rows = model["train_rows"]
        if rows is None and incremental:
            rows = (
                PREPROCESSING_ROWS  # the sample fits only the preprocessing: every row trains the estimator
            )
        sample, self.rows, self.found = sample_rows(self.train, schema, rows, model["seed"])
        self.epochs = model["epochs"]
        return sample, schema

    def parallel(self) -> AbstractContextManager[Any]:
        """joblib's dask backend: the fits it runs go to the workers."""
        from joblib import parallel_backend

        return parallel_backend("dask")

    def fit(self, pipeline: Any, frame: pd.DataFrame, schema: FeatureSchema) -> Any:
        """Incremental over every partition when the estimator has partial_fit, else on the sample."""
        self.incremental = hasattr(pipeline.named_steps["estimator"], "partial_fit")
        if self.incremental:
            return fit_incremental(pipeline, self.train, frame, schema, self.epochs)
        return fit_on_workers(pipeline, frame, schema)

    def fit_record(self, pipeline: Any, frame: pd.DataFrame) -> dict[str, Any]:
        """How the fit used the train split: incrementally, or on a sample."""
        if self.incremental:
            return {
                "method": "incremental",
                "rows": self.rows,
                "of": self.rows,
                "preprocessing_rows": len(frame),
            }
        return {"method": "sample" if len(frame) < self.rows else "all", "rows": len(frame), "of": self.rows}

    def per_file(self, read: Callable[..., T], paths: list[Any], merge: Callable[[T, T], T], *args: Any) -> T:
        """`read([path], *args)` for every file as one task on the workers, the results merged in order."""
        import dask

        shared = [self.client.scatter(arg, broadcast=True) for arg in args]  # the model once, not per file
        with step(f"read {len(paths)} file(s) on the cluster"):
            parts = dask.compute(*[dask.delayed(read)([path], *shared) for path in paths])
        return reduce(merge, parts)

    def categories(self, frame: pd.DataFrame, schema: FeatureSchema) -> dict[str, list[Any]]:
        """Every category of each categorical feature in the whole train split."""
        return self.found


@contextmanager
def dask_engine(compute: dict[str, Any]) -> Iterator[DaskEngine]:
    """Connect for the length of one stage, and close the client after it."""
    with connect(compute) as client:
        yield DaskEngine(client)
