"""The report's hyperparameter-sweep section as markdown: the PR's leaderboard on the validation split."""

from __future__ import annotations

import json
from typing import Any

from mlgate.metrics import display_name
from mlgate.report.md import ARROW, interval, num, table
from mlgate.untrusted import code_span, md_text


def _param(value: Any) -> str:
    """A param's value as params.yaml would spell it, literally: never rounded, never markup."""
    return code_span(value if isinstance(value, str) else json.dumps(value, default=str))


def _footnote(board: dict[str, Any], metric: str) -> str:
    count = num(board["candidates"])
    lead = (
        f"All {count}"
        if len(board["top"]) == board["candidates"]
        else f"The best {len(board['top'])} of {count}"
    )
    return (
        f"<sub>{lead} candidates ({md_text(board['method'])} over "
        f"`model.sweep.params`), each fitted on the train split less {num(board['validation_rows'])} "
        f"validation rows carved from it, and ranked there by {metric}; the winner was then refitted on the "
        "whole train split. The test metrics above are untouched by the selection: the test split took no "
        "part in it, and scores the winner alone.</sub>"
    )


def sweep_section(report: dict[str, Any]) -> str | None:
    """The PR's top candidates with the params that vary, their validation metric and CI, and the winner's
    margin over the runner-up; None when the PR ran no sweep."""
    board = report.get("sweep")
    if not board:
        return None
    metric = (
        f"{md_text(display_name(board['metric'], board['average']))} {ARROW[bool(board['higher_is_better'])]}"
    )
    level = f"{100 * board['confidence']:.0f}% CI" if board["confidence"] else "CI"
    varying = board["varying"]
    header = ["Rank", *[code_span(name) for name in varying], f"Validation {metric}", level, ""]
    body = [
        [
            num(row["rank"]),
            *[_param(row["params"].get(name)) for name in varying],
            num(row["value"]),
            interval(row["ci"], signed=False),
            "**winner**" if row["winner"] else "",
        ]
        for row in board["top"]
    ]
    lines = ["### Hyperparameter sweep", "", table(header, body, "r" + "l" * len(varying) + "rll"), ""]
    margin = board["margin"]
    if margin:
        lines += [
            f"The winner leads the runner-up by {num(margin['value'], True)} {metric} ({level} "
            f"{interval(margin['ci'])}, paired bootstrap over the same validation rows).",
            "",
        ]
    return "\n".join([*lines, _footnote(board, metric)])
