"""ASGI entry point for uvicorn (`vtn.asgi:app`); settings come from the environment."""

from vtn.app import create_app

app = create_app()
