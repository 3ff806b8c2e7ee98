"""What else changed between base and PR: params as written, the data, and each slice's groups and gap."""

from __future__ import annotations

from collections import Counter
from typing import Any

from mlgate.report.parts import ClassCounts
from mlgate.untrusted import code_span
from mlgate.yamldoc import FieldPath, YamlDocument

ROWS_CHANGE_WARNING = 0.10  # warn when the PR's data lost or gained more than this share of rows
ESTIMATOR, ESTIMATOR_PARAMS = ("model", "estimator"), ("model", "params")


def flatten(data: Any, prefix: FieldPath = ()) -> dict[FieldPath, Any]:
    """Nested mappings as field paths; lists and scalars are leaves."""
    if not isinstance(data, dict) or (prefix and not data):
        return {prefix: data} if prefix else {}
    flat: dict[FieldPath, Any] = {}
    for key, value in data.items():
        flat.update(flatten(value, (*prefix, str(key))))
    return flat


def _shown(document: YamlDocument | None, path: FieldPath, value: Any) -> str:
    """A param as written in its params.yaml (`0.00001`, not `1e-05`); a block over several lines, or a
    value without a file, in YAML's one-line flow style."""
    import yaml

    written = document.source(path) if document is not None else None
    if written is not None and "\n" not in written:
        return written
    return yaml.safe_dump(value, default_flow_style=True, width=1 << 16).strip().removesuffix("\n...")


def _entry(key: FieldPath, old: Any, new: Any, documents: tuple[Any, Any], change: str) -> dict[str, Any]:
    base_doc, head_doc = documents
    return {
        "key": ".".join(map(str, key)),
        "base": None if change == "added" else _shown(base_doc, key, old),
        "pr": None if change == "removed" else _shown(head_doc, key, new),
        "change": change,
    }


def params_changes(base: YamlDocument | None, head: YamlDocument | None) -> dict[str, Any]:
    """The params that changed, old → new as written; a new estimator's params listed under each estimator."""
    old = flatten(base.data if base is not None else {})
    new = flatten(head.data if head is not None else {})
    swapped = ESTIMATOR in old and ESTIMATOR in new and old[ESTIMATOR] != new[ESTIMATOR]
    changes = []
    for key in [*new, *(k for k in old if k not in new)]:
        if (swapped and key[:2] == ESTIMATOR_PARAMS) or (key in old and key in new and old[key] == new[key]):
            continue
        change = "added" if key not in old else "removed" if key not in new else "changed"
        changes.append(_entry(key, old.get(key), new.get(key), (base, head), change))
    estimator = None
    if swapped:
        estimator = {
            side: {
                "estimator": str(values[ESTIMATOR]),
                "params": {
                    ".".join(map(str, k[2:])): _shown(doc, k, v)
                    for k, v in values.items()
                    if k[:2] == ESTIMATOR_PARAMS
                },
            }
            for side, values, doc in (("base", old, base), ("pr", new, head))
        }
    return {"changes": changes, "estimator": estimator}


def _rows_warning(base: dict[str, Any], head: dict[str, Any]) -> str | None:
    before, after = base.get("rows"), head.get("rows")
    if not before or after is None or abs(after - before) <= ROWS_CHANGE_WARNING * before:
        return None
    verb, share = "lost" if after < before else "gained", 100 * (after - before) / before
    return f"the PR's data {verb} {abs(after - before)} of {before} rows ({share:+.1f}%)"


def row_identity(data: dict[str, Any]) -> str | None:
    """How a side's rows are told apart: by an id column, or by the hash of the row's values."""
    identity = data.get("row_identity")
    if not identity:
        return None
    if identity.get("id_column"):
        return f"rows are matched by the id column {code_span(identity['id_column'])}"
    return "rows are matched by the hash of their values, so a row whose values changed is a different row"


def data_changes(base: dict[str, Any] | None, head: dict[str, Any] | None) -> dict[str, Any]:
    """Rows, class balance or target stats, hashes, and warnings about the data's size and identity."""
    b, h = base or {}, head or {}
    changes: dict[str, Any] = {key: [b.get(key), h.get(key)] for key in ("rows", "train_rows", "test_rows")}
    for section in ("class_balance", "target_stats"):
        if section in b or section in h:
            keys = [
                *(h.get(section) or {}),
                *(k for k in b.get(section) or {} if k not in (h.get(section) or {})),
            ]
            changes[section] = {
                k: [(b.get(section) or {}).get(k), (h.get(section) or {}).get(k)] for k in keys
            }
    changes["data_hash_changed"] = bool(b) and b.get("data_hash") != h.get("data_hash")
    changes["test_hash_changed"] = bool(b) and b.get("test_hash") != h.get("test_hash")
    changes["rows_warning"] = _rows_warning(b, h) if b else None
    changes["identity"] = row_identity(h)
    return changes


