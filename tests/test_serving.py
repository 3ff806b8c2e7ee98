"""The BentoML service end to end: build a bento from a real trained model, serve it on loopback, call it.

One bento and one server serve the whole module; start-up refusals run `bentoml serve` on doctored copies.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from conftest import BIN, ROOT, SERVING_BATCH, read_params, run, write_params
from mlgate.fsio import sha256_file
from mlgate.modelio import load_model
from mlgate.project import Project
from mlgate.serving import bento
from mlgate.serving.schema import RecordSchema, RequestError

pytestmark = pytest.mark.slow
MAX_BATCH = SERVING_BATCH
READY_SECONDS = 120


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def call(port: int, path: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
    """POST JSON to the server; return the status and the decoded answer."""
    data = raw if raw is not None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def start_server(
    args: list[str], cwd: Path, log: Path, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    handle = log.open("wb")
    process = subprocess.Popen(
        [*args, "--host", "127.0.0.1", "--port", str(port)],
        cwd=cwd,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=env,
    )
    return process, port


def wait_ready(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"server not ready after {READY_SECONDS}s:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the server we started, by its PID (its process group holds its workers)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def repo(serving_repo: Path) -> Path:
    return serving_repo


@pytest.fixture(scope="module")
def built(example_bento: dict[str, Any]) -> dict[str, Any]:
    return example_bento


@pytest.fixture(scope="module")
def server(built: dict[str, Any], repo: Path) -> Iterator[int]:
    log = repo.parent / "server.log"
    process, port = start_server([str(BIN / "bentoml"), "serve", built["tag"]], repo, log)
    try:
        wait_ready(process, port, log)
        yield port
    finally:
        stop(process)


@pytest.fixture(scope="module")
def sample(repo: Path) -> tuple[list[dict[str, Any]], Any]:
    """Twenty test rows as JSON records, and the in-process model."""
    model, card = load_model(repo / "models/model.skops", repo / "models/model.json")
    names = [feature["name"] for feature in card["features"]]
    frame = pd.read_parquet(repo / "data/prepared/test.parquet")[names].head(20)
    return json.loads(json.dumps(frame.to_dict(orient="records"), default=lambda value: value.item())), model


def test_build_labels_and_carries_model_and_wheel(built: dict[str, Any], repo: Path) -> None:
    path = Path(built["path"])
    card = json.loads((repo / "models/model.json").read_text())
    head = run("git", "rev-parse", "HEAD", cwd=repo).stdout.strip()
    assert built["labels"] == {
        "git_commit": head,
        "model_sha256": card["sha256"],
        "mlgate_version": built["labels"]["mlgate_version"],
        "model_version": "7",
    }
    assert sha256_file(path / "src/models/model.skops") == card["sha256"]
    requirements = (path / "env/python/requirements.txt").read_text().splitlines()
    assert f"scikit-learn=={card['libraries']['scikit-learn']}" in requirements
    names = [re.split(r"[<>=!~ \[]", line, maxsplit=1)[0].lower() for line in requirements if line.strip()]
    assert len(names) == len(set(names)), requirements  # each package once (bentoml was listed twice)
    wheels = list((path / "env/python/wheels").glob("mlgate-*.whl"))
    assert len(wheels) == 1
    assert "mlgate/serving/service.py" in zipfile.ZipFile(wheels[0]).namelist()


def test_dockerfile_passes_hadolint(built: dict[str, Any]) -> None:
    dockerfile = Path(built["path"]) / "env/docker/Dockerfile"
    result = run(
        BIN / "hadolint",
        "--failure-threshold",
        "info",
        dockerfile,
        cwd=dockerfile.parent,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_predict_matches_in_process(server: int, sample: tuple[list[dict[str, Any]], Any]) -> None:
    records, model = sample
    status, answer = call(server, "/predict", {"records": records})
    assert status == 200, answer
    frame = pd.DataFrame(records)
    expected_labels = model.predict(frame).tolist()
    expected_proba = model.predict_proba(frame).tolist()
    assert [row["prediction"] for row in answer] == expected_labels
    assert [list(row["probabilities"].values()) for row in answer] == expected_proba
    assert list(answer[0]["probabilities"]) == [str(c) for c in model.classes_]
    assert len({row["prediction_id"] for row in answer}) == len(records)


def test_null_is_a_missing_value_the_model_fills_in(
    server: int, sample: tuple[list[dict[str, Any]], Any]
) -> None:
    records, model = sample
    first = next(iter(records[0]))
    sent = [{**records[0], first: None}, records[1]]
    status, answer = call(server, "/predict", {"records": sent})
    assert status == 200, answer
    expected = model.predict_proba(pd.DataFrame(sent).astype(float)).tolist()  # null is NaN to the pipeline
    assert [list(row["probabilities"].values()) for row in answer] == expected


def test_metadata(server: int, repo: Path, built: dict[str, Any]) -> None:
    status, meta = call(server, "/metadata", {})
    card = json.loads((repo / "models/model.json").read_text())
    assert status == 200
    assert meta["model_version"] == "7"
    assert meta["git_commit"] == built["labels"]["git_commit"]
    assert meta["model_sha256"] == card["sha256"]
    assert meta["features"] == card["features"]
    assert meta["metrics"] == json.loads((repo / "reports/metrics.json").read_text())
    assert meta["request_schema"]["maxItems"] == MAX_BATCH


def _bad_requests(record: dict[str, Any]) -> dict[str, tuple[bytes, str]]:
    first = next(iter(record))
    without = {k: v for k, v in record.items() if k != first}
    body = lambda records: json.dumps({"records": records}).encode()  # noqa: E731
    nan = json.dumps({"records": [record]}).replace(json.dumps(record[first]), "NaN", 1).encode()
    return {
        "missing field": (body([without]), f"records[0].{first}: required field is missing"),
        "unknown field": (body([{**record, "colour": 1}]), "records[0].colour: unknown field"),
        "wrong type": (body([record, {**record, first: "12.5"}]), f"records[1].{first}: expected a number"),
        "boolean": (body([{**record, first: True}]), f"records[0].{first}: expected a number"),
        "NaN": (nan, f"records[0].{first}: expected a finite number"),
        "empty batch": (body([]), "records: empty batch"),
        "batch over max": (body([record] * (MAX_BATCH + 1)), f"over the maximum of {MAX_BATCH}"),
        "no records": (b"{}", "records"),
        "not an object": (body([1]), "Input should be an object records.0"),
        "not an array": (json.dumps({"records": record}).encode(), "Input should be a valid array records"),
        "unknown top-level field": (
            json.dumps({"records": [record], "extra": 1}).encode(),
            "Extra inputs are not permitted extra",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing field",
        "unknown field",
        "wrong type",
        "boolean",
        "NaN",
        "empty batch",
        "batch over max",
        "no records",
        "not an object",
        "not an array",
        "unknown top-level field",
    ],
)
def test_bad_requests_get_400_naming_the_field(
    server: int, sample: tuple[list[dict[str, Any]], Any], case: str
) -> None:
    raw, expected = _bad_requests(sample[0][0])[case]
    status, answer = call(server, "/predict", raw=raw)
    assert status == 400, answer
    messages = " ".join(
        detail["msg"] + " " + ".".join(map(str, detail["loc"])) for detail in answer["detail"]
    )
    assert expected in messages


def _answer_to(port: int, headers: bytes, chunks: list[bytes]) -> bytes:
    """The status line a raw HTTP request gets; the server may answer before the whole body is sent."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + headers)
        try:
            for chunk in chunks:
                conn.sendall(chunk)
        except OSError:
            pass
        return conn.recv(4096).split(b"\r\n", 1)[0]


