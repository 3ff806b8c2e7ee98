"""The PR's hyperparameter sweep in the report: its best candidates on the validation split, and the margin
of the winner over the runner-up. The test metrics elsewhere in the report are the winner's alone."""

from __future__ import annotations

import json
from typing import Any

TOP = 10


def _varying(candidates: list[dict[str, Any]]) -> list[str]:
    """The params whose value is not the same in every candidate: the swept ones first, in their order."""
    names = list(dict.fromkeys(name for c in candidates for name in [*(c.get("point") or {}), *c["params"]]))
    return [
        name
        for name in names
        if len({json.dumps(c["params"].get(name), sort_keys=True, default=str) for c in candidates}) > 1
    ]


def leaderboard(sweep: dict[str, Any] | None) -> dict[str, Any] | None:
    """The top candidates of a side's reports/sweep.json by rank, with the params that vary; None when
    the side ran no sweep."""
    if not isinstance(sweep, dict) or not sweep.get("sweep"):
        return None
    candidates = sorted(sweep["candidates"], key=lambda candidate: candidate["rank"])
    varying = _varying(candidates)
    top = [
        {
            "rank": c["rank"],
            "winner": c["winner"],
            "params": {name: c["params"].get(name) for name in varying},
            "value": c["value"],
            "ci": c["ci"],
        }
        for c in candidates[:TOP]
    ]
    bootstrap = sweep.get("bootstrap") or {}
    return {
        "metric": sweep["metric"],
        "higher_is_better": sweep["higher_is_better"],
        "average": sweep.get("average"),
        "method": sweep["method"],
        "candidates": sweep["candidate_count"],
        "validation_rows": sweep["validation_rows"],
        "samples": bootstrap.get("samples", 0),
        "confidence": bootstrap.get("confidence"),
        "varying": varying,
        "top": top,
        "margin": sweep["margin"],
    }
