"""GB monthly statements (docs/gb-profile.md §6.9)."""
