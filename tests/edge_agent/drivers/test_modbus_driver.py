"""The Modbus driver against pymodbus's own TCP server, started in-process on a free port."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_agent.drivers import DRIVERS
from edge_agent.drivers.base import ConfigError, DriverContext, DriverError
from edge_agent.drivers.modbus import ModbusDriver, Register, decode
from edge_agent.polling import DriverSet
from tests.edge_agent.edge_support import ModbusDevice, wait_until

pytestmark = pytest.mark.integration

T0 = 1_795_456_800.0
UNIT = 7
# holding: int16 -10.0 (raw -100, scale 0.1) | float32 12.5 (big) | uint32 70000 | int32 -2 | float32 NaN
HOLDING = [0xFF9C, 0x4148, 0x0000, 0x0001, 0x1170, 0xFFFF, 0xFFFE, 0x7FC0, 0x0000]
# input: uint16 1234 | float32 -3.25 with the low word first
INPUTS = [1234, 0x0000, 0xC050]
REGISTERS = [
    {"name": "temp_c", "address": 0, "data_type": "int16", "scale": 0.1},
    {"name": "flow_l_min", "address": 1, "data_type": "float32"},
    {"name": "run_hours", "address": 3, "data_type": "uint32", "offset": 0.5},
    {"name": "delta_steps", "address": 5, "data_type": "int32"},
    {"name": "broken_sensor", "address": 7, "data_type": "float32"},
    {"name": "motor_current_a", "address": 0, "type": "input", "scale": 0.01},
    {"name": "pressure_bar", "address": 1, "type": "input", "data_type": "float32", "word_order": "little"},
]
EXPECTED = {
    "temp_c": -10.0,
    "flow_l_min": 12.5,
    "run_hours": 70000.5,
    "delta_steps": -2.0,
    "motor_current_a": 12.34,
    "pressure_bar": -3.25,
}


@pytest.fixture
def device() -> Iterator[ModbusDevice]:
    server = ModbusDevice(HOLDING, INPUTS, unit=UNIT)
    yield server
    server.stop()


def build(port: int, tmp_path: Path, **extra: object) -> ModbusDriver:
    options = {"host": "127.0.0.1", "port": port, "unit": UNIT, "registers": REGISTERS, **extra}
    driver = DRIVERS["modbus"](options, DriverContext("acme", "p1", str(tmp_path), 1.0, name="plc"))
    assert isinstance(driver, ModbusDriver)
    return driver


def test_registers_become_named_scaled_values(device: ModbusDevice, tmp_path: Path) -> None:
    drivers = DriverSet([build(device.port, tmp_path)])
    try:
        polled = drivers.poll(T0)
        assert [s.ts for s in polled.samples] == [T0]
        assert polled.samples[0].values == pytest.approx(EXPECTED)  # NaN dropped by the agent's check
        assert drivers.slots["plc"].invalid == 1
        assert drivers.poll(T0 + 0.5).samples == []  # not due before interval_s
        assert len(drivers.poll(T0 + 1).samples) == 1
    finally:
        drivers.close()


def test_an_illegal_address_is_a_retryable_error_naming_the_register(
    device: ModbusDevice, tmp_path: Path
) -> None:
    driver = ModbusDriver("plc", "127.0.0.1", [Register("far_c", 500)], port=device.port, unit=UNIT)
    with pytest.raises(DriverError, match=r"holding register 500 \(far_c\)") as caught:
        driver.poll(T0)
    assert caught.value.retryable
    driver.close()


def test_a_lost_device_shows_in_the_status_and_the_driver_reconnects(
    device: ModbusDevice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("edge_agent.polling.RETRY_MAX_S", 0.0)  # no retry pause in this test
    drivers = DriverSet([build(device.port, tmp_path)])
    try:
        assert len(drivers.poll(T0).samples) == 1
        device.stop()
        assert drivers.poll(T0 + 1).samples == []
        status = drivers.statuses()["plc"]
        assert status.startswith("error: ") and "Modbus" in status and str(device.port) in status
        wait_until(
            lambda: (
                not drivers.poll(T0 + 2).samples
                and "cannot connect to Modbus device" in drivers.statuses()["plc"]
            ),
            what="a refused reconnect",
        )
        device.start()  # same port, same registers
        assert drivers.poll(T0 + 3).samples[0].values == pytest.approx(EXPECTED)
        assert drivers.statuses() == {"plc": "ok"}
    finally:
        drivers.close()


def test_factory_validates_the_registers(tmp_path: Path) -> None:
    ctx = DriverContext("acme", "p1", str(tmp_path), 1.0)
    good = {"name": "temp_c", "address": 0}
    for options, message in [
        ({"registers": [good]}, "host: required"),
        ({"host": "plc"}, "registers: required"),
        ({"host": "plc", "registers": [{"name": "Temp C", "address": 0}]}, r"registers\[0\]\.name: must be"),
        ({"host": "plc", "registers": [{"name": "temp_c"}]}, r"registers\[0\]\.address: required"),
        ({"host": "plc", "registers": [{**good, "type": "coil"}]}, r"registers\[0\]\.type: must be one of"),
        ({"host": "plc", "registers": [{**good, "data_type": "f64"}]}, r"data_type: must be one of"),
        ({"host": "plc", "registers": [{**good, "word_order": "middle"}]}, r"word_order: must be one of"),
        ({"host": "plc", "registers": [{**good, "bits": 3}]}, r"registers\[0\]\.bits: unknown key"),
        ({"host": "plc", "registers": [good, good]}, "used twice"),
        ({"host": "plc", "port": 0, "registers": [good]}, "port: must be >= 1"),
    ]:
        with pytest.raises(ConfigError, match=message):
            DRIVERS["modbus"](options, ctx)


WORDS = {"int16": ">h", "uint16": ">H", "int32": ">i", "uint32": ">I", "float32": ">f"}


@given(st.sampled_from(sorted(WORDS)), st.integers(0, 2**32 - 1), st.sampled_from(["big", "little"]))
def test_decode_matches_struct_for_every_type_and_word_order(data_type: str, bits: int, order: str) -> None:
    register = Register("x", 0, data_type=data_type, word_order=order)
    raw = bits.to_bytes(4, "big")[-struct.calcsize(WORDS[data_type]) :]
    words = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    wire = words if order == "big" else list(reversed(words))
    expected = struct.unpack(WORDS[data_type], raw)[0]
    got = decode(register, wire)
    assert got == expected or (got != got and expected != expected)
