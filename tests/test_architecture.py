"""The shape of the code: an acyclic import graph, every module in use, small units, actions on the CLI.

`make lint` runs these; they read the source with `ast` and import nothing of mlgate.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "src" / "mlgate"
# What runs without being imported by mlgate: the console script and `python -m mlgate` (mlgate.cli,
# mlgate.__main__), and the bento's entry module, which imports the service by name (serving/bento.py).
# what users run: the CLI, the bento's service, and the module `dask worker --preload` imports
ENTRY_POINTS = ("mlgate.cli", "mlgate.__main__", "mlgate.serving.service", "mlgate.cluster.preload")
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, at module level or inside functions, except `if TYPE_CHECKING:` ones."""
    found: list[ast.Import | ast.ImportFrom] = []
    pending = [tree]
    while pending:
        node = pending.pop()
        if _type_checking_only(node):
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        pending.extend(ast.iter_child_nodes(node))
    return found


def imported_modules(name: str) -> set[str]:
    """The mlgate modules one module imports: a name imported from a package counts as its submodule."""
    targets: set[str] = set()
    for node in _imports(ast.parse(MODULES[name].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names if alias.name in MODULES}
        elif node.module and node.module in MODULES:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                targets.add(submodule if submodule in MODULES else node.module)
    return targets - {name}


GRAPH = {name: imported_modules(name) for name in MODULES}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path that returns to its start, or None."""
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return [*path[path.index(target) :], target] if target in path else [node, target]
            if target not in state and (cycle := visit(target, [*path, target])):
                return cycle
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [start])):
            return cycle
    return None


def test_the_import_graph_has_no_cycle() -> None:
    assert find_cycle(GRAPH) is None, " -> ".join(find_cycle(GRAPH) or [])


def test_the_cycle_check_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]


def test_every_module_is_imported_by_what_ships() -> None:
    reached, pending = set(), list(ENTRY_POINTS)
    while pending:
        name = pending.pop()
        if name in reached:
            continue
        reached.add(name)
        parents = [".".join(name.split(".")[:end]) for end in range(1, name.count(".") + 1)]
        pending += [*GRAPH[name], *(parent for parent in parents if parent in MODULES)]
    assert sorted(set(MODULES) - reached) == []


def test_functions_and_modules_stay_small() -> None:
    too_long = []
    for name, path in MODULES.items():
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > MAX_MODULE_LINES:
            too_long.append(f"{name}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    too_long.append(f"{name}.{node.name}: {lines} lines")
    assert too_long == []


def test_actions_call_only_the_cli() -> None:
    """No inline Python and no import of mlgate's modules anywhere under actions/."""
    inline = r"python3?\"?\s+(-c\b|-\s*<<)"  # python -c, "$python" -c, python - <<EOF
    forbidden = re.compile(rf"{inline}|\bimport\s+mlgate\b|\bfrom\s+mlgate\b")
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted((ROOT / "actions").rglob("*"))
        if path.is_file()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if forbidden.search(line)
    ]
    assert offenders == []
    assert not list((ROOT / "actions").rglob("*.py")), "an action runs a Python script instead of the CLI"
