"""ASGI entry point for uvicorn (`vtn.asgi:app`); settings come from the environment."""

import gc

from vtn.app import create_app

app = create_app()

# The loaded app (modules, routes, schemas, table metadata: ~300 000 objects) lives as long as the process. A full
# collection walks every tracked object with the event loop stopped (~100-250 ms here: a poll's p99); frozen, the
# collector walks only what requests and caches made since (docs/benchmarks.md, "Fifth pass").
gc.collect()
gc.freeze()
