"""Validate parsed YAML against the shipped JSON Schemas, fill defaults, check cross-fields.

Every YAML file mlgate reads (params.yaml, registry.yaml, dvc.yaml, dvc.lock, and their copies at a git
revision) is parsed by `mlgate.yamldoc.parse_yaml`, the one place that decides what YAML is accepted.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Collection, Iterator
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from mlgate.yamldoc import FieldPath, Problem, YamlDocument, read_yaml

PARAMS_SCHEMA = "params.schema.json"
# Ends every schema pattern: Python's `$` also matches before a trailing newline; this is ECMA-262 too.
WHOLE_STRING = r"(?![\s\S])"
# Given the loaded params, the data's columns when they can be known cheaply, else None.
ColumnSource = Callable[[dict[str, Any]], Collection[str] | None]


@lru_cache
def load_schema(name: str) -> dict[str, Any]:
    """Return a schema shipped in `mlgate/schemas/` by file name."""
    text = resources.files("mlgate.schemas").joinpath(name).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _describe(error: ValidationError) -> tuple[FieldPath, str]:
    """Turn a jsonschema error into a field path and a short message for people."""
    path: FieldPath = tuple(error.absolute_path)
    if error.validator == "required":
        missing = error.message.split("'")[1]
        return (*path, missing), "required field is missing"
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        hint = f" (expected one of: {', '.join(allowed)})" if allowed else ""
        return (*path, extra[0] if extra else ""), f"unknown field{hint}"
    if error.validator == "enum":
        options = ", ".join(json.dumps(option) for option in error.validator_value)
        return path, f"{json.dumps(error.instance, default=str)} is not one of {options}"
    if error.validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        if error.instance is None:
            return path, f"expected {expected}, got nothing (null); remove the field or give it a value"
        return path, f"expected {expected}, got {type(error.instance).__name__} {error.instance!r}"
    if error.validator == "pattern":
        return path, f"{error.instance!r} does not match {_pattern(error.validator_value)}"
    if error.validator in ("oneOf", "anyOf"):
        forms = " or ".join(_form(option) for option in error.validator_value)
        return path, f"{json.dumps(error.instance, default=str)} is not allowed here: expected {forms}"
    return path, error.message


def _form(schema: dict[str, Any]) -> str:
    """One alternative of a oneOf, in words: `a number ≥ 0`, `a string matching ^[0-9]+%$`."""
    words = {"number": "a number", "integer": "an integer", "string": "a string"}
    text = words.get(str(schema.get("type")), "a value")
    if "minimum" in schema:
        text += f" ≥ {schema['minimum']}"
    if "pattern" in schema:
        text += f" matching {_pattern(schema['pattern'])}"
    return text


def _pattern(pattern: str) -> str:
    """A schema pattern as people read it, without the guard against a trailing newline."""
    return pattern.removesuffix(WHOLE_STRING)


def validate_document(document: YamlDocument, schema_name: str) -> None:
    """Validate a parsed document against a shipped schema; raise one ConfigError listing every problem."""
    validator = Draft202012Validator(load_schema(schema_name))
    problems = [_describe(error) for error in validator.iter_errors(document.data)]
    document.raise_problems(problems + list(_non_finite(document.data)))


def _non_finite(value: Any, path: FieldPath = ()) -> Iterator[Problem]:
    """NaN and infinity: a schema's `number` admits them, and its `minimum` cannot catch NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        yield path, f"expected a finite number, got {value}"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _non_finite(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _non_finite(item, (*path, index))


