"""What `docker run` of the stand-in starts: /readyz answers 200; /predict checks the records against the
bento's model card, keeps the request in the record folder, and answers one stand-in prediction each."""

import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

PORT, CONTEXT, RECORD = int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
CARD = json.loads((CONTEXT / "src" / "models" / "model.json").read_text())
FEATURES = {feature["name"] for feature in CARD["features"]}


class Handler(BaseHTTPRequestHandler):
    def answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.answer(200, {"ready": True}) if self.path == "/readyz" else self.answer(404, {})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        (RECORD / "predict.json").write_text(json.dumps(body))
        records = body.get("records") if self.path == "/predict" else None
        if not records or any(set(r) != FEATURES for r in records):
            self.answer(422, {"error": "records do not match the model's features"})
            return
        self.answer(200, [{"id": "standin", "prediction": 0} for _ in records])


HTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
