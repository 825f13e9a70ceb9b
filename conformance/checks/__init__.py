"""Importing this package registers every check, in the order they run."""

from conformance.checks import auth, objects, query, notify, extra, subtle, late, schema  # noqa: F401, I001
