"""Examples wired to the reference VEN."""
