"""Mermaid `xychart-beta` blocks that GitHub renders in a comment, with no image hosting.

GitHub shows no legend for xycharts, so every chart fixes its colours (grey = base, blue = PR) through
the theme's plot palette and the report prints a text key under it.
"""

from __future__ import annotations

from collections.abc import Sequence

from mlgate.untrusted import code_span, one_line

BASE_COLOUR, PR_COLOUR, GUIDE_COLOUR = "#8c959f", "#0969da", "#d0d7de"
LABEL_CHARS = 24


def label(text: str, limit: int | None = LABEL_CHARS) -> str:
    """A quoted xychart label: no double quotes inside, long names shortened to `limit` characters."""
    clean = " ".join(one_line(text).replace('"', "'").replace("`", "'").split())
    if limit and len(clean) > limit:
        clean = clean[: limit - 1] + "…"
    return f'"{clean}"'


def numbers(values: Sequence[float | None]) -> str:
    """A series with fixed precision; a missing point becomes 0 (xychart has no gaps)."""
    return "[" + ", ".join(f"{0.0 if v is None else v:.4f}" for v in values) + "]"


def xychart(
    title: str,
    x_title: str,
    categories: Sequence[str],
    y_title: str,
    series: Sequence[tuple[str, str, Sequence[float | None]]],
    y_range: tuple[float, float] | None = None,
    horizontal: bool = False,
) -> str:
    """One fenced mermaid block; `series` holds (kind: line|bar, colour, values) in drawing order."""
    palette = ", ".join(colour for _, colour, _ in series)
    axis = f" {y_range[0]:.4f} --> {y_range[1]:.4f}" if y_range else ""
    lines = [
        "```mermaid",
        "---",
        "config:",
        "  themeVariables:",
        "    xyChart:",
        f'      plotColorPalette: "{palette}"',
        "---",
        "xychart-beta" + (" horizontal" if horizontal else ""),
        f"  title {label(title, limit=None)}",
        f"  x-axis {label(x_title)} [{', '.join(label(c) for c in categories)}]",
        f"  y-axis {label(y_title)}{axis}",
    ]
    lines += [f"  {kind} {numbers(values)}" for kind, _, values in series]
    lines.append("```")
    return "\n".join(lines)


def two_sides(
    base: Sequence[float | None] | None, pr: Sequence[float | None] | None, kind: str = "line"
) -> list[tuple[str, str, Sequence[float | None]]]:
    """Series for base (grey, drawn first) and PR (blue), skipping a side without data."""
    series: list[tuple[str, str, Sequence[float | None]]] = []
    if base is not None:
        series.append((kind, BASE_COLOUR, base))
    if pr is not None:
        series.append((kind, PR_COLOUR, pr))
    return series


def key(base_rev: str, has_base: bool, has_pr: bool = True, extra: str = "", suffix: str = "") -> str:
    """The text key GitHub's missing legend needs; `suffix` qualifies the base and PR series."""
    parts = []
    if has_base:
        parts.append(f"grey = base {code_span(base_rev)}{suffix} (drawn first)")
    if has_pr:
        parts.append(f"blue = this PR{suffix}")
    return "<sub>Key: " + ", ".join(parts) + (f", {extra}" if extra else "") + ".</sub>"