def test_an_oversized_body_gets_413_before_it_is_read(server: int) -> None:
    """serve.max_body_mb (default 10): by Content-Length, and when the body streams in without one."""
    declared = b"Content-Length: %d\r\n\r\n" % (11 << 20)
    assert _answer_to(server, declared, [b'{"records": [']) == b"HTTP/1.1 413 Request Entity Too Large"
    part = b" " * (1 << 20)
    chunked = [b"%x\r\n%s\r\n" % (len(part), part)] * 12 + [b"0\r\n\r\n"]
    answer = _answer_to(server, b"Transfer-Encoding: chunked\r\n\r\n", chunked)
    assert answer == b"HTTP/1.1 413 Request Entity Too Large"
    status, _ = call(server, "/predict", raw=b'{"records": []}' + b" " * (9 << 20))  # under the limit: read
    assert status == 400


def test_unknown_category_gets_400() -> None:
    schema = RecordSchema(
        [{"name": "colour", "kind": "categorical", "dtype": "string", "categories": ["red"]}], 5
    )
    with pytest.raises(RequestError, match=r'records\[1\]\.colour: unknown category "blue"'):
        schema.check([{"colour": "red"}, {"colour": "blue"}])
    with pytest.raises(RequestError, match=r"records\[0\]\.colour: unknown category 3"):
        schema.check([{"colour": 3}])  # a number is read as its text, which is no category here
    with pytest.raises(RequestError, match=r"records\[0\]\.colour: expected a string, got array \[3\]"):
        schema.check([{"colour": [3]}])
    assert schema.json_schema()["items"]["properties"]["colour"]["enum"] == ["red"]


