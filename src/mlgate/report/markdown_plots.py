"""The report's plots section: Mermaid charts of the curves, confusion matrices, importances, binned means."""

from __future__ import annotations

from typing import Any

from mlgate.report import mermaid
from mlgate.report.md import table
from mlgate.untrusted import code_span

CLASS_COLOURS: tuple[str, ...] = ("#bc4c00", "#1a7f37", "#8250df", "#bf3989", "#9a6700", "#0550ae")
CLASS_COLOURS += ("#cf222e", "#116329", "#6639ba", "#953800", "#4d2d00", "#57606a")


def curve_chart(chart: dict[str, Any], title: str, axes: tuple[str, str], rev: str) -> str:
    """One curve chart named for its metric: base and PR (averaged for multiclass), and the PR per class."""
    series = mermaid.two_sides(chart["base"], chart["pr"])
    classes = list(chart["classes"].items())
    series += [
        ("line", CLASS_COLOURS[i % len(CLASS_COLOURS)], values) for i, (_, values) in enumerate(classes)
    ]
    grid = [f"{x:.1f}" for x in chart["grid"]]
    named = f"{title}: {chart['metric']}"
    block = mermaid.xychart(named, axes[0], grid, axes[1], series, (0, 1))
    extra = ", ".join(
        f"{CLASS_COLOURS[i % len(CLASS_COLOURS)]} = class {code_span(label)} (PR)"
        for i, (label, _) in enumerate(classes)
    )
    averaged = ", averaged" if classes else ""
    key = mermaid.key(rev, chart["base"] is not None, chart["pr"] is not None, extra=extra, suffix=averaged)
    return f"#### {named}\n\n{block}\n{key}"


def plots_section(report: dict[str, Any]) -> str | None:
    charts, rev, parts = report["charts"], report["base"]["rev"], []
    for name, title, axes in (
        ("roc", "ROC curve", ("false positive rate", "true positive rate")),
        ("precision_recall", "Precision-recall curve", ("recall", "precision")),
    ):
        if name in charts:
            parts.append(curve_chart(charts[name], title, axes, rev))
    if "confusion" in charts:
        parts.append("#### Confusion matrices\n\n" + _confusion_table(charts["confusion"]))
    if "importance" in charts:
        parts.append("#### Top feature importances\n\n" + _importance_chart(charts["importance"], rev))
    if "predicted_vs_actual" in charts:
        parts.append(
            "#### Predicted vs actual (binned means)\n\n" + _binned_chart(charts["predicted_vs_actual"], rev)
        )
    return "### Plots\n\n" + "\n\n".join(parts) if parts else None


def _confusion_table(matrix: dict[str, Any]) -> str:
    labels, base, pr = matrix["labels"], matrix["base"], matrix["pr"]
    body = []
    for i, actual in enumerate(labels):
        cells = [
            f"{base[i][j]} → {pr[i][j]}" if base and pr else str((pr or base)[i][j])
            for j in range(len(labels))
        ]
        body.append([f"**{actual}**", *cells])
    note = "base → PR counts" if base and pr else "counts"
    return (
        table(["actual ╲ predicted", *[code_span(label) for label in labels]], body, "l" + "r" * len(labels))
        + f"\n\n<sub>Cells: {note}; rows are the actual class, columns the predicted one.</sub>"
    )


def _importance_chart(data: dict[str, Any], rev: str) -> str:
    series = []
    if data["pr"] is not None:
        series.append(("bar", mermaid.PR_COLOUR, data["pr"]))
    if data["base"] is not None:
        series.append(("line", mermaid.BASE_COLOUR, data["base"]))
    scored = f": the drop in {data['metric']} when a feature is shuffled" if data.get("metric") else ""
    block = mermaid.xychart(
        f"Permutation importance{scored}", "feature", data["features"], "importance", series, horizontal=True
    )
    key = (
        "<sub>Key: blue bars = this PR"
        + (f", grey line = base {code_span(rev)}" if data["base"] is not None else "")
        + "; features ranked by the PR's importance.</sub>"
    )
    return block + "\n" + key


def _binned_chart(data: dict[str, Any], rev: str) -> str:
    categories = [f"{v:.4g}" if v is not None else "—" for v in data["actual"]]
    series = [("line", mermaid.GUIDE_COLOUR, data["actual"]), *mermaid.two_sides(data["base"], data["pr"])]
    block = mermaid.xychart(
        "Predicted vs actual: mean prediction per bin",
        "mean actual value",
        categories,
        "mean prediction",
        series,
    )
    return block + "\n" + mermaid.key(rev, data["base"] is not None, extra="light grey = perfect prediction")
