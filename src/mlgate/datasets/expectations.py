"""Check declared expectations on the data and report every failing column at once."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from mlgate.datasets.schema import FeatureSchema
from mlgate.errors import DataValidationError

DTYPE_CHECKS = {
    "number": lambda s: ptypes.is_numeric_dtype(s) and not ptypes.is_bool_dtype(s),
    "integer": lambda s: ptypes.is_integer_dtype(s) or (ptypes.is_float_dtype(s) and _whole(s)),
    "string": lambda s: ptypes.is_string_dtype(s) or ptypes.is_object_dtype(s),
    "category": lambda s: not ptypes.is_float_dtype(s),
    "boolean": ptypes.is_bool_dtype,
}


def _whole(series: pd.Series) -> bool:
    values = series.dropna()
    return bool((values == values.round()).all())


def _column_problems(series: pd.Series, rule: dict[str, Any]) -> list[str]:
    """What is wrong with one column, each with how far it is off."""
    problems = []
    nulls = float(series.isna().mean()) if len(series) else 0.0
    if "max_null_fraction" in rule and nulls > rule["max_null_fraction"]:
        problems.append(f"null fraction {nulls:.3f} exceeds max_null_fraction {rule['max_null_fraction']}")
    dtype = rule.get("dtype")
    if dtype and not DTYPE_CHECKS[dtype](series):
        problems.append(f"expected dtype {dtype}, found {series.dtype}")
        return problems  # range checks are meaningless on the wrong type
    values = series.dropna()
    numeric = ptypes.is_numeric_dtype(series) and not ptypes.is_bool_dtype(series)
    if "min" in rule and numeric and len(values) and values.min() < rule["min"]:
        below = int((values < rule["min"]).sum())
        problems.append(f"{below} value(s) below min {rule['min']} (lowest {values.min():.6g})")
    if "max" in rule and numeric and len(values) and values.max() > rule["max"]:
        above = int((values > rule["max"]).sum())
        problems.append(f"{above} value(s) above max {rule['max']} (highest {values.max():.6g})")
    if "allowed" in rule:
        unexpected = sorted({str(v) for v in values.unique()} - {str(v) for v in rule["allowed"]})
        if unexpected:
            shown = ", ".join(unexpected[:5]) + (" …" if len(unexpected) > 5 else "")
            problems.append(f"{len(unexpected)} value(s) not in allowed: {shown}")
    return problems


def _infinite(series: pd.Series) -> int:
    if not ptypes.is_float_dtype(series):
        return 0
    return int(np.isinf(series.to_numpy(dtype=float, na_value=np.nan)).sum())


def _target_problems(frame: pd.DataFrame, schema: FeatureSchema) -> list[str]:
    target = frame[schema.target]
    problems = []
    if target.isna().any():
        problems.append(f"{int(target.isna().sum())} missing target value(s)")
    if schema.task == "classification":
        classes = target.dropna().nunique()
        if classes < 2:
            problems.append(f"classification needs at least 2 classes, found {classes}")
    elif not ptypes.is_numeric_dtype(target) or ptypes.is_bool_dtype(target):
        problems.append(f"regression needs a numeric target, found {target.dtype}")
    return problems


def check_expectations(frame: pd.DataFrame, expectations: dict[str, Any], schema: FeatureSchema) -> None:
    """Raise DataValidationError listing every column that misses its expectations."""
    failures: dict[str, list[str]] = {}
    required = [*expectations["required_columns"], *expectations["columns"]]
    for column in dict.fromkeys(required):
        if column not in frame.columns:
            failures[column] = ["required column is missing"]
    for column, rule in expectations["columns"].items():
        if column in frame.columns and (problems := _column_problems(frame[column], rule)):
            failures[column] = problems
    for column in frame.columns:
        if infinite := _infinite(frame[column]):
            failures.setdefault(column, []).append(
                f"{infinite} infinite value(s); mlgate takes only finite numbers (or missing ones)"
            )
    if target_problems := _target_problems(frame, schema):
        failures.setdefault(schema.target, []).extend(target_problems)
    if failures:
        lines = [f"  {column}: {'; '.join(problems)}" for column, problems in failures.items()]
        raise DataValidationError(
            f"data failed {len(failures)} expectation check(s) (params.yaml data.expectations):\n"
            + "\n".join(lines)
        )
