"""The BentoML service. Imported with the bento's folder as working directory; loads the model from there.

A model that fails its sha256 or trusted-types check stops the import, so `bentoml serve` exits before it
listens: the one log line says why.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, cast

import bentoml
from pydantic import ConfigDict, GetCoreSchemaHandler, GetPydanticSchema, WithJsonSchema
from pydantic_core import PydanticCustomError, core_schema, to_json
from starlette.responses import Response

from mlgate.errors import MlgateError
from mlgate.serving.batcher import MicroBatcher
from mlgate.serving.predictor import Predictor, settle_garbage_collector
from mlgate.serving.schema import CheckedRecords, RequestError
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


def _check_records(records: list[dict[str, Any]]) -> CheckedRecords:
    """Pydantic hook: the columnar batch check, with its message as a validation error (a 400)."""
    try:
        return PREDICTOR.schema.check(records)
    except RequestError as exc:
        raise PydanticCustomError("invalid_records", "{message}", {"message": str(exc)}) from None


def _records_schema(_: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
    """Parse `records` as a list of objects (pydantic-core's fast typed path), then run the batch check."""
    return core_schema.no_info_after_validator_function(_check_records, handler(list[dict[str, Any]]))


Records = Annotated[
    CheckedRecords, GetPydanticSchema(_records_schema), WithJsonSchema(PREDICTOR.schema.json_schema())
]
# BentoML records an OpenTelemetry span per request even with no exporter (it wants the trace id), which
# nearly halved the rate of 1-row requests here; so /predict is traced only when serve.trace_predictions asks.
TRACING = {} if SETTINGS.trace_predictions else {"excluded_urls": ["/predict"]}


class RequestGuard:
    """ASGI middleware on the API routes, before BentoML reads a body: 415 for a body that is not JSON,
    413 for one over serve.max_body_mb (by its Content-Length, or as it streams in without one)."""

    def __init__(self, app: Any, paths: tuple[str, ...], max_bytes: int) -> None:
        self.app = app
        self.paths = paths
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        content_type = headers.get(b"content-type", b"application/json")
        if content_type.split(b";")[0].strip().lower() != b"application/json":
            await _refuse(scope, receive, send, 415, "send the request body as application/json")
            return
        length = headers.get(b"content-length", b"").strip()
        if length and (not length.isdigit() or int(length) > self.max_bytes):
            await _refuse(scope, receive, send, 413, self._too_large())
            return
        if not length:
            body = await _read_body(receive, self.max_bytes)
            if body is None:
                await _refuse(scope, receive, send, 413, self._too_large())
                return
            receive = _replay(body)
        await self.app(scope, receive, send)

    def _too_large(self) -> str:
        megabytes = self.max_bytes // MEGABYTE
        return f"the request body is over {megabytes} MB (serve.max_body_mb); send fewer records"


MEGABYTE = 1 << 20


async def _refuse(scope: dict[str, Any], receive: Any, send: Any, status: int, message: str) -> None:
    from starlette.responses import JSONResponse

    await JSONResponse({"error": message}, status_code=status)(scope, receive, send)


async def _read_body(receive: Any, limit: int) -> bytes | None:
    """A streamed body, or None once it grows past `limit` bytes."""
    parts, size, more = [], 0, True
    while more:
        message = await receive()
        part = message.get("body", b"")
        size += len(part)
        if size > limit:
            return None
        parts.append(part)
        more = message.get("more_body", False) and message["type"] == "http.request"
    return b"".join(parts)


def _replay(body: bytes) -> Any:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


class PredictRequest(bentoml.IODescriptor):
    """The /predict body: `records` and nothing else; an unknown field is a 400, not silently dropped."""

    model_config = ConfigDict(extra="forbid")

    records: Records


@bentoml.service(
    name=SETTINGS.name, workers=SETTINGS.workers, traffic={"timeout": SETTINGS.timeout}, tracing=TRACING
)
class Service:
    """Validated predictions from the model this bento carries."""

    def __init__(self) -> None:
        self.predictor = PREDICTOR
        max_rows = SETTINGS.batch_max_rows if SETTINGS.batching else 0
        self.batcher = MicroBatcher(
            self.predictor.predict, CheckedRecords.concat, max_rows, SETTINGS.batch_window_ms
        )
        settle_garbage_collector()

    @bentoml.api(route="/predict", input_spec=PredictRequest)
    async def predict(self, records: Records) -> list[dict[str, Any]]:
        """Score a batch of records; each answer has a prediction id, the prediction and probabilities."""
        rows = await self.batcher.submit(records)
        # BentoML passes a Response through untouched, so the rows are encoded once, without building a
        # pydantic model of them per request; the annotation still gives the OpenAPI document its schema.
        return cast(list[dict[str, Any]], Response(to_json(rows), media_type="application/json"))

    @bentoml.api(route="/metadata")
    def metadata(self) -> dict[str, Any]:
        """Model version, git commit, metrics, features and the request schema."""
        return self.predictor.metadata()


Service.add_asgi_middleware(  # type: ignore[attr-defined]
    RequestGuard, paths=("/predict", "/metadata"), max_bytes=SETTINGS.max_body_mb * MEGABYTE
)
