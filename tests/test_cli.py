"""The command line: help on every command and option, and the same exit codes everywhere."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import mlgate
from mlgate import cli
from mlgate.errors import EXIT_BAD_INPUT, EXIT_BROKEN_PIPE, EXIT_INTERNAL


def _parsers(
    parser: argparse.ArgumentParser, name: str = "mlgate"
) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(name, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                found.extend(_parsers(sub, f"{name} {sub_name}"))
    return found


def test_every_command_and_option_has_help() -> None:
    missing = []
    for name, parser in _parsers(cli.build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                missing += [f"{name} {c.dest}" for c in action._choices_actions if not c.help]
            elif not action.help and action.dest != "help":
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
        if not parser.description:
            missing.append(f"{name} (description)")
    assert missing == []


def test_bad_config_exits_2_with_one_clear_message(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text("data: {source: data/raw/x.csv}\nmodel: {task: clustering}\n")
    result = mlgate("validate", cwd=tmp_path)
    assert result.returncode == EXIT_BAD_INPUT
    assert "params.yaml:1: data.target: required field is missing" in result.stderr
    assert 'params.yaml:2: model.task: "clustering" is not one of' in result.stderr
    assert "Traceback" not in result.stderr


def test_usage_error_exits_2(tmp_path: Path) -> None:
    assert mlgate("stage", "deploy", cwd=tmp_path).returncode == 2


def test_internal_error_exits_3_and_asks_for_a_report(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlgate import api

    monkeypatch.setattr(api, "validate", lambda **_: 1 / 0)
    assert cli.main(["validate"]) == EXIT_INTERNAL
    err = capsys.readouterr().err
    assert "internal error: ZeroDivisionError" in err and "bug in mlgate" in err


def test_traceback_flag_reraises(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlgate import api

    monkeypatch.setattr(api, "validate", lambda **_: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        cli.main(["--traceback", "validate"])


def test_a_reader_that_goes_away_stops_the_command_quietly(tmp_path: Path) -> None:
    many_notes = "api.validate = lambda **_: ['note'] * 100_000"
    code = f"from mlgate import api, cli; {many_notes}; raise SystemExit(cli.main(['validate']))"
    reader, writer = os.pipe()
    os.close(reader)  # like `mlgate ... | head -1` once head has exited
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], stdout=writer, stderr=subprocess.PIPE, text=True, cwd=tmp_path
        )
    finally:
        os.close(writer)
    assert (done.returncode, done.stderr) == (EXIT_BROKEN_PIPE, "")


@pytest.mark.slow
def test_dash_c_runs_commands_on_that_project_from_any_folder(trained_repo: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def on_project(*args: str) -> subprocess.CompletedProcess[str]:
        return mlgate("-C", str(trained_repo), *args, cwd=elsewhere)

    assert on_project("validate").returncode == 0
    report = on_project("report", "--base", "HEAD", "--format", "json")
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["base"]["available"] is True
    assert on_project("registry", "record").returncode == 0
    assert on_project("registry", "promote", "1", "--to", "production").returncode == 0
    assert on_project("registry", "verify").stdout.splitlines()[-1] == "registry ok"
    monitor = on_project("monitor", "--current", "data/raw/breast_cancer.csv", "--field", "status")
    assert (monitor.returncode, monitor.stdout) == (0, "healthy\n"), monitor.stderr
    assert (trained_repo / "registry.yaml").is_file()
    assert (trained_repo / "reports/monitor/monitor.json").is_file()
    assert list(elsewhere.iterdir()) == []  # nothing was written where the command was started
