"""The report as GitHub-flavoured markdown: headline, metrics, params, data, slices, plots, details."""

from __future__ import annotations

import json
from typing import Any

from mlgate.metrics import HIGHER_IS_BETTER, display_name
from mlgate.report.build import MARKER
from mlgate.report.markdown_changes import data_section, params_section, slices_section
from mlgate.report.markdown_plots import plots_section
from mlgate.report.markdown_sweep import sweep_section
from mlgate.report.md import ARROW, interval, num, p_text, pct, table
from mlgate.untrusted import code_span, md_text

BUDGET = 60_000  # GitHub caps a comment at 65,536 characters
TRUNCATION_NOTE = (
    "\n\n<sub>Truncated to fit a GitHub comment: "
    "the full report is attached to the workflow run as an artifact.</sub>"
)


def status_line(head: dict[str, Any]) -> str:
    """✅ only when the gates passed and no metric got significantly worse."""
    if head["status"] == "failed":
        return f"**❌ Gates failed**: {md_text(head['reason'])}"
    if head["worse"]:
        count, listed = len(head["worse"]), ", ".join(head["worse"])
        verb = "metrics are" if count > 1 else "metric is"
        return f"**⚠️ Gates passed, but {count} {verb} significantly worse: {listed}**"
    return f"**✅ Gates passed**: {md_text(head['reason'])}"


def headline(report: dict[str, Any]) -> str:
    """Gate status with its reason, the primary metric base → PR with Δ, and the verdict."""
    head, base = report["headline"], report["base"]
    lines = [MARKER, f"## mlgate report: {code_span(base['rev'])} → this PR", "", status_line(head), ""]
    name = head["metric_name"]
    if head["base"] is None:
        lines.append(f"**{name}**: {num(head['pr'])} (no baseline on {code_span(base['rev'])})")
    else:
        stats = report["statistics"]
        rows = f" on the {stats['shared_rows']} test rows both share" if stats.get("subset") else ""
        lines.append(
            f"**{name}**: {num(head['base'])} → {num(head['pr'])} "
            f"(Δ {num(head['delta'], True)}{rows}, {pct(head['delta_pct'])})"
        )
    lines += ["", head["verdict"]]
    for note in (head["saturation"], head.get("classes_note")):
        if note:
            lines += ["", f"⚠️ {note[0].upper()}{note[1:]}."]
    checks = [
        f"- {_check_mark(c['status'])} {code_span(c['gate'])}: {md_text(c['message'])}"
        for c in report["gate"]["checks"]
    ]
    if report["policy"]["source"] == "head":
        checks.append(f"- ⚠️ {md_text(report['policy']['reason'])}.")
    lines += (["", *checks] if checks else []) + ["", _provenance(report)]
    return "\n".join(lines)


def _check_mark(status: str) -> str:
    return {"pass": "✅", "fail": "❌", "skip": "➖"}[status]


def _provenance(report: dict[str, Any]) -> str:
    base = report["base"]
    sha = f" @ {code_span(base['sha'][:8])}" if base.get("sha") else ""
    made = (
        f", produced by mlgate {base['mlgate_version']}"
        if base.get("mlgate_version") and base["available"]
        else ""
    )
    text = f"<sub>Base {code_span(base['rev'])}{sha}: {md_text(base['how'])}{made}. "
    text += f"Report by mlgate {report['mlgate_version']}.</sub>"
    if report["lock_note"]:
        text += f"\n\n⚠️ {md_text(report['lock_note'])}"
    return text


def policy_section(report: dict[str, Any]) -> str | None:
    """The PR's changes to the rules that judge pull requests: shown, and applied only once merged."""
    policy = report["policy"]
    if not policy["pending"]:
        return None
    rev = code_span(report["base"]["rev"])
    lead = (
        f"This PR changes the rules pull requests are judged by. This verdict uses {rev}'s; the changes "
        "below apply once the PR is merged. Review them as you would a change to CI."
        if policy["source"] == "base"
        else "This PR changes the rules pull requests are judged by, and its own rules judged it."
    )
    body = [[code_span(c["key"]), _side(c, "base"), _side(c, "pr")] for c in policy["pending"]]
    return "\n".join(
        ["### Policy changes (apply after merge)", "", lead, "", table(["Param", "Base", "PR"], body)]
    )


def recorded_section(report: dict[str, Any]) -> str | None:
    """The PR against the last recorded version, when the base's model was never recorded (deployed)."""
    recorded = report.get("recorded")
    if not recorded:
        return None
    rev, version = code_span(report["base"]["rev"]), recorded["version"]
    commit = f" (commit {code_span(recorded['commit'][:12])})" if recorded.get("commit") else ""
    lead = (
        f"⚠️ The model of {rev} was never recorded in the registry: its deploy did not publish it (a failed "
        f"gate, say), so production still serves an older one. The last recorded version is **{version}**"
        f"{commit}; the PR against the values the registry recorded for it (no CI: it holds no predictions):"
    )
    body = [
        [
            _metric_name(
                row | {"higher_is_better": HIGHER_IS_BETTER.get(row["metric"], True)}, report["average"]
            ),
            num(row["recorded"]),
            num(row["pr"]),
            num(row["delta"], True),
        ]
        for row in recorded["rows"]
    ]
    header = ["Metric", f"Version {version}", "PR", "Δ"]
    return "\n".join(
        [f"### Against version {version}, the last recorded", "", lead, "", table(header, body, "lrrr")]
    )


