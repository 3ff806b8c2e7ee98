"""Markdown building blocks the report's renderers share: numbers, intervals, code spans, tables."""

from __future__ import annotations

import json
from typing import Any

from mlgate.untrusted import code_span

ARROW = {True: "↑", False: "↓"}


def num(value: Any, signed: bool = False) -> str:
    """A value with fixed precision: 4 decimals for floats, ints as they are, — when missing."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return code_span(json.dumps(value) if not isinstance(value, str) else value)
    if isinstance(value, int):
        return f"{value:+d}" if signed else str(value)
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value:+.2f}%"


def interval(values: list[float] | None, signed: bool = True) -> str:
    """A CI as [low, high]; signed for a Δ, plain for an absolute value; — when it is undefined."""
    if not values or None in values:
        return "—"
    return f"[{values[0]:+.4f}, {values[1]:+.4f}]" if signed else f"[{values[0]:.4f}, {values[1]:.4f}]"


def table(header: list[str], rows: list[list[str]], align: str = "") -> str:
    """A markdown table; `align` holds one of l/r per column (left by default)."""
    marks = [("---:" if (align[i : i + 1] == "r") else "---") for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(marks) + " |"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def p_text(value: float | None, samples: int) -> str:
    """A bootstrap p-value; 0 means no draw fell beyond 0, so it reads `< 1/B`."""
    if value is None:
        return "—"
    return f"< {1 / max(samples, 1):.2g}" if value == 0 else f"{value:.3g}"
