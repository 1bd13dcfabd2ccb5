"""Settings of the server processes (worker, API, demo): one typed object built at start.

Sources, strongest first: init arguments, ``FORESTALL_…`` environment variables (nested
with ``__``), the ``--config`` TOML file, then the defaults below. Any setting can also be read
from a file: ``FORESTALL_<NAME>_FILE`` names it (``FORESTALL_MQTT__PASSWORD_FILE=/run/secrets/…``),
as Docker secrets are mounted; one trailing newline is dropped.

Passwords are kept apart from URLs (``mqtt.password``, ``database_password``,
``worker.guard_password``): each is put into its URL percent-encoded when the settings are built,
so a password of any characters gives a working URL.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, IPvAnyNetwork, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from forestall.mqtturl import with_credentials
from forestall.secretfiles import FILE_SUFFIX, read_secret

LOOPBACK = ip_network("127.0.0.0/8")  # where a one-process stack and the tests run their webhook receivers
ENV_PREFIX = "FORESTALL_"


class MqttSettings(BaseModel):
    url: str = "mqtt://127.0.0.1:1883"
    # put into ``url`` percent-encoded; the user name is ``username`` or the URL's
    username: str | None = None
    password: str | None = None
    share_group: str | None = None
    client_id: str | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    keepalive_s: int = 30

    @model_validator(mode="after")
    def _credentials_into_url(self) -> MqttSettings:
        if self.password is not None:
            self.url = with_credentials(self.url, self.password, self.username)
        return self


class StoreSettings(BaseModel):
    kind: Literal["embedded", "influxdb"] = "embedded"
    path: Path = Path("forestall-tsdb.sqlite")
    retention_days: float = 90.0
    # influxdb: the on-disk journal of batches not yet written; default: next to ``path``
    spool_path: Path | None = None


class InfluxSettings(BaseModel):
    url: str = "http://127.0.0.1:8086"
    org: str = "forestall"
    bucket: str = "forestall"
    token: str = ""
    api: Literal["v2", "v1"] = "v2"
    # Each tenant's points in a bucket (v1: database) of its own, "<bucket>_<tenant>", created on
    # its first write: a Grafana organisation per tenant then gets a credential that reads one
    # tenant only (`forestall grafana push --tenant`). The token must be allowed to create buckets.
    tenant_buckets: bool = False
    username: str = ""  # v1 mode: sent as u/p
    password: str = ""
    batch_size: int = Field(default=5000, ge=1)  # lines per write
    flush_interval_s: float = Field(default=1.0, gt=0)
    timeout_s: float = Field(default=10.0, gt=0)
    max_retry_delay_s: float = Field(default=30.0, gt=0)
    max_spooled_lines: int = Field(default=10_000_000, ge=1)  # beyond: writes fail retryably


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8000
    grafana_token: str | None = None
    # A request body over this is refused with 413 before it is read (ample for any /v1 body).
    max_body_bytes: int = Field(default=1024 * 1024, ge=1)
    # Requests a second one API key may make once its burst is spent; the excess gets 429 with
    # Retry-After, so one tenant's client cannot starve the others. The burst covers a client
    # registering a fleet or paging through a long list at full speed.
    rate_per_s: float = Field(default=100.0, gt=0)
    rate_burst: int = Field(default=1000, ge=1)
    webhook_max_attempts: int = 16  # with 1 s backoff, retries span > 1 h even with unlucky jitter
    webhook_backoff_s: float = 1.0
    # The whole attempt (resolve, connect, send, read the reply): a receiver that trickles its
    # answer is cut off here, whatever the pace of its bytes.
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    # Webhooks go to public addresses only; these networks (CIDR) are allowed as well, e.g. an
    # FSM system inside the operator's own network. Default: none.
    webhook_allowed_networks: list[IPvAnyNetwork] = Field(default_factory=list)
    # Attempts in flight at once: in all, per tenant and per subscription, so that one tenant's
    # slow receivers hold at most their share of the slots.
    webhook_concurrency: int = Field(default=64, ge=1)
    webhook_tenant_concurrency: int = Field(default=16, ge=1)
    webhook_subscription_concurrency: int = Field(default=16, ge=1)
    webhook_max_subscriptions: int = Field(default=50, ge=1)  # per tenant


class WorkerSettings(BaseModel):
    # Where messages come from (ingest.sources.SOURCES): "mqtt", the whole stream of one broker.
    source: Literal["mqtt"] = "mqtt"
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    partition: int = 0
    partitions: int = Field(default=1, ge=1)
    checkpoint_dir: Path = Path("forestall-checkpoints")
    checkpoint_interval_s: float = 60.0
    commit_interval_s: float = 0.5
    # An online asset not heard from (status or telemetry, wall clock) for this long goes offline.
    offline_after_s: float | None = Field(default=180.0, gt=0)
    # A sample stamped further ahead of max(tenant event clock, wall clock) is rejected (future_ts).
    max_future_s: float = Field(default=86_400.0, gt=0)
    # Messages a second one device may send once its burst is spent; the excess is rejected
    # (rate_limited) before the inbox, so one device cannot delay the fleet.
    device_rate_per_s: float = Field(default=200.0, gt=0)
    device_burst: int = Field(default=2000, ge=1)
    # A device refused this many messages within device_disable_window_s is disabled at the broker
    # (Mosquitto dynamic security), so its flood stops costing the others the time to refuse it.
    # Needs guard_url: an MQTT URL whose credential may send dynamic-security commands
    # (`forestall devices services` creates one, forestall-guard); without it, nothing is disabled.
    guard_url: str | None = None
    guard_password: str | None = None  # put into guard_url percent-encoded
    device_disable_after: int = Field(default=10_000, ge=1)
    device_disable_window_s: float = Field(default=60.0, gt=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FORESTALL_", env_nested_delimiter="__", extra="forbid", toml_file=None
    )

    database_url: str = "sqlite:///forestall.db"
    database_password: str | None = None  # put into database_url percent-encoded
    mqtt: MqttSettings = MqttSettings()
    store: StoreSettings = StoreSettings()
    influxdb: InfluxSettings = InfluxSettings()
    api: ApiSettings = ApiSettings()
    worker: WorkerSettings = WorkerSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            FileEnvSettingsSource(settings_cls),
            TomlConfigSettingsSource(settings_cls),
            file_secret_settings,
        )

    @model_validator(mode="after")
    def _passwords_into_urls(self) -> Settings:
        if self.database_password is not None:
            self.database_url = with_credentials(self.database_url, self.database_password)
        if self.worker.guard_password is not None and self.worker.guard_url:
            self.worker.guard_url = with_credentials(self.worker.guard_url, self.worker.guard_password)
        return self


class FileEnvSettingsSource(PydanticBaseSettingsSource):
    """``FORESTALL_<NAME>_FILE``: the setting ``<NAME>`` read from that file (a Docker secret).
    A setting whose own name ends in ``_file`` (``mqtt.ca_file``) keeps its meaning; one given
    both ways is refused."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str] | None = None) -> None:
        super().__init__(settings_cls)
        self._environ = os.environ if environ is None else environ

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # everything is done in __call__

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        upper = {name.upper(): value for name, value in self._environ.items()}
        for name, path in upper.items():
            if not (path and name.startswith(ENV_PREFIX) and name.endswith(FILE_SUFFIX)):
                continue
            keys = name[len(ENV_PREFIX) : -len(FILE_SUFFIX)].lower().split("__")
            if _is_field(self.settings_cls, [*keys[:-1], keys[-1] + FILE_SUFFIX.lower()]):
                continue  # a setting of its own, such as FORESTALL_MQTT__CA_FILE
            if not _is_field(self.settings_cls, keys):
                continue  # like any FORESTALL_ variable that names no setting (FORESTALL_BROKER_ADMIN_…)
            if name[: -len(FILE_SUFFIX)] in upper:
                raise ValueError(f"both {name[: -len(FILE_SUFFIX)]} and {name} are set: set one of them")
            target = found
            for key in keys[:-1]:
                target = target.setdefault(key, {})
            target[keys[-1]] = read_secret(name, Path(path))
        return found


