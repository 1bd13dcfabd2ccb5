"""API key roles (ARCHITECTURE §4); standard library only so the CLI can list them cheaply."""

ROLES = ("admin", "dispatcher", "fsm", "grafana")
