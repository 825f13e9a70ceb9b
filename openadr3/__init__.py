"""OpenADR 3.0.1 wire models and primitives shared by the VTN, the VEN and the conformance suite."""

from importlib import resources
from pathlib import Path

SPEC_VERSION = "3.0.1"


def spec_path(version: str = SPEC_VERSION) -> Path:
    """Path of the vendored, unmodified OpenAPI definition of `version`."""
    return Path(str(resources.files("openadr3") / "spec" / version / "openadr3.yaml"))
