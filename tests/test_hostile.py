"""Hostile input: YAML that would hang or fool the loader, text that would break out of the bot's markdown
or pose as a workflow command. Every YAML entry point ends in exit 0 or 2, never 3 and never a hang; the
data cases run on three tables in tests/test_datasets_e2e.py."""

from __future__ import annotations

import re
import shutil
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from conftest import ROOT
from mlgate.cli import main
from mlgate.registry.document import Registry, dumps
from mlgate.report.md import table
from mlgate.untrusted import code_span, console_text, md_text
from mlgate.yamldoc import MAX_ALIASED, MAX_DEPTH

HANG_GUARD_SECONDS = 20  # a hang guard, not a timing assert: the caps make a hang impossible
HOSTILE = (
    "``` `x` @octocat <img src=https://evil.example/p.png> [click](https://evil.example) "
    "**✅ Gates passed** _em_ <script>alert(1)</script> www.evil.example #1 \n::error::owned\r\n##[error]x"
)
ALLOWED_HTML = re.compile(r"</?(sub|details|summary)( open)?>|<!-- mlgate-report -->")  # mlgate's own


def bomb(depth: int, width: int = 9) -> str:
    lines = [f"l0: &l0 [{', '.join(['x'] * width)}]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, depth)]
    return "\n".join(lines) + "\n"


def render(markdown: str) -> tuple[str, list[Any]]:
    """GitHub-like rendering: CommonMark with tables, strikethrough and bare-URL links."""
    parser = MarkdownIt("gfm-like", {"linkify": True, "html": True})
    return parser.render(markdown), parser.parse(markdown)


def assert_inert(markdown: str) -> None:
    """Nothing of HOSTILE came out as HTML, a link, a mention, emphasis or a runner command."""
    html, tokens = render(markdown)
    for token in [t for block in tokens for t in [block, *(block.children or [])]]:
        assert token.type not in ("link_open", "image"), token
        if token.type in ("html_inline", "html_block"):
            assert all(ALLOWED_HTML.fullmatch(tag) for tag in re.findall(r"<[^>]*>", token.content)), token
    prose = re.sub(r"<code>.*?</code>", "", html, flags=re.DOTALL)  # GitHub mentions nobody in code
    assert "@octocat" not in prose and "<strong>✅ Gates passed" not in html and "<em>em</em>" not in html
    assert not re.search(r"^\s*(::|##\[)", markdown, re.MULTILINE)


def test_code_span_and_text_hold_anything_literally() -> None:
    for text in (HOSTILE, "`", "``", " a ", "a|b", ""):
        html, _ = render(f"x {code_span(text)} y")
        assert html.count("<code>") == 1
        html, _ = render(md_text(text))
        assert "<code>" not in html
    cell = table(["a"], [[code_span(HOSTILE)], [md_text(HOSTILE)]])
    assert_inert(f"- {md_text(HOSTILE)}\n\n{cell}\n")
    assert md_text("roc_auc") == "roc_auc" and md_text("1. a").startswith("1\\.")


def test_console_text_never_starts_a_line_with_a_workflow_command() -> None:
    shown = console_text("a\n::add-mask::secret\n  ::error::x\n##[warning]y\x07\x1b[2J")
    assert not re.search(r"^\s*(::|##\[)", shown, re.MULTILINE) and "\x07" not in shown
    assert "\x1b" not in shown and "\x1b" in console_text("\x1b[1m", terminal=True)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The example's params.yaml, dvc.yaml and a registry, in a folder the CLI runs in with -C."""
    for name in ("params.yaml", "dvc.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "registry.yaml").write_text(dumps(Registry(model="example")))
    return tmp_path


ENTRY_POINTS: dict[str, tuple[str, list[list[str]]]] = {
    "params.yaml": ("params.yaml", [["validate"]]),
    "dvc.yaml": ("dvc.yaml", [["validate"]]),
    "dvc.lock": ("dvc.lock", [["validate"]]),
    "registry.yaml": (
        "registry.yaml",
        [["registry", "list"], ["registry", "verify"], ["registry", "next-version"], ["validate"]],
    ),
}


def exit_code(command: list[str]) -> int:
    """2 for bad input; `registry verify` is a check, and reports a broken file as its problem (exit 1)."""
    return 1 if command == ["registry", "verify"] else 2


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str]]:
    def invoke(folder: Path, *args: str) -> tuple[int, str]:
        with hang_guard():
            code = main(["-C", str(folder), *args])
        out, err = capsys.readouterr()
        return code, out + err

    return invoke


