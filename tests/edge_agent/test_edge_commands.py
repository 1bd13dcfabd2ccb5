from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_agent.commands import handle_command
from forestall.contract import Ack


class Target:
    def __init__(self) -> None:
        self.interval: float | None = None
        self.enabled: dict[str, bool] = {}

    def names(self) -> list[str]:
        return ["replay", "vibration"]

    def set_sample_interval(self, seconds: float) -> None:
        self.interval = seconds

    def set_enabled(self, name: str, enabled: bool) -> None:
        self.enabled[name] = enabled


def cmd(op: str, cmd_id: str = "c1", **args: Any) -> bytes:
    doc: dict[str, Any] = {"schema": "forestall.cmd/1", "id": cmd_id, "op": op}
    if args:
        doc["args"] = args
    return json.dumps(doc).encode()


def test_ping() -> None:
    assert handle_command(cmd("ping", "p-1"), Target()) == Ack("p-1", True)


def test_set_config_applies_interval_and_sensor_switches() -> None:
    target = Target()
    ack = handle_command(
        cmd("set_config", sample_interval_s=5, sensors={"vibration": {"enabled": False}}), target
    )
    assert ack == Ack("c1", True)
    assert (target.interval, target.enabled) == (5.0, {"vibration": False})


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"sample_interval_s": 0}, "args.sample_interval_s: must be > 0"),
        ({"sample_interval_s": True}, "args.sample_interval_s: must be a number"),
        ({"sample_interval_s": "fast"}, "args.sample_interval_s: must be a number"),
        ({"sensors": {"pressure": {"enabled": True}}}, "args.sensors.pressure: no such sensor"),
        ({"sensors": {"replay": {"enabled": "no"}}}, "args.sensors.replay: must be"),
        ({"sensors": ["replay"]}, "args.sensors: must be an object"),
        ({"reboot": True}, "args.reboot: unknown setting"),
    ],
)
def test_bad_set_config_is_refused_whole(args: dict[str, Any], error: str) -> None:
    target = Target()
    ack = handle_command(cmd("set_config", **{"sample_interval_s": 2, **args}), target)
    assert ack is not None and not ack.ok and ack.error is not None
    assert ack.error.startswith(error)
    assert (target.interval, target.enabled) == (None, {})  # nothing applied


def test_unknown_op_is_an_error_ack() -> None:
    ack = handle_command(cmd("reboot", "r1"), Target())
    assert ack is not None and (ack.id, ack.ok) == ("r1", False)
    assert ack.error is not None and "unknown op 'reboot'" in ack.error


@pytest.mark.parametrize(
    "payload",
    [
        b'{"id": "m1", "op": "ping"}',  # no schema
        b'{"schema": "forestall.cmd/1", "id": "m1"}',  # no op
        b'{"schema": "forestall.cmd/1", "id": "m1", "op": "ping", "args": [1]}',
    ],
)
def test_malformed_command_with_an_id_gets_an_error_ack(payload: bytes) -> None:
    ack = handle_command(payload, Target())
    assert ack is not None and (ack.id, ack.ok) == ("m1", False)
    assert ack.error is not None and ack.error.startswith("malformed command")


@pytest.mark.parametrize("payload", [b"", b"not json", b"[1,2]", b'{"id": 7}', b"\xff\xfe", b"{" * 100_000])
def test_malformed_command_without_an_id_gets_no_ack(payload: bytes) -> None:
    assert handle_command(payload, Target()) is None


def test_a_failing_target_gives_an_error_ack() -> None:
    class Broken(Target):
        def set_sample_interval(self, seconds: float) -> None:
            raise RuntimeError("driver on fire")

    ack = handle_command(cmd("set_config", sample_interval_s=1), Broken())
    assert ack == Ack("c1", False, "internal error: driver on fire")


json_docs = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


@given(
    st.binary(max_size=200)
    | json_docs.map(lambda doc: json.dumps(doc).encode())
    | st.fixed_dictionaries(
        {
            "schema": st.just("forestall.cmd/1"),
            "id": st.text(max_size=5),
            "op": st.sampled_from(["ping", "set_config", "x"]),
        },
        optional={"args": json_docs},
    ).map(lambda doc: json.dumps(doc).encode())
)
def test_any_payload_gives_an_ack_or_none_and_never_raises(payload: bytes) -> None:
    ack = handle_command(payload, Target())
    assert ack is None or (isinstance(ack, Ack) and ack.id)
