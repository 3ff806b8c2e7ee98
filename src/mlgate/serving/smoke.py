"""`mlgate smoke`: check a running service as a deploy must before it records the version.

Wait (bounded) for `/readyz`, then score the first test records on `/predict` and check every answer.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from mlgate.datasets.schema import read_prepared
from mlgate.errors import DataValidationError, ServiceCheckError
from mlgate.modelio import read_card
from mlgate.project import Project

POLL_SECONDS = 1.0
REQUEST_SECONDS = 30.0


@dataclass(frozen=True)
class SmokeResult:
    """What the check saw: how long the service took to be ready, and its answers."""

    url: str
    ready_seconds: float
    records: int
    answers: list[dict[str, Any]]


def wait_ready(url: str, timeout: float) -> float:
    """Seconds until `<url>/readyz` answers 200; ServiceCheckError after `timeout` seconds."""
    started = time.monotonic()
    deadline = started + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=REQUEST_SECONDS) as answer:
                if answer.status == 200:
                    return time.monotonic() - started
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() >= deadline:
            raise ServiceCheckError(f"{url}/readyz did not answer within {timeout:g}s")
        time.sleep(POLL_SECONDS)


def test_records(project: Project, rows: int) -> list[dict[str, Any]]:
    """The first `rows` test records, with only the features the model card lists, as JSON values."""
    files = project.files
    frame, _ = read_prepared(files.test, files.schema, project.shown(files.test))
    names = [feature["name"] for feature in read_card(files.card)["features"]]
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise DataValidationError(
            f"{project.shown(files.test)}: no column(s) {', '.join(missing)} of the model card"
        )
    records: list[dict[str, Any]] = json.loads(frame[names].head(rows).to_json(orient="records"))
    return records


def post_json(url: str, body: Any) -> Any:
    """POST a JSON body; the decoded answer, or ServiceCheckError naming the status and the body."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_SECONDS) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")[:500]
        raise ServiceCheckError(f"{url} answered {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ServiceCheckError(f"{url}: {exc}") from None


def smoke(project: Project, url: str, timeout: float, rows: int = 1) -> SmokeResult:
    """Wait for the service, score test records, and check that each got a prediction."""
    url = url.rstrip("/")
    records = test_records(project, rows)
    ready = wait_ready(url, timeout)
    answers = post_json(f"{url}/predict", {"records": records})
    if not isinstance(answers, list) or len(answers) != len(records):
        raise ServiceCheckError(f"{url}/predict answered {str(answers)[:200]} for {len(records)} record(s)")
    missing = [index for index, answer in enumerate(answers) if "prediction" not in answer]
    if missing:
        raise ServiceCheckError(f"{url}/predict gave no prediction for record(s) {missing}")
    return SmokeResult(url, round(ready, 3), len(records), answers)
