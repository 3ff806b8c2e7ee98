"""The BentoML service. Imported with the bento's folder as working directory; loads and checks the model there.

A model that fails its sha256 or trusted-types check stops the import, so `bentoml serve` exits before it
listens: the one log line says why.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import bentoml
from pydantic import PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from mlgate.errors import MlgateError
from mlgate.serving.predictor import Predictor
from mlgate.serving.schema import RequestError
from mlgate.serving.settings import load_settings

BASE = Path.cwd()


def _load() -> Predictor:
    """Read the settings and load the model, or stop start-up with one clear line."""
    try:
        return Predictor.load(load_settings(BASE / "serving.json"), BASE)
    except MlgateError as exc:
        print(f"mlgate: refusing to start the service: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


PREDICTOR = _load()
SETTINGS = PREDICTOR.settings


def _check_records(records: Any) -> list[dict[str, Any]]:
    """Pydantic hook: the columnar batch check, with its message as a validation error (a 400)."""
    try:
        return PREDICTOR.schema.check(records)
    except RequestError as exc:
        raise PydanticCustomError("invalid_records", "{message}", {"message": str(exc)}) from None


Records = Annotated[
    list[dict[str, Any]], PlainValidator(_check_records), WithJsonSchema(PREDICTOR.schema.json_schema())
]


@bentoml.service(name=SETTINGS.name, workers=SETTINGS.workers, traffic={"timeout": SETTINGS.timeout})
class Service:
    """Validated predictions from the model this bento carries."""

    def __init__(self) -> None:
        self.predictor = PREDICTOR

    @bentoml.api(
        route="/predict",
        batchable=SETTINGS.batching,
        max_batch_size=SETTINGS.batch_max_rows,
        max_latency_ms=SETTINGS.max_latency_ms,
    )
    def predict(self, records: Records) -> list[dict[str, Any]]:
        """Score a batch of records; each answer has a prediction id, the prediction and class probabilities."""
        return self.predictor.predict(records)

    @bentoml.api(route="/metadata")
    def metadata(self) -> dict[str, Any]:
        """Model version, git commit, metrics, features and the request schema."""
        return self.predictor.metadata()
