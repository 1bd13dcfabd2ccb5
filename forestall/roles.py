"""API key roles (docs/ARCHITECTURE.md, HTTP API); standard library only so the CLI can list them cheaply."""

ROLES = ("admin", "dispatcher", "fsm", "grafana")
