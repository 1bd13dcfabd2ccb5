"""Commands from the cloud (``cmd`` topic) and their answers (``ack`` topic): the MQTT contract
of docs/ARCHITECTURE.md.

Pure: ``handle_command`` parses one payload, applies it to a ``CommandTarget`` and returns
the ``Ack`` to publish. A malformed or unknown command gets an error ack whenever its id can
be read, and never raises.

>>> class Target:
...     def names(self): return ["replay"]
...     def set_sample_interval(self, seconds): print("interval", seconds)
...     def set_enabled(self, name, enabled): print(name, enabled)
>>> handle_command(b'{"schema":"forestall.cmd/1","id":"c1","op":"ping"}', Target())
Ack(id='c1', ok=True, error=None)
>>> handle_command(b'{"schema":"forestall.cmd/1","id":"c2","op":"set_config",'
...     b'"args":{"sample_interval_s":5,"sensors":{"replay":{"enabled":false}}}}', Target())
interval 5.0
replay False
Ack(id='c2', ok=True, error=None)
>>> handle_command(b'{"id":"c3","op":"reboot"}', Target()).error
"malformed command: schema: schema must be 'forestall.cmd/1'"
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from typing import Any, Protocol

from forestall.contract import MAX_PAYLOAD_BYTES, Ack, ContractError, parse_command

log = logging.getLogger(__name__)

MAX_INTERVAL_S = 86400.0


class CommandTarget(Protocol):
    def names(self) -> list[str]:
        """The sensor names ``set_config`` may address."""
        ...

    def set_sample_interval(self, seconds: float) -> None: ...

    def set_enabled(self, name: str, enabled: bool) -> None: ...


class CommandError(ValueError):
    """The command is understood but cannot be applied; the message goes into the ack."""


def handle_command(payload: bytes, target: CommandTarget) -> Ack | None:
    """The ack to send for ``payload``; None only when no id can be read from it."""
    try:
        command = parse_command(payload)
    except ContractError as exc:
        command_id = _salvage_id(payload)
        log.warning("malformed command %s: %s", command_id or "(no id)", exc)
        return Ack(command_id, ok=False, error=f"malformed command: {exc}") if command_id else None
    handler = HANDLERS.get(command.op)
    if handler is None:
        return Ack(
            command.id, ok=False, error=f"unknown op {command.op[:64]!r}; known: {', '.join(HANDLERS)}"
        )
    try:
        handler(command.args, target)
    except CommandError as exc:
        return Ack(command.id, ok=False, error=str(exc))
    except Exception as exc:  # a command must never take the agent down
        log.exception("command %s (%s) failed", command.id, command.op)
        return Ack(command.id, ok=False, error=f"internal error: {exc}")
    log.info("command %s (%s) applied", command.id, command.op)
    return Ack(command.id, ok=True)


def _salvage_id(payload: bytes) -> str:
    if len(payload) > MAX_PAYLOAD_BYTES:
        return ""
    try:
        doc = json.loads(payload)
    except (ValueError, RecursionError):
        return ""
    command_id = doc.get("id") if isinstance(doc, dict) else None
    return command_id if isinstance(command_id, str) and 0 < len(command_id) <= 200 else ""


def _ping(args: dict[str, Any], target: CommandTarget) -> None:
    """Liveness check: the ack is the answer."""


def _set_config(args: dict[str, Any], target: CommandTarget) -> None:
    unknown = sorted(set(args) - {"sample_interval_s", "sensors"})
    if unknown:
        raise CommandError(f"args.{unknown[0]}: unknown setting (known: sample_interval_s, sensors)")
    interval = _interval(args.get("sample_interval_s"))
    toggles = _toggles(args.get("sensors"), target.names())
    # Everything is checked before anything changes: a command applies whole or not at all.
    if interval is not None:
        target.set_sample_interval(interval)
    for name, enabled in toggles.items():
        target.set_enabled(name, enabled)


def _interval(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CommandError("args.sample_interval_s: must be a number")
    if not 0 < value <= MAX_INTERVAL_S:
        raise CommandError(f"args.sample_interval_s: must be > 0 and <= {MAX_INTERVAL_S:g}")
    return float(value)


def _toggles(value: object, names: list[str]) -> dict[str, bool]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CommandError("args.sensors: must be an object {name: {enabled: bool}}")
    toggles: dict[str, bool] = {}
    for name, setting in value.items():
        if name not in names:
            raise CommandError(f"args.sensors.{str(name)[:64]}: no such sensor (known: {', '.join(names)})")
        if (
            not isinstance(setting, dict)
            or set(setting) != {"enabled"}
            or not isinstance(setting["enabled"], bool)
        ):
            raise CommandError(f'args.sensors.{name}: must be {{"enabled": true|false}}')
        toggles[name] = setting["enabled"]
    return toggles


HANDLERS: dict[str, Callable[[dict[str, Any], CommandTarget], None]] = {
    "ping": _ping,
    "set_config": _set_config,
}