def _side(change: dict[str, Any], side: str) -> str:
    absent = {"base": "added", "pr": "removed"}[side]
    return f"*({absent})*" if change["change"] == absent else code_span(change[side])


def metrics_section(report: dict[str, Any]) -> str:
    """One row per metric: base, PR, Δ, Δ %, Δ's CI, its Holm-adjusted p and the verdict."""
    stats, rows, average = report["statistics"], report["metrics"], report["average"]
    level = f"{100 * stats['confidence']:.0f}%"
    if not report["base"]["available"]:
        body = [[_metric_name(r, average), num(r["pr"]), interval(r["pr_ci"], signed=False)] for r in rows]
        title = f"### Metrics (no baseline on {code_span(report['base']['rev'])})"
        return "\n".join([title, "", table(["Metric", "PR", f"{level} CI"], body, "lrl")])
    body = [_metric_cells(r, average, stats["samples"]) for r in rows]
    header = ["Metric", "Base", "PR", "Δ", "Δ %", f"{level} CI of Δ", "p (Holm)", "Verdict"]
    notes = [_method_note(report), _averaging_note(report)]
    return "\n".join(["### Metrics", "", table(header, body, "lrrrrlrl"), "", *[n for n in notes if n]])


def _metric_name(row: dict[str, Any], average: str | None) -> str:
    return f"{display_name(row['metric'], average)} {ARROW[row['higher_is_better']]}"


def _metric_cells(row: dict[str, Any], average: str | None, samples: int) -> list[str]:
    name = _metric_name(row, average)
    if row["status"] in ("added", "removed"):
        shown = {"added": "added in this PR", "removed": "removed in this PR"}
        return [name, num(row["base"]), num(row["pr"]), "—", "—", "—", "—", shown[row["status"]]]
    p_value = row.get("p_adjusted")
    return [
        name,
        num(row["base"]),
        num(row["pr"]),
        num(row.get("delta"), True),
        pct(row.get("delta_pct")),
        interval(row.get("delta_ci")),
        p_text(p_value, samples),
        row.get("verdict", "—"),
    ]


def _method_note(report: dict[str, Any]) -> str:
    stats = report["statistics"]
    if stats["method"] == "paired":
        shared = stats["shared_rows"]
        why = f"both models scored on the {shared} test rows the two test sets share"
        if stats["subset"]:
            sizes = f"base {stats['base_rows']}, PR {stats['pr_rows']} rows"
            why += f" ({sizes}; the Base and PR columns show each whole test set)"
    elif stats["method"] == "unpaired":
        why = (
            f"the test sets share none of the base's {stats['base_rows']} rows (the PR's model cannot be "
            "scored on them: new features or a new source), so each side was resampled on its own test set"
        )
    else:
        return "<sub>No CI of Δ: a side has no predictions file, or evaluate.bootstrap.samples is 0.</sub>"
    compared = sum(1 for r in report["metrics"] if r.get("p_adjusted") is not None)
    method = stats["method"] + " percentile bootstrap"
    method += " (Poisson, keyed by row id)" if stats.get("resampling") == "poisson" else ""
    bounds = [
        f"{display_name(r['metric'], report['average'])}'s Δ lies within {r['delta_error_bound']:.1e}"
        for r in report["metrics"]
        if r.get("delta_error_bound")
    ]
    histograms = f" From score histograms, {'; '.join(bounds)} of the exact Δ." if bounds else ""
    return (
        f"<sub>↑ higher is better, ↓ lower is better. CI of Δ: {method}, "
        f"{stats['samples']} resamples, seed {stats['seed']}: {why}. Each CI is for its metric alone "
        f"(unadjusted); the verdict is from the bootstrap p-value of Δ adjusted with Holm's method over the "
        f"{compared} metrics compared, so that together they flag a change by chance at most "
        f"{100 * (1 - stats['confidence']):.0f}% of the time.{histograms}</sub>"
    )


def _averaging_note(report: dict[str, Any]) -> str | None:
    if report["average_mismatch"]:
        base, pr = report["average_mismatch"]
        return (
            f"⚠️ This PR changes `evaluate.average` from `{base}` to `{pr}`: until it is merged, the "
            f"class-averaged metrics are compared under the base's `{base}`, their PR values recomputed that "
            "way from the PR's predictions (its own reports/metrics.json averages them differently)."
        )
    fewer = [
        f"{display_name(name, report['average'])} over {entry['classes']} of {entry['of']} classes"
        for name, entry in (report["metrics_json"]["pr"] or {}).items()
        if isinstance(entry, dict) and entry.get("classes") is not None and entry["classes"] < entry["of"]
    ]
    return (
        f"<sub>Averaged over fewer classes than the model has: {'; '.join(fewer)}.</sub>" if fewer else None
    )


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
        "policy": policy_section(report),
        "metrics": metrics_section(report),
        "recorded": recorded_section(report),
        "params": params_section(report),
        "sweep": sweep_section(report),
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
