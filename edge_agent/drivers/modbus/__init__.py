"""``modbus``: poll registers of a Modbus TCP device (see README.md here)."""

from edge_agent.drivers.modbus.driver import ModbusDriver, Register, create, decode

__all__ = ["ModbusDriver", "Register", "create", "decode"]
