"""The MQTT wire contract (docs/ARCHITECTURE.md, MQTT topics and payloads): topics, payload
schemas and their validation.

Pure code with the standard library only, so the edge agent (which builds payloads) and
ingest (which validates them) share one definition of the contract.

>>> parse_topic("forestall/v1/acme/pump-0042/telemetry")
Topic(tenant='acme', asset='pump-0042', kind='telemetry')
>>> batch = parse_telemetry(b'{"schema": "forestall.telemetry/1", "asset": "p1", "seq": 1,'
...     b' "samples": [{"ts": 1795460400.5, "values": {"temp_c": 61.3}}]}', asset="p1")
>>> batch.seq, batch.samples[0].values
(1, {'temp_c': 61.3})
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final

try:  # a fast decoder where the server stack installs one; the edge agent does without
    import orjson as _fast_json
except ImportError:  # pragma: no cover - depends on the install
    _fast_json = None  # type: ignore[assignment]

TOPIC_ROOT: Final = "forestall/v1"
TELEMETRY_SCHEMA: Final = "forestall.telemetry/1"
STATUS_SCHEMA: Final = "forestall.status/1"
CMD_SCHEMA: Final = "forestall.cmd/1"
ACK_SCHEMA: Final = "forestall.ack/1"

KINDS: Final = frozenset({"telemetry", "status", "cmd", "ack"})
MAX_SAMPLES: Final = 1000
MAX_PAYLOAD_BYTES: Final = 256 * 1024
MAX_TS: Final = 32503680000.0  # epoch seconds of 3000-01-01: no sample is stamped later
MAX_SEQ: Final = 2**63 - 1  # seq and status counters are signed 64-bit integers
MAX_TEXT: Final = 1000  # characters of a device's free text (agent, driver state, ack error)
MAX_DRIVERS: Final = 256

ID_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
SENSOR_RE: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")

# Label values of forestall_ingest_rejected_total{reason}.
REJECTION_REASONS: Final = (
    "bad_topic",
    "too_large",
    "malformed_json",
    "schema",
    "asset_mismatch",
    "too_many_samples",
    "invalid_value",
    "future_ts",
    "rate_limited",
    "unstorable",
)


class ContractError(ValueError):
    """A message breaks the wire contract; ``reason`` is one of REJECTION_REASONS."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Topic:
    tenant: str
    asset: str
    kind: str


@dataclass(frozen=True, slots=True)
class Sample:
    ts: float  # Unix epoch seconds, UTC
    values: dict[str, float]


@dataclass(frozen=True, slots=True)
class SampleRejection:
    index: int
    detail: str


@dataclass(frozen=True, slots=True)
class TelemetryBatch:
    asset: str
    seq: int
    samples: list[Sample]
    rejected: list[SampleRejection] = field(default_factory=list)


def edge_client_id(tenant: str, asset: str) -> str:
    """The edge agent's default MQTT client id (a provisioned device's credential is bound to it)."""
    return f"forestall-edge-{tenant}-{asset}"


def topic(tenant: str, asset: str, kind: str) -> str:
    """Build a topic, refusing identifiers the contract does not allow."""
    if not ID_RE.fullmatch(tenant) or not ID_RE.fullmatch(asset) or kind not in KINDS:
        raise ContractError("bad_topic", f"invalid tenant/asset/kind: {tenant!r}/{asset!r}/{kind!r}")
    return f"{TOPIC_ROOT}/{tenant}/{asset}/{kind}"


@lru_cache(maxsize=32_768)  # ingest parses each asset's few topics over and over; Topic is immutable
def parse_topic(name: str) -> Topic:
    parts = name.split("/")
    if len(parts) != 5 or f"{parts[0]}/{parts[1]}" != TOPIC_ROOT:
        raise ContractError("bad_topic", f"not a {TOPIC_ROOT}/<tenant>/<asset>/<kind> topic: {name[:120]!r}")
    tenant, asset, kind = parts[2], parts[3], parts[4]
    if not ID_RE.fullmatch(tenant):
        raise ContractError("bad_topic", f"invalid tenant {tenant[:80]!r}")
    if not ID_RE.fullmatch(asset):
        raise ContractError("bad_topic", f"invalid asset {asset[:80]!r}")
    if kind not in KINDS:
        raise ContractError("bad_topic", f"unknown kind {kind[:40]!r}")
    return Topic(tenant, asset, kind)


