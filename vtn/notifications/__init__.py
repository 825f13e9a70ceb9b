"""Notifications: the transactional outbox, matching, and delivery by transport (webhook, MQTT)."""
