"""The append-only audit log: who did what to which object, when, and whether it worked (docs/security.md)."""
