"""bridging."""
