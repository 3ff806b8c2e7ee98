"""Load YAML with line marks, validate it against the shipped JSON Schemas, fill defaults, check cross-fields.

Every YAML file mlgate reads (params.yaml, registry.yaml, dvc.yaml, dvc.lock, and their copies at a git
revision) goes through `parse_yaml`, so there is one place that decides what YAML is accepted.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Collection, Hashable, Iterator
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from mlgate.errors import ConfigError

PARAMS_SCHEMA = "params.schema.json"
MAX_DEPTH = 64  # nesting levels a YAML file may have; params.yaml needs under 10
MAX_ALIASED = 10_000  # values that *aliases may add in one file, expanded
MERGE_TAG = "tag:yaml.org,2002:merge"
# Ends every schema pattern: Python's `$` also matches before a trailing newline; this is ECMA-262 too.
WHOLE_STRING = r"(?![\s\S])"
FieldPath = tuple[str | int, ...]
Problem = tuple[FieldPath, str]
# Given the loaded params, the data's columns when they can be known cheaply, else None.
ColumnSource = Callable[[dict[str, Any]], Collection[str] | None]


@lru_cache
def load_schema(name: str) -> dict[str, Any]:
    """Return a schema shipped in `mlgate/schemas/` by file name."""
    text = resources.files("mlgate.schemas").joinpath(name).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


MISSING = object()


def dotted_get(data: Any, key: str, default: Any = MISSING) -> Any:
    """The value at a dotted key (`model.params.max_depth`, `tags.0`); absent: `default`, else KeyError."""
    value = data
    for part in key.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif default is MISSING:
            raise KeyError(key)
        else:
            return default
    return value


def dotted(path: FieldPath) -> str:
    """Render a field path the way users write it: `model.params.max_depth`, `slices[0]`."""
    text = ""
    for part in path:
        if isinstance(part, int) or not str(part).isprintable() or "." in str(part) or not str(part):
            text += f"[{json.dumps(part)}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _nodes(node: yaml.Node, path: FieldPath = ()) -> Iterator[tuple[FieldPath, yaml.Node, yaml.Node]]:
    """Every field path of a composed YAML tree with the node that marks its line and its value node."""
    yield path, node, node
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            for child, mark, found in _nodes(value, (*path, key.value)):
                yield child, key if child == (*path, key.value) else mark, found
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _nodes(item, (*path, index))


class YamlDocument:
    """A parsed YAML file that remembers which line each field came from."""

    def __init__(
        self,
        path: str | Path,
        data: Any,
        marks: dict[FieldPath, int],
        spans: dict[FieldPath, tuple[int, int]] | None = None,
        text: str = "",
    ) -> None:
        self.path = Path(path)
        self.data = data
        self.marks = marks
        self.spans = spans or {}
        self.text = text

    def source(self, path: FieldPath) -> str | None:
        """A field's value as written in the file (`0.00001`, not `1e-05`); None when it is not there."""
        span = self.spans.get(path)
        return None if span is None else self.text[span[0] : span[1]].strip()

    def line_of(self, path: FieldPath) -> int:
        """Return the line of the deepest part of `path` that exists in the file."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.marks:
                return self.marks[path[:end]]
        return 1

    def error(self, path: FieldPath, message: str) -> ConfigError:
        """Build a ConfigError naming the file, the line and the field."""
        return ConfigError(self.problem(path, message))

    def problem(self, path: FieldPath, message: str) -> str:
        """One `file:line: field: message` line."""
        return f"{self.path}:{self.line_of(path)}: {dotted(path)}: {message}"

    def raise_problems(self, problems: list[Problem]) -> None:
        """Raise one ConfigError listing every problem, in file order; nothing when there is none."""
        if problems:
            ordered = sorted(problems, key=lambda item: self.line_of(item[0]))
            raise ConfigError("\n".join(dict.fromkeys(self.problem(*item) for item in ordered)))


class _Loader(yaml.SafeLoader):
    """The safe loader, refusing a key given twice in one mapping instead of letting the last one win."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    problem=f"duplicate key {key!r} (first given on line {seen[key]})",
                    problem_mark=key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


def _check_shape(text: str, source: str | Path) -> None:
    """Refuse nesting deeper than MAX_DEPTH and aliases that expand to more than MAX_ALIASED values.

    It reads the event stream, which PyYAML parses without recursion, so neither a deep file nor an alias
    bomb can hang or crash the loader that runs after it.
    """
    stack: list[list[Any]] = []  # per open collection: its anchor and its expanded size so far
    sizes: dict[str, int] = {}
    aliased = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        size = 0
        if isinstance(event, yaml.CollectionStartEvent):
            stack.append([event.anchor, 1])
            if len(stack) > MAX_DEPTH:
                raise ConfigError(f"{source}:{_line(event)}: nested deeper than {MAX_DEPTH} levels")
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, size = stack.pop()
        elif isinstance(event, yaml.ScalarEvent):
            anchor, size = event.anchor, 1
        elif isinstance(event, yaml.AliasEvent):
            anchor, size = None, sizes.get(str(event.anchor), 1)
            aliased += size
            if aliased > MAX_ALIASED:
                raise ConfigError(
                    f"{source}:{_line(event)}: aliases expand to more than {MAX_ALIASED:,} values; "
                    "write the values out instead of repeating *aliases"
                )
        if size:
            if anchor:
                sizes[str(anchor)] = size
            if stack:
                stack[-1][1] += size


def _line(event: yaml.Event) -> int:
    return event.start_mark.line + 1 if event.start_mark else 1


def parse_yaml(text: str | bytes, source: str | Path) -> YamlDocument:
    """Parse YAML text safely, naming `source` in errors; syntax errors become a ConfigError with the line.

    Refused, each with the line: invalid syntax, a key given twice, nesting past MAX_DEPTH, and aliases
    that expand to more than MAX_ALIASED values.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{source}: not UTF-8 text: {exc}") from None
    try:
        _check_shape(text, source)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            data = None if node is None else loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise ConfigError(f"{source}:{line}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {exc}") from None
    if node is None:
        return YamlDocument(source, data, {(): 1})
    found = list(_nodes(node))
    marks = {path: mark.start_mark.line + 1 for path, mark, _ in found}
    spans = {path: (value.start_mark.index, value.end_mark.index) for path, _, value in found}
    return YamlDocument(source, data, marks, spans, text)


def read_yaml(path: str | Path, shown: str | None = None) -> YamlDocument:
    """Read and parse a YAML file, named `shown` in messages; a missing or unreadable one is a ConfigError."""
    path = Path(path)
    name = shown or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{name}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{name}: cannot read: {exc}") from None
    return parse_yaml(text, name)


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
    problems = _data_problems(params) + _metric_problems(params) + _gate_problems(params)
    problems += _serve_problems(params)
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
