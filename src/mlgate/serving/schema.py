"""The request schema, built from the model card's features, and a fast check of whole batches.

All numeric values of a batch are checked at once as one matrix, which then is the model's input; that is
many times faster than validating a pydantic model per record. Only a batch with a problem (or a null) is
checked column by column, to name the record and field of the first problem.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np

from mlgate.datasets.missing import MISSING

NUMBER_TYPES = frozenset({int, float})
NUMBER_OR_NULL_TYPES = NUMBER_TYPES | {type(None)}
# Many estimators (all of scikit-learn's trees) compute in float32 and fail on magnitudes near its maximum
# (3.4e38). Inputs are bounded so that, after preprocessing, every value stays within this limit: such
# requests then get a 400 instead of failing the whole merged batch.
NUMBER_LIMIT = 1e38
RECORDS_FIELD = "records"


class RequestError(ValueError):
    """A request that does not fit the schema; the message names the offending field."""


@dataclass(frozen=True)
class CheckedRecords:
    """Records that passed the check, with the model's input arrays the check built from them on the way."""

    records: list[dict[str, Any]]
    numbers: np.ndarray  # records × numeric features (RecordSchema.numeric order), float64; null is NaN
    categories: dict[str, np.ndarray]  # one object array per categorical feature

    def __len__(self) -> int:
        return len(self.records)

    @staticmethod
    def concat(parts: list[CheckedRecords]) -> CheckedRecords:
        """Several requests' records as one batch, in order."""
        if len(parts) == 1:
            return parts[0]
        return CheckedRecords(
            [record for part in parts for record in part.records],
            np.concatenate([part.numbers for part in parts]),
            {name: np.concatenate([part.categories[name] for part in parts]) for name in parts[0].categories},
        )


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
    """A bad value's JSON type and value, e.g. `string "12.5"`; just `null` for null."""
    return "null" if value is None else f"{_kind(value)} {_shown(value)}"


def _getter(names: list[str]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """A record's values of `names` as a tuple (operator.itemgetter gives a bare value for one name)."""
    if len(names) == 1:
        name = names[0]
        return lambda record: (record[name],)
    return itemgetter(*names) if names else lambda record: ()


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
        self._numeric_values = _getter(self.numeric)
        self.bounds = np.array([self.limits[name] for name in self.numeric], dtype=np.float64)

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
                name = feature["name"]
                nullable = name in self.nullable
                properties[name] = {
                    "type": ["string", "null"] if nullable else "string",
                    "enum": [*sorted(self.categories[name]), *([None] if nullable else [])],
                    "description": "categorical feature; a number or boolean is read as its text"
                    + ("; null when missing, the model fills it in" if nullable else ""),
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

    def check(self, records: Any) -> CheckedRecords:
        """The records and the model's input arrays if all fit; else RequestError naming the first bad field.

        Each value is read once, and what the check builds from the values is what the model takes.
        """
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
        numbers = self._numbers(records)
        categories = {
            name: self._check_categories(records, name, allowed) for name, allowed in self.categories.items()
        }
        return CheckedRecords(records, numbers, categories)

    def columns(self, batch: CheckedRecords) -> dict[str, np.ndarray]:
        """A checked batch as one array per feature, in the model's feature order."""
        numbers = dict(zip(self.numeric, batch.numbers.T, strict=True))
        return {name: numbers[name] if name in numbers else batch.categories[name] for name in self.names}

    def _numbers(self, records: list[dict[str, Any]]) -> np.ndarray:
        """The numeric features as one matrix, checked at once; column by column only to name a problem."""
        rows = list(map(self._numeric_values, records))
        if set(map(type, chain.from_iterable(rows))) <= NUMBER_TYPES:
            try:
                matrix = np.array(rows, dtype=np.float64).reshape(len(records), len(self.numeric))
            except OverflowError:  # an integer beyond float range: the column check names it
                pass
            else:
                if (np.abs(matrix) <= self.bounds).all():  # False for NaN too
                    return matrix
        # Some value is not a plain finite number: a null where allowed, else a problem the columns name.
        return np.column_stack([self._check_numbers(records, name) for name in self.numeric])

    def _record_problem(self, index: int, record: Any) -> None:
        if not isinstance(record, dict):
            raise RequestError(f"{RECORDS_FIELD}[{index}]: expected an object, got {_kind(record)}")
        missing = [name for name in self.names if name not in record]
        if missing:
            raise RequestError(f"{RECORDS_FIELD}[{index}].{missing[0]}: required field is missing")
        unknown = sorted(str(name) for name in record if name not in self.keys)
        raise RequestError(f"{RECORDS_FIELD}[{index}].{unknown[0]}: unknown field")

    def _refuse_null(self, index: int, name: str, expected: str) -> None:
        raise RequestError(
            f"{RECORDS_FIELD}[{index}].{name}: expected {expected}, got null; this model cannot take a "
            "missing value here: train it with model.preprocessing.numeric_impute (median or mean) or "
            "with an estimator that handles NaN to allow null"
        )

    def _check_numbers(self, records: list[dict[str, Any]], name: str) -> np.ndarray:
        values = [record[name] for record in records]
        nullable = name in self.nullable
        allowed = NUMBER_OR_NULL_TYPES if nullable else NUMBER_TYPES
        if not set(map(type, values)) <= allowed:
            index = next(i for i, v in enumerate(values) if type(v) not in allowed)
            if values[index] is None:
                self._refuse_null(index, name, "a number")
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
        return column

    def _check_categories(
        self, records: list[dict[str, Any]], name: str, allowed: frozenset[str]
    ) -> np.ndarray:
        values = [record[name] for record in records]
        if set(map(type, values)) == {str} and allowed.issuperset(values):
            return np.asarray(values, dtype=object)
        texts = [self._category(index, name, value, allowed) for index, value in enumerate(values)]
        return np.asarray(texts, dtype=object)

    def _category(self, index: int, name: str, value: Any, allowed: frozenset[str]) -> str | float:
        """One categorical value as the text the model was trained on: numbers and booleans as their text."""
        if value is None:
            if name not in self.nullable:
                self._refuse_null(index, name, "a string")
            return MISSING
        if type(value) not in (str, bool, int, float):
            raise RequestError(f"{RECORDS_FIELD}[{index}].{name}: expected a string, got {_described(value)}")
        for text in _spellings(value):
            if text in allowed:
                return text
        raise RequestError(
            f"{RECORDS_FIELD}[{index}].{name}: unknown category {_shown(value)}; "
            f"expected one of {', '.join(_shown(option) for option in sorted(allowed))}"
        )


def _spellings(value: str | bool | int | float) -> list[str]:
    """How the data stage may have written a value as text: 1 as "1" or "1.0", True as "True"."""
    if isinstance(value, str | bool):
        return [str(value)]
    if isinstance(value, int) or float(value).is_integer():
        return [str(int(value)), str(float(value))]
    return [str(value)]
