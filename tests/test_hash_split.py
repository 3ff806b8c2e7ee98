"""`data.split.method: hash`: a row's side depends on its row id and the seed alone, so appending rows
(a retraining batch) or reordering them leaves every existing row where it was."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlgate.compute import LocalEngine
from mlgate.datasets.schema import ROW_ID, infer_schema
from mlgate.stages.data import add_row_ids
from tabular import DATASETS, Dataset

SPLIT = {"method": "hash", "test_size": 0.3, "seed": 7, "stratify": True}


def sides(frame: pd.DataFrame, dataset: Dataset) -> tuple[set[int], set[int]]:
    data = {"target": dataset.params["data"]["target"], "id_column": None, "drop": [], "features": None}
    schema = infer_schema(frame, {**data, "categorical": []}, dataset.params["model"]["task"])
    with_ids = add_row_ids(frame, None, pd.util.hash_pandas_object(frame, index=False))
    train, test = LocalEngine().split(with_ids, schema, SPLIT)
    return set(train[ROW_ID]), set(test[ROW_ID])


@pytest.mark.parametrize("make", DATASETS, ids=lambda make: make.__name__)
def test_appended_or_reordered_rows_leave_the_split_alone(make: object) -> None:
    dataset: Dataset = make()  # type: ignore[operator]
    frame = dataset.frame
    old, extra = frame.iloc[: len(frame) * 3 // 4], frame.iloc[len(frame) * 3 // 4 :]
    train, test = sides(old, dataset)
    assert abs(len(test) / len(old) - SPLIT["test_size"]) < 0.05
    grown_train, grown_test = sides(pd.concat([old, extra], ignore_index=True), dataset)
    assert train <= grown_train and test <= grown_test  # every existing row kept its side
    shuffled = old.sample(frac=1.0, random_state=np.random.default_rng(1).integers(1 << 30))
    assert sides(shuffled.reset_index(drop=True), dataset) == (train, test)