def _is_field(model: type[BaseModel], keys: Sequence[str]) -> bool:
    for i, key in enumerate(keys):
        field = model.model_fields.get(key)
        if field is None:
            return False
        if i < len(keys) - 1:
            if not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
                return False
            model = field.annotation
    return True


def load_settings(config_file: Path | None = None, **overrides: object) -> Settings:
    """Build the settings once at process start; ``config_file`` is the ``--config`` TOML."""
    if config_file is None:
        return Settings(**overrides)  # type: ignore[arg-type]
    if not config_file.is_file():
        raise FileNotFoundError(f"config file not found: {config_file}")

    class FileSettings(Settings):
        model_config = SettingsConfigDict(toml_file=config_file)

    return FileSettings(**overrides)  # type: ignore[arg-type]


def in_one_process(
    base: Settings,
    data_dir: Path,
    mqtt_url: str,
    api_port: int,
    *,
    keep_days: float | None = None,
    also_allow: Sequence[IPv4Network | IPv6Network] = (),
) -> Settings:
    """``base`` for a whole loop in one process (demo, fleet replay): its own broker, a SQLite
    state DB and an embedded store in ``data_dir`` (or ``base``'s InfluxDB, if it has one), the
    API on loopback, one worker and no metrics port; ``keep_days`` overrides the store's
    retention. Its simulated devices may run days of event time ahead of a worker that is
    catching up, so ``max_future_s`` is a year, and a replay sends each asset's history as fast
    as it is stored: no device rate limit, and no API key rate limit for its own clients either.
    Its webhook receivers (the FSM simulator) listen on loopback, so webhooks may go there.
    ``also_allow``: further networks webhooks may reach (a ``--webhook-url`` on the LAN)."""
    store: dict[str, object] = {"kind": "embedded", "path": data_dir / "tsdb.sqlite"}
    if base.store.kind == "influxdb":  # the configured InfluxDB (Grafana shows the demo), spool here
        store = {"spool_path": base.store.spool_path or data_dir / "influx-spool.sqlite"}
    allowed = [*base.api.webhook_allowed_networks, LOOPBACK, *also_allow]
    if keep_days is not None:
        store["retention_days"] = keep_days
    return base.model_copy(
        update={
            "database_url": f"sqlite:///{data_dir / 'state.db'}",
            "mqtt": base.mqtt.model_copy(update={"url": mqtt_url, "share_group": None}),
            "store": base.store.model_copy(update=store),
            "api": base.api.model_copy(
                update={
                    "host": "127.0.0.1",
                    "port": api_port,
                    "webhook_allowed_networks": allowed,
                    "rate_per_s": 1e9,
                }
            ),
            "worker": base.worker.model_copy(
                update={
                    "checkpoint_dir": data_dir / "checkpoints",
                    "metrics_port": None,
                    "partition": 0,
                    "partitions": 1,
                    "max_future_s": 365 * 86_400.0,
                    "device_rate_per_s": 1e9,  # a replay sends an asset's history as fast as it is stored
                }
            ),
        }
    )
