"""The wire contract: topics, telemetry validation, status/cmd/ack round trips."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forestall import contract
from forestall.contract import ContractError, Sample, parse_telemetry


def batch(**overrides: object) -> bytes:
    doc: dict[str, object] = {
        "schema": "forestall.telemetry/1",
        "asset": "pump-1",
        "seq": 7,
        "samples": [
            {"ts": "2026-11-23T18:00:00.000Z", "values": {"temp_c": 61.2}},
            {"ts": 1795460400.5, "values": {"temp_c": 61.3, "vibration_mm_s": 2}},
        ],
    }
    doc.update(overrides)
    return json.dumps(doc).encode()


def reason_of(payload: bytes, asset: str = "pump-1") -> str:
    with pytest.raises(ContractError) as info:
        parse_telemetry(payload, asset=asset)
    return info.value.reason


def test_valid_batch_keeps_every_sample_with_both_time_formats() -> None:
    parsed = parse_telemetry(batch(), asset="pump-1")
    assert parsed.seq == 7
    assert [s.ts for s in parsed.samples] == [1795456800.0, 1795460400.5]
    assert parsed.samples[1].values == {"temp_c": 61.3, "vibration_mm_s": 2.0}


def test_offsets_are_converted_to_utc() -> None:
    parsed = parse_telemetry(
        batch(samples=[{"ts": "2026-11-23T19:00:00+01:00", "values": {"a": 1}}]), asset="pump-1"
    )
    assert parsed.samples[0].ts == 1795456800.0


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json", "malformed_json"),
        (b"\xff\xfe", "malformed_json"),
        (b"[1, 2]", "schema"),
        (batch(schema="forestall.telemetry/2"), "schema"),
        (batch(seq=-1), "schema"),
        (batch(seq=True), "schema"),
        (batch(samples={"ts": 1}), "schema"),
        (batch(samples=[{"ts": "yesterday", "values": {"a": 1}}]), "schema"),
        (batch(samples=[{"ts": "2026-11-23T18:00:00", "values": {"a": 1}}]), "schema"),
        (batch(samples=[{"ts": 1, "values": {"Bad-Name": 1}}]), "schema"),
        (batch(samples=[{"ts": 1, "values": {}}]), "schema"),
        (batch(asset="pump-2"), "asset_mismatch"),
        (batch(samples=[{"ts": i, "values": {"a": 1}} for i in range(1001)]), "too_many_samples"),
        (b" " * (256 * 1024 + 1), "too_large"),
    ],
)
def test_whole_batch_rejections_name_their_reason(payload: bytes, reason: str) -> None:
    assert reason_of(payload) == reason


def test_a_non_finite_or_non_number_value_drops_only_its_sample() -> None:
    samples = [
        {"ts": 1, "values": {"a": "abc"}},
        {"ts": 2, "values": {"a": 1.5}},
        {"ts": 3, "values": {"a": None}},
    ]
    parsed = parse_telemetry(batch(samples=samples), asset="pump-1")
    assert [s.ts for s in parsed.samples] == [2.0]
    assert [r.index for r in parsed.rejected] == [0, 2]
    nan = (
        b'{"schema":"forestall.telemetry/1","asset":"pump-1","seq":1,"samples":[{"ts":1,"values":{"a":NaN}}]}'
    )
    assert parse_telemetry(nan, asset="pump-1").samples == []


@pytest.mark.parametrize(
    "name",
    [
        "forestall/v1/ac me/p/telemetry",
        "forestall/v2/a/p/telemetry",
        "forestall/v1/a/p/other",
        "forestall/v1/a/p/telemetry/x",
        "forestall/v1/a//telemetry",
        "forestall/v1/" + "a" * 65 + "/p/status",
    ],
)
def test_bad_topics_are_rejected(name: str) -> None:
    with pytest.raises(ContractError) as info:
        contract.parse_topic(name)
    assert info.value.reason == "bad_topic"


def test_payload_builders_round_trip() -> None:
    samples = [Sample(1795460400.5, {"temp_c": 61.3})]
    parsed = parse_telemetry(contract.telemetry_payload("p1", 3, samples), asset="p1")
    assert parsed.samples == samples and parsed.seq == 3
    status = contract.Status("online", 1795460400.0, "0.1.0", 3, 1, {"replay": "ok"})
    assert contract.parse_status(contract.status_payload(status)) == status
    offline = json.loads(contract.status_payload(contract.Status("offline", None, "0.1.0")))
    assert offline == {"schema": "forestall.status/1", "state": "offline", "agent": "0.1.0"}
    command = contract.Command("c1", "set_config", {"sample_interval_s": 5})
    assert contract.parse_command(contract.command_payload(command)) == command
    ack = contract.Ack("c1", False, "unknown op")
    assert contract.parse_ack(contract.ack_payload(ack)) == ack


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_random_bytes_never_crash_the_parser(payload: bytes) -> None:
    try:
        parsed = parse_telemetry(payload, asset="p1")
    except ContractError as exc:
        assert exc.reason in contract.REJECTION_REASONS
    else:
        assert all(math.isfinite(v) for s in parsed.samples for v in s.values.values())


@settings(max_examples=300, deadline=None)
@given(json_values, st.integers(min_value=-5, max_value=10**6))
def test_any_json_is_accepted_or_rejected_with_a_reason(samples: object, seq: int) -> None:
    payload = json.dumps(
        {"schema": "forestall.telemetry/1", "asset": "p1", "seq": seq, "samples": samples}
    ).encode()
    try:
        parsed = parse_telemetry(payload, asset="p1")
    except ContractError as exc:
        assert exc.reason in contract.REJECTION_REASONS
    else:
        assert isinstance(samples, list)
        assert len(parsed.samples) + len(parsed.rejected) == len(samples)
