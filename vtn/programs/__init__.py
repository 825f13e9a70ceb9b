"""programs domain."""
