"""Schema migrations (Alembic), run by `vtn db upgrade` and automatically by `vtn serve`."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

log = logging.getLogger("vtn.migrate")

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url)
    return config


def shown_url(database_url: str) -> str:
    """The URL as it may be printed or logged: the password masked."""
    return make_url(database_url).render_as_string(hide_password=True)


def upgrade(database_url: str, revision: str = "head") -> None:
    shown = shown_url(database_url)
    log.debug("upgrading the schema of %s to %s", shown, revision)
    command.upgrade(alembic_config(database_url), revision)
    log.debug("schema of %s at %s", shown, revision)


def revision(database_url: str, message: str, rev_id: str) -> None:
    command.revision(alembic_config(database_url), message=message, autogenerate=True, rev_id=rev_id)
