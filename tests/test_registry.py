"""The model registry: record, promote, rollback, deprecate, verify; byte-stable files; concurrent writers."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import BIN, ROOT, mlgate, run
from mlgate import api
from mlgate.cli import main
from mlgate.errors import ConfigError, RegistryError
from mlgate.project import Project
from mlgate.registry.document import Registry, dumps, load, save

DIGEST = "sha256:" + "ab" * 32


def write_model(repo: Path, content: bytes) -> str:
    """Stand-in for the train and evaluate stages: a model file, its card, metrics, data report, dvc.lock."""
    (repo / "models").mkdir(exist_ok=True)
    (repo / "reports").mkdir(exist_ok=True)
    (repo / "models/model.skops").write_bytes(content)
    sha256 = hashlib.sha256(content).hexdigest()
    card = {
        "task": "classification",
        "estimator": "sklearn.linear_model.LogisticRegression",
        "sha256": sha256,
        "size": len(content),
    }
    (repo / "models/model.json").write_text(json.dumps(card))
    metrics = {"roc_auc": {"value": 0.9, "ci_low": 0.85, "ci_high": 0.95}, "n_test": 50}
    (repo / "reports/metrics.json").write_text(json.dumps(metrics))
    (repo / "reports/data.json").write_text(json.dumps({"data_hash": "d1", "test_hash": "t1"}))
    md5 = hashlib.md5(content).hexdigest()
    lock = {
        "schema": "2.0",
        "stages": {
            "train": {
                "cmd": "mlgate stage train",
                "outs": [{"path": "models/model.skops", "hash": "md5", "md5": md5, "size": len(content)}],
            }
        },
    }
    (repo / "dvc.lock").write_text(yaml.safe_dump(lock))
    return sha256


@pytest.fixture
def model_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small git repository with fake model outputs; the test runs inside it."""
    repo = tmp_path / "Demo_Model"
    repo.mkdir()
    (repo / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    write_model(repo, b"model one")
    run("git", "init", "-q", "-b", "main", cwd=repo)
    run("git", "add", "-A", cwd=repo)
    run("git", "commit", "-q", "-m", "train", cwd=repo)
    monkeypatch.chdir(repo)
    monkeypatch.delenv("GITHUB_ACTOR", raising=False)
    return repo


class Result(NamedTuple):
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run `mlgate` in this process (fast); the concurrency and end-to-end tests use real processes."""

    def invoke(*args: str) -> Result:
        code = main([str(arg) for arg in args])
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return invoke


def registry_text(repo: Path) -> str:
    return (repo / "registry.yaml").read_text()


def actions(repo: Path) -> list[tuple]:
    events = yaml.safe_load(registry_text(repo))["events"]
    return [(e["action"], e.get("version"), e.get("alias"), e.get("from"), e.get("to")) for e in events]


def test_record_promote_rollback_keep_history(model_repo: Path) -> None:
    assert mlgate("registry", "record", "--reason", "first model", cwd=model_repo).returncode == 0
    assert mlgate("registry", "promote", "1", "--to", "production", cwd=model_repo).returncode == 0
    write_model(model_repo, b"model two")
    result = mlgate(
        "registry",
        "record",
        "--pr",
        "7",
        "--image",
        "ghcr.io/o/r",
        "--digest",
        DIGEST,
        "--image-tag",
        "2",
        "--bento-tag",
        "demo:abc",
        cwd=model_repo,
    )
    assert result.stdout.startswith("recorded version 2 ")
    assert (
        mlgate("registry", "promote", "2", "--to", "production", cwd=model_repo).stdout
        == "promote: production 1 -> 2\n"
    )
    result = mlgate("registry", "rollback", "--alias", "production", "--reason", "latency", cwd=model_repo)
    assert (result.returncode, result.stdout) == (0, "rollback: production 2 -> 1\n")

    registry = load(model_repo / "registry.yaml")
    assert registry.model == "demo-model"
    assert registry.aliases == {"production": 1}
    assert actions(model_repo) == [
        ("register", 1, None, None, None),
        ("promote", None, "production", None, 1),
        ("register", 2, None, None, None),
        ("promote", None, "production", 1, 2),
        ("rollback", None, "production", 2, 1),
    ]
    assert [e["reason"] for e in registry.events] == ["first model", None, None, None, "latency"]
    second = registry.entry(2)
    assert second["source"]["pr"] == 7
    assert second["image"] == {"name": "ghcr.io/o/r", "digest": DIGEST, "tags": ["2"]}
    assert second["bento"] == {"tag": "demo:abc"}
    assert second["model"]["sha256"] == hashlib.sha256(b"model two").hexdigest()
    assert second["metrics"]["roc_auc"] == {"value": 0.9, "ci_low": 0.85, "ci_high": 0.95}
    assert second["lineage"]["outs"] == {"models/model.skops": hashlib.md5(b"model two").hexdigest()}
    assert second["gate"] == {
        "verdict": "unknown",
        "report": None,
        "base": None,
        "policy_from": None,
        "override": None,
    }
    assert (
        registry.entry(1)["source"]["commit"]
        == run("git", "rev-parse", "HEAD", cwd=model_repo).stdout.strip()
    )
    assert mlgate("registry", "verify", cwd=model_repo).stdout == "registry ok\n"


def test_rollback_walks_back_and_skips_deprecated(model_repo: Path) -> None:
    for version in (1, 2, 3, 4):
        write_model(model_repo, f"model {version}".encode())
        api.registry_record(Project.at())
        api.registry_promote(Project.at(), version, "production")
    api.registry_rollback(Project.at(), "production")
    with pytest.raises(RegistryError, match="version 3 is production"):
        api.registry_deprecate(Project.at(), 3)
    api.registry_deprecate(Project.at(), 2, reason="bad data")
    assert api.registry_rollback(Project.at(), "production")["to"] == 1
    with pytest.raises(RegistryError, match="no earlier active version held production"):
        api.registry_rollback(Project.at(), "production")
    with pytest.raises(RegistryError, match="version 2 is deprecated"):
        api.registry_promote(Project.at(), 2, "staging")
    with pytest.raises(RegistryError, match="alias 'staging' points at no version"):
        api.registry_rollback(Project.at(), "staging")
    assert api.registry_load(Project.at()).aliases == {"production": 1}
    assert api.registry_verify(Project.at()) == []


def test_next_version_then_record_version_and_taken_versions_refused(
    model_repo: Path, cli: Callable[..., Result]
) -> None:
    assert cli("registry", "next-version").stdout == "1\n"
    assert cli("registry", "record", "--version", "1").returncode == 0
    assert json.loads(cli("registry", "next-version", "--json").stdout) == {"version": 2}
    before = registry_text(model_repo)
    taken = cli("registry", "record", "--version", "1")
    assert taken.returncode == 2
    assert "version 1 is taken; the next free version is 2" in taken.stderr
    assert registry_text(model_repo) == before
    assert cli("registry", "record", "--version", "5").returncode == 0
    below = cli("registry", "record", "--version", "3")
    assert below.returncode == 2 and "versions only increase (next: 6)" in below.stderr


def test_json_outputs(model_repo: Path, cli: Callable[..., Result]) -> None:
    api.registry_record(Project.at())
    api.registry_record(Project.at())
    cli("registry", "promote", "1", "--to", "staging")
    listed = json.loads(cli("registry", "list", "--json").stdout)
    assert listed["aliases"] == {"staging": 1} and [v["version"] for v in listed["versions"]] == [1, 2]
    shown = json.loads(cli("registry", "show", "staging", "--json").stdout)
    assert shown["version"] == 1 and shown["aliases"] == ["staging"]
    event = json.loads(cli("registry", "deprecate", "2", "--json").stdout)
    assert event["action"] == "deprecate" and event["id"] == 4 and event["version"] == 2
    assert "by" in event and "at" in event
    table = cli("registry", "list").stdout
    assert "registry of demo-model" in table and "roc_auc 0.9 [0.85, 0.95]" in table
    missing = cli("registry", "show", "9")
    assert missing.returncode == 2 and "version 9 is not in the registry (versions: 1, 2)" in missing.stderr


def test_gate_verdict_and_actor_recorded(model_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (model_repo / "reports/gate.json").write_text(json.dumps({"passed": False}))
    monkeypatch.setenv("GITHUB_ACTOR", "octocat")
    entry = api.registry_record(Project.at(), gate_report="reports/gate.json")
    assert entry["gate"] == {
        "verdict": "failed",
        "report": "reports/gate.json",
        "base": None,
        "policy_from": None,
        "override": None,
    }
    assert entry["created_by"] == "octocat"
    report = {"gate": {"passed": False}, "base": {"sha": "a" * 40}, "policy": {"source": "base"}}
    (model_repo / "reports/report.json").write_text(json.dumps(report))
    gate = api.registry_record(Project.at(), gate_report="reports/report.json", gate_override="hotfix #12")[
        "gate"
    ]
    assert (gate["verdict"], gate["base"], gate["policy_from"], gate["override"]) == (
        "failed",
        "a" * 40,
        "base",
        "hotfix #12",
    )
    (model_repo / "reports/gate.json").write_text(json.dumps({"score": 1}))
    with pytest.raises(RegistryError, match="no verdict found"):
        api.registry_record(Project.at(), gate_report="reports/gate.json")


def test_record_needs_model_outputs(model_repo: Path, cli: Callable[..., Result]) -> None:
    (model_repo / "reports/metrics.json").unlink()
    result = cli("registry", "record")
    assert result.returncode == 2
    assert "reports/metrics.json: metrics report not found; run `dvc repro` first" in result.stderr
    assert not (model_repo / "registry.yaml").exists()


def test_record_refuses_a_value_that_would_break_the_file(
    model_repo: Path, cli: Callable[..., Result]
) -> None:
    assert cli("registry", "record", "--no-tag").returncode == 0
    before = (model_repo / "registry.yaml").read_bytes()
    result = cli("registry", "record", "--image", "ghcr.io/acme/m", "--digest", "sha256:abc", "--no-tag")
    assert result.returncode == 2 and "registry not written" in result.stderr
    assert "image.digest: 'sha256:abc' does not match ^sha256:[0-9a-f]{64}$" in result.stderr
    assert (model_repo / "registry.yaml").read_bytes() == before
    digest = "sha256:" + "a" * 64 + "\n"  # a trailing newline must not pass the pattern
    result = cli("registry", "record", "--image", "ghcr.io/acme/m", "--digest", digest, "--no-tag")
    assert result.returncode == 2 and (model_repo / "registry.yaml").read_bytes() == before
    assert cli("registry", "list").returncode == 0


def test_round_trip_is_byte_stable(model_repo: Path) -> None:
    api.registry_record(
        Project.at(), reason="multi\nline: 'quoted' # not a comment", image_tags=("yes", "1.0", "2026-01-01")
    )
    api.registry_promote(Project.at(), 1, "production", reason="é ✓ null")
    path = model_repo / "registry.yaml"
    before = path.read_bytes()
    save(load(path), path)
    assert path.read_bytes() == before
    entry = load(path).entry(1)
    assert entry["image"]["tags"] == ["yes", "1.0", "2026-01-01"]
    assert load(path).events[0]["reason"] == "multi\nline: 'quoted' # not a comment"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reason=st.text(), alias=st.from_regex(r"\A[a-z][a-z0-9_-]{0,12}\Z"))
def test_any_text_round_trips(tmp_path: Path, reason: str, alias: str) -> None:
    registry = Registry(model="m", aliases={alias: 1})
    registry.events.append(
        {
            "id": 1,
            "action": "promote",
            "alias": alias,
            "from": None,
            "to": 1,
            "at": "2026-01-01T00:00:00Z",
            "by": reason,
            "reason": reason,
        }
    )
    path = tmp_path / "registry.yaml"
    path.write_text(dumps(registry), encoding="utf-8")
    reloaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert reloaded["events"][0]["reason"] == reason
    assert (
        dumps(Registry(model="m", aliases=reloaded["aliases"], events=reloaded["events"])) == path.read_text()
    )


def test_broken_file_names_the_line_and_is_never_overwritten(
    model_repo: Path, cli: Callable[..., Result]
) -> None:
    cli("registry", "record")
    path = model_repo / "registry.yaml"
    lines = path.read_text().splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if line.strip() == "size: 9")
    lines[index] = lines[index].replace("size: 9", "size: nine")
    path.write_text("".join(lines))
    broken = path.read_bytes()
    result = cli("registry", "promote", "1", "--to", "production")
    assert result.returncode == 2
    assert (
        f"registry.yaml:{index + 1}: versions[0].model.size: expected integer, got str 'nine'"
        in result.stderr
    )
    path.write_text(path.read_text() + "events: [\n")
    broken = path.read_bytes()
    for args in (("record",), ("promote", "1", "--to", "production"), ("deprecate", "1"), ("list",)):
        result = cli("registry", *args)
        assert result.returncode == 2, args
        assert "invalid YAML" in result.stderr and "Traceback" not in result.stderr
    assert path.read_bytes() == broken
    verify = cli("registry", "verify")
    assert verify.returncode == 1 and "invalid YAML" in verify.stdout


def _edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _swap_versions(data: dict) -> None:
    data["versions"].reverse()


def _event_ids(data: dict) -> None:
    data["events"][1]["id"] = 7


def _event_times(data: dict) -> None:
    data["events"][0]["at"] = "2999-01-01T00:00:00Z"


def _alias_missing(data: dict) -> None:
    data["aliases"]["production"] = 9


def _alias_deprecated(data: dict) -> None:
    data["versions"][0]["status"] = "deprecated"
    data["events"].append(
        {
            "id": len(data["events"]) + 1,
            "action": "deprecate",
            "version": 1,
            "at": "2999-01-01T00:00:00Z",
            "by": "x",
            "reason": None,
        }
    )


def _alias_without_history(data: dict) -> None:
    data["aliases"]["staging"] = 2


def _params_edited(data: dict) -> None:
    data["versions"][1]["params"]["model"]["seed"] = 1


def _unknown_field(data: dict) -> None:
    data["versions"][0]["owner"] = "me"


CORRUPTIONS = [
    (_swap_versions, "versions are not increasing: 1 comes after 2"),
    (_event_ids, "event 2 has id 7; ids count up from 1 with no gaps"),
    (_event_times, "event 2 happened at"),
    (_alias_missing, "alias production points at version 9, which is not in the registry"),
    (_alias_deprecated, "alias production points at version 1, which is deprecated"),
    (_alias_without_history, "disagree with the events history"),
    (_params_edited, "version 2: params_sha256 does not match its params snapshot"),
    (_unknown_field, "versions[0].owner: unknown field"),
]


@pytest.fixture
def two_versions(model_repo: Path) -> Path:
    api.registry_record(Project.at())
    api.registry_promote(Project.at(), 1, "production")
    write_model(model_repo, b"model two")
    api.registry_record(Project.at())
    return model_repo


@pytest.mark.parametrize(
    ("corrupt", "problem"), CORRUPTIONS, ids=[c.__name__.strip("_") for c, _ in CORRUPTIONS]
)
def test_verify_catches_each_corruption(
    two_versions: Path, corrupt, problem: str, cli: Callable[..., Result]
) -> None:
    _edit(two_versions / "registry.yaml", corrupt)
    result = cli("registry", "verify")
    assert result.returncode == 1
    assert problem in result.stdout
    assert result.stdout.rstrip().endswith("problem(s) found")
    refused = cli("registry", "promote", "2", "--to", "production")
    assert refused.returncode == 2


def test_verify_checks_model_files_in_workspace_and_dvc_cache(two_versions: Path) -> None:
    (two_versions / "models/model.skops").write_bytes(b"tampered")
    result = api.registry_verify(Project.at())
    assert len(result) == 1 and result[0].startswith("version 2: models/model.skops has sha256 ")
    write_model(two_versions, b"model two")
    content = b"model one"
    md5 = hashlib.md5(content).hexdigest()
    cached = two_versions / ".dvc/cache/files/md5" / md5[:2] / md5[2:]
    cached.parent.mkdir(parents=True)
    cached.write_bytes(content)
    assert api.registry_verify(Project.at()) == []
    _edit(two_versions / "registry.yaml", lambda d: d["versions"][0]["model"].update(sha256="0" * 64))
    problems = api.registry_verify(Project.at())
    assert problems == [
        f"version 1: {Path('.dvc/cache/files/md5') / md5[:2] / md5[2:]} has sha256 "
        f"{hashlib.sha256(content).hexdigest()[:12]}…, the registry says 000000000000…"
    ]


def test_eight_concurrent_records_get_distinct_versions(model_repo: Path) -> None:
    processes = [
        subprocess.Popen(
            [str(BIN / "mlgate"), "registry", "record", "--reason", f"writer {n}"],
            cwd=model_repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(8)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [p.returncode for p in processes] == [0] * 8, outputs
    registry = load(model_repo / "registry.yaml")
    assert [entry["version"] for entry in registry.versions] == list(range(1, 9))
    assert sorted(e["reason"] for e in registry.events) == sorted(f"writer {n}" for n in range(8))
    assert [e["id"] for e in registry.events] == list(range(1, 9))
    assert api.registry_verify(Project.at()) == []


def test_record_tag_creates_annotated_gto_tag(model_repo: Path, cli: Callable[..., Result]) -> None:
    api.registry_record(Project.at())
    assert run("git", "tag", "--list", cwd=model_repo).stdout == ""
    cli("registry", "record", "--tag")
    assert run("git", "tag", "--list", cwd=model_repo).stdout == "demo-model@v2.0.0\n"
    assert run("git", "cat-file", "-t", "demo-model@v2.0.0", cwd=model_repo).stdout == "tag\n"
    head = run("git", "rev-parse", "HEAD", cwd=model_repo).stdout
    assert run("git", "rev-parse", "demo-model@v2.0.0^{commit}", cwd=model_repo).stdout == head
    message = run("git", "tag", "-n1", "--list", "demo-model@v2.0.0", cwd=model_repo).stdout
    assert "Registering artifact demo-model version v2.0.0" in message
    run("git", "tag", "-a", "demo-model@v3.0.0", "-m", "x", cwd=model_repo)
    clash = cli("registry", "record", "--tag")
    assert clash.returncode == 2 and "git tag demo-model@v3.0.0 exists already" in clash.stderr
    assert api.registry_next_version(Project.at()) == 3


def test_registry_settings_from_params(model_repo: Path) -> None:
    params = yaml.safe_load((model_repo / "params.yaml").read_text())
    params["registry"] = {"path": "models.yaml", "model": "churn", "tag": True}
    (model_repo / "params.yaml").write_text(yaml.safe_dump(params))
    api.registry_record(Project.at())
    assert load(model_repo / "models.yaml").model == "churn"
    assert run("git", "tag", "--list", cwd=model_repo).stdout == "churn@v1.0.0\n"
    params["registry"] = {"model": "Not A Tag"}
    (model_repo / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(ConfigError, match=r"registry\.model"):
        api.registry_next_version(Project.at())


def test_registry_commands_have_help() -> None:
    from mlgate.cli import build_parser

    registry = build_parser()._subparsers._group_actions[0].choices["registry"]
    commands = registry._subparsers._group_actions[0].choices
    assert set(commands) == {
        "list",
        "show",
        "next-version",
        "record",
        "promote",
        "rollback",
        "deprecate",
        "verify",
        "path",
    }
    for name, command in commands.items():
        for action in command._actions:
            assert action.help, f"registry {name} {action.dest} has no help"


def _undescribed(schema: dict, where: str) -> list[str]:
    missing = []
    for name, sub in schema.get("properties", {}).items():
        if "description" not in sub:
            missing.append(f"{where}.{name}")
        missing += _undescribed(sub, f"{where}.{name}")
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        missing += ([f"{where}.*"] if "description" not in extra else []) + _undescribed(extra, f"{where}.*")
    for name, sub in schema.get("$defs", {}).items():
        missing += _undescribed(sub, f"$defs.{name}")
    return missing


def test_every_schema_property_is_described() -> None:
    from mlgate.config import load_schema

    assert _undescribed(load_schema("registry.schema.json"), "registry.yaml") == []
    section = load_schema("params.schema.json")["properties"]["registry"]
    assert _undescribed(section, "params.registry") == []
    assert set(section["properties"]) == {"path", "model", "tag", "lock_timeout"}


def test_registry_in_a_new_folder(model_repo: Path) -> None:
    entry = api.registry_record(Project.at(registry="deploy/registry.yaml"))
    assert entry["version"] == 1 and (model_repo / "deploy/registry.yaml").is_file()


@pytest.mark.slow
def test_trained_repo_record_and_demo_script(trained_repo: Path) -> None:
    mlgate("registry", "record", cwd=trained_repo, check=True)
    entry = load(trained_repo / "registry.yaml").entry(1)
    assert len(entry["lineage"]["dvc_lock_sha256"]) == 64
    assert "models/model.skops" in entry["lineage"]["outs"]
    assert entry["lineage"]["data_hash"] and entry["metrics"]["n_test"] > 0
    assert entry["metrics"]["roc_auc"]["ci_low"] <= entry["metrics"]["roc_auc"]["value"]
    assert entry["model"]["estimator"] == "sklearn.ensemble.RandomForestClassifier"
    assert mlgate("registry", "verify", cwd=trained_repo).returncode == 0
    _edit(trained_repo / "registry.yaml", lambda d: d["versions"][0]["model"].update(sha256="1" * 64))
    verify = mlgate("registry", "verify", cwd=trained_repo)
    assert (
        verify.returncode == 1
        and ".dvc/cache/files/md5/" in verify.stdout
        and "models/model.skops" in verify.stdout
    )
    (trained_repo / "registry.yaml").unlink()

    demo = run("bash", ROOT / "scripts/demo_registry.sh", trained_repo, cwd=trained_repo)
    assert "rollback: production 2 -> 1" in demo.stdout
    assert "registry of" in demo.stdout
    assert not (trained_repo / "registry.yaml").exists()


def test_verify_reads_the_dvc_cache_where_cache_dir_puts_it(model_repo: Path, tmp_path: Path) -> None:
    run(BIN / "dvc", "init", "-q", cwd=model_repo)
    elsewhere = tmp_path / "shared-dvc-cache"
    run(BIN / "dvc", "cache", "dir", str(elsewhere), cwd=model_repo)
    api.registry_record(Project.at())
    content = b"model one"
    md5 = hashlib.md5(content).hexdigest()
    cached = elsewhere / "files/md5" / md5[:2] / md5[2:]
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"tampered in the shared cache")
    (model_repo / "models/model.skops").unlink()  # only the cache holds the model now
    problems = api.registry_verify(Project.at())
    assert len(problems) == 1 and problems[0].startswith(f"version 1: {cached} has sha256 "), problems
    assert not (model_repo / ".dvc/cache/files").exists()  # the default place holds nothing to check