def apply_defaults(schema: dict[str, Any], instance: Any, root: dict[str, Any] | None = None) -> Any:
    """Return a copy of `instance` with the schema's `default` values filled in, recursively."""
    root = root or schema
    if "$ref" in schema:
        schema = _resolve_ref(root, schema["$ref"])
    if not isinstance(instance, dict):
        return copy.deepcopy(instance)
    filled = copy.deepcopy(instance)
    for name, subschema in schema.get("properties", {}).items():
        if name not in filled and "default" in subschema:
            filled[name] = copy.deepcopy(subschema["default"])
        if name in filled:
            filled[name] = apply_defaults(subschema, filled[name], root)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for name in set(filled) - set(schema.get("properties", {})):
            filled[name] = apply_defaults(extra, filled[name], root)
    return filled


def _resolve_ref(root: dict[str, Any], ref: str) -> dict[str, Any]:
    node: Any = root
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return dict(node)


def default_section(name: str) -> dict[str, Any]:
    """One params.yaml section with only its schema defaults, for commands that run without the file."""
    schema = load_schema(PARAMS_SCHEMA)
    section: dict[str, Any] = apply_defaults(schema["properties"][name], {}, schema)
    return section


def load_params(
    path: str | Path, columns: ColumnSource | None = None, shown: str | None = None, expectations: bool = True
) -> dict[str, Any]:
    """Load and validate params.yaml; return it with every default filled in.

    `columns` tells the data's columns when they are known (the source's header, or the prepared data); the
    fields that name columns are then checked against them too.
    """
    document = read_yaml(path, shown)
    if not isinstance(document.data, dict):
        raise document.error((), "expected a mapping of sections (data, model, evaluate, ...)")
    validate_document(document, PARAMS_SCHEMA)
    params: dict[str, Any] = apply_defaults(load_schema(PARAMS_SCHEMA), document.data)
    if params["data"]["source"].startswith("sklearn:"):  # a bundled dataset's target is always `target`
        params["data"].setdefault("target", "target")
    problems = _data_problems(params) + _metric_problems(params) + _gate_problems(params)
    problems += _serve_problems(params) + _compute_problems(params)
    known = columns(params) if columns is not None else None
    if known is not None:
        problems += _column_problems(params, known, expectations)
    document.raise_problems(problems)
    return params


def _data_problems(params: dict[str, Any]) -> list[Problem]:
    data = params["data"]
    features = data["features"] or []
    problems: list[Problem] = []
    if data["target"] in features:
        problems.append((("data", "features"), f"the target {data['target']!r} cannot also be a feature"))
    unknown = [name for name in data["categorical"] if features and name not in features]
    if unknown:
        problems.append((("data", "categorical"), f"not in data.features: {', '.join(unknown)}"))
    return problems


def task_metrics(params: dict[str, Any]) -> tuple[str, ...]:
    """The metrics the configured task has."""
    from mlgate.metrics import METRICS_BY_TASK  # local: metrics pulls in numpy

    return METRICS_BY_TASK[params["model"]["task"]]


def _metric_problems(params: dict[str, Any]) -> list[Problem]:
    task, allowed, evaluate = params["model"]["task"], task_metrics(params), params["evaluate"]
    wrong = [name for name in evaluate["metrics"] or [] if name not in allowed]
    problems: list[Problem] = []
    if wrong:
        problems.append((("evaluate", "metrics"), f"{', '.join(wrong)} not available for {task}"))
    primary, chosen = evaluate["primary"], evaluate["metrics"] or allowed
    if primary is not None and primary not in chosen:
        problems.append((("evaluate", "primary"), f"{primary!r} is not among the metrics computed"))
    return problems


