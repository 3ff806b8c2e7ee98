"""The one missing-value rule: which cells count as missing wherever mlgate reads data.

A value is missing when it is an empty CSV cell or one of the other NA_TOKENS in a CSV, a JSON null, or
NaN. The data stage's CSV reader and the monitor's chunked readers (CSV and JSONL) apply it here; the
service's request check takes JSON null. The model sees a missing value one way everywhere, in training
and in serving: NaN, in numeric and categorical columns alike, which is what scikit-learn's imputers and
native-NaN estimators recognise (None in a text column would be a category of its own).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

# The text a CSV cell may hold to mean "missing" (an empty cell among them); pandas' and pyarrow's defaults.
NA_TOKENS: tuple[str, ...] = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
)  # fmt: skip


MISSING = float("nan")  # a missing value as the model receives it


def is_missing(value: Any) -> bool:
    """A JSON value that means missing: null, or a NaN number."""
    return value is None or (isinstance(value, float) and value != value)


def read_csv(path: Any) -> pd.DataFrame:
    """A whole CSV file, with the missing-value tokens read as missing."""
    return pd.read_csv(path, keep_default_na=False, na_values=list(NA_TOKENS))


def as_model_input(frame: pd.DataFrame, categorical: list[str] | tuple[str, ...]) -> pd.DataFrame:
    """Categorical columns as text (object dtype) with NaN where missing, as the service passes them."""
    if not categorical:
        return frame
    converted = {
        name: frame[name].astype("string").astype(object).where(frame[name].notna(), MISSING)
        for name in categorical
    }
    return frame.assign(**converted)
