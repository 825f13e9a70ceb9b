"""Logging of the `vtn.*` loggers: one stderr handler at `VTN_LOG_LEVEL`, plain text or JSON lines (`VTN_LOG_FORMAT`).

Configured by `create_app` and by the `vtn` command at start. Idempotent: configuring again replaces
the handler instead of adding a second one (tests create many apps in one process).
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any, TextIO

from ven_client.logs import JsonFormatter, extra_fields

LEVELS = {"critical": logging.CRITICAL, "error": logging.ERROR, "warning": logging.WARNING, "info": logging.INFO,
          "debug": logging.DEBUG, "trace": 5}  # trace: uvicorn's level below debug
FORMATS = ("plain", "json")
ROOT_LOGGER = "vtn"


class PlainFormatter(logging.Formatter):
    """`time level logger: message`, then the extra fields as `key=<JSON>` so nothing given to the log is lost."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = extra_fields(record)
        if extras:
            line += " " + " ".join(f"{key}={json.dumps(value, default=str, separators=(',', ':'))}"
                                   for key, value in extras.items())
        return line


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at the time of the record (pytest swaps it per test; a handler
    holding the stream it was created with would write to a closed file later)."""

    def __init__(self) -> None:
        super().__init__()

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:  # StreamHandler.__init__ assigns it; ignored
        pass


def configure_logging(level: str = "info", fmt: str = "plain") -> logging.Logger:
    """Route the `vtn` logger hierarchy to stderr at `level` in format `fmt` (plain|json); returns the `vtn` logger.

    The hierarchy does not propagate to the root logger, so a host that configures root logging
    (uvicorn does not) gets each line once.
    """
    if level.lower() not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}")
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}")
    logger = logging.getLogger(ROOT_LOGGER)
    for old in [h for h in logger.handlers if isinstance(h, StderrHandler)]:
        logger.removeHandler(old)
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter(message_key="message") if fmt == "json" else PlainFormatter())
    logger.addHandler(handler)
    logger.setLevel(LEVELS[level.lower()])
    logger.propagate = False
    return logger
