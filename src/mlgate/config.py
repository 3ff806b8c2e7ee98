"""Load YAML config with line marks, validate it against the shipped JSON Schemas, fill defaults."""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from mlgate.errors import ConfigError

PARAMS_FILE = "params.yaml"
FieldPath = tuple[str | int, ...]


@lru_cache
def load_schema(name: str) -> dict[str, Any]:
    """Return a schema shipped in `mlgate/schemas/` by file name."""
    text = resources.files("mlgate.schemas").joinpath(name).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def dotted(path: FieldPath) -> str:
    """Render a field path the way users write it: `model.params.max_depth`, `slices[0]`."""
    text = ""
    for part in path:
        if isinstance(part, int) or not str(part).isprintable() or "." in str(part) or not str(part):
            text += f"[{json.dumps(part)}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _line_marks(node: yaml.Node, path: FieldPath = ()) -> dict[FieldPath, int]:
    """Map every field path in a composed YAML tree to its 1-based line."""
    marks = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, key.value)
            marks.update(_line_marks(value, child))
            marks[child] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            marks.update(_line_marks(item, (*path, index)))
    return marks


class YamlDocument:
    """A parsed YAML file that remembers which line each field came from."""

    def __init__(self, path: str | Path, data: Any, marks: dict[FieldPath, int]) -> None:
        self.path = Path(path)
        self.data = data
        self.marks = marks

    def line_of(self, path: FieldPath) -> int:
        """Return the line of the deepest part of `path` that exists in the file."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.marks:
                return self.marks[path[:end]]
        return 1

    def error(self, path: FieldPath, message: str) -> ConfigError:
        """Build a ConfigError naming the file, the line and the field."""
        return ConfigError(f"{self.path}:{self.line_of(path)}: {dotted(path)}: {message}")


def read_yaml(path: str | Path) -> YamlDocument:
    """Parse a YAML file safely; syntax errors become a ConfigError with the line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise ConfigError(f"{path}:{line}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    marks: dict[FieldPath, int] = _line_marks(node) if node is not None else {(): 1}
    return YamlDocument(path, data, marks)


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
        return path, f"expected {expected}, got {type(error.instance).__name__} {error.instance!r}"
    return path, error.message


def validate_document(document: YamlDocument, schema_name: str) -> None:
    """Validate a parsed document against a shipped schema; raise one ConfigError listing every problem."""
    validator = Draft202012Validator(load_schema(schema_name))
    errors = sorted(
        validator.iter_errors(document.data), key=lambda e: document.line_of(tuple(e.absolute_path))
    )
    if not errors:
        return
    lines = []
    for error in errors:
        path, message = _describe(error)
        lines.append(str(document.error(path, message)))
    raise ConfigError("\n".join(dict.fromkeys(lines)))


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


def load_params(path: str | Path = PARAMS_FILE) -> dict[str, Any]:
    """Load and validate params.yaml; return it with every default filled in."""
    document = read_yaml(path)
    if not isinstance(document.data, dict):
        raise document.error((), "expected a mapping of sections (data, model, evaluate, ...)")
    validate_document(document, "params.schema.json")
    params: dict[str, Any] = apply_defaults(load_schema("params.schema.json"), document.data)
    _check_cross_fields(document, params)
    return params


def _check_cross_fields(document: YamlDocument, params: dict[str, Any]) -> None:
    """Checks a schema cannot express: references between fields."""
    data = params["data"]
    features = data["features"] or []
    if data["target"] in features:
        raise document.error(("data", "features"), f"the target {data['target']!r} cannot also be a feature")
    if features:
        unknown = [name for name in data["categorical"] if name not in features]
        if unknown:
            raise document.error(("data", "categorical"), f"not in data.features: {', '.join(unknown)}")
    task = params["model"]["task"]
    from mlgate.metrics import METRICS_BY_TASK  # local: metrics pulls in numpy

    allowed = METRICS_BY_TASK[task]
    evaluate = params["evaluate"]
    wrong = [name for name in evaluate["metrics"] or [] if name not in allowed]
    if wrong:
        raise document.error(("evaluate", "metrics"), f"{', '.join(wrong)} not available for {task}")
    primary = evaluate["primary"]
    chosen = evaluate["metrics"] or allowed
    if primary is not None and primary not in chosen:
        raise document.error(("evaluate", "primary"), f"{primary!r} is not among the metrics computed")
