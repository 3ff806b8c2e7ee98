"""The request schema, built from the model card's features, and a fast columnar check of whole batches.

Checking column by column (one pass per feature over the batch) is several times faster than validating a
pydantic model per record, and still names the record and field of the first problem.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

NUMBER_TYPES = frozenset({int, float})
NUMBER_OR_NULL_TYPES = NUMBER_TYPES | {type(None)}
# Many estimators (all of scikit-learn's trees) compute in float32 and fail on magnitudes near its maximum
# (3.4e38). Inputs are bounded so that, after preprocessing, every value stays within this limit: such
# requests then get a 400 instead of failing the whole merged batch.
NUMBER_LIMIT = 1e38
RECORDS_FIELD = "records"


class RequestError(ValueError):
    """A request that does not fit the schema; the message names the offending field."""


def _shown(value: Any) -> str:
    """A short, JSON-like rendering of a bad value for an error message."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _kind(value: Any) -> str:
    """The JSON name of a parsed value's type."""
    names = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _described(value: Any) -> str:
    """A bad value's JSON type and value, e.g. `string "12.5"`."""
    return f"{_kind(value)} {_shown(value)}"


def _as_float(value: int | float) -> float:
    """The value as a float, infinite when it is beyond float range."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


class RecordSchema:
    """Required, typed fields of one record: numbers for numeric features, enums for categorical ones."""

    def __init__(
        self,
        features: list[dict[str, Any]],
        max_rows: int,
        limits: dict[str, float] | None = None,
        nullable: frozenset[str] = frozenset(),
    ) -> None:
        self.features = features
        self.nullable = nullable  # numeric features a request may send as null (the model imputes them)
        self.limits = {f["name"]: NUMBER_LIMIT for f in features if f["kind"] == "numeric"} | (limits or {})
        self.names = [feature["name"] for feature in features]
        self.numeric = [f["name"] for f in features if f["kind"] == "numeric"]
        self.categories = {
            f["name"]: frozenset(f.get("categories", ())) for f in features if f["kind"] != "numeric"
        }
        self.keys = frozenset(self.names)
        self.max_rows = max_rows

    def json_schema(self) -> dict[str, Any]:
        """JSON Schema of the `records` array, for the OpenAPI document and the docs."""
        properties: dict[str, Any] = {}
        for feature in self.features:
            if feature["kind"] == "numeric":
                name = feature["name"]
                nullable = name in self.nullable
                properties[name] = {
                    "type": ["number", "null"] if nullable else "number",
                    "minimum": -self.limits[name],
                    "maximum": self.limits[name],
                    "description": f"numeric feature ({feature['dtype']})"
                    + ("; null when missing, the model fills it in" if nullable else ""),
                }
            else:
                options = sorted(self.categories[feature["name"]])
                properties[feature["name"]] = {
                    "type": "string",
                    "enum": options,
                    "description": "categorical feature",
                }
        record = {
            "type": "object",
            "properties": properties,
            "required": self.names,
            "additionalProperties": False,
        }
        return {
            "type": "array",
            "items": record,
            "minItems": 1,
            "maxItems": self.max_rows,
            "description": "the records to score, one object per row",
        }

    def check(self, records: Any) -> list[dict[str, Any]]:
        """Return the records when they all fit the schema; raise RequestError naming the first bad field."""
        if not isinstance(records, list):
            raise RequestError(f"{RECORDS_FIELD}: expected an array of records, got {_kind(records)}")
        if not records:
            raise RequestError(f"{RECORDS_FIELD}: empty batch; send at least one record")
        if len(records) > self.max_rows:
            raise RequestError(
                f"{RECORDS_FIELD}: {len(records)} records is over the maximum of {self.max_rows} per request"
            )
        keys = self.keys
        for index, record in enumerate(records):
            if type(record) is not dict or record.keys() != keys:
                self._record_problem(index, record)
        for name in self.numeric:
            self._check_numbers(records, name)
        for name, allowed in self.categories.items():
            self._check_categories(records, name, allowed)
        return records

    def _record_problem(self, index: int, record: Any) -> None:
        if not isinstance(record, dict):
            raise RequestError(f"{RECORDS_FIELD}[{index}]: expected an object, got {_kind(record)}")
        missing = [name for name in self.names if name not in record]
        if missing:
            raise RequestError(f"{RECORDS_FIELD}[{index}].{missing[0]}: required field is missing")
        unknown = sorted(str(name) for name in record if name not in self.keys)
        raise RequestError(f"{RECORDS_FIELD}[{index}].{unknown[0]}: unknown field")

    def _check_numbers(self, records: list[dict[str, Any]], name: str) -> None:
        values = [record[name] for record in records]
        nullable = name in self.nullable
        allowed = NUMBER_OR_NULL_TYPES if nullable else NUMBER_TYPES
        if not set(map(type, values)) <= allowed:
            index = next(i for i, v in enumerate(values) if type(v) not in allowed)
            expected = "a number or null" if nullable else "a number"
            raise RequestError(
                f"{RECORDS_FIELD}[{index}].{name}: expected {expected}, got {_described(values[index])}"
            )
        try:
            column = np.asarray(values, dtype=np.float64)  # null becomes NaN
        except OverflowError:  # an integer beyond float range
            column = np.array([math.nan if value is None else _as_float(value) for value in values])
        limit = self.limits[name]
        inside = np.abs(column) <= limit  # False for NaN too
        if nullable and not inside.all():
            inside |= np.fromiter((value is None for value in values), dtype=bool, count=len(values))
        if not inside.all():
            index = int(np.argmin(inside))
            raise RequestError(
                f"{RECORDS_FIELD}[{index}].{name}: expected a finite number of magnitude at most {limit:g}, "
                f"got {_shown(values[index])}"
            )

    def _check_categories(self, records: list[dict[str, Any]], name: str, allowed: frozenset[str]) -> None:
        values = [record[name] for record in records]
        if set(map(type, values)) != {str}:
            index = next(i for i, v in enumerate(values) if type(v) is not str)
            raise RequestError(
                f"{RECORDS_FIELD}[{index}].{name}: expected a string, got {_described(values[index])}"
            )
        if not allowed.issuperset(values):
            index = next(i for i, v in enumerate(values) if v not in allowed)
            raise RequestError(
                f"{RECORDS_FIELD}[{index}].{name}: unknown category {_shown(values[index])}; "
                f"expected one of {', '.join(_shown(option) for option in sorted(allowed))}"
            )

    def columns(self, records: list[dict[str, Any]]) -> dict[str, np.ndarray]:
        """Checked records as one array per feature, in the model's feature order."""
        return {
            name: np.asarray(
                [record[name] for record in records],
                dtype=np.float64 if name not in self.categories else object,
            )
            for name in self.names
        }
