"""World files: the shipped worlds load and contrast; a bad file is refused with the key named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from simulators.worlds import (
    DEFAULT_WORLD,
    WORLDS_DIR,
    WorldFile,
    WorldFileError,
    load_world,
    parse_world,
    shipped_worlds,
)

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = """
[reactions]
failure = 1.0
outage_hour = 0.05
slow_resolution = 0.1
billing_error = 0.2
visit = 0.1

[technicians]
count = 2
capacity_ratio = 0.6
"""


def test_the_shipped_worlds_load_and_set_capacity_to_six_tenths() -> None:
    worlds = {name: load_world(path) for name, path in shipped_worlds().items()}
    assert {"default", "outages", "billing", "visit_averse"} <= set(worlds)
    assert DEFAULT_WORLD.parent == WORLDS_DIR
    for name in ("outages", "billing", "visit_averse"):
        assert worlds[name].technicians.capacity_ratio == 0.6, name
        assert worlds[name].description


def test_the_shipped_worlds_contrast_in_what_customers_mind() -> None:
    outages, billing, averse = (
        load_world(WORLDS_DIR / f"{n}.toml") for n in ("outages", "billing", "visit_averse")
    )

    def relative(world: WorldFile, strength: str) -> float:  # a strength against the failure's
        return float(getattr(world.reactions, strength)) / world.reactions.failure

    assert relative(billing, "billing_error") > 20 * relative(outages, "billing_error")
    assert relative(billing, "slow_resolution") > 5 * relative(outages, "slow_resolution")
    assert outages.reactions.failure > 5 * billing.reactions.failure
    assert outages.reactions.outage_hour > 5 * billing.reactions.outage_hour
    assert relative(averse, "visit") > 20 * relative(outages, "visit")
    key, standard = averse.customers.visit_sensitivity.key, averse.customers.visit_sensitivity.standard
    assert key[0] > standard[1]  # every key account minds visits more than any standard one


def test_a_minimal_world_takes_the_documented_defaults() -> None:
    world = parse_world(MINIMAL)
    assert world == WorldFile.model_validate(
        {
            "reactions": {
                "failure": 1.0,
                "outage_hour": 0.05,
                "slow_resolution": 0.1,
                "billing_error": 0.2,
                "visit": 0.1,
            },
            "technicians": {"count": 2, "capacity_ratio": 0.6},
        }
    )
    assert world.technicians.plan == "forestall" and world.technicians.week().as_text()["mon"] == [
        ["08:00", "17:00"]
    ]


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ("weather = 1\n", r"weather: unknown key \(the keys of the top level are description, customers"),
        ("[reactions]\noutage_hours = 1\n", None),  # a table declared twice is not TOML
        (
            "[outcomes]\nchurn_per_day = 0.1\n",
            r"outcomes\.churn_per_day: unknown key \(the keys of \[outcomes\]",
        ),
        (
            "[customers.visit_sensitivity]\nenterprise = [0.1, 0.2]\n",
            r"customers\.visit_sensitivity\.enterprise",
        ),
        ("[events]\nrain = 0.1\n", r"events\.rain: unknown key"),
    ],
)
def test_an_unknown_key_is_refused_and_named(extra: str, named: str | None) -> None:
    text = MINIMAL + extra if extra.startswith("[") else extra + MINIMAL  # a top-level key goes first
    with pytest.raises(WorldFileError, match=named or "not TOML") as caught:
        parse_world(text, "mine.toml")
    assert str(caught.value).startswith("mine.toml: ")


def test_an_unknown_key_in_a_table_already_open_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "typo.toml"
    path.write_text(MINIMAL.replace("visit = 0.1", "visit = 0.1\nvisits = 0.2"))
    with pytest.raises(WorldFileError, match=r"^typo\.toml: reactions\.visits: unknown key"):
        load_world(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("failure = 1.0", "failure = -1"),
            r"reactions\.failure: Input should be greater than or equal to 0",
        ),
        (("count = 2", "count = 0"), r"technicians\.count: Input should be greater than or equal to 1"),
        (("capacity_ratio = 0.6\n", ""), r"technicians\.capacity_ratio: required"),
        (("visit = 0.1\n", ""), r"reactions\.visit: required"),
        (("count = 2", 'count = 2\ntimezone = "Mars/Olympus"'), r"technicians\.timezone: .*unknown timezone"),
        (
            ("count = 2", 'count = 2\nhours = { mon = [["17:00", "08:00"]] }'),
            r"technicians\.hours: .*ends before it starts",
        ),
        (
            ("count = 2", 'count = 2\nhours = { caturday = [["08:00", "12:00"]] }'),
            r"unknown weekday 'caturday'",
        ),
        (("count = 2", "count = 2\nhours = {}"), r"no working hours"),
        (("count = 2", "count = 2\nservice_hours = [3.0, 1.0]"), r"low <= high"),
        (
            ("count = 2", 'count = 2\nplan = "random"'),
            r"technicians\.plan: Input should be 'forestall', 'fifo'",
        ),
    ],
)
def test_a_value_out_of_its_range_is_refused(change: tuple[str, str], message: str) -> None:
    with pytest.raises(WorldFileError, match=message):
        parse_world(MINIMAL.replace(*change))


def test_a_file_that_is_not_toml_or_cannot_be_read_is_refused(tmp_path: Path) -> None:
    with pytest.raises(WorldFileError, match=r"^w\.toml: not TOML"):
        parse_world("[reactions\n", "w.toml")
    with pytest.raises(WorldFileError, match="cannot read the world file"):
        load_world(tmp_path / "missing.toml")


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, info in model.model_fields.items():
        kind = info.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            keys += _keys(kind, f"{prefix}{name}.")
        else:
            keys.append(f"{prefix}{name}")
    return keys


def test_every_key_is_documented_in_the_simulators_readme() -> None:
    readme = (ROOT / "simulators" / "README.md").read_text()
    section = readme[readme.index("## World files") :]
    documented = set(re.findall(r"^\| `([a-z_.]+)` \|", section, re.M))
    assert set(_keys(WorldFile)) == documented
