"""The predictor in-process: fast paths equal scikit-learn exactly or stay unused; request bounds."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler

from mlgate.fsio import sha256_file
from mlgate.modelio import save_model
from mlgate.serving.batcher import MicroBatcher
from mlgate.serving.predictor import Predictor
from mlgate.serving.schema import CheckedRecords, RequestError
from mlgate.serving.settings import ServingSettings

NUMERIC = ["a", "b", "c"]


def frame(rows: int, seed: int, categorical: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = pd.DataFrame(rng.normal(size=(rows, 3)) * [1.0, 0.001, 1000.0], columns=NUMERIC)
    if categorical:
        data["colour"] = rng.choice(["red", "green", "blue"], size=rows)
    return data


def predictor_for(model: Any, data: pd.DataFrame, target: np.ndarray, folder: Path) -> Predictor:
    """Fit, save with skops and write a model card, as the train stage does; then load it for serving."""
    model.fit(data, target)
    (folder / "models").mkdir(parents=True)
    save_model(model, folder / "models/model.skops")
    features = [{"name": n, "kind": "numeric", "dtype": "float64"} for n in NUMERIC]
    if "colour" in data:
        features.append(
            {
                "name": "colour",
                "kind": "categorical",
                "dtype": "string",
                "categories": ["blue", "green", "red"],
            }
        )
    card = {
        "task": "classification" if hasattr(model, "classes_") else "regression",
        "target": "y",
        "estimator": type(model[-1]).__name__,
        "features": features,
        "sha256": sha256_file(folder / "models/model.skops"),
    }
    (folder / "models/model.json").write_text(json.dumps(card))
    return Predictor.load(ServingSettings(name="t", max_batch_size=500), folder)


def numeric_pipeline(estimator: Any, scaler: Any) -> Pipeline:
    steps = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", scaler)])
    columns = ColumnTransformer([("numeric", steps, NUMERIC)], verbose_feature_names_out=False)
    return Pipeline([("preprocess", columns), ("estimator", estimator)])


def mixed_pipeline(numeric_step: Any, estimator: Any) -> Pipeline:
    """Numeric and one-hot categorical preprocessing, which the fast transform does not replay."""
    columns = ColumnTransformer(
        [
            ("numeric", numeric_step, NUMERIC),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), ["colour"]),
        ]
    )
    return Pipeline([("preprocess", columns), ("estimator", estimator)])


def records(data: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(json.dumps(data.to_dict(orient="records")))


@pytest.mark.parametrize(
    ("estimator", "scaler", "fast"),
    [
        (RandomForestClassifier(n_estimators=15, random_state=0), StandardScaler(), True),
        (ExtraTreesClassifier(n_estimators=15, random_state=0), StandardScaler(), True),
        (LogisticRegression(), MinMaxScaler(), False),
    ],
)
def test_classifier_paths_equal_scikit_learn(estimator: Any, scaler: Any, fast: bool, tmp_path: Path) -> None:
    train = frame(300, 0)
    model = numeric_pipeline(estimator, scaler)
    predictor = predictor_for(model, train, (train["a"] + train["b"] * 900 > 0).to_numpy(int), tmp_path)
    assert predictor.fast_paths == {"transform": fast, "predict_proba": fast}
    test = frame(200, 1)
    rows = predictor.predict(predictor.schema.check(records(test)))
    expected = pd.DataFrame(records(test))
    assert [row["prediction"] for row in rows] == model.predict(expected).tolist()
    assert [list(row["probabilities"].values()) for row in rows] == model.predict_proba(expected).tolist()


def test_null_for_an_imputed_feature_is_filled_in_exactly_as_scikit_learn_does(tmp_path: Path) -> None:
    train = frame(300, 0)
    model = numeric_pipeline(RandomForestClassifier(n_estimators=15, random_state=0), StandardScaler())
    predictor = predictor_for(model, train, (train["a"] > 0).to_numpy(int), tmp_path)
    assert predictor.schema.nullable == set(NUMERIC) and predictor.fast_paths["transform"]
    sent = records(frame(40, 4))
    for index, record in enumerate(sent):
        record[NUMERIC[index % 3]] = None  # one missing value per record, in turn
    rows = predictor.predict(predictor.schema.check(sent))
    expected = pd.DataFrame(sent).astype(float)  # null is NaN to scikit-learn
    assert [list(row["probabilities"].values()) for row in rows] == model.predict_proba(expected).tolist()
    assert predictor.schema.json_schema()["items"]["properties"]["a"]["type"] == ["number", "null"]


def test_null_is_refused_when_the_model_does_not_impute(tmp_path: Path) -> None:
    train = frame(300, 0)
    columns = ColumnTransformer([("numeric", StandardScaler(), NUMERIC)], verbose_feature_names_out=False)
    model = Pipeline([("preprocess", columns), ("estimator", LogisticRegression())])
    predictor = predictor_for(model, train, (train["a"] > 0).to_numpy(int), tmp_path)
    assert predictor.schema.nullable == frozenset()
    with pytest.raises(RequestError, match=r"records\[0\]\.b: expected a number, got null"):
        predictor.schema.check([{**records(frame(1, 5))[0], "b": None}])


def test_regressor_and_categorical_fall_back_and_stay_exact(tmp_path: Path) -> None:
    train = frame(300, 0, categorical=True)
    model = mixed_pipeline(StandardScaler(), RandomForestRegressor(n_estimators=10, random_state=0))
    predictor = predictor_for(model, train, train["a"].to_numpy() * 3, tmp_path)
    assert predictor.fast_paths == {"transform": False, "predict_proba": False}
    test = frame(50, 2, categorical=True)
    rows = predictor.predict(predictor.schema.check(records(test)))
    assert [row["prediction"] for row in rows] == model.predict(pd.DataFrame(records(test))).tolist()
    with pytest.raises(RequestError, match=r"records\[0\]\.colour: unknown category \"purple\""):
        predictor.schema.check(records(test.assign(colour="purple")))


def test_requests_merged_into_one_batch_get_what_each_gets_alone(tmp_path: Path) -> None:
    train = frame(300, 0, categorical=True)
    model = mixed_pipeline(SimpleImputer(), RandomForestClassifier(n_estimators=10, random_state=0))
    predictor = predictor_for(model, train, (train["a"] > 0).to_numpy(int), tmp_path)
    sent = records(frame(12, 6, categorical=True))
    sent[4]["b"] = None
    requests = [predictor.schema.check(part) for part in (sent[:1], sent[1:5], sent[5:])]
    merged = CheckedRecords.concat(requests)
    assert merged.records == sent and list(predictor.schema.columns(merged)) == [*NUMERIC, "colour"]
    assert np.isnan(merged.numbers[4, 1]) and merged.numbers.shape == (12, 3)
    alone = [row for request in requests for row in predictor.predict(request)]
    together = predictor.predict(merged)
    without_ids = [{key: row[key] for key in ("prediction", "probabilities")} for row in together]
    assert without_ids == [{key: row[key] for key in ("prediction", "probabilities")} for row in alone]
    assert [row["prediction"] for row in together] == model.predict(pd.DataFrame(sent)).tolist()


def test_bounds_keep_scaled_values_within_float32(tmp_path: Path) -> None:
    train = frame(300, 0)
    model = numeric_pipeline(RandomForestClassifier(n_estimators=5, random_state=0), StandardScaler())
    predictor = predictor_for(model, train, (train["a"] > 0).to_numpy(int), tmp_path)
    limit = predictor.schema.limits["b"]  # b's spread is 1e-3, so its bound is far below 1e38
    assert limit < 1e36
    record = records(frame(1, 3))[0]
    predictor.predict(predictor.schema.check([{**record, "b": limit}]))
    with pytest.raises(RequestError, match=r"records\[0\]\.b: expected a finite number of magnitude at most"):
        predictor.schema.check([{**record, "b": limit * 10}])


def joined(parts: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [record for part in parts for record in part]


def test_micro_batcher_merges_requests_that_queue_while_busy() -> None:
    calls: list[int] = []

    def predict(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        calls.append(len(records))
        time.sleep(0.05)
        return [{"echo": record["x"]} for record in records]

    async def scenario() -> list[Any]:
        batcher = MicroBatcher(predict, joined, max_rows=5)
        first = asyncio.create_task(batcher.submit([{"x": 0}]))
        await asyncio.sleep(0.02)  # the model is busy with the first request; these arrive meanwhile
        requests = [[{"x": i}] for i in range(1, 4)] + [[{"x": 9}] * 7]
        rest = await asyncio.gather(*(batcher.submit(records) for records in requests))
        return [await first, *rest]

    answers = asyncio.run(scenario())
    assert answers == [[{"echo": i}] for i in range(4)] + [[{"echo": 9}] * 7]
    assert calls == [1, 3, 7]  # the first runs at once; the rest queued meanwhile; 7 rows is over 5, so alone


def test_micro_batcher_passes_model_errors_to_every_request() -> None:
    def predict(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        raise RuntimeError("model failed")

    async def scenario() -> list[Any]:
        batcher = MicroBatcher(predict, joined, max_rows=10)
        return await asyncio.gather(*(batcher.submit([{"x": 1}]) for _ in range(3)), return_exceptions=True)

    assert [str(error) for error in asyncio.run(scenario())] == ["model failed"] * 3
