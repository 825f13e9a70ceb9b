"""GB meter data at aggregator scale, unit baselines and per-event delivery reports (docs/gb-profile.md §6.4.1, §6.8)."""
