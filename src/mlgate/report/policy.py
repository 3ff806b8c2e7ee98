"""Which rules judge a pull request: the base revision's, so that a PR cannot loosen its own gate.

The policy is the part of params.yaml that decides a verdict (POLICY_KEYS). A PR's changes to it are shown
and apply once merged. The PR's own policy judges it only on a first PR (no params.yaml on the base), when
the base's params.yaml is not valid for this mlgate, or when the base sets `gates.policy_from: head`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from mlgate.config import PARAMS_SCHEMA, apply_defaults, load_schema, validate_document
from mlgate.errors import ConfigError
from mlgate.yamldoc import YamlDocument

POLICY_KEYS = (
    "gates",
    "model.task",
    "evaluate.metrics",
    "evaluate.primary",
    "evaluate.average",
    "evaluate.bootstrap",
    "evaluate.slices",
    "evaluate.min_slice_rows",
    "data.split",
)


@dataclass(frozen=True)
class Policy:
    """The params a verdict is computed under, where their policy came from, and what the PR would change."""

    params: dict[str, Any]
    source: str  # base | head
    reason: str | None = None  # why the PR's own policy judges it
    pending: list[dict[str, Any]] = field(default_factory=list)  # the PR's changes to the policy

    def to_data(self) -> dict[str, Any]:
        return {"source": self.source, "reason": self.reason, "pending": self.pending}


def is_policy(key: str) -> bool:
    """True for a dotted params key inside one of the POLICY_KEYS."""
    return any(key == name or key.startswith(f"{name}.") for name in POLICY_KEYS)


def judging_policy(
    base: YamlDocument | None, head: dict[str, Any], rev: str, changes: list[dict[str, Any]]
) -> Policy:
    """The policy that judges the PR whose params are `head`, against the base's params.yaml `base`."""
    pending = [change for change in changes if is_policy(change["key"])]
    if base is None or not isinstance(base.data, dict):
        why = f"{rev} has no params.yaml, so this first pull request is judged by its own policy"
        return Policy(head, "head", why, pending)
    try:
        validate_document(base, PARAMS_SCHEMA)
    except ConfigError as exc:
        first = str(exc).splitlines()[0]
        why = f"{rev}'s params.yaml is not valid for mlgate ({first}), so this PR is judged by its own policy"
        return Policy(head, "head", why, pending)
    rules = apply_defaults(load_schema(PARAMS_SCHEMA), base.data)
    if rules["gates"]["policy_from"] == "head":
        why = f"{rev} sets gates.policy_from: head, so pull requests are judged by their own policy"
        return Policy(head, "head", why, pending)
    judged = copy.deepcopy(head)
    for key in POLICY_KEYS:
        section, _, name = key.partition(".")
        if name:
            judged[section][name] = copy.deepcopy(rules[section][name])
        else:
            judged[section] = copy.deepcopy(rules[section])
    return Policy(judged, "base", None, pending)
