"""The edge agent's configuration: one TOML file read with ``tomllib`` into frozen dataclasses.

Everything is checked at start and every error names its key, e.g.
``agent.tenant: must match [A-Za-z0-9_-]{1,64}``. Unknown keys are errors. Relative paths
resolve against the config file's directory. Driver options (the rest of each
``[[sensors]]`` table) are checked by the driver's factory when the agent builds it.

>>> config = parse_config({"mqtt": {"url": "mqtt://127.0.0.1:1883"},
...                        "agent": {"tenant": "acme", "asset": "pump-0042"}}, base_dir="/srv/edge")
>>> config.client_id, config.buffer_file
('forestall-edge-acme-pump-0042', PosixPath('/srv/edge/buffer.db'))
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_agent.drivers import DRIVERS
from edge_agent.drivers.base import ConfigError, Options, resolve_path
from edge_agent.windows import FeatureSpec, parse_feature_specs
from forestall.contract import ID_RE, MAX_SAMPLES, edge_client_id
from forestall.mqtturl import parse_mqtt_url

PROTOCOLS = ("3.1.1", "5")
SYNC_MODES = ("full", "normal")
WEEK_S = 7 * 86400.0


def _require(ok: bool, key: str, problem: str) -> None:
    if not ok:
        raise ConfigError(f"{key}: {problem}")


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """``[mqtt]``. Credentials in the URL (``mqtt://user:pw@host``) work too; these win."""

    url: str
    client_id: str | None = None  # default forestall-edge-{tenant}-{asset}
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    keepalive_s: int = 60
    protocol: str = "3.1.1"
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 60.0
    max_inflight: int = 20  # telemetry batches awaiting PUBACK

    def __post_init__(self) -> None:
        try:
            parse_mqtt_url(self.url)
        except ValueError as exc:
            raise ConfigError(f"mqtt.url: {exc}") from exc
        _require(self.protocol in PROTOCOLS, "mqtt.protocol", 'must be "3.1.1" or "5"')
        _require(5 <= self.keepalive_s <= 65535, "mqtt.keepalive_s", "must be between 5 and 65535")
        _require(
            0 < self.reconnect_min_s <= self.reconnect_max_s,
            "mqtt.reconnect_min_s",
            "must be > 0 and <= mqtt.reconnect_max_s",
        )
        _require(1 <= self.max_inflight <= 1000, "mqtt.max_inflight", "must be between 1 and 1000")
        _require(self.key_file is None or self.cert_file is not None, "mqtt.key_file", "needs mqtt.cert_file")
        _require(
            self.client_id is None or 0 < len(self.client_id) <= 256,
            "mqtt.client_id",
            "must be 1 to 256 characters",
        )


@dataclass(frozen=True, slots=True)
class AgentSettings:
    """``[agent]``: who this device is and how it buffers and batches."""

    tenant: str
    asset: str
    buffer_path: str = "buffer.db"
    sample_interval_s: float = 1.0
    batch_max_samples: int = 500
    batch_max_age_s: float = 1.0
    heartbeat_s: float = 60.0
    buffer_max_samples: int = 1_000_000
    buffer_max_age_s: float = WEEK_S
    buffer_sync: str = "full"

    def __post_init__(self) -> None:
        _require(bool(ID_RE.fullmatch(self.tenant)), "agent.tenant", "must match [A-Za-z0-9_-]{1,64}")
        _require(bool(ID_RE.fullmatch(self.asset)), "agent.asset", "must match [A-Za-z0-9_-]{1,64}")
        _require(0 < self.sample_interval_s <= 86400, "agent.sample_interval_s", "must be > 0 and <= 86400")
        _require(
            1 <= self.batch_max_samples <= MAX_SAMPLES,
            "agent.batch_max_samples",
            f"must be between 1 and {MAX_SAMPLES}",
        )
        _require(self.batch_max_age_s >= 0, "agent.batch_max_age_s", "must be >= 0")
        _require(self.heartbeat_s > 0, "agent.heartbeat_s", "must be > 0")
        _require(self.buffer_max_samples >= 1, "agent.buffer_max_samples", "must be >= 1")
        _require(self.buffer_max_age_s > 0, "agent.buffer_max_age_s", "must be > 0")
        _require(self.buffer_sync in SYNC_MODES, "agent.buffer_sync", 'must be "full" or "normal"')


@dataclass(frozen=True, slots=True)
class SensorSettings:
    """One ``[[sensors]]`` table: ``driver``, optional ``name``/``enabled``/``features``, the rest
    is the driver's options."""

    driver: str
    name: str = ""  # default: the driver's name
    enabled: bool = True
    options: Mapping[str, Any] = field(default_factory=dict)
    features: tuple[FeatureSpec, ...] = ()  # high-rate channels published as window features

    def __post_init__(self) -> None:
        # Keys relative to the table; load_config prefixes them with sensors[i].
        known = ", ".join(sorted(DRIVERS))
        _require(self.driver in DRIVERS, "driver", f"unknown driver {self.driver!r} (known: {known})")
        _require(not self.name or bool(ID_RE.fullmatch(self.name)), "name", "must match [A-Za-z0-9_-]{1,64}")

    @property
    def label(self) -> str:
        return self.name or self.driver


@dataclass(frozen=True, slots=True)
class AgentConfig:
    mqtt: MqttSettings
    agent: AgentSettings
    sensors: tuple[SensorSettings, ...] = ()
    base_dir: str = "."  # relative paths resolve against it: the config file's directory

    def __post_init__(self) -> None:
        labels = [sensor.label for sensor in self.sensors]
        for index, label in enumerate(labels):
            _require(
                label not in labels[:index],
                f"sensors[{index}].name",
                f"duplicate sensor name {label!r}; give each [[sensors]] table its own name",
            )

    @property
    def client_id(self) -> str:
        return self.mqtt.client_id or edge_client_id(self.agent.tenant, self.agent.asset)

    @property
    def buffer_file(self) -> Path:
        return resolve_path(self.base_dir, self.agent.buffer_path)

    def resolve(self, path: str) -> Path:
        return resolve_path(self.base_dir, path)


def load_config(path: str | os.PathLike[str]) -> AgentConfig:
    """Read and check the TOML file at ``path``; raise ConfigError naming the bad key."""
    file = Path(path)
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{file}: no such config file") from exc
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from exc
    return parse_config(raw, base_dir=file.resolve().parent)


def parse_config(raw: Mapping[str, Any], base_dir: str | Path = ".") -> AgentConfig:
    top = Options(raw)
    mqtt_table, agent_table = top.table("mqtt", required=True), top.table("agent", required=True)
    sensor_tables = top.tables("sensors")
    top.finish()
    agent = _agent(Options(agent_table, "agent"))
    mqtt = _mqtt(Options(mqtt_table, "mqtt"), base_dir)
    sensors = tuple(_sensor(Options(table, f"sensors[{i}]")) for i, table in enumerate(sensor_tables))
    return AgentConfig(mqtt=mqtt, agent=agent, sensors=sensors, base_dir=str(base_dir))


def _mqtt(opts: Options, base_dir: str | Path) -> MqttSettings:
    files = {name: _existing_file(opts, name, base_dir) for name in ("ca_file", "cert_file", "key_file")}
    settings = MqttSettings(
        url=opts.required_text("url"),
        client_id=opts.optional_text("client_id"),
        username=opts.optional_text("username"),
        password=opts.optional_text("password"),
        keepalive_s=opts.integer("keepalive_s", 60),
        protocol=opts.text("protocol", "3.1.1"),
        reconnect_min_s=opts.number("reconnect_min_s", 1.0, positive=True),
        reconnect_max_s=opts.number("reconnect_max_s", 60.0, positive=True),
        max_inflight=opts.integer("max_inflight", 20),
        **files,
    )
    opts.finish()
    return settings


def _existing_file(opts: Options, name: str, base_dir: str | Path) -> str | None:
    path = opts.path(name, base_dir)
    if path is not None and not path.is_file():
        raise opts.error(name, f"no such file: {path}")
    return None if path is None else str(path)


def _agent(opts: Options) -> AgentSettings:
    settings = AgentSettings(
        tenant=opts.required_text("tenant"),
        asset=opts.required_text("asset"),
        buffer_path=opts.text("buffer_path", "buffer.db"),
        sample_interval_s=opts.number("sample_interval_s", 1.0),
        batch_max_samples=opts.integer("batch_max_samples", 500),
        batch_max_age_s=opts.number("batch_max_age_s", 1.0),
        heartbeat_s=opts.number("heartbeat_s", 60.0),
        buffer_max_samples=opts.integer("buffer_max_samples", 1_000_000),
        buffer_max_age_s=opts.number("buffer_max_age_s", WEEK_S),
        buffer_sync=opts.text("buffer_sync", "full"),
    )
    opts.finish()
    return settings


def _sensor(opts: Options) -> SensorSettings:
    driver = opts.required_text("driver")
    name = opts.text("name", "")
    enabled = opts.boolean("enabled", True)
    raw_features = opts.raw("features")
    features = () if raw_features is None else parse_feature_specs(raw_features, opts.key("features"))
    try:
        return SensorSettings(
            driver=driver, name=name, enabled=enabled, options=opts.remaining(), features=features
        )
    except ConfigError as exc:
        raise ConfigError(f"{opts.prefix}.{exc}") from exc
