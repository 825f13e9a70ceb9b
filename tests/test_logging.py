"""The `vtn.*` loggers write to stderr at VTN_LOG_LEVEL, as plain lines or JSON lines (VTN_LOG_FORMAT), configured
once however many apps a process creates."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from vtn.app import create_app
from vtn.core.logs import StderrHandler, configure_logging
from vtn.core.settings import Settings

VTN = Path(sys.executable).parent / "vtn"


def run_vtn(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("VTN_")}
    environment.update(VTN_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'vtn.db'}", **env)
    done = subprocess.run([str(VTN), *args], capture_output=True, text=True, env=environment, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(autouse=True)
def restore_logging():  # type: ignore[no-untyped-def]
    yield
    configure_logging()  # the default again for the tests that follow


def test_debug_level_prints_vtn_lines_from_a_command(tmp_path: Path) -> None:
    debug = run_vtn(tmp_path, "clients", "add", "op-1", "--role", "BL", VTN_LOG_LEVEL="debug").stderr.splitlines()
    assert any(" DEBUG vtn.migrate: upgrading the schema of sqlite" in line for line in debug), debug
    audit = [line for line in debug if " INFO vtn.audit: client.add success" in line]
    assert len(audit) == 1 and json.loads(audit[0].split(" audit=", 1)[1])["objectID"] == "op-1"
    quiet = run_vtn(tmp_path, "clients", "disable", "op-1").stderr  # default: info
    assert " INFO vtn.audit: client.disable" in quiet and "DEBUG" not in quiet
    silent = run_vtn(tmp_path, "clients", "enable", "op-1", VTN_LOG_LEVEL="warning").stderr
    assert "vtn." not in silent


def test_json_format_is_one_object_per_line(tmp_path: Path) -> None:
    lines = run_vtn(tmp_path, "clients", "add", "op-1", "--role", "BL", VTN_LOG_LEVEL="DEBUG",
                    VTN_LOG_FORMAT="json").stderr.splitlines()
    entries = [json.loads(line) for line in lines]  # every line parses
    assert entries and all({"ts", "level", "logger", "message"} <= set(e) for e in entries)
    assert all(e["ts"].endswith("Z") for e in entries)
    assert {"debug", "info"} <= {e["level"] for e in entries}
    (audit,) = [e for e in entries if e["logger"] == "vtn.audit"]
    assert audit["audit"]["action"] == "client.add" and audit["audit"]["actorRole"] == "cli"
    assert audit["message"].startswith("client.add success by cli:")


def test_configured_once_however_many_apps_are_created(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", log_level="debug", log_format="json")
    for _ in range(3):
        create_app(settings)
    logger = logging.getLogger("vtn")
    ours = [h for h in logger.handlers if isinstance(h, StderrHandler)]  # pytest attaches its capture handlers too
    assert len(ours) == 1 and logger.level == logging.DEBUG and not logger.propagate
    logging.getLogger("vtn.test").debug("hello %s", "there", extra={"detail": {"n": 1}})
    (line,) = capsys.readouterr().err.splitlines()  # once, to the stderr of the moment
    assert json.loads(line) | {"ts": "-"} == {"ts": "-", "level": "debug", "logger": "vtn.test", "message": "hello there",
                                              "detail": {"n": 1}}
    create_app(settings.model_copy(update={"log_level": "info", "log_format": "plain"}))
    logging.getLogger("vtn.test").debug("hidden")
    logging.getLogger("vtn.test").warning("shown", extra={"detail": {"n": 2}})
    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith(' WARNING vtn.test: shown detail={"n":2}')


def test_log_level_and_format_are_checked() -> None:
    assert Settings(log_level=" Trace ").log_level == "trace"
    for bad in ({"log_level": "verbose"}, {"log_format": "xml"}):
        with pytest.raises(ValidationError):
            Settings(**bad)  # type: ignore[arg-type]
