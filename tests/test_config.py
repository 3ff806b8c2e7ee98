"""params.yaml validation: clear errors naming file, line and field; defaults from the schema."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT, mlgate
from mlgate.config import load_params, load_schema
from mlgate.errors import ConfigError

VALID = yaml.safe_load((ROOT / "params.yaml").read_text())


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


def test_example_params_are_valid_and_defaults_are_filled() -> None:
    params = load_params(ROOT / "params.yaml")
    assert params["data"]["split"]["stratify"] is True
    assert params["model"]["preprocessing"]["scale"] is True
    assert params["evaluate"]["slices"] == []


def test_error_names_file_line_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "data:\n  source: sklearn:iris\n  target: target\nmodel:\n  task: classification\n"
        "  estimator: sklearn.linear_model.LogisticRegression\n  seed: -3\n",
    )
    with pytest.raises(ConfigError) as error:
        load_params(path)
    assert str(error.value) == f"{path}:7: model.seed: -3 is less than the minimum of 0"


def test_unknown_and_missing_fields(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "data:\n  source: x.csv\n  tagret: y\nmodel:\n  task: classification\n"
        "  estimator: sklearn.linear_model.LogisticRegression\n",
    )
    with pytest.raises(ConfigError) as error:
        load_params(path)
    message = str(error.value)
    assert f"{path}:3: data.tagret: unknown field" in message
    assert "data.target: required field is missing" in message


@pytest.mark.parametrize(
    ("source", "target", "expected"),
    [
        ("sklearn:wine", None, "target"),  # a bundled dataset's target column is always `target`
        ("sklearn:wine", "target", "target"),
        ("data/raw/mine.csv", "label", "label"),
        ("data/raw/mine.csv", None, "data.target: required field is missing"),
    ],
)
def test_only_a_sklearn_source_implies_its_target(
    source: str, target: str | None, expected: str, tmp_path: Path
) -> None:
    named = f"  target: {target}\n" if target else ""
    text = f"data:\n  source: {source}\n{named}model:\n  task: classification\n"
    path = write(tmp_path, text + "  estimator: sklearn.linear_model.LogisticRegression\n")
    if expected.startswith("data."):
        with pytest.raises(ConfigError, match=expected):
            load_params(path)
    else:
        assert load_params(path)["data"]["target"] == expected


def test_serving_switch_must_be_a_boolean(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "data:\n  source: sklearn:iris\n  target: target\nmodel:\n  task: classification\n"
        "  estimator: sklearn.linear_model.LogisticRegression\nserve:\n  trace_predictions: 'yes'\n",
    )
    with pytest.raises(ConfigError) as error:
        load_params(path)
    assert str(error.value) == f"{path}:8: serve.trace_predictions: expected boolean, got str 'yes'"


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "data:\n  source: [unclosed\nmodel: {}\n")
    with pytest.raises(ConfigError, match=rf"{path}:3: invalid YAML"):
        load_params(path)


def test_cross_field_checks(tmp_path: Path) -> None:
    doc = {**VALID, "evaluate": {"metrics": ["rmse"]}}
    path = write(tmp_path, yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match=r"evaluate\.metrics: rmse not available for classification"):
        load_params(path)


def _properties(schema: dict, path: str = "") -> list[tuple[str, dict]]:
    found = []
    for name, sub in schema.get("properties", {}).items():
        found.append((f"{path}{name}", sub))
        found.extend(_properties(sub, f"{path}{name}."))
    for name, sub in schema.get("$defs", {}).items():
        found.extend(_properties(sub, f"$defs.{name}."))
    return found


@pytest.mark.parametrize("schema_name", ["params.schema.json"])
def test_every_schema_property_has_a_description(schema_name: str) -> None:
    missing = [path for path, sub in _properties(load_schema(schema_name)) if "description" not in sub]
    assert missing == []


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=5)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
paths = st.sampled_from(
    [
        ("data",),
        ("data", "source"),
        ("data", "target"),
        ("data", "split"),
        ("data", "split", "test_size"),
        ("data", "expectations", "columns"),
        ("model",),
        ("model", "task"),
        ("model", "estimator"),
        ("model", "params"),
        ("model", "preprocessing", "scale"),
        ("evaluate", "metrics"),
        ("evaluate", "bootstrap", "samples"),
        ("evaluate", "primary"),
        ("evaluate", "slices"),
        ("serve", "trusted_types"),
        ("serve", "trace_predictions"),
        ("extra",),
    ]
)


def _mutate(document: dict, path: tuple[str, ...], value: object) -> dict:
    mutated = yaml.safe_load(yaml.safe_dump(document))
    node = mutated
    for part in path[:-1]:
        node = (
            node.setdefault(part, {}) if isinstance(node.get(part), dict) or part not in node else node[part]
        )
        if not isinstance(node, dict):
            return mutated
    node[path[-1]] = value
    return mutated


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=paths, value=values)
def test_generated_documents_give_config_error_or_load(
    tmp_path: Path, path: tuple[str, ...], value: object
) -> None:
    """Whatever the document, loading either succeeds or raises a ConfigError naming a field."""
    target = write(tmp_path, yaml.safe_dump(_mutate(VALID, path, value)))
    try:
        load_params(target)
    except ConfigError as error:
        assert str(error).startswith(f"{target}:")
        assert all(line.startswith(f"{target}:") for line in str(error).splitlines())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=60))
def test_arbitrary_text_never_crashes(tmp_path: Path, text: str) -> None:
    target = tmp_path / "params.yaml"
    target.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError):
        load_params(target)


def test_configuration_reference_is_generated_from_the_schema() -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_config_docs.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_validate_rejects_a_gate_on_a_metric_the_task_lacks(tmp_path: Path) -> None:
    text = (
        (ROOT / "params.yaml")
        .read_text()
        .replace("    roc_auc:\n      min: 0.95", "    rmse:\n      min: 0.95")
    )
    (tmp_path / "params.yaml").write_text(text)
    line = text.splitlines().index("    rmse:") + 1
    result = mlgate("validate", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"params.yaml:{line}: gates.metrics.rmse: rmse is not a classification metric" in result.stderr


def test_validate_checks_columns_the_config_names_against_the_source(tmp_path: Path) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    shutil.copytree(ROOT / "data", tmp_path / "data")
    params["evaluate"]["slices"] = ["mean area", "no such column"]
    params["data"]["expectations"]["columns"]["a typo"] = {"dtype": "number"}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    result = mlgate("validate", cwd=tmp_path)
    assert result.returncode == 2
    assert "data.expectations.columns.a typo: 'a typo' is not a column of the data" in result.stderr
    assert "evaluate.slices[1]: 'no such column' is not a column of the data" in result.stderr
    assert "evaluate.slices[0]" not in result.stderr
