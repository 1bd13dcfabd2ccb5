"""A provisioned alert rule evaluated as Grafana's unified alerting does, on a real store's answer:
query A (InfluxQL on InfluxDB 1.x, or PromQL on VictoriaMetrics), B reduces each series to its
last value, C compares it with the threshold; no series at all is the rule's ``noDataState`` and a
failed query its ``execErrState``. The rule is read from ``grafana/provisioning``, as Grafana reads
it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import yaml

from grafana.build import PROVISIONING
from tests.support import as_grafana_sends

Labels = frozenset[tuple[str, str]]
NORMAL, ALERTING = "Normal", "Alerting"


def provisioned_rule(uid: str) -> dict[str, Any]:
    written = yaml.safe_load((PROVISIONING / "alerting" / "forestall.yaml").read_text())
    [rule] = [r for g in written["groups"] for r in g["rules"] if r["uid"] == uid]
    return dict(rule)


@dataclass(frozen=True)
class Outcome:
    """Each alert instance's state (labels → Normal or Alerting), or one state for the whole rule
    where there was no data or an error (``reason``: ``NoData`` or ``Error``)."""

    states: dict[Labels, str]
    reason: str = ""

    @property
    def firing(self) -> set[Labels]:
        return {labels for labels, state in self.states.items() if state == ALERTING}


def _compare(kind: str, params: list[float], value: float | None) -> bool:
    if value is None:
        return False  # a null last value meets no threshold
    return {"gt": value > params[0], "lt": value < params[0]}[kind]


def evaluate(
    rule: dict[str, Any], series: Callable[[str], list[tuple[Labels, list[float | None]]]]
) -> Outcome:
    """``series(query)`` runs A and returns each series' labels and values in time order, or
    raises ``QueryError``."""
    steps = {step["refId"]: step["model"] for step in rule["data"]}
    assert rule["condition"] == "C" and steps["B"]["expression"] == "A" and steps["C"]["expression"] == "B"
    assert steps["B"]["type"] == "reduce" and steps["C"]["type"] == "threshold"
    reducer = steps["B"]["reducer"]
    assert reducer == "last", f"the evaluator knows last only, not {reducer}"
    evaluator = steps["C"]["conditions"][0]["evaluator"]
    query = steps["A"].get("query") or steps["A"]["expr"]
    try:
        answered = series(query)
    except QueryError:
        return Outcome({frozenset(): _state(rule["execErrState"])}, "Error")
    if not answered:
        return Outcome({frozenset(): _state(rule["noDataState"])}, "NoData")
    states = {}
    for labels, values in answered:
        last = values[-1] if values else None
        states[labels] = ALERTING if _compare(evaluator["type"], evaluator["params"], last) else NORMAL
    return Outcome(states)


def _state(configured: str) -> str:
    return {"OK": NORMAL, "Alerting": ALERTING}[configured]  # KeepLast/Error are not used here


class QueryError(Exception):
    pass


def influxql(url: str, database: str, span: tuple[float, float]) -> Callable[[str], Any]:
    """Runs an InfluxQL rule query as Grafana sends it (``$timeFilter`` the rule's window)."""

    def run(query: str) -> list[tuple[Labels, list[float | None]]]:
        text = as_grafana_sends(query, span, "1m")
        response = httpx.post(f"{url}/query", params={"q": text, "db": database, "epoch": "s"}, timeout=30)
        if response.status_code != 200:
            raise QueryError(response.text)
        body = response.json()
        if "error" in body or "error" in body["results"][0]:
            raise QueryError(str(body))
        out = []
        for item in body["results"][0].get("series", []):
            column = 1  # Grafana makes a series of each field column; our rules return one
            values = [row[column] for row in item["values"]]
            out.append((frozenset((item.get("tags") or {}).items()), values))
        return out

    return run


def promql(url: str, at: float) -> Callable[[str], Any]:
    """Runs a PromQL rule query as an instant query at ``at`` (Grafana's instant rule query)."""

    def run(query: str) -> list[tuple[Labels, list[float | None]]]:
        response = httpx.get(f"{url}/api/v1/query", params={"query": query, "time": at}, timeout=30)
        if response.status_code != 200 or response.json().get("status") != "success":
            raise QueryError(response.text)
        body = response.json()
        return [
            (frozenset(item["metric"].items()), [float(item["value"][1])]) for item in body["data"]["result"]
        ]

    return run
