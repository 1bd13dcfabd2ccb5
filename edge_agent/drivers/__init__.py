"""Sensor drivers: one folder per driver (code, README, sample config), registered by name.

A ``[[sensors]]`` table's ``driver`` key picks the factory; the factory gets the rest of the
table as options plus a ``DriverContext``. To add a driver, add its folder and one line here.
"""

from __future__ import annotations

from edge_agent.drivers import command, modbus, replay, simulated
from edge_agent.drivers.base import DriverFactory

DRIVERS: dict[str, DriverFactory] = {
    "command": command.create,
    "modbus": modbus.create,
    "replay": replay.create,
    "simulated": simulated.create,
}

__all__ = ["DRIVERS"]
