"""The report rendered for a terminal with rich: the same content as the markdown, minus the charts."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mlgate.metrics import display_name
from mlgate.report.md import interval, p_text, pct

STATUS_STYLE = {"pass": "[green]pass[/green]", "fail": "[red]FAIL[/red]", "skip": "[dim]skip[/dim]"}
VERDICT_STYLE = {"better": "green", "worse": "red"}


def _num(value: Any, signed: bool = False) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:+.4f}" if signed else f"{value:.4f}"
    return str(value)


def print_gate(console: Console, report: dict[str, Any]) -> None:
    """The gate verdict and each check, as `mlgate gate` prints it."""
    gate = report["gate"]
    worse, reason = gate.get("worse") or [], escape(gate["reason"])
    if not gate["passed"]:
        console.print(f"[red]❌ gates failed[/red]: {reason}", soft_wrap=True)
    elif worse:
        line = f"⚠️ gates passed ({reason}), but significantly worse: {', '.join(worse)}"
        console.print(f"[yellow]{line}[/yellow]", soft_wrap=True)
    else:
        console.print(f"[green]✅ gates passed[/green]: {reason}", soft_wrap=True)
    for check in gate["checks"]:
        console.print(
            f"  {STATUS_STYLE[check['status']]}  {check['gate']}: {escape(check['message'])}", soft_wrap=True
        )
    policy = report.get("policy") or {}
    if policy.get("source") == "head":
        console.print(f"[yellow]⚠️ {escape(policy['reason'])}[/yellow]", soft_wrap=True)
    if policy.get("pending"):
        keys = escape(", ".join(change["key"] for change in policy["pending"]))
        console.print(f"[dim]policy changes, applied once merged: {keys}[/dim]", soft_wrap=True)


def _metrics_table(report: dict[str, Any]) -> Table:
    level = f"{100 * report['statistics']['confidence']:.0f}%"
    table = Table(title="Metrics", title_justify="left")
    for name, justify in (
        ("metric", "left"),
        ("base", "right"),
        ("PR", "right"),
        ("Δ", "right"),
        ("Δ %", "right"),
        (f"{level} CI of Δ", "left"),
        ("p (Holm)", "right"),
        ("verdict", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in report["metrics"]:
        verdict = row.get("verdict") or {"added": "added", "removed": "removed"}.get(row["status"], "—")
        style = VERDICT_STYLE.get(verdict, "")
        table.add_row(
            display_name(row["metric"], report["average"]) + (" ↑" if row["higher_is_better"] else " ↓"),
            _num(row["base"]),
            _num(row["pr"]),
            _num(row.get("delta"), True),
            pct(row.get("delta_pct")),
            interval(row.get("delta_ci")),
            p_text(row.get("p_adjusted"), report["statistics"]["samples"]),
            f"[{style}]{verdict}[/{style}]" if style else verdict,
        )
    return table


def _slice_table(column: str, result: dict[str, Any], average: str | None) -> Table:
    """Groups with their rows, base and PR values; a group too small to judge says so."""
    gap = f"{_num(result['max_gap'][0])} → {_num(result['max_gap'][1])}"
    title = f"Slices by {escape(column)} ({display_name(result['metric'], average)}); largest gap {gap}"
    table = Table(title=title, title_justify="left")
    for name, justify in (
        ("group", "left"),
        ("rows", "right"),
        ("base", "right"),
        ("PR", "right"),
        ("", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for group, values in result["groups"].items():
        small = values["judged"][1] is False
        rows = f"{_num(values['rows'][0])} → {_num(values['rows'][1])}"
        shown = [escape(group), rows, *map(_num, values["value"]), "too few rows to judge" if small else ""]
        table.add_row(*shown)
    return table


def _pairs_table(title: str, rows: list[tuple[str, Any, Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    for name, justify in (("", "left"), ("base", "right"), ("PR", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for label, base, pr in rows:
        table.add_row(escape(label), escape(_num(base)), escape(_num(pr)))
    return table


def _sweep_table(board: dict[str, Any]) -> Table:
    """The PR's top sweep candidates on the validation split, as the markdown's leaderboard."""
    metric = display_name(board["metric"], board["average"]) + (" ↑" if board["higher_is_better"] else " ↓")
    title = f"Sweep: top of {board['candidates']} candidates by validation {metric}"
    table = Table(title=escape(title), title_justify="left")
    table.add_column("rank", justify="right")
    for name in board["varying"]:
        table.add_column(escape(str(name)), justify="left")
    table.add_column("validation", justify="right")
    table.add_column("CI", justify="left")
    table.add_column("", justify="left")
    for row in board["top"]:
        params = [json.dumps(row["params"].get(name), default=str) for name in board["varying"]]
        shown = [_num(row["rank"]), *params, _num(row["value"]), interval(row["ci"], signed=False)]
        table.add_row(*map(escape, shown), "winner" if row["winner"] else "")
    return table


def print_report(console: Console, report: dict[str, Any]) -> None:
    """Headline, gate checks, metrics, params, data and slices."""
    head, base = report["headline"], report["base"]
    console.rule(f"mlgate report: {escape(base['rev'])} → workspace")
    print_gate(console, report)
    if head["base"] is None:
        console.print(
            f"[bold]{head['metric_name']}[/bold]: {_num(head['pr'])} (no baseline on {escape(base['rev'])})"
        )
    else:
        console.print(
            f"[bold]{head['metric_name']}[/bold]: {_num(head['base'])} → {_num(head['pr'])} "
            f"(Δ {_num(head['delta'], True)}, {pct(head['delta_pct'])})"
        )
    console.print(escape(head["verdict"]), soft_wrap=True)
    console.print(f"[dim]base: {escape(base['how'])}[/dim]", soft_wrap=True)
    for note in (head["saturation"], head.get("classes_note"), report["lock_note"]):
        if note:
            console.print(f"[yellow]{escape(note)}[/yellow]", soft_wrap=True)
    console.print(_metrics_table(report))
    changes = [(f"{c['key']} ({c['change']})", c["base"], c["pr"]) for c in report["params"]]
    console.print(_pairs_table("Params changes", changes) if changes else "No params changed.")
    if board := report.get("sweep"):
        console.print(_sweep_table(board))
        if board["margin"]:
            margin = board["margin"]
            lead = f"winner − runner-up: {_num(margin['value'], True)} {interval(margin['ci'])}"
            console.print(f"[dim]{escape(lead)}; the test split took no part in the selection[/dim]")
    data = report["data"]
    rows = [(key, *data[key]) for key in ("rows", "train_rows", "test_rows")]
    rows += [(f"class {k} share", *v) for k, v in (data.get("class_balance") or {}).items()]
    rows += [(f"target {k}", *v) for k, v in (data.get("target_stats") or {}).items()]
    console.print(_pairs_table("Data", rows))
    for column, result in report["slices"].items():
        console.print(_slice_table(column, result, report["average"]))
    console.print("[dim]Plots render in the markdown report: mlgate report --out report.md[/dim]")
