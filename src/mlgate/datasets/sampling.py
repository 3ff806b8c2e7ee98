"""`model.train_rows`: a seeded sample of the train split, each class in proportion, that is the same
whether the split is one frame or many partitions: a row is kept by its own seeded draw (keyed by its
row id), and each class keeps its rows with the lowest draws."""

from __future__ import annotations

import pandas as pd

from mlgate.datasets.schema import ROW_ID, FeatureSchema
from mlgate.rowhash import TRAIN_SAMPLE_STREAM, uniform

OVERSAMPLE = 1.2


def _strata(part: pd.DataFrame, schema: FeatureSchema) -> pd.Series:
    if schema.task == "classification":
        return part[schema.target].astype(str)
    return pd.Series("", index=part.index)


def strata_counts(part: pd.DataFrame, schema: FeatureSchema) -> dict[str, int]:
    """Rows per class (one stratum for a regression)."""
    return {str(k): int(v) for k, v in _strata(part, schema).value_counts().items()}


def add_counts(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {key: a.get(key, 0) + b.get(key, 0) for key in a.keys() | b.keys()}


def quotas(counts: dict[str, int], rows: int) -> tuple[dict[str, int], dict[str, float]]:
    """How many rows each class keeps, and the share of its rows a first pass must bring in for that."""
    total = sum(counts.values())
    wanted = {key: max(1, round(min(rows, total) * n / total)) for key, n in counts.items()}  # every class
    share = {key: min(1.0, (OVERSAMPLE * k + 50) / counts[key]) for key, k in wanted.items()}
    return wanted, share


def candidates(part: pd.DataFrame, schema: FeatureSchema, seed: int, share: dict[str, float]) -> pd.DataFrame:
    """A partition's rows whose draw falls under their class's share, with the draw."""
    draw = uniform(part[ROW_ID].to_numpy(), seed, TRAIN_SAMPLE_STREAM)
    stratum = _strata(part, schema)
    keep = draw < stratum.map(share).to_numpy(dtype=float)
    return part[keep].assign(_draw=draw[keep], _stratum=stratum[keep].to_numpy())


def choose(found: pd.DataFrame, wanted: dict[str, int]) -> pd.DataFrame:
    """Each class's rows with the lowest draws, in draw order."""
    chosen = [group.nsmallest(wanted[str(key)], "_draw") for key, group in found.groupby("_stratum")]
    sample = pd.concat(chosen).sort_values("_draw", kind="stable") if chosen else found
    return sample.drop(columns=["_draw", "_stratum"]).reset_index(drop=True)


def sample_frame(frame: pd.DataFrame, schema: FeatureSchema, rows: int | None, seed: int) -> pd.DataFrame:
    """The frame itself when `rows` is None or covers it, else its sample of `rows` rows."""
    if rows is None or rows >= len(frame):
        return frame
    wanted, share = quotas(strata_counts(frame, schema), rows)
    return choose(candidates(frame, schema, seed, share), wanted)
