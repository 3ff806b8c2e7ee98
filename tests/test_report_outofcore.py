"""The report on the dask engine's partitioned predictions: joined on row id through buckets on disk and
scored part by part, it gives the answers of the in-memory comparison of the same rows.

Three prediction tables that the example hides: multiclass with string classes, a regression, and an
imbalanced binary one. Each is written as a folder of parts, with more rows than one bucket holds and more
than the m-out-of-n subset, and compared with the same rows as DataFrames.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlgate.report import join
from mlgate.report.build import _rescored, _statistics, tidy
from mlgate.report.changes import unpredicted_classes
from mlgate.report.charts import chart_data
from mlgate.report.parts import PredictionParts, class_counts
from mlgate.report.sides import Outputs

ROWS = 12_000  # above compare.SUBSAMPLE_ROWS, and three buckets of BUCKET_ROWS below
BUCKET_ROWS = 5_000
PARAMS = {"evaluate": {"bootstrap": {"samples": 60, "confidence": 0.95, "seed": 3}}}
METRICS = {
    "multiclass": ["accuracy", "f1", "roc_auc", "log_loss"],
    "regression": ["rmse", "mae", "r2"],
    "imbalanced": ["accuracy", "recall", "roc_auc"],
}


def _frame(kind: str, ids: np.ndarray, noise: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = len(ids)
    if kind == "regression":
        target = np.random.default_rng(0).normal(size=n)
        return pd.DataFrame({"row_id": ids, "target": target, "prediction": target + rng.normal(0, noise, n)})
    classes = ["cat", "dog", "emu"] if kind == "multiclass" else [0, 1]
    share = [0.5, 0.3, 0.2] if kind == "multiclass" else [0.95, 0.05]
    truth = np.random.default_rng(0).choice(len(classes), n, p=share)
    logits = np.eye(len(classes))[truth] * 2 + rng.normal(0, noise, (n, len(classes)))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    frame = pd.DataFrame({"row_id": ids, "target": np.array(classes, dtype=object)[truth]})
    frame["prediction"] = np.array(classes, dtype=object)[proba.argmax(axis=1)]
    for index, label in enumerate(classes):
        frame[f"proba_{label}"] = proba[:, index]
    if kind == "imbalanced":
        frame["target"] = frame["target"].astype(int)
        frame["prediction"] = frame["prediction"].astype(int)
    return frame


def _side(kind: str, frame: pd.DataFrame, folder: Path | None) -> Outputs:
    classes = None if kind == "regression" else sorted(set(frame["target"]), key=str)
    task = "regression" if kind == "regression" else "classification"
    metrics: dict[str, Any] = {name: {"value": 0.5} for name in METRICS[kind]}
    metrics.update(n_test=len(frame), bootstrap={"method": "poisson", "samples": 60})
    if kind == "multiclass":
        metrics["average"] = "macro"
    predictions: Any = frame
    if folder is not None:
        folder.mkdir(parents=True)
        shuffled = frame.sample(frac=1, random_state=1)
        for number, rows in enumerate(np.array_split(np.arange(len(frame)), 7)):
            shuffled.iloc[rows].to_parquet(folder / f"part.{number:05d}.parquet", index=False)
        predictions = PredictionParts.of(folder)
    return Outputs(
        "workspace", metrics=metrics, card={"task": task, "classes": classes}, predictions=predictions
    )


def _pair(kind: str, base_ids: np.ndarray, head_ids: np.ndarray, tmp_path: Path) -> dict[str, Any]:
    frames = {"base": _frame(kind, base_ids, 1.0, 1), "head": _frame(kind, head_ids, 1.2, 2)}
    return {
        "memory": [_side(kind, frames[s], None) for s in ("base", "head")],
        "parts": [_side(kind, frames[s], tmp_path / s) for s in ("base", "head")],
    }


def _assert_same_tests(memory: dict[str, Any], parts: dict[str, Any]) -> None:
    assert memory.keys() == parts.keys() and memory
    for name, expected in memory.items():
        found = parts[name]
        tolerance = 1e-9 + found.error_bound  # roc_auc from histograms; exact when few distinct scores
        assert abs(found.delta - expected.delta) <= tolerance, name
        assert np.allclose(found.interval, expected.interval, atol=tolerance), name
        assert abs(found.p_value - expected.p_value) < 1e-9 and abs(found.p_worse - expected.p_worse) < 1e-9


@pytest.mark.parametrize("kind", sorted(METRICS))
@pytest.mark.parametrize("layout", ["overlap", "disjoint"])
def test_partitioned_predictions_give_the_in_memory_answers(
    kind: str, layout: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(join, "BUCKET_ROWS", BUCKET_ROWS)
    ids = np.random.default_rng(7).choice(1 << 62, 2 * ROWS, replace=False)
    base_ids, head_ids = (
        (ids[:ROWS], ids[ROWS // 3 : ROWS // 3 + ROWS])
        if layout == "overlap"
        else (
            ids[:ROWS],
            ids[ROWS:],
        )
    )
    sides = _pair(kind, base_ids, head_ids, tmp_path)
    average = "macro" if kind == "multiclass" else None
    memory_stats, memory_tests = _statistics(*sides["memory"], PARAMS, average)
    parts_stats, parts_tests = _statistics(*sides["parts"], PARAMS, average)
    assert parts_stats == memory_stats
    assert parts_stats["pairing"] == ("paired" if layout == "overlap" else "unpaired")
    _assert_same_tests(memory_tests, parts_tests)
    assert tidy(chart_data(*sides["parts"], average)) == tidy(chart_data(*sides["memory"], average))
    counts = [[class_counts(s.predictions) for s in sides[form]] for form in ("memory", "parts")]
    assert unpredicted_classes(*counts[0]) == unpredicted_classes(*counts[1])


def test_a_repeated_row_id_compares_unpaired_as_in_memory(tmp_path: Path) -> None:
    ids = np.random.default_rng(8).choice(1 << 62, ROWS, replace=False)
    head_ids = ids.copy()
    head_ids[5] = head_ids[6]
    sides = _pair("imbalanced", ids, head_ids, tmp_path)
    memory_stats, memory_tests = _statistics(*sides["memory"], PARAMS, None)
    parts_stats, parts_tests = _statistics(*sides["parts"], PARAMS, None)
    assert parts_stats == memory_stats and parts_stats["pairing"] == "unpaired"
    _assert_same_tests(memory_tests, parts_tests)


def test_the_join_holds_one_bucket_of_rows_at_a_time(tmp_path: Path) -> None:
    ids = np.random.default_rng(9).choice(1 << 62, 40_000, replace=False)
    sides = _pair("regression", ids, ids[10_000:], tmp_path)
    joined = join.join_on_row_id(
        sides["parts"][0].predictions, sides["parts"][1].predictions, tmp_path / "j", 4_000
    )
    sizes = [len(pd.read_parquet(head)) for _, head in joined.buckets]
    assert joined.shared == 30_000 and sum(sizes) == 30_000
    assert len(sizes) == 10 and max(sizes) < 2 * 4_000 * 0.75 + 1  # 30,000 shared rows over 10 buckets
    for base, head in joined.pairs():
        assert base["row_id"].tolist() == head["row_id"].tolist()


def test_a_pr_averaging_differently_is_rescored_part_by_part(tmp_path: Path) -> None:
    ids = np.random.default_rng(10).choice(1 << 62, ROWS, replace=False)
    sides = _pair("multiclass", ids, ids, tmp_path)
    memory, parts = _rescored(sides["memory"][1], "weighted"), _rescored(sides["parts"][1], "weighted")
    assert memory.keys() == parts.keys() == {"f1", "roc_auc"}
    assert abs(memory["f1"] - parts["f1"]) < 1e-9 and abs(memory["roc_auc"] - parts["roc_auc"]) < 1e-3
