"""The one missing-value rule: which cells count as missing wherever mlgate reads data.

The data stage's CSV reader, the monitor's chunked reader and the service's request check all take
their notion of "missing" from here, and the model sees missing values the same way everywhere:
NaN in a numeric column, None in a categorical one.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

# The text a CSV cell may hold to mean "missing" (an empty cell among them); pandas' and pyarrow's defaults.
NA_TOKENS: tuple[str, ...] = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
)  # fmt: skip


def read_csv(path: Any) -> pd.DataFrame:
    """A whole CSV file, with the missing-value tokens read as missing."""
    return pd.read_csv(path, keep_default_na=False, na_values=list(NA_TOKENS))


def as_model_input(frame: pd.DataFrame, categorical: list[str] | tuple[str, ...]) -> pd.DataFrame:
    """Categorical columns as text with None where missing, so the model sees one type in training and use."""
    if not categorical:
        return frame
    converted = {
        name: frame[name].astype("string").astype(object).where(frame[name].notna(), None)
        for name in categorical
    }
    return frame.assign(**converted)
