"""Every pipeline the train stage can build also serves, with nulls wherever the pipeline handles NaN.

Each combination of the preprocessing settings the schema allows (numeric_impute, scale,
categorical_encoding), with string, integer-coded and boolean categoricals, is built by the train stage's
own code, saved with skops, loaded by the service's Predictor, and must answer exactly what scikit-learn's
predict_proba gives for the same rows. A fast path that does not apply is skipped.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlgate.datasets.missing import as_model_input
from mlgate.datasets.schema import FeatureSchema
from mlgate.fsio import sha256_file
from mlgate.modelio import save_model
from mlgate.serving.predictor import Predictor
from mlgate.serving.schema import RequestError
from mlgate.serving.settings import ServingSettings
from mlgate.stages.train import build_pipeline, model_card

IMPUTE = ("mean", "median", "most_frequent", "none")
CATEGORICAL_KINDS = ("string", "integer", "boolean")
COMBINATIONS = list(itertools.product(IMPUTE, (True, False), ("onehot", "ordinal"), CATEGORICAL_KINDS))


def table(kind: str, rows: int = 240) -> pd.DataFrame:
    """Two numeric features with missing values, one categorical of `kind` with missing values, a label."""
    rng = np.random.default_rng(1)
    size, weight = rng.normal(10, 3, rows), rng.normal(0, 1, rows)
    code = rng.integers(0, 3, rows)
    category = {"string": np.array(["red", "green", "blue"], dtype=object)[code], "integer": code + 1}
    category["boolean"] = code == 0
    label = np.where((size > 10) ^ (code == 1), "yes", "no")
    frame = pd.DataFrame({"size": size, "weight": weight, "colour": category[kind], "label": label})
    frame.loc[::11, "size"] = np.nan
    frame["colour"] = frame["colour"].astype(object)
    frame.loc[5::13, "colour"] = None
    return frame


def served(
    impute: str, scale: bool, encoding: str, kind: str, folder: Path
) -> tuple[Predictor, Any, pd.DataFrame]:
    """The train stage's pipeline for these settings, fitted, saved and loaded as the service loads it."""
    frame = table(kind)
    schema = FeatureSchema("label", "classification", ("size", "weight"), ("colour",))
    model = {
        "estimator": "sklearn.ensemble.HistGradientBoostingClassifier"
        if impute == "none"
        else "sklearn.linear_model.LogisticRegression",
        "params": {"max_iter": 30} if impute == "none" else {},
        "seed": 0,
        "preprocessing": {"numeric_impute": impute, "scale": scale, "categorical_encoding": encoding},
    }
    inputs = as_model_input(frame, schema.categorical)
    pipeline = build_pipeline(model, schema).fit(inputs[schema.features], inputs["label"])
    (folder / "models").mkdir(parents=True)
    save_model(pipeline, folder / "models/model.skops")
    card = {
        **model_card(pipeline, inputs, schema, model),
        "sha256": sha256_file(folder / "models/model.skops"),
    }
    (folder / "models/model.json").write_text(json.dumps(card))
    return Predictor.load(ServingSettings(name="t", max_batch_size=500), folder), pipeline, frame


def request(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows as a client sends them: JSON values, the categorical as its JSON type, missing as null."""
    rows = frame[["size", "weight", "colour"]].astype(object).where(frame.notna(), None)
    return json.loads(json.dumps(rows.to_dict(orient="records"), default=lambda v: v.item()))


@pytest.mark.parametrize(("impute", "scale", "encoding", "kind"), COMBINATIONS, ids=lambda v: str(v))
def test_every_preprocessing_serves_what_scikit_learn_predicts(
    impute: str, scale: bool, encoding: str, kind: str, tmp_path: Path
) -> None:
    predictor, pipeline, frame = served(impute, scale, encoding, kind, tmp_path)
    assert "colour" in predictor.schema.nullable  # the categorical imputer fills it in
    assert "size" in predictor.schema.nullable  # imputed, or (impute none) HistGradientBoosting takes NaN
    rows = frame.head(40)
    answers = predictor.predict(predictor.schema.check(request(rows)))
    expected = pipeline.predict_proba(as_model_input(rows, ["colour"])[["size", "weight", "colour"]])
    got = np.array([[answer["probabilities"][c] for c in ("no", "yes")] for answer in answers])
    np.testing.assert_array_equal(got, expected)
    assert [a["prediction"] for a in answers] == pipeline.predict(
        as_model_input(rows, ["colour"])[["size", "weight", "colour"]]
    ).tolist()


def test_a_null_the_model_cannot_take_names_the_setting(tmp_path: Path) -> None:
    """LogisticRegression has no NaN of its own: without an imputer, null is refused with what allows it."""
    frame = table("string").dropna()
    schema = FeatureSchema("label", "classification", ("size", "weight"), ("colour",))
    model = {
        "estimator": "sklearn.linear_model.LogisticRegression",
        "params": {},
        "seed": 0,
        "preprocessing": {"numeric_impute": "none", "scale": True, "categorical_encoding": "onehot"},
    }
    inputs = as_model_input(frame, schema.categorical)
    pipeline = build_pipeline(model, schema).fit(inputs[schema.features], inputs["label"])
    (tmp_path / "models").mkdir()
    save_model(pipeline, tmp_path / "models/model.skops")
    card = {
        **model_card(pipeline, inputs, schema, model),
        "sha256": sha256_file(tmp_path / "models/model.skops"),
    }
    (tmp_path / "models/model.json").write_text(json.dumps(card))
    predictor = Predictor.load(ServingSettings(name="t"), tmp_path)
    assert "size" not in predictor.schema.nullable
    with pytest.raises(RequestError) as refused:
        predictor.schema.check([{"size": None, "weight": 0.5, "colour": "red"}])
    message = str(refused.value)
    assert message.startswith("records[0].size: expected a number, got null;") and "numeric_impute" in message
    assert "null null" not in message
