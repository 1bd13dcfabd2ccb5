"""The Modbus TCP driver: reads holding/input registers and turns them into named values.

``pymodbus`` (the ``edge`` extra) is imported when the driver connects, so an agent without
Modbus devices neither needs nor loads it. Reads are synchronous with a short ``timeout_s``
(one request per register, every ``interval_s`` of event time); connection and protocol
errors become retryable ``DriverError``s, the connection is dropped and opened again on the
next poll (the agent pauses a failing driver for a growing time).
"""

from __future__ import annotations

import logging
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edge_agent.drivers.base import ConfigError, DriverContext, DriverError, Options
from forestall.contract import SENSOR_RE, Sample

if TYPE_CHECKING:
    from pymodbus.client import ModbusTcpClient

log = logging.getLogger(__name__)

REGISTER_TYPES = ("holding", "input")
WORD_ORDERS = ("big", "little")
FORMATS = {"int16": ">h", "uint16": ">H", "int32": ">i", "uint32": ">I", "float32": ">f"}


@dataclass(frozen=True, slots=True)
class Register:
    """One value: ``name`` (a contract sensor name) = raw register value × ``scale`` + ``offset``."""

    name: str
    address: int
    type: str = "holding"
    data_type: str = "uint16"
    scale: float = 1.0
    offset: float = 0.0
    word_order: str = "big"  # 32-bit types: "big" = high word first (the Modbus convention)

    @property
    def words(self) -> int:
        return struct.calcsize(FORMATS[self.data_type]) // 2


def decode(register: Register, words: Sequence[int]) -> float:
    """Registers (16-bit words, each big-endian on the wire) → the scaled value.

    >>> decode(Register("temp_c", 0, data_type="int16", scale=0.1), [0xFF9C])
    -10.0
    >>> decode(Register("flow_l_min", 0, data_type="float32"), [0x4148, 0x0000])
    12.5
    >>> decode(Register("flow_l_min", 0, data_type="float32", word_order="little"), [0x0000, 0x4148])
    12.5
    >>> decode(Register("count", 0, data_type="uint32", offset=-1), [0x0001, 0x0000])
    65535.0
    """
    ordered = list(words) if register.word_order == "big" else list(reversed(words))
    raw = struct.unpack(FORMATS[register.data_type], b"".join(w.to_bytes(2, "big") for w in ordered))[0]
    return float(raw) * register.scale + register.offset


class ModbusDriver:
    """Poll ``registers`` of device ``unit`` at ``host:port`` every ``interval_s`` event seconds."""

    def __init__(
        self,
        name: str,
        host: str,
        registers: Sequence[Register],
        *,
        port: int = 502,
        unit: int = 1,
        interval_s: float = 1.0,
        timeout_s: float = 1.0,
    ) -> None:
        if not registers or interval_s <= 0 or timeout_s <= 0:
            raise ValueError("a modbus driver needs registers and positive interval_s and timeout_s")
        self.name = name
        self.host, self.port, self.unit = host, port, unit
        self.registers = tuple(registers)
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self._client: ModbusTcpClient | None = None
        self._next_due: float | None = None

    def poll(self, now: float) -> list[Sample]:
        if self._next_due is not None and now < self._next_due:
            return []
        values = self._read_all()
        self._next_due = now + self.interval_s
        return [Sample(now, values)]

    def state(self) -> None:
        return None

    def restore(self, state: dict[str, Any]) -> None:
        """Stateless: a device is read as it is now."""

    def set_interval(self, seconds: float) -> None:
        if math.isfinite(seconds) and seconds > 0:
            self.interval_s = seconds
            self._next_due = None

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()  # type: ignore[no-untyped-call]  # pymodbus leaves it unannotated

    # ---- internals -----------------------------------------------------------------------

    def _connected(self) -> ModbusTcpClient:
        if self._client is not None and self._client.connected:
            return self._client
        self.close()
        from pymodbus.client import ModbusTcpClient  # here: only agents with Modbus load it

        client = ModbusTcpClient(self.host, port=self.port, timeout=self.timeout_s, retries=0)
        if not client.connect():  # type: ignore[no-untyped-call]  # unannotated in pymodbus
            client.close()  # type: ignore[no-untyped-call]  # pymodbus leaves it unannotated
            raise DriverError(f"cannot connect to Modbus device {self.host}:{self.port}")
        log.info("%s: connected to %s:%d", self.name, self.host, self.port)
        self._client = client
        return client

    def _read_all(self) -> dict[str, float]:
        from pymodbus.exceptions import ModbusException

        client = self._connected()
        values: dict[str, float] = {}
        try:
            for register in self.registers:
                values[register.name] = decode(register, self._read(client, register))
        except (ModbusException, OSError) as exc:
            self.close()  # the next poll connects afresh
            raise DriverError(f"Modbus {self.host}:{self.port}: {exc}") from exc
        return values

    def _read(self, client: ModbusTcpClient, register: Register) -> list[int]:
        read = client.read_holding_registers if register.type == "holding" else client.read_input_registers
        response = read(register.address, count=register.words, device_id=self.unit)
        if response.isError():
            raise DriverError(
                f"Modbus {self.host}:{self.port} unit {self.unit}: reading {register.type} register "
                f"{register.address} ({register.name}) failed: {response}"
            )
        return list(response.registers[: register.words])


def _register(opts: Options) -> Register:
    name = opts.required_text("name")
    if not SENSOR_RE.fullmatch(name):
        raise opts.error("name", "must be a sensor name [a-z][a-z0-9_]{0,63} (units in the name)")
    register = Register(
        name=name,
        address=opts.integer("address", -1, minimum=0, maximum=65535),
        type=_choice(opts, "type", "holding", REGISTER_TYPES),
        data_type=_choice(opts, "data_type", "uint16", tuple(FORMATS)),
        scale=opts.number("scale", 1.0),
        offset=opts.number("offset", 0.0),
        word_order=_choice(opts, "word_order", "big", WORD_ORDERS),
    )
    if register.address < 0:
        raise opts.error("address", "required (0-based register address, 0 to 65535)")
    opts.finish()
    return register


def _choice(opts: Options, name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = opts.text(name, default)
    if value not in allowed:
        raise opts.error(name, f"must be one of {', '.join(allowed)}")
    return value


def create(options: Mapping[str, Any], ctx: DriverContext) -> ModbusDriver:
    opts = Options(options)
    host = opts.required_text("host")
    port = opts.integer("port", 502, minimum=1, maximum=65535)
    unit = opts.integer("unit", 1, minimum=0, maximum=255)
    interval = opts.number("interval_s", ctx.sample_interval_s, positive=True)
    timeout = opts.number("timeout_s", 1.0, positive=True)
    tables = opts.tables("registers")
    opts.finish()
    if not tables:
        raise opts.error("registers", "required: at least one [[sensors.registers]] table")
    registers = [_register(Options(table, f"registers[{i}]")) for i, table in enumerate(tables)]
    names = [r.name for r in registers]
    duplicate = next((n for i, n in enumerate(names) if n in names[:i]), None)
    if duplicate is not None:
        raise ConfigError(f"registers: the name {duplicate!r} is used twice")
    return ModbusDriver(
        ctx.name or "modbus",
        host,
        registers,
        port=port,
        unit=unit,
        interval_s=interval,
        timeout_s=timeout,
    )
