"""``command``: run a program and read the JSON lines it prints (see README.md here)."""

from edge_agent.drivers.command.driver import CommandDriver, create, parse_line

__all__ = ["CommandDriver", "create", "parse_line"]
