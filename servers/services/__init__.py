"""Every state change of Docker hosts, by concern: `hosts`, `stats`, `ssh` (import from those)."""
