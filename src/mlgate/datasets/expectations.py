"""Check declared expectations on the data and report every failing column at once.

The check runs in two halves so that it can run partition by partition: `data_facts` reduces a frame
(or one partition of it) to counts and extremes, `merge_facts` adds partitions' facts up, and
`check_facts` judges the merged facts. The local engine runs it on the whole frame as one partition.
"""

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
MAX_LISTED = 1000  # distinct unexpected values (or classes) a fact keeps; the message shows 5
Facts = dict[str, Any]


def _whole(series: pd.Series) -> bool:
    values = series.dropna()
    return bool((values == values.round()).all())


def _is_number(series: pd.Series) -> bool:
    return ptypes.is_numeric_dtype(series) and not ptypes.is_bool_dtype(series)


def _column_facts(series: pd.Series, rule: dict[str, Any]) -> Facts:
    """Counts and extremes one column's rule is judged on."""
    values = series.dropna()
    facts: Facts = {"rows": len(series), "nulls": int(series.isna().sum()), "dtype": str(series.dtype)}
    if rule.get("dtype"):
        facts["dtype_ok"] = bool(DTYPE_CHECKS[rule["dtype"]](series))
    if _is_number(series) and len(values):
        facts.update(low=float(values.min()), high=float(values.max()))
        facts.update(below=int((values < rule["min"]).sum()) if "min" in rule else 0)
        facts.update(above=int((values > rule["max"]).sum()) if "max" in rule else 0)
    if "allowed" in rule:
        allowed = {str(v) for v in rule["allowed"]}
        facts["unexpected"] = sorted({str(v) for v in values.unique()} - allowed)[:MAX_LISTED]
    return facts


def _infinite(series: pd.Series) -> int:
    if not ptypes.is_float_dtype(series):
        return 0
    return int(np.isinf(series.to_numpy(dtype=float, na_value=np.nan)).sum())


def data_facts(frame: pd.DataFrame, expectations: dict[str, Any], schema: FeatureSchema) -> Facts:
    """What the expectations are judged on, for one frame or one partition of it."""
    target = frame[schema.target] if schema.target in frame.columns else pd.Series(dtype=float)
    return {
        "columns": list(frame.columns),
        "rules": {
            column: _column_facts(frame[column], rule)
            for column, rule in expectations["columns"].items()
            if column in frame.columns
        },
        "infinite": {column: _infinite(frame[column]) for column in frame.columns},
        "target_nulls": int(target.isna().sum()),
        "classes": sorted({str(v) for v in target.dropna().unique()})[:3],
        "target_dtype": str(target.dtype),
        "target_numeric": _is_number(target),
    }


def _merge_rule(a: Facts, b: Facts) -> Facts:
    merged = {"rows": a["rows"] + b["rows"], "nulls": a["nulls"] + b["nulls"], "dtype": a["dtype"]}
    if "dtype_ok" in a:
        merged["dtype_ok"] = a["dtype_ok"] and b["dtype_ok"]
    for key, pick in (("low", min), ("high", max)):
        present = [f[key] for f in (a, b) if key in f]
        if present:
            merged[key] = pick(present)
    for key in ("below", "above"):
        merged[key] = a.get(key, 0) + b.get(key, 0)
    if "unexpected" in a:
        merged["unexpected"] = sorted(set(a["unexpected"]) | set(b["unexpected"]))[:MAX_LISTED]
    return merged


def merge_facts(a: Facts, b: Facts) -> Facts:
    """The facts of two partitions taken together."""
    rules = {column: _merge_rule(facts, b["rules"][column]) for column, facts in a["rules"].items()}
    return {
        "columns": a["columns"],
        "rules": rules,
        "infinite": {column: count + b["infinite"][column] for column, count in a["infinite"].items()},
        "target_nulls": a["target_nulls"] + b["target_nulls"],
        "classes": sorted(set(a["classes"]) | set(b["classes"]))[:3],
        "target_dtype": a["target_dtype"],
        "target_numeric": a["target_numeric"],
    }


def _rule_problems(facts: Facts, rule: dict[str, Any]) -> list[str]:
    """What is wrong with one column, each with how far it is off."""
    problems = []
    nulls = facts["nulls"] / facts["rows"] if facts["rows"] else 0.0
    if "max_null_fraction" in rule and nulls > rule["max_null_fraction"]:
        problems.append(f"null fraction {nulls:.3f} exceeds max_null_fraction {rule['max_null_fraction']}")
    if rule.get("dtype") and not facts["dtype_ok"]:
        problems.append(f"expected dtype {rule['dtype']}, found {facts['dtype']}")
        return problems  # range checks are meaningless on the wrong type
    if facts.get("below"):
        problems.append(f"{facts['below']} value(s) below min {rule['min']} (lowest {facts['low']:.6g})")
    if facts.get("above"):
        problems.append(f"{facts['above']} value(s) above max {rule['max']} (highest {facts['high']:.6g})")
    if unexpected := facts.get("unexpected"):
        shown = ", ".join(unexpected[:5]) + (" …" if len(unexpected) > 5 else "")
        problems.append(f"{len(unexpected)} value(s) not in allowed: {shown}")
    return problems


def _target_problems(facts: Facts, schema: FeatureSchema) -> list[str]:
    problems = []
    if facts["target_nulls"]:
        problems.append(f"{facts['target_nulls']} missing target value(s)")
    if schema.task == "classification":
        if len(facts["classes"]) < 2:
            problems.append(f"classification needs at least 2 classes, found {len(facts['classes'])}")
    elif not facts["target_numeric"]:
        problems.append(f"regression needs a numeric target, found {facts['target_dtype']}")
    return problems


def check_facts(facts: Facts, expectations: dict[str, Any], schema: FeatureSchema) -> None:
    """Raise DataValidationError listing every column that misses its expectations."""
    failures: dict[str, list[str]] = {}
    required = [*expectations["required_columns"], *expectations["columns"]]
    for column in dict.fromkeys(required):
        if column not in facts["columns"]:
            failures[column] = ["required column is missing"]
    for column, rule in expectations["columns"].items():
        if column in facts["rules"] and (problems := _rule_problems(facts["rules"][column], rule)):
            failures[column] = problems
    for column, infinite in facts["infinite"].items():
        if infinite:
            failures.setdefault(column, []).append(
                f"{infinite} infinite value(s); mlgate takes only finite numbers (or missing ones)"
            )
    if target_problems := _target_problems(facts, schema):
        failures.setdefault(schema.target, []).extend(target_problems)
    if failures:
        lines = [f"  {column}: {'; '.join(problems)}" for column, problems in failures.items()]
        raise DataValidationError(
            f"data failed {len(failures)} expectation check(s) (params.yaml data.expectations):\n"
            + "\n".join(lines)
        )


def check_expectations(frame: pd.DataFrame, expectations: dict[str, Any], schema: FeatureSchema) -> None:
    """Judge the expectations on a whole frame."""
    check_facts(data_facts(frame, expectations, schema), expectations, schema)