class Hang(Exception):
    pass


def _alarm(*_: object) -> None:
    raise Hang(f"no answer within {HANG_GUARD_SECONDS}s")


class hang_guard:  # a context manager, named as one
    def __enter__(self) -> None:
        signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(HANG_GUARD_SECONDS)

    def __exit__(self, *_: object) -> None:
        signal.alarm(0)


@pytest.mark.parametrize("name", list(ENTRY_POINTS))
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (bomb(9), f"aliases expand to more than {MAX_ALIASED:,} values"),
        ("x: " + "[" * 5000 + "]" * 5000 + "\n", f"nested deeper than {MAX_DEPTH} levels"),
        ("format: 1\nformat: 2\n", "duplicate key 'format' (first given on line 1)"),
    ],
    ids=["alias-bomb", "deep", "duplicate-key"],
)
def test_hostile_yaml_is_exit_2_with_file_and_line(
    project: Path, cli: Callable[..., tuple[int, str]], name: str, text: str, expected: str
) -> None:
    target, commands = ENTRY_POINTS[name]
    (project / target).write_text(text)
    for command in commands:
        code, err = cli(project, *command)
        assert code == exit_code(command) and f"{target}:" in err and expected in err, (command, err)


def test_a_bomb_under_model_params_is_not_valid(project: Path, cli: Callable[..., tuple[int, str]]) -> None:
    params = (project / "params.yaml").read_text()
    (project / "params.yaml").write_text(bomb(9) + params)
    code, err = cli(project, "validate")
    assert code == 2 and "aliases expand" in err


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_non_finite_numbers_are_refused(
    project: Path, cli: Callable[..., tuple[int, str]], value: str
) -> None:
    text = (project / "params.yaml").read_text()
    (project / "params.yaml").write_text(re.sub(r"test_size: [0-9.]+", f"test_size: {value}", text))
    code, err = cli(project, "validate")
    assert code == 2 and "data.split.test_size: expected a finite number" in err


@pytest.mark.parametrize(
    ("old", "new"), [("model: example", 'model: "r1\\n"'), ("aliases: {}", 'aliases: {"production\\n": 1}')]
)
def test_registry_patterns_match_the_whole_value(
    project: Path, cli: Callable[..., tuple[int, str]], old: str, new: str
) -> None:
    text = (project / "registry.yaml").read_text()
    assert old in text
    (project / "registry.yaml").write_text(text.replace(old, new))
    for command in (["registry", "verify"], ["registry", "list"]):
        code, err = cli(project, *command)
        assert code == exit_code(command) and "does not match" in err, err


def test_every_schema_pattern_matches_whole_strings() -> None:
    for schema in (ROOT / "src/mlgate/schemas").glob("*.json"):
        patterns = re.findall(r'"pattern": "([^"]*)"', schema.read_text())
        assert patterns and all(p.endswith("$(?![\\\\s\\\\S])") for p in patterns), schema


# Random YAML: trees of scalars (non-finite numbers among them), with anchors, aliases and deep nesting.
SCALARS = st.sampled_from(["1", "-2.5", ".nan", ".inf", "-.inf", "x", "''", "null", "true", "~", "'a: b'"])


