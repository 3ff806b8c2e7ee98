"""The report as GitHub-flavoured markdown: headline, metrics, params, data, slices, plots, details."""

from __future__ import annotations

import json
from typing import Any

from mlgate.report import mermaid
from mlgate.report.build import MARKER

BUDGET = 60_000  # GitHub caps a comment at 65,536 characters
ARROW = {True: "↑", False: "↓"}
TRUNCATION_NOTE = (
    "\n\n<sub>Truncated to fit a GitHub comment: "
    "the full report is attached to the workflow run as an artifact.</sub>"
)


def num(value: Any, signed: bool = False) -> str:
    """A value with fixed precision: 4 decimals for floats, ints as they are, — when missing."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"`{json.dumps(value)}`" if not isinstance(value, str) else f"`{value}`"
    if isinstance(value, int):
        return f"{value:+d}" if signed else str(value)
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value:+.2f}%"


def interval(values: list[float] | None, signed: bool = True) -> str:
    """A CI as [low, high]; signed for a Δ, plain for an absolute value."""
    if not values:
        return "—"
    return f"[{values[0]:+.4f}, {values[1]:+.4f}]" if signed else f"[{values[0]:.4f}, {values[1]:.4f}]"


def table(header: list[str], rows: list[list[str]], align: str = "") -> str:
    """A markdown table; `align` holds one of l/r per column (left by default)."""
    marks = [("---:" if (align[i : i + 1] == "r") else "---") for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(marks) + " |"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def headline(report: dict[str, Any]) -> str:
    """Gate status with its reason, the primary metric base → PR with Δ, and the verdict."""
    head, base = report["headline"], report["base"]
    status = "✅ Gates passed" if head["passed"] else "❌ Gates failed"
    lines = [
        MARKER,
        f"## mlgate report: `{base['rev']}` → this PR",
        "",
        f"**{status}**: {head['reason']}",
        "",
    ]
    if head["base"] is None:
        lines.append(f"**{head['metric']}**: {num(head['pr'])} (no baseline on `{base['rev']}`)")
    else:
        lines.append(
            f"**{head['metric']}**: {num(head['base'])} → {num(head['pr'])} "
            f"(Δ {num(head['delta'], True)}, {pct(head['delta_pct'])})"
        )
    lines += ["", head["verdict"]]
    checks = [f"- {_check_mark(c['status'])} `{c['gate']}`: {c['message']}" for c in report["gate"]["checks"]]
    if report["gates_changed"]:
        checks.append("- ⚠️ this PR changes the `gates:` section of params.yaml; review those changes.")
    lines += (["", *checks] if checks else []) + ["", _provenance(report)]
    return "\n".join(lines)


def _check_mark(status: str) -> str:
    return {"pass": "✅", "fail": "❌", "skip": "➖"}[status]


def _provenance(report: dict[str, Any]) -> str:
    base = report["base"]
    sha = f" @ `{base['sha'][:8]}`" if base.get("sha") else ""
    made = (
        f", produced by mlgate {base['mlgate_version']}"
        if base.get("mlgate_version") and base["available"]
        else ""
    )
    text = f"<sub>Base `{base['rev']}`{sha}: {base['how']}{made}. "
    text += f"Report by mlgate {report['mlgate_version']}.</sub>"
    if report["lock_note"]:
        text += f"\n\n⚠️ {report['lock_note']}"
    return text


def metrics_section(report: dict[str, Any]) -> str:
    """One row per metric: base, PR, Δ, Δ %, Δ's CI and the verdict; absolute values without a base."""
    stats, rows = report["statistics"], report["metrics"]
    level = f"{100 * stats['confidence']:.0f}%"
    if not report["base"]["available"]:
        body = [
            [
                f"{r['metric']} {ARROW[r['higher_is_better']]}",
                num(r["pr"]),
                interval(r["pr_ci"], signed=False),
            ]
            for r in rows
        ]
        return "\n".join(
            [
                f"### Metrics (no baseline on `{report['base']['rev']}`)",
                "",
                table(["Metric", "PR", f"{level} CI"], body, "lrl"),
            ]
        )
    body = [_metric_cells(r) for r in rows]
    header = ["Metric", "Base", "PR", "Δ", "Δ %", f"{level} CI of Δ", "Verdict"]
    return "\n".join(["### Metrics", "", table(header, body, "lrrrrll"), "", _method_note(report)])


def _metric_cells(row: dict[str, Any]) -> list[str]:
    name = f"{row['metric']} {ARROW[row['higher_is_better']]}"
    if row["status"] == "added":
        return [name, "—", num(row["pr"]), "—", "—", "—", "added in this PR"]
    if row["status"] == "removed":
        return [name, num(row["base"]), "—", "—", "—", "—", "removed in this PR"]
    return [
        name,
        num(row["base"]),
        num(row["pr"]),
        num(row.get("delta"), True),
        pct(row.get("delta_pct")),
        interval(row.get("delta_ci")),
        row.get("verdict", "—"),
    ]


def _method_note(report: dict[str, Any]) -> str:
    stats, data = report["statistics"], report["data"]
    if stats["method"] == "paired":
        rows = data["test_rows"][1]
        why = f"both prediction files cover the same {rows} test rows (same row ids and test-set hash)"
    elif stats["method"] == "unpaired":
        why = "the test sets differ (rows or test-set hash), so each side was resampled independently"
    else:
        return "<sub>No CI of Δ: a side has no predictions file, or evaluate.bootstrap.samples is 0.</sub>"
    return (
        f"<sub>↑ higher is better, ↓ lower is better. CI of Δ: {stats['method']} percentile bootstrap, "
        f"{stats['samples']} resamples, seed {stats['seed']}: {why}.</sub>"
    )


