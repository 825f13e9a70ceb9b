"""The same-run ceiling: a bare FastAPI app under the same uvicorn, answering the VEN's real poll from memory.

It answers `GET <base>/events` with the body the VTN itself returned to a VEN for that poll (captured
by `bench/vtn_vs_ceiling.py` and passed in the file named by `BENCH_CEILING_BODIES`: a JSON object
mapping a workload's query marker to its body), with an ETag, and `304` to any `If-None-Match`.
No authentication, no database: what is left is what the framework and the server cost.

    BENCH_CEILING_BODIES=bodies.json python -m uvicorn bench.ceiling:app --port 8090 --no-access-log
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response

BASE = os.environ.get("BENCH_BASE_PATH", "/openadr3/3.0.1")
BODIES: dict[str, bytes] = {
    marker: body.encode() for marker, body in json.loads(Path(os.environ["BENCH_CEILING_BODIES"]).read_text()).items()
}
ETAGS = {marker: '"' + hashlib.sha256(body).hexdigest()[:32] + '"' for marker, body in BODIES.items()}

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@app.get(BASE + "/events")
async def events(request: Request) -> Response:
    marker = "targetType" if "targetType" in request.query_params else "programID"
    headers = {"ETag": ETAGS[marker], "Cache-Control": "private, no-cache"}
    if request.headers.get("if-none-match"):
        return Response(status_code=304, headers=headers)
    return Response(BODIES[marker], media_type="application/json", headers=headers)