def parse_ts(value: object) -> float:
    """RFC 3339 (UTC, ``Z`` or offset) or Unix epoch seconds -> epoch seconds."""
    if type(value) is float:  # the common case first; bool is an int, refused below
        ts = value
    elif isinstance(value, bool):
        raise ValueError("ts must be a number or an RFC 3339 string")
    elif isinstance(value, int | float):
        try:
            ts = float(value)
        except OverflowError as exc:  # an integer beyond any float
            raise ValueError(f"ts out of range: {str(value)[:40]}") from exc
    elif isinstance(value, str):
        text = value.strip()
        if "T" not in text and "t" not in text:
            raise ValueError(f"ts is not RFC 3339: {value[:40]!r}")
        dt = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
        if dt.tzinfo is None:
            raise ValueError(f"ts has no UTC offset: {value[:40]!r}")
        ts = dt.timestamp()
    else:
        raise ValueError("ts must be a number or an RFC 3339 string")
    if not math.isfinite(ts) or ts < 0 or ts > MAX_TS:
        raise ValueError(f"ts out of range: {value!r}")
    return ts


def format_ts(ts: float) -> str:
    """Epoch seconds -> RFC 3339 with milliseconds and ``Z``."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _decode(payload: bytes) -> Any:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ContractError("too_large", f"{len(payload)} bytes > {MAX_PAYLOAD_BYTES}")
    if _fast_json is not None:
        try:
            return _fast_json.loads(payload)
        except _fast_json.JSONDecodeError:
            pass  # e.g. NaN literals or huge integers: the standard decoder below decides
    try:
        return json.loads(payload)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ContractError("malformed_json", str(exc)[:200]) from exc


def _document(payload: bytes, schema: str) -> dict[str, Any]:
    """The decoded JSON object of a message of ``schema``, or a ``schema`` rejection."""
    doc = _decode(payload)
    if not isinstance(doc, dict) or doc.get("schema") != schema:
        raise ContractError("schema", f"schema must be {schema!r}")
    return doc


@lru_cache(maxsize=4096)  # a fleet has few sensor names; this runs for every value received
def sensor_name_ok(name: str) -> bool:
    return SENSOR_RE.fullmatch(name) is not None


def finite_number(value: object) -> bool:
    """A JSON number the contract accepts as a sensor value: finite, not a boolean."""
    if type(value) is float:
        return math.isfinite(value)
    return not isinstance(value, bool) and isinstance(value, int | float) and _finite(value)


def storable(text: str) -> bool:
    """Whether a database can hold ``text``: no NUL, no lone surrogate (as ``"\\ud800"`` decodes to)."""
    if "\x00" in text:
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def printable(text: str) -> str:
    """``text`` with what a database cannot hold escaped, for excerpts and details of rejections."""
    if storable(text):
        return text
    return text.encode(errors="backslashreplace").decode().replace("\x00", "\\x00")


def _text(doc: dict[str, Any], key: str, default: str | None = None, limit: int = MAX_TEXT) -> str | None:
    value = doc.get(key, default)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit or not storable(value):
        raise ContractError("schema", f"{key!r} must be text of at most {limit} characters without NUL")
    return value


def _count(doc: dict[str, Any], key: str) -> int:
    value = doc.get(key)
    if value is None:
        return 0
    if type(value) is float and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEQ:
        raise ContractError("schema", f"{key!r} must be an integer in [0, 2**63)")
    return value


def _sample(raw: object) -> Sample:
    if not isinstance(raw, dict):
        raise ContractError("schema", "a sample must be an object")
    values = raw.get("values")
    if "ts" not in raw or not isinstance(values, dict):
        raise ContractError("schema", "a sample needs 'ts' and an object 'values'")
    try:
        ts = parse_ts(raw["ts"])
    except ValueError as exc:
        raise ContractError("schema", str(exc)) from exc
    all_float = True
    for name, value in values.items():
        if not sensor_name_ok(name):
            raise ContractError("schema", f"invalid sensor name {name[:80]!r}")
        all_float = all_float and type(value) is float
        if not finite_number(value):
            raise ContractError("invalid_value", f"{name}={str(value)[:40]!r} is not a finite number")
    if not values:
        raise ContractError("schema", "a sample needs at least one value")
    # The decoded dict is kept as it is when every value already is a float (the usual case).
    return Sample(ts, values if all_float else {name: float(value) for name, value in values.items()})


def _finite(value: float) -> bool:
    try:  # an integer beyond any float overflows here
        return math.isfinite(float(value))
    except OverflowError:
        return False


def parse_telemetry(payload: bytes, *, asset: str) -> TelemetryBatch:
    """Validate a telemetry batch from the topic of ``asset``.

    Raises ContractError for a whole-batch rejection. A sample with a non-number or
    non-finite value is dropped alone and listed in ``rejected`` (reason ``invalid_value``);
    any other broken sample breaks the batch's schema.
    """
    doc = _document(payload, TELEMETRY_SCHEMA)
    seq, samples = doc.get("seq"), doc.get("samples")
    if not isinstance(doc.get("asset"), str):
        raise ContractError("schema", "'asset' must be a string")
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= MAX_SEQ:
        raise ContractError("schema", "'seq' must be an integer in [0, 2**63)")
    if not isinstance(samples, list):
        raise ContractError("schema", "'samples' must be a list")
    if doc["asset"] != asset:
        raise ContractError("asset_mismatch", f"payload asset {doc['asset'][:64]!r} != topic asset {asset!r}")
    if len(samples) > MAX_SAMPLES:
        raise ContractError("too_many_samples", f"{len(samples)} samples > {MAX_SAMPLES}")
    good: list[Sample] = []
    rejected: list[SampleRejection] = []
    for index, raw in enumerate(samples):
        try:
            good.append(_sample(raw))
        except ContractError as exc:
            if exc.reason != "invalid_value":
                raise ContractError(exc.reason, f"sample {index}: {exc.detail}") from exc
            rejected.append(SampleRejection(index, exc.detail))
    return TelemetryBatch(asset=asset, seq=seq, samples=good, rejected=rejected)


def telemetry_payload(asset: str, seq: int, samples: list[Sample]) -> bytes:
    doc = {
        "schema": TELEMETRY_SCHEMA,
        "asset": asset,
        "seq": seq,
        "samples": [{"ts": format_ts(s.ts), "values": s.values} for s in samples],
    }
    return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()


@dataclass(frozen=True, slots=True)
class Status:
    state: str  # "online" | "offline"
    ts: float | None
    agent: str
    buffer_pending: int = 0
    buffer_dropped: int = 0
    drivers: dict[str, str] = field(default_factory=dict)


def status_payload(status: Status) -> bytes:
    doc: dict[str, Any] = {"schema": STATUS_SCHEMA, "state": status.state, "agent": status.agent}
    if status.state == "online":
        doc["ts"] = format_ts(status.ts if status.ts is not None else 0.0)
        doc["buffer"] = {"pending": status.buffer_pending, "dropped": status.buffer_dropped}
        doc["drivers"] = status.drivers
    return json.dumps(doc, separators=(",", ":")).encode()


def parse_status(payload: bytes) -> Status:
    doc = _document(payload, STATUS_SCHEMA)
    state = doc.get("state")
    if state not in ("online", "offline"):
        raise ContractError("schema", "'state' must be 'online' or 'offline'")
    ts: float | None = None
    if doc.get("ts") is not None:
        try:
            ts = parse_ts(doc["ts"])
        except ValueError as exc:
            raise ContractError("schema", str(exc)) from exc
    buffer, drivers = doc.get("buffer", {}), doc.get("drivers", {})
    if not isinstance(buffer, dict) or not isinstance(drivers, dict):
        raise ContractError("schema", "'buffer' and 'drivers' must be objects")
    if len(drivers) > MAX_DRIVERS:
        raise ContractError("schema", f"{len(drivers)} drivers > {MAX_DRIVERS}")
    for name, driver_state in drivers.items():
        if not isinstance(driver_state, str) or len(name) > 64 or not storable(name):
            raise ContractError("schema", "'drivers' maps a name (at most 64 characters) to a text")
    return Status(
        state=state,
        ts=ts,
        agent=_text(doc, "agent", "", limit=128) or "",
        buffer_pending=_count(buffer, "pending"),
        buffer_dropped=_count(buffer, "dropped"),
        drivers={name: _text(drivers, name) or "" for name in drivers},
    )


@dataclass(frozen=True, slots=True)
class Command:
    id: str
    op: str
    args: dict[str, Any]


def command_payload(command: Command) -> bytes:
    doc: dict[str, Any] = {"schema": CMD_SCHEMA, "id": command.id, "op": command.op}
    if command.args:
        doc["args"] = command.args
    return json.dumps(doc, separators=(",", ":")).encode()


def parse_command(payload: bytes) -> Command:
    doc = _document(payload, CMD_SCHEMA)
    cmd_id, op, args = doc.get("id"), doc.get("op"), doc.get("args", {})
    if not isinstance(cmd_id, str) or not cmd_id:
        raise ContractError("schema", "'id' must be a non-empty string")
    if not isinstance(op, str) or not op:
        raise ContractError("schema", "'op' must be a non-empty string")
    if not isinstance(args, dict):
        raise ContractError("schema", "'args' must be an object")
    return Command(cmd_id, op, args)


@dataclass(frozen=True, slots=True)
class Ack:
    id: str
    ok: bool
    error: str | None = None


def ack_payload(ack: Ack) -> bytes:
    doc: dict[str, Any] = {"schema": ACK_SCHEMA, "id": ack.id, "ok": ack.ok}
    if ack.error:
        doc["error"] = ack.error
    return json.dumps(doc, separators=(",", ":")).encode()


def parse_ack(payload: bytes) -> Ack:
    doc = _document(payload, ACK_SCHEMA)
    ack_id = doc.get("id")
    if not isinstance(ack_id, str) or ID_RE.fullmatch(ack_id) is None or not isinstance(doc.get("ok"), bool):
        raise ContractError("schema", "'id' must be a command id ([A-Za-z0-9_-]{1,64}) and 'ok' a boolean")
    return Ack(ack_id, doc["ok"], _text(doc, "error"))