def params_section(report: dict[str, Any]) -> str:
    changes = report["params"]
    if not changes and not report["base"]["has_params"]:
        return f"### Params changes\n\n`{report['base']['rev']}` has no params.yaml to compare with."
    if not changes:
        return "### Params changes\n\nNo params changed."
    body = [
        [
            f"`{c['key']}`",
            "*(added)*" if c["change"] == "added" else num(c["base"]),
            "*(removed)*" if c["change"] == "removed" else num(c["pr"]),
        ]
        for c in changes
    ]
    return "### Params changes\n\n" + table(["Param", "Base", "PR"], body)


def data_section(report: dict[str, Any]) -> str:
    data = report["data"]
    body = [
        [label, num(data[key][0]), num(data[key][1])]
        for key, label in (("rows", "Rows"), ("train_rows", "Train rows"), ("test_rows", "Test rows"))
    ]
    for cls, (b, p) in (data.get("class_balance") or {}).items():
        body.append([f"Class `{cls}` share", num(b), num(p)])
    for stat, (b, p) in (data.get("target_stats") or {}).items():
        body.append([f"Target {stat}", num(b), num(p)])
    hashes = (
        f"Data hash {'**changed**' if data['data_hash_changed'] else 'unchanged'}; "
        f"test set {'**changed**' if data['test_hash_changed'] else 'unchanged'}."
    )
    if not report["base"]["available"]:
        hashes = "No baseline to compare the data with."
    return "### Data changes\n\n" + table(["", "Base", "PR"], body, "lrr") + "\n\n" + hashes


def slices_section(report: dict[str, Any]) -> str | None:
    if not report["slices"]:
        return None
    parts = ["### Sliced metrics", ""]
    for column, result in report["slices"].items():
        metric = result["metric"]
        body = [
            [f"`{g}`", f"{num(v['rows'][0])} → {num(v['rows'][1])}", num(v["value"][0]), num(v["value"][1])]
            for g, v in result["groups"].items()
        ]
        gap = result["max_gap"]
        parts += [
            f"**{column}** ({metric})",
            "",
            table(["Group", "Rows", "Base", "PR"], body, "lrrr"),
            "",
            f"Largest gap: {num(gap[0])} → {num(gap[1])}",
            "",
        ]
    return "\n".join(parts).rstrip()


def plots_section(report: dict[str, Any]) -> str | None:
    charts, rev, parts = report["charts"], report["base"]["rev"], []
    for name, title, x_title, y_title in (
        ("roc", "ROC curve", "false positive rate", "true positive rate"),
        ("precision_recall", "Precision-recall curve", "recall", "precision"),
    ):
        if name in charts:
            chart = charts[name]
            grid = [f"{x:.1f}" for x in chart["grid"]]
            block = mermaid.xychart(
                title, x_title, grid, y_title, mermaid.two_sides(chart["base"], chart["pr"]), (0, 1)
            )
            key = mermaid.key(rev, chart["base"] is not None, chart["pr"] is not None)
            parts.append(f"#### {title}\n\n{block}\n{key}")
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
        table(["actual ╲ predicted", *[f"`{label}`" for label in labels]], body, "l" + "r" * len(labels))
        + f"\n\n<sub>Cells: {note}; rows are the actual class, columns the predicted one.</sub>"
    )


def _importance_chart(data: dict[str, Any], rev: str) -> str:
    series = []
    if data["pr"] is not None:
        series.append(("bar", mermaid.PR_COLOUR, data["pr"]))
    if data["base"] is not None:
        series.append(("line", mermaid.BASE_COLOUR, data["base"]))
    block = mermaid.xychart(
        "Permutation importance", "feature", data["features"], "importance", series, horizontal=True
    )
    key = (
        "<sub>Key: blue bars = this PR"
        + (f", grey line = base `{rev}`" if data["base"] is not None else "")
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


def details_section(report: dict[str, Any], with_json: bool = True) -> str:
    commands = "\n".join(report["reproduce"])
    parts = [
        "<details><summary>Reproduce locally, and the full metrics JSON</summary>",
        "",
        "```bash",
        commands,
        "```",
        "",
    ]
    if with_json:
        parts += ["```json", json.dumps(report["metrics_json"], indent=2), "```", ""]
    else:
        parts += ["The metrics JSON was left out to fit a GitHub comment; see the full report artifact.", ""]
    parts.append("</details>")
    return "\n".join(parts)


def render_markdown(report: dict[str, Any], budget: int = BUDGET) -> str:
    """The whole markdown; over `budget` characters, slices and the JSON go first, then the plots."""
    sections = {
        "headline": headline(report),
        "metrics": metrics_section(report),
        "params": params_section(report),
        "data": data_section(report),
        "slices": slices_section(report),
        "plots": plots_section(report),
        "details": details_section(report),
    }
    cuts = [
        ("slices", "### Sliced metrics\n\nLeft out to fit a GitHub comment; see the full report artifact."),
        ("details", details_section(report, with_json=False)),
        ("plots", None),
    ]
    text, truncated = _join(sections), False
    for name, replacement in cuts:
        if not budget or len(text) <= budget:
            break
        if sections[name] is not None:
            sections[name], truncated = replacement, True
            text = _join(sections)
    note = TRUNCATION_NOTE
    if budget and len(text) + len(note) > budget and (truncated or len(text) > budget):
        text, truncated = text[: budget - len(note) - 1], True
    return text + (note if truncated else "") + "\n"


def _join(sections: dict[str, str | None]) -> str:
    return "\n\n".join(part for part in sections.values() if part)
