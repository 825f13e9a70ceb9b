"""`vtn clients …` and `vtn db upgrade` against a real database file."""

from __future__ import annotations

from typer.testing import CliRunner

from vtn.cli import app
from vtn.core.settings import get_settings


def test_clients_lifecycle(tmp_path, monkeypatch):
    monkeypatch.setenv("VTN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
        added = runner.invoke(app, ["clients", "add", "fsp-1", "--role", "VEN", "--ven-name", "fsp-1"])
        assert added.exit_code == 0, added.output
        assert "client_secret:" in added.output
        listed = runner.invoke(app, ["clients", "list"])
        assert "fsp-1" in listed.output and "enabled" in listed.output and "client_secret" not in listed.output
        assert runner.invoke(app, ["clients", "add", "bad", "--role", "VEN"]).exit_code != 0  # VEN needs a ven name
        rotated = runner.invoke(app, ["clients", "rotate-secret", "fsp-1"])
        assert rotated.exit_code == 0 and "client_secret:" in rotated.output
        assert runner.invoke(app, ["clients", "disable", "fsp-1"]).exit_code == 0
        assert "DISABLED" in runner.invoke(app, ["clients", "list"]).output
        # operator tenancy: a client of NGED; an operator id that is not one is refused, nothing stored
        nged = runner.invoke(app, ["clients", "add", "nged-bl", "--role", "BL", "--operator", "NGED"])
        assert nged.exit_code == 0 and "operator: NGED" in nged.output, nged.output
        assert "nged-bl\tBL\tNGED\t" in runner.invoke(app, ["clients", "list"]).output
        refused = runner.invoke(app, ["clients", "add", "odd", "--role", "BL", "--operator", "N G/ED"])
        assert refused.exit_code == 1 and "error: operator" in refused.output
        assert "odd" not in runner.invoke(app, ["clients", "list"]).output
    finally:
        get_settings.cache_clear()
