"""Sandbox-to-live sign-off: a VEN conformance report, approved by an operator, makes a VEN client live."""