def _group(base: dict[str, Any], head: dict[str, Any], metric: str) -> dict[str, Any]:
    return {
        "rows": [base.get("rows"), head.get("rows")],
        "value": [base.get(metric), head.get(metric)],
        "ci": (head.get("ci") or {}).get(metric),
        "judged": [base.get("judged", True) if base else None, head.get("judged", True) if head else None],
    }


def slice_changes(base: dict[str, Any] | None, head: dict[str, Any] | None, metric: str) -> dict[str, Any]:
    """Per-group values of the gated metric for base and PR, and the largest gap with its CI and p-value."""
    b, h = (base or {}).get("slices") or {}, (head or {}).get("slices") or {}
    result = {}
    for column in [*h, *(c for c in b if c not in h)]:
        old, new = b.get(column) or {}, h.get(column) or {}
        old_groups, new_groups = old.get("groups", {}), new.get("groups", {})
        names = [*new_groups, *(g for g in old_groups if g not in new_groups)]
        result[column] = {
            "metric": metric,
            "min_rows": new.get("min_rows", old.get("min_rows")),
            "groups": {g: _group(old_groups.get(g, {}), new_groups.get(g, {}), metric) for g in names},
            "max_gap": [(old.get("max_gap") or {}).get(metric), (new.get("max_gap") or {}).get(metric)],
            "gap_ci": (new.get("gap_ci") or {}).get(metric),
            "gap_p": (new.get("gap_p") or {}).get(metric),
            "groups_total": new.get("groups_total", len(new_groups)),
        }
    return result


def training_drift(
    profile: dict[str, Any] | None, train: Any, settings: dict[str, Any]
) -> list[dict[str, Any]]:
    """Features of the PR's train split that moved from the base's reference profile, binned with the base's
    edges and judged by the monitor's statistics and thresholds (`monitor:` of params.yaml)."""
    from mlgate.monitor.accumulate import make_counter
    from mlgate.monitor.drift import decide, feature_result

    if not profile or train is None:
        return []
    results = {}
    for name, spec in (profile.get("features") or {}).items():
        if name in train.column_names:
            counter = make_counter(spec)
            counter.add(train.column(name))
            results[name] = feature_result(spec, counter, profile["rows"])
    decide(results, settings)
    moved = [(name, r) for name, r in results.items() if r["drift"] or r["null_alarm"] or r["unseen_alarm"]]
    return [
        {
            "feature": name,
            "psi": r["psi"],
            "p_adjusted": r["p_adjusted"],
            "null_rate": [r["null_rate"]["reference"], r["null_rate"]["current"]],
            "why": ", ".join(
                w
                for w, on in (
                    ("distribution", r["drift"]),
                    ("missing rate", r["null_alarm"]),
                    ("new categories", r["unseen_alarm"]),
                )
                if on
            ),
        }
        for name, r in sorted(moved, key=lambda item: -item[1]["psi"])
    ]


def _as_text(counts: Counter[Any]) -> Counter[str]:
    text: Counter[str] = Counter()
    for value, count in counts.items():
        text[str(value)] += count
    return text


def unpredicted_classes(base: ClassCounts | None, head: ClassCounts | None) -> str | None:
    """A note when the PR's model never predicts a class its test rows hold (a model collapsed to one class
    shows as nothing else but lower metrics); None when it predicts them all."""
    if head is None:
        return None
    truth, predicted = _as_text(head.truth), _as_text(head.predicted)
    never = sorted(set(truth) - set(predicted))
    if not never:
        return None
    if len(predicted) == 1:
        text = f"this PR's model predicts one class, {code_span(next(iter(predicted)))}, for every test row"
    else:
        held = ", ".join(f"{code_span(label)} ({truth[label]} rows)" for label in never)
        text = f"this PR's model never predicts {held} of its test rows' classes"
    if base is not None:
        before = _as_text(base.predicted)
        counts = {label: before[label] for label in never}
        if any(counts.values()):
            text += "; the base predicted " + ", ".join(
                f"{code_span(k)} for {v} rows" for k, v in counts.items() if v
            )
    return text
