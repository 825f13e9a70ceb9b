"""vens domain."""
