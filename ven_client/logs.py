"""Structured logs: one JSON object per line on stderr, easy to ship to any log store."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

_RESERVED = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a call added with `extra={...}` (everything that is not a standard LogRecord attribute)."""
    return {key: value for key, value in vars(record).items() if key not in _RESERVED and not key.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, the message (under `message_key`) and the extra fields."""

    def __init__(self, message_key: str = "msg") -> None:
        super().__init__()
        self.message_key = message_key

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            self.message_key: record.getMessage(),
        }
        entry.update(extra_fields(record))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup_logging(level: str = "info", json_logs: bool = True) -> None:
    """Configure the `ven_client` loggers (and the root logger) once."""
    handler = logging.StreamHandler(sys.stderr)
    if json_logs:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # uvicorn's access log is noise for a webhook receiver; keep its errors.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("httpx2").setLevel(logging.WARNING)