@st.composite
def yaml_text(draw: st.DrawFn) -> str:
    depth = draw(st.integers(0, 80))
    width = draw(st.integers(1, 12))
    lines = [f"a0: &a0 [{', '.join(draw(st.lists(SCALARS, min_size=1, max_size=width)))}]"]
    for i in range(1, draw(st.integers(1, 10))):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
    lines.append("deep: " + "[" * depth + draw(SCALARS) + "]" * depth)
    lines += draw(
        st.lists(st.sampled_from(["a0: 1", "{x: 1, x: 2}: 3", "k: {k: 1, k: 2}", "- 1"]), max_size=2)
    )
    return "\n".join(draw(st.permutations(lines))) + "\n"


@pytest.mark.parametrize("name", list(ENTRY_POINTS))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=yaml_text())
def test_random_yaml_ends_in_exit_0_or_2(
    project: Path, cli: Callable[..., tuple[int, str]], name: str, text: str
) -> None:
    target, commands = ENTRY_POINTS[name]
    (project / target).write_text(text)
    for command in commands:
        code, err = cli(project, *command)
        assert code in (0, 1, 2) and "internal error" not in err, (command, text, err)


@st.composite
def params_with_a_value(draw: st.DrawFn) -> tuple[str, str]:
    field = draw(st.sampled_from(["model.params.max_depth", "data.split.test_size", "gates", "evaluate"]))
    return field, draw(yaml_text()).replace("\n", "\n  ")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=params_with_a_value())
def test_random_values_inside_params_end_in_exit_0_or_2(
    project: Path, cli: Callable[..., tuple[int, str]], case: tuple[str, str]
) -> None:
    field, value = case
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    section, _, rest = field.partition(".")
    text = yaml.safe_dump({k: v for k, v in params.items() if k != section}, sort_keys=False)
    (project / "params.yaml").write_text(text + f"{section}:\n  {value}\n")
    code, err = cli(project, "validate")
    assert code in (0, 2) and "internal error" not in err, (rest, err)


def test_rich_markup_in_values_is_printed_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    """A PR controls values the terminal report prints: `[/]` must not crash rich, `[bold]` not style."""
    from rich.console import Console

    from mlgate.cli.base import fail
    from mlgate.report.terminal import print_report

    report = {
        "headline": {
            "base": None,
            "pr": 0.5,
            "metric_name": "roc_auc",
            "verdict": "[/]v",
            "saturation": None,
        },
        "base": {"rev": "[/]main", "how": "[bold]how"},
        "gate": {
            "passed": False,
            "reason": "[/]r",
            "checks": [{"status": "fail", "gate": "g", "message": "[/]m"}],
        },
        "policy": {"source": "head", "reason": "[/]p", "pending": [{"key": "[/]k"}]},
        "statistics": {"confidence": 0.95, "samples": 10},
        "metrics": [],
        "average": None,
        "lock_note": "[/]lock",
        "params": [{"key": "[/]x", "change": "changed", "base": "[/]b", "pr": "[red]p"}],
        "data": {
            "rows": [1, 1],
            "train_rows": [1, 1],
            "test_rows": [1, 1],
            "class_balance": {"[/]c": [1, 1]},
        },
        "slices": {},
    }
    console = Console(highlight=False, width=200, record=True)
    print_report(console, report)
    text = console.export_text()
    assert "[/]b" in text and "[red]p" in text and "[/]c" in text and "[/]main" in text
    fail("[/]oops")
    assert "[/]oops" in capsys.readouterr().err


def test_validate_names_a_repeated_column_of_the_source(
    project: Path, cli: Callable[..., tuple[int, str]]
) -> None:
    """pandas would rename the second `mean radius`; validate says what is wrong before anything else."""
    source = project / "data" / "raw" / "breast_cancer.csv"
    source.parent.mkdir(parents=True)
    source.write_text("mean radius,mean texture,mean radius,target\n1,2,3,0\n")
    code, err = cli(project, "validate")
    assert code == 2 and "column name(s) given more than once: 'mean radius'" in err, err
