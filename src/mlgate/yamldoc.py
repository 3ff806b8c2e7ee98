"""The one YAML loader: every YAML file mlgate reads goes through `parse_yaml`, which remembers the line of
each field and refuses what could hang, crash or fool the reader (see `parse_yaml`)."""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterator
from pathlib import Path
from typing import Any

import yaml

from mlgate.errors import ConfigError

MAX_DEPTH = 64  # nesting levels a YAML file may have; params.yaml needs under 10
MAX_ALIASED = 10_000  # values that *aliases may add in one file, expanded
MERGE_TAG = "tag:yaml.org,2002:merge"
FieldPath = tuple[str | int, ...]
Problem = tuple[FieldPath, str]

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