def _gate_problems(params: dict[str, Any]) -> list[Problem]:
    """Gates a schema cannot judge: metrics the task has and computes, slice columns that are configured."""
    gates, task, allowed = params["gates"], params["model"]["task"], task_metrics(params)
    computed = params["evaluate"]["metrics"] or allowed
    problems: list[Problem] = []
    for name in gates["metrics"]:
        if name not in allowed:
            problems.append(
                (("gates", "metrics", name), f"{name} is not a {task} metric ({', '.join(allowed)})")
            )
        elif name not in computed:
            problems.append((("gates", "metrics", name), f"{name} is gated but not in evaluate.metrics"))
    gap = gates["slice_gap"] or {}
    if gap.get("metric") and gap["metric"] not in allowed:
        problems.append((("gates", "slice_gap", "metric"), f"{gap['metric']} is not a {task} metric"))
    slices = params["evaluate"]["slices"]
    unknown = [c for c in gap.get("columns") or [] if c not in slices]
    if unknown:
        problems.append((("gates", "slice_gap", "columns"), f"not in evaluate.slices: {', '.join(unknown)}"))
    elif gap and not slices:
        problems.append((("gates", "slice_gap"), "a slice gap needs evaluate.slices to name the columns"))
    return problems


def _serve_problems(params: dict[str, Any]) -> list[Problem]:
    serve = params["serve"]
    problems: list[Problem] = []
    if serve["log_inputs"] and not serve["log_predictions"]:
        problems.append(
            (("serve", "log_inputs"), "logs the inputs of the prediction log; set serve.log_predictions")
        )
    scaling = serve["autoscaling"]
    if scaling["max_replicas"] < scaling["min_replicas"]:
        problems.append(
            (("serve", "autoscaling", "max_replicas"), f"is below min_replicas ({scaling['min_replicas']})")
        )
    return problems


def _compute_problems(params: dict[str, Any]) -> list[Problem]:
    """What the dask engine needs: the hash split (a row's side must not depend on partitioning) and a
    source the workers can read."""
    if params["compute"]["engine"] != "dask":
        return []
    problems: list[Problem] = []
    if params["data"]["split"]["method"] != "hash":
        problems.append((("data", "split", "method"), "compute.engine: dask needs data.split.method: hash"))
    if params["data"]["source"].startswith(("sklearn:", "python:")):
        problems.append(
            (
                ("data", "source"),
                "compute.engine: dask reads CSV or Parquet files, a folder or glob of them, or s3://",
            )
        )
    return problems + _address_problems(params["compute"])


def _address_problems(compute: dict[str, Any]) -> list[Problem]:
    """An address given (here or in MLGATE_DASK_ADDRESS) that a stage would refuse; a missing one is
    left to the stage, since a workflow may give it only there."""
    import os

    from mlgate.cluster.connect import ADDRESS_ENV, scheduler_address
    from mlgate.errors import ConfigError

    if not (compute["address"] or os.environ.get(ADDRESS_ENV)):
        return []
    try:
        scheduler_address(compute)
    except ConfigError as exc:
        return [(("compute", "address"), str(exc).removeprefix("params.yaml: compute.address: "))]
    return []


def _column_problems(params: dict[str, Any], columns: Collection[str], expectations: bool) -> list[Problem]:
    """Fields that name data columns, against the columns of the data (the expectations too, unless the
    caller checks them on the data itself, as the data stage does with a message per failing column)."""
    known, data = set(columns), params["data"]
    named: list[tuple[FieldPath, str]] = [(("data", "target"), data["target"])]
    for field in ("features", "categorical", "drop"):
        named += [(("data", field, index), column) for index, column in enumerate(data[field] or [])]
    named += [(("data", "id_column"), data["id_column"])] if data["id_column"] else []
    named += [
        (("evaluate", "slices", index), column) for index, column in enumerate(params["evaluate"]["slices"])
    ]
    rules = params["data"]["expectations"] if expectations else {"columns": {}, "required_columns": []}
    named += [(("data", "expectations", "columns", column), column) for column in rules["columns"]]
    named += [
        (("data", "expectations", "required_columns", index), column)
        for index, column in enumerate(rules["required_columns"])
    ]
    ordered = list(dict.fromkeys(columns))
    listed = ", ".join(ordered[:12]) + (", …" if len(ordered) > 12 else "")
    return [
        (where, f"{column!r} is not a column of the data (columns: {listed})")
        for where, column in named
        if column not in known
    ]
