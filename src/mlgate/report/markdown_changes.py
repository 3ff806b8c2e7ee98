"""The report's markdown sections on what else changed: params as written, the data, sliced metrics."""

from __future__ import annotations

from typing import Any

from mlgate.metrics import display_name
from mlgate.report.md import interval, num, table
from mlgate.untrusted import code_span, md_text


def params_section(report: dict[str, Any]) -> str:
    """The params that changed, as written in params.yaml; a new estimator's params under each estimator."""
    changes, estimator = report["params"], report["estimator"]
    if not changes and not report["base"]["has_params"]:
        return f"### Params changes\n\n{code_span(report['base']['rev'])} has no params.yaml to compare with."
    if not changes and not estimator:
        return "### Params changes\n\nNo params changed."
    parts = ["### Params changes"]
    if changes:
        body = [
            [
                code_span(c["key"]),
                "*(added)*" if c["change"] == "added" else code_span(c["base"]),
                "*(removed)*" if c["change"] == "removed" else code_span(c["pr"]),
            ]
            for c in changes
        ]
        parts += ["", table(["Param", "Base", "PR"], body)]
    if estimator:
        for side, label in (("base", "Base"), ("pr", "PR")):
            listed = (
                ", ".join(f"{code_span(k)} {code_span(v)}" for k, v in estimator[side]["params"].items())
                or "defaults"
            )
            parts += ["", f"**{label} estimator** {code_span(estimator[side]['estimator'])}: {listed}"]
    return "\n".join(parts)


def data_section(report: dict[str, Any]) -> str:
    data = report["data"]
    body = [
        [label, num(data[key][0]), num(data[key][1])]
        for key, label in (("rows", "Rows"), ("train_rows", "Train rows"), ("test_rows", "Test rows"))
    ]
    for cls, (b, p) in (data.get("class_balance") or {}).items():
        body.append([f"Class {code_span(cls)} share", num(b), num(p)])
    for stat, (b, p) in (data.get("target_stats") or {}).items():
        body.append([f"Target {stat}", num(b), num(p)])
    if not report["base"]["available"]:
        notes = ["No baseline to compare the data with."]
    else:
        notes = [
            f"Data hash {'**changed**' if data['data_hash_changed'] else 'unchanged'}; "
            f"test set {'**changed**' if data['test_hash_changed'] else 'unchanged'}."
            + (f" Test {data['identity']}." if data.get("identity") else "")
        ]
    if data.get("rows_warning"):
        notes.append(f"⚠️ {md_text(data['rows_warning'][0].upper() + data['rows_warning'][1:])}.")
    notes += _moved_features(data.get("moved_features") or [])
    return "### Data changes\n\n" + table(["", "Base", "PR"], body, "lrr") + "\n\n" + "\n\n".join(notes)


def _moved_features(moved: list[dict[str, Any]]) -> list[str]:
    if not moved:
        return []
    body = [
        [code_span(m["feature"]), f"{m['psi']:.3f}", f"{m['p_adjusted']:.2g}", md_text(m["why"])]
        for m in moved
    ]
    return [
        f"**{len(moved)} feature(s) of the PR's training data moved** from the base's (the monitor's tests, "
        "binned with the base's reference profile):",
        table(["Feature", "PSI", "p (adjusted)", "What moved"], body, "lrrl"),
    ]


def slices_section(report: dict[str, Any]) -> str | None:
    if not report["slices"]:
        return None
    parts = ["### Sliced metrics", ""]
    for column, result in report["slices"].items():
        metric = display_name(result["metric"], report["average"])
        body = [_slice_cells(group, values) for group, values in result["groups"].items()]
        parts += [
            f"**{md_text(column)}** ({metric})",
            "",
            table(["Group", "Rows", "Base", "PR", "PR CI"], body, "lrrrl"),
            "",
            _gap_line(result),
            "",
        ]
    return "\n".join(parts).rstrip()


def _slice_cells(group: str, values: dict[str, Any]) -> list[str]:
    rows = f"{num(values['rows'][0])} → {num(values['rows'][1])}"
    base, pr = values["value"]
    if values["judged"][1] is False:
        return [code_span(group), rows, num(base), num(pr), "too few rows to judge"]
    return [code_span(group), rows, num(base), num(pr), interval(values["ci"], signed=False)]


def _gap_line(result: dict[str, Any]) -> str:
    gap, ci, p_value = result["max_gap"], result["gap_ci"], result["gap_p"]
    shown, total = len(result["groups"]), result.get("groups_total") or len(result["groups"])
    cut = (
        f"The {shown} largest of {total} groups are shown: slice by a binned column to see all. "
        if total > shown
        else ""
    )
    judged = [v for v in result["groups"].values() if v["judged"][1]]
    if len(judged) >= 2 and gap[1] is None:
        return (
            cut
            + f"No gap: {result['metric']} is undefined in a group (roc_auc where the rows hold one class)."
        )
    text = (
        cut
        + f"Largest gap between groups of at least {result['min_rows']} rows: {num(gap[0])} → {num(gap[1])}"
    )
    if ci:
        text += f", CI {interval(ci, signed=False)}"
    if p_value is not None:
        text += f", permutation p {p_value:.3g}"
    return text + "."
