"""monitor.md: the monitor's verdict in the PR report's style (headline, tables, Mermaid charts)."""

from __future__ import annotations

from typing import Any

from mlgate.metrics import display_name
from mlgate.report.mermaid import label
from mlgate.untrusted import code_span, html_text, md_text

LABEL_CHARS = 40  # a histogram's labels and title, shortened past this

PREDICTION = object()  # the row of the model's own predictions, above the features

HEADLINES = {
    "alarm": "## 🚨 Monitor: alarm",
    "healthy": "## ✅ Monitor: healthy",
    "insufficient": "## ⚪ Monitor: not enough rows to test drift",
}


def render(result: dict[str, Any], top: int) -> str:
    """The whole markdown report."""
    current, reference = result["current"], result["reference"]
    lines = [HEADLINES[result["status"]], ""]
    lines.append(
        f"{current['rows']:,} rows from {', '.join(code_span(p) for p in current['paths'])} "
        f"compared with {md_text(reference['describe'])} ({reference['rows']:,} training rows)."
    )
    lines.append("")
    lines += [f"- 🚨 {md_text(line)}" for line in result["alarms"]]
    lines += [f"- ⚠️ {md_text(line)}" for line in result["warnings"]]
    lines += [f"- ℹ️ {md_text(line)}" for line in result["notes"]]
    lines += _feature_table(result)
    lines += _performance_table(result.get("performance"))
    lines += _charts(result, top)
    thresholds = result["thresholds"]
    lines += [
        "",
        f"<sub>Alarm: PSI > {thresholds['psi']} and p < {thresholds['p_value']} after "
        f"{thresholds['correction']} correction; missing rate change > {thresholds['null_rate_delta']}; "
        f"unseen categories > {thresholds['unseen_share']:.0%} of rows.</sub>",
        "",
    ]
    return "\n".join(lines)


def ranked(result: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Features, alarming ones first, then by PSI."""

    def key(item: tuple[str, dict[str, Any]]) -> tuple[bool, float]:
        data = item[1]
        return (not (data["drift"] or data["null_alarm"] or data["unseen_alarm"]), -data["psi"])

    return sorted(result["features"].items(), key=key)


def _flag(data: dict[str, Any]) -> str:
    reasons = [
        word
        for word, on in (
            ("drift", data["drift"]),
            ("missing rate", data["null_alarm"]),
            ("unseen", data["unseen_alarm"]),
        )
        if on
    ]
    return "🚨 " + ", ".join(reasons) if reasons else "✅"


def _feature_table(result: dict[str, Any]) -> list[str]:
    rows: list[tuple[object, dict[str, Any]]] = list(ranked(result))
    if result.get("prediction_drift"):
        rows = [(PREDICTION, result["prediction_drift"]), *rows]
    if not rows:
        return []
    lines = [
        "",
        "| Feature | PSI | p (adjusted) | Missing ref → now | Unseen | Verdict |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, data in rows:
        nulls = data["null_rate"]
        unseen = f"{data['unseen_share']:.1%}" if "unseen_share" in data else "–"
        lines.append(
            f"| {_name(name)} | {data['psi']:.3f} | {data['p_adjusted']:.2g} | "
            f"{nulls['reference']:.1%} → {nulls['current']:.1%} | {unseen} | {_flag(data)} |"
        )
    return lines


def _name(name: object) -> str:
    return "*prediction*" if name is PREDICTION else md_text(name)


def _performance_table(performance: dict[str, Any] | None) -> list[str]:
    if not performance:
        return []
    lines = [
        "",
        f"**Performance** on {performance['rows']:,} labelled rows",
        "",
        "| Metric | Now (95% CI) | Recorded | Floor | Verdict |",
        "|---|---:|---:|---:|---|",
    ]
    for name, data in performance["metrics"].items():
        interval = f" ({data['ci_low']:.4f}–{data['ci_high']:.4f})" if "ci_low" in data else ""
        recorded = "–" if data["recorded"] is None else f"{data['recorded']:.4f}"
        floor = "–" if data["floor"] is None else f"{data['floor']}"
        verdict = "🚨" if data["below_floor"] or data["dropped"] else "✅"
        shown = display_name(name, performance.get("average"))
        lines.append(f"| {shown} | {data['value']:.4f}{interval} | {recorded} | {floor} | {verdict} |")
    return lines


def _charts(result: dict[str, Any], top: int) -> list[str]:
    lines: list[str] = []
    for name, data in ranked(result)[:top]:
        if not (data["drift"] or data["null_alarm"] or data["unseen_alarm"]):
            break
        lines += [
            "",
            f"<details open><summary>{html_text(name)}: share of rows per bin "
            "(bars now, line reference)</summary>",
            "",
            *mermaid_histogram(name, data["histogram"]),
            "",
            "</details>",
        ]
    return lines


def mermaid_histogram(name: str, histogram: dict[str, Any]) -> list[str]:
    """A Mermaid xychart-beta: current shares as bars, reference shares as a line."""
    labels = ", ".join(label(text, LABEL_CHARS) for text in histogram["labels"])
    peak = max([*histogram["reference"], *histogram["current"], 0.01])
    return [
        "```mermaid",
        "xychart-beta",
        f"  title {label(name, LABEL_CHARS)}",
        f"  x-axis [{labels}]",
        f'  y-axis "share of rows" 0 --> {round(peak * 1.1, 3)}',
        f"  bar [{', '.join(f'{v:.4f}' for v in histogram['current'])}]",
        f"  line [{', '.join(f'{v:.4f}' for v in histogram['reference'])}]",
        "```",
    ]
