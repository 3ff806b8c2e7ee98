"""`mlgate smoke`: check a running service as a deploy must before it records the version.

Wait (bounded) for `/readyz`, then score the first test records on `/predict` and check every answer
against what the evaluate stage predicted for the same rows (reports/predictions.parquet), when it is
there and the service serves the workspace's model (by sha256, from /metadata): the same label,
probabilities within PARITY_TOLERANCE, a regression value within it relatively.
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
PARITY_TOLERANCE = 1e-6  # served against evaluated, absolute for probabilities, relative for values


@dataclass(frozen=True)
class SmokeResult:
    """What the check saw: how long the service took to be ready, and its answers."""

    url: str
    ready_seconds: float
    records: int
    answers: list[dict[str, Any]]
    parity_rows: int  # answers checked against the evaluate stage's predictions
    parity: str  # what the parity check found, or why it did not run


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


def smoke(project: Project, url: str, timeout: float, rows: int = 5) -> SmokeResult:
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
    served = post_json(f"{url}/metadata", {})
    sha256 = served.get("model_sha256") if isinstance(served, dict) else None
    rows, parity = check_parity(project, answers, str(sha256))
    return SmokeResult(url, round(ready, 3), len(records), answers, rows, parity)


def check_parity(project: Project, answers: list[dict[str, Any]], served_sha256: str) -> tuple[int, str]:
    """Compare the answers with the evaluate stage's predictions for the same test rows, when the service
    serves the workspace's model; the rows checked and what was found."""
    path, card = project.files.predictions, read_card(project.files.card)
    if not path.is_file():
        return 0, f"parity not checked: no {project.shown(path)}"
    if served_sha256 != card["sha256"]:
        return 0, (
            f"parity not checked: the service's model (sha256 {served_sha256[:12]}) is not the "
            f"workspace's ({card['sha256'][:12]})"
        )
    import pandas as pd

    expected = pd.read_parquet(path).head(len(answers))
    for index, (answer, row) in enumerate(zip(answers, expected.to_dict(orient="records"), strict=False)):
        problem = _disagreement(answer, row)
        if problem:
            raise ServiceCheckError(f"record {index}: {problem} ({project.shown(path)})")
    return len(expected), f"{len(expected)} answer(s) equal the evaluate stage's"


def _disagreement(answer: dict[str, Any], row: dict[str, Any]) -> str | None:
    """How a served answer differs from the evaluated row, or None when it does not."""
    served, evaluated = answer["prediction"], row["prediction"]
    if "probabilities" not in answer:
        if abs(float(served) - float(evaluated)) > PARITY_TOLERANCE * max(1.0, abs(float(evaluated))):
            return f"the service predicted {served}, the evaluate stage {evaluated}"
        return None
    if str(served) != str(evaluated):
        return f"the service predicted {served!r}, the evaluate stage {evaluated!r}"
    for label, probability in answer["probabilities"].items():
        column = f"proba_{label}"
        if column in row and abs(probability - row[column]) > PARITY_TOLERANCE:
            return f"p({label}) is {probability} from the service, {row[column]} from the evaluate stage"
    return None
