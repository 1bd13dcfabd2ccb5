from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_agent.config import AgentConfig, AgentSettings, MqttSettings, load_config, parse_config
from edge_agent.drivers.base import ConfigError
from edge_agent.polling import build_drivers

EXAMPLE = """\
[mqtt]
url = "mqtt://127.0.0.1:1883"      # mqtts:// for TLS
[agent]
tenant = "acme"
asset = "pump-0042"
buffer_path = "buffer.db"
[[sensors]]
driver = "replay"
path = "samples.csv"
"""


def write(tmp_path: Path, text: str, csv: bool = True) -> Path:
    if csv:
        (tmp_path / "samples.csv").write_text("ts,temp_c\n1795460400,61.2\n")
    path = tmp_path / "edge.toml"
    path.write_text(text)
    return path


def base(**overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "mqtt": {"url": "mqtt://127.0.0.1:1883"},
        "agent": {"tenant": "acme", "asset": "p1"},
    }
    for dotted, value in overrides.items():
        section, key = dotted.split("__")
        raw.setdefault(section, {})[key] = value
    return raw


def test_the_documented_example_works_as_written(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, EXAMPLE))
    assert config.mqtt.url == "mqtt://127.0.0.1:1883"
    assert config.client_id == "forestall-edge-acme-pump-0042"
    assert config.buffer_file == tmp_path / "buffer.db"
    assert [(s.driver, s.label, dict(s.options)) for s in config.sensors] == [
        ("replay", "replay", {"path": "samples.csv"})
    ]
    [driver] = build_drivers(config)
    assert driver.name == "replay"
    assert [s.values for s in driver.poll(0.0)] == [{"temp_c": 61.2}]


def test_the_readme_example_is_this_example() -> None:
    readme = (Path(__file__).parents[2] / "edge_agent" / "README.md").read_text()
    assert EXAMPLE in readme


def test_defaults() -> None:
    agent = parse_config(base()).agent
    assert (agent.sample_interval_s, agent.batch_max_samples, agent.batch_max_age_s, agent.heartbeat_s) == (
        1.0,
        500,
        1.0,
        60.0,
    )
    assert (agent.buffer_max_samples, agent.buffer_max_age_s) == (1_000_000, 7 * 86400)
    mqtt = parse_config(base()).mqtt
    assert (mqtt.protocol, mqtt.keepalive_s, mqtt.client_id) == ("3.1.1", 60, None)


def test_relative_paths_resolve_against_the_config_directory(tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.pem").write_text("x")
    text = EXAMPLE.replace('url = "mqtt://127.0.0.1:1883"', 'url = "mqtts://h"\nca_file = "certs/ca.pem"')
    config = load_config(write(tmp_path, text))
    assert config.mqtt.ca_file == str(tmp_path / "certs" / "ca.pem")
    assert config.resolve("samples.csv") == tmp_path / "samples.csv"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (base(agent__tenant="acme corp"), "agent.tenant: must match [A-Za-z0-9_-]{1,64}"),
        ({"mqtt": {"url": "mqtt://h"}, "agent": {"tenant": "acme"}}, "agent.asset: required"),
        (base(agent__colour="red"), "agent.colour: unknown key"),
        (base(mqtt__port=1883), "mqtt.port: unknown key"),
        ({**base(), "extra": {}}, "extra: unknown key"),
        ({"agent": {"tenant": "a", "asset": "b"}}, "mqtt: required table [mqtt]"),
        (base(mqtt__url="http://h"), "mqtt.url: MQTT URL must start with mqtt:// or mqtts://"),
        (base(mqtt__protocol="3"), 'mqtt.protocol: must be "3.1.1" or "5"'),
        (base(mqtt__protocol=5), "mqtt.protocol: must be a non-empty string"),
        (base(mqtt__keepalive_s=1), "mqtt.keepalive_s: must be between 5 and 65535"),
        (base(mqtt__key_file="/etc/hostname"), "mqtt.key_file: needs mqtt.cert_file"),
        (base(mqtt__ca_file="nope.pem"), "mqtt.ca_file: no such file"),
        (base(agent__batch_max_samples=1001), "agent.batch_max_samples: must be between 1 and 1000"),
        (base(agent__batch_max_samples=True), "agent.batch_max_samples: must be an integer"),
        (base(agent__sample_interval_s=0), "agent.sample_interval_s: must be > 0"),
        (base(agent__sample_interval_s="1s"), "agent.sample_interval_s: must be a number"),
        (base(agent__buffer_max_age_s=-1), "agent.buffer_max_age_s: must be > 0"),
        (base(agent__buffer_sync="fast"), 'agent.buffer_sync: must be "full" or "normal"'),
        ({**base(), "sensors": {"driver": "replay"}}, "sensors: must be a list of tables [[sensors]]"),
        ({**base(), "sensors": [{"path": "x"}]}, "sensors[0].driver: required"),
        ({**base(), "sensors": [{"driver": "opcua"}]}, "sensors[0].driver: unknown driver 'opcua'"),
        (
            {**base(), "sensors": [{"driver": "replay", "enabled": "yes"}]},
            "sensors[0].enabled: must be true or",
        ),
        (
            {**base(), "sensors": [{"driver": "replay"}, {"driver": "replay"}]},
            "sensors[1].name: duplicate sensor name 'replay'",
        ),
    ],
)
def test_errors_name_the_key(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        parse_config(raw, base_dir="/nonexistent")
    assert str(excinfo.value).startswith(message)


@pytest.mark.parametrize(
    ("sensor", "message"),
    [
        ({"driver": "replay"}, "sensors[0].path: required"),
        ({"driver": "replay", "path": "missing.csv"}, "sensors[0].path: cannot read"),
        ({"driver": "replay", "path": "samples.csv", "sped": 2}, "sensors[0].sped: unknown key"),
        ({"driver": "replay", "path": "samples.csv", "speed": -1}, "sensors[0].speed: must be >= 0"),
        ({"driver": "simulated", "seed": 1.5}, "sensors[0].seed: must be an integer"),
    ],
)
def test_driver_options_are_checked_when_the_drivers_are_built(
    tmp_path: Path, sensor: dict[str, Any], message: str
) -> None:
    write(tmp_path, "")
    config = parse_config({**base(), "sensors": [sensor]}, base_dir=tmp_path)
    with pytest.raises(ConfigError) as excinfo:
        build_drivers(config)
    assert str(excinfo.value).startswith(message)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[mqtt\nurl = 1"))


def test_configs_built_in_code_are_checked_too() -> None:
    with pytest.raises(ConfigError, match=r"^agent\.asset: must match"):
        AgentSettings(tenant="acme", asset="pump/1")
    with pytest.raises(ConfigError, match=r"^mqtt\.url"):
        MqttSettings(url="localhost:1883")
    config = AgentConfig(mqtt=MqttSettings(url="mqtt://h"), agent=AgentSettings(tenant="a", asset="b"))
    assert config.client_id == "forestall-edge-a-b"


toml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=10,
)
sections = st.fixed_dictionaries(
    {},
    optional={
        "mqtt": st.dictionaries(
            st.sampled_from(["url", "client_id", "keepalive_s", "protocol", "x"]), toml_values
        ),
        "agent": st.dictionaries(
            st.sampled_from(["tenant", "asset", "batch_max_samples", "heartbeat_s"]), toml_values
        ),
        "sensors": toml_values,
    },
)


@given(sections)
def test_any_input_gives_a_config_or_a_config_error(raw: dict[str, Any]) -> None:
    try:
        parse_config(raw, base_dir="/nonexistent")
    except ConfigError as exc:
        assert ": " in str(exc)