def test_huge_integer_is_not_finite() -> None:
    schema = RecordSchema([{"name": "x", "kind": "numeric", "dtype": "float64"}], 5)
    with pytest.raises(RequestError, match=r"records\[1\]\.x: expected a finite number"):
        schema.check([{"x": 1}, {"x": 10**400}])


def test_prediction_log_has_ids_but_no_inputs(
    server: int, repo: Path, sample: tuple[list[dict[str, Any]], Any]
) -> None:
    status, answer = call(server, "/predict", {"records": sample[0][:3]})
    assert status == 200
    entries = [json.loads(line) for line in (repo.parent / "predictions.jsonl").read_text().splitlines()]
    logged = {entry["prediction_id"]: entry for entry in entries}
    for row in answer:
        entry = logged[row["prediction_id"]]
        assert entry["model_version"] == "7"
        assert entry["output"]["prediction"] == row["prediction"]
        assert "input" not in entry and entry["timestamp"].endswith("Z")


def test_schemathesis_finds_no_server_error(server: int, repo: Path) -> None:
    result = run(
        BIN / "schemathesis",
        "run",
        f"http://127.0.0.1:{server}/docs.json",
        "--checks",
        "not_a_server_error",
        "--max-examples",
        "25",
        "--seed",
        "1",
        "--request-timeout",
        "20",
        "--no-color",
        "--workers",
        "1",
        cwd=repo.parent,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_containerize_without_engine_says_so(repo: Path, built: dict[str, Any], tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock",
        "GITHUB_REPOSITORY": "acme/example",
    }
    result = run(BIN / "mlgate", "containerize", built["path"], cwd=repo, env=env, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no container engine" in result.stderr and "docker build -f env/docker/Dockerfile" in result.stderr


def test_containerize_refuses_a_bento_without_mlgate_s_dockerfile(repo: Path, tmp_path: Path) -> None:
    folder = tmp_path / "bento"
    (folder / "env" / "docker").mkdir(parents=True)
    (folder / "bento.yaml").write_text("service: service:Service\n")
    (folder / "env" / "docker" / "Dockerfile").write_text("FROM python:3.11-slim\n")
    env = {
        **os.environ,
        "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock",
        "GITHUB_REPOSITORY": "acme/example",
    }
    result = run(
        BIN / "mlgate", "containerize", folder, "--build-arg", "bad arg", cwd=repo, env=env, check=False
    )
    assert result.returncode == 2 and "--build-arg 'bad arg': expected NAME=VALUE" in result.stderr
    result = run(BIN / "mlgate", "containerize", folder, cwd=repo, env=env, check=False)
    assert (
        result.returncode == 2
        and "not mlgate's Dockerfile; rebuild the bento with `mlgate build`" in result.stderr
    )


@pytest.mark.parametrize("given", [".", "/nonexistent", "./nope"])
def test_containerize_names_a_path_that_is_no_bento(repo: Path, tmp_path: Path, given: str) -> None:
    env = {
        **os.environ,
        "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock",
        "GITHUB_REPOSITORY": "acme/example",
    }
    result = run(BIN / "mlgate", "containerize", given, cwd=repo, env=env, check=False)
    assert result.returncode == 2 and "internal error" not in result.stderr
    assert f"no bento {given!r}: neither a bento's folder" in result.stderr


def test_containerize_refuses_a_version_the_bento_was_not_built_as(
    repo: Path, built: dict[str, Any], tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock",
        "GITHUB_REPOSITORY": "acme/example",
    }
    args = (BIN / "mlgate", "containerize", built["path"], "--model-version", "8")
    result = run(*args, cwd=repo, env=env, check=False)
    assert result.returncode == 2
    assert "--model-version 8: the bento was built as version 7" in result.stderr
    result = run(BIN / "mlgate", "containerize", built["path"], cwd=repo, env=env, check=False)
    assert f"at DOCKER_HOST=unix://{tmp_path}/no-engine.sock" in result.stderr


def test_image_name_defaults_to_ghcr_lower_cased(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_REPOSITORY", "Acme/Cancer-Model")
    assert bento.image_name(Project.at(repo)) == "ghcr.io/acme/cancer-model"
    params = read_params(repo)
    params["serve"]["image"] = "registry.example/team/model"
    write_params(tmp_path, params)
    assert bento.image_name(Project.at(tmp_path)) == "registry.example/team/model"


def test_service_name_defaults_to_the_repository_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "Cancer Model"
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    assert bento.service_name({"name": None}, folder) == "cancer-model"
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/Shop.Model")  # a workflow's checkout folder may differ
    assert bento.service_name({"name": None}, folder) == "shop.model"
    assert bento.service_name({"name": "churn"}, folder) == "churn"


def test_serve_extra_does_not_pull_in_dvc(built: dict[str, Any]) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"] + project["optional-dependencies"]["serve"]:
        assert not requirement.lower().startswith("dvc"), requirement
    requirements = (Path(built["path"]) / "env/python/requirements.txt").read_text().lower()
    assert "dvc" not in requirements


# --- start-up refusals: a doctored copy of the bento's folder, served with `bentoml serve`


@pytest.fixture
def staged(repo: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "bento"
    project = Project.at(repo)
    bento.stage(project, project.params, folder, None, None)
    return folder


def replace_model(folder: Path, data: bytes) -> None:
    """Swap the model file and record its sha256 in the card, as an attacker with write access would."""
    (folder / "models/model.skops").write_bytes(data)
    card = json.loads((folder / "models/model.json").read_text())
    card["sha256"] = sha256_file(folder / "models/model.skops")
    (folder / "models/model.json").write_text(json.dumps(card))


def refused_start(folder: Path) -> str:
    """Run `bentoml serve` on the folder; assert it exits without serving and return its output."""
    log = folder.parent / "refused.log"
    process, _ = start_server([str(BIN / "bentoml"), "serve", "service:Service"], folder, log)
    try:
        process.wait(timeout=READY_SECONDS)
    finally:
        stop(process)
    assert process.returncode != 0
    return log.read_text()


def predict_log_line(log: Path, port: int, body: Any) -> str:
    """Send one /predict and return BentoML's access-log line for it (it names the span, if any)."""
    assert call(port, "/predict", body)[0] == 200
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = [line for line in log.read_text().splitlines() if "path=/predict" in line]
        if lines:
            return lines[-1]
        time.sleep(0.2)
    raise AssertionError(f"no access-log line for /predict in {log}")


def test_predict_is_traced_only_when_asked(
    server: int, repo: Path, staged: Path, sample: tuple[list[dict[str, Any]], Any]
) -> None:
    body = {"records": sample[0][:1]}
    assert "trace=" not in predict_log_line(repo.parent / "server.log", server, body)
    settings = json.loads((staged / "serving.json").read_text())
    (staged / "serving.json").write_text(json.dumps({**settings, "trace_predictions": True}))
    log = staged.parent / "traced.log"
    process, port = start_server([str(BIN / "bentoml"), "serve", "service:Service"], staged, log)
    try:
        wait_ready(process, port, log)
        assert "trace=" in predict_log_line(log, port, body)
    finally:
        stop(process)


def test_tampered_model_stops_start_up(staged: Path) -> None:
    with (staged / "models/model.skops").open("ab") as handle:
        handle.write(b"\0")
    output = refused_start(staged)
    assert "mlgate: refusing to start the service" in output and "does not match" in output


class Marker:
    """Writes a marker file when unpickled: the side effect of a malicious model file."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (Path(self.path),))


def test_malicious_pickle_is_never_loaded(staged: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    replace_model(staged, pickle.dumps(Marker(str(marker))))
    output = refused_start(staged)
    assert "not a valid skops file" in output
    assert not marker.exists()


def test_untrusted_type_stops_start_up(staged: Path, tmp_path: Path) -> None:
    module = tmp_path / "custom_estimators.py"
    module.write_text("from sklearn.base import BaseEstimator\n\nclass Sneaky(BaseEstimator):\n    pass\n")
    dump = (
        "import sys, skops.io as sio; sys.path.insert(0, sys.argv[1]); import custom_estimators; "
        "sio.dump(custom_estimators.Sneaky(), sys.argv[2])"
    )
    run(sys.executable, "-c", dump, tmp_path, tmp_path / "sneaky.skops", cwd=tmp_path)
    replace_model(staged, (tmp_path / "sneaky.skops").read_bytes())
    output = refused_start(staged)
    assert "untrusted type(s) custom_estimators.Sneaky" in output


def test_mlgate_serve_serves_the_current_model_and_cleans_up_on_sigterm(
    repo: Path, sample: tuple[list[dict[str, Any]], Any]
) -> None:
    log = repo.parent / "mlgate-serve.log"
    temp = repo.parent / "serve-temp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp)}
    process, port = start_server([str(BIN / "mlgate"), "serve"], repo, log, env)
    try:
        wait_ready(process, port, log)
        status, answer = call(port, "/predict", {"records": sample[0][:2]})
        process.terminate()  # SIGTERM to `mlgate serve` alone, as `kill <pid>` sends it
        process.wait(timeout=60)
        server_gone = _group_gone(process.pid)
    finally:
        stop(process)
    assert status == 200
    assert [row["prediction"] for row in answer] == sample[1].predict(pd.DataFrame(sample[0][:2])).tolist()
    assert server_gone, "bentoml serve outlived `mlgate serve`"
    assert list(temp.iterdir()) == [], "the staging folder was left behind"


def _group_gone(group: int, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False
