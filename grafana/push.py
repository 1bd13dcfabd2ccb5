"""``forestall grafana push``: the datasource, the dashboards (which mark recommendations with
their own annotation query) and the alert rules, into a running Grafana through its HTTP API
(grafana-client), idempotently: what is already there as the code would write it is left alone,
so a second push changes nothing.

An organisation is managed one way only: from the files of ``grafana/provisioning`` or by push.
Push refuses an organisation whose Forestall dashboards or rules came from files (the same uids
and rule group: each would undo the other).

With tenants, each gets a Grafana organisation of its own ("Forestall <tenant>") whose datasource
reads only that tenant's InfluxDB database (``influxdb.tenant_buckets``), with a read-only
InfluxDB user made for it (``grafana.readers``). Grafana's API tokens belong to one
organisation, so creating organisations takes a server admin's user name and password.

The decisions — what a datasource, a dashboard, a rule group should be — are pure functions;
``Pusher`` compares them with what Grafana has and sends only the differences.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from grafana_client.api import GrafanaApi
from grafana_client.client import GrafanaClientError, TokenAuth

from forestall.settings import InfluxSettings
from grafana.alerts import CONTACT_POINT, FOLDER_UID, GROUP, ROUTE, contact_point_model, rule_group_model
from grafana.dashboards import BOARD_URL, dashboard_json, dashboards
from grafana.queries import DATASOURCE
from ingest.store.influxdb.transport import bucket_for

ORG_PREFIX = "Forestall "


@dataclass(frozen=True)
class Reader:
    """The credential a Grafana datasource reads InfluxDB with: a user (v1) or a token (v2)."""

    database: str
    username: str = ""
    password: str = ""
    token: str = ""


@dataclass
class Report:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def reader_for(settings: InfluxSettings, tenant: str | None) -> Reader:
    """The datasource's credential. A tenant's (v1) is a user of its own whose password is derived
    from the store's admin credential (so a second push finds the same one and needs no state);
    on InfluxDB 2, ``grafana.readers`` adds a read token of the tenant's bucket."""
    if tenant is None:
        return Reader(settings.bucket, settings.username, settings.password, settings.token)
    if not settings.tenant_buckets:
        raise ValueError(
            "--tenant needs influxdb.tenant_buckets = true: a tenant's data in a database of its own"
        )
    secret = (settings.token or settings.password).encode()
    if not secret:
        raise ValueError("per-tenant readers need the store's admin credential (influxdb.password or token)")
    password = hmac.new(secret, f"forestall-grafana-reader:{tenant}".encode(), hashlib.sha256).hexdigest()[
        :32
    ]
    return Reader(bucket_for(settings, tenant), f"grafana_{tenant}", password)


def datasource_model(url: str, reader: Reader) -> dict[str, Any]:
    """The InfluxQL datasource as Grafana's API takes it (``uid`` fixed: the dashboards name it)."""
    model: dict[str, Any] = {
        "uid": DATASOURCE.uid,
        "name": "Forestall InfluxDB",
        "type": "influxdb",
        "access": "proxy",
        "url": url,
        "database": reader.database,
        "jsonData": {"dbName": reader.database, "httpMode": "POST"},
        "secureJsonData": {},
    }
    if reader.token:
        model["jsonData"]["httpHeaderName1"] = "Authorization"
        model["secureJsonData"]["httpHeaderValue1"] = f"Token {reader.token}"
    if reader.username:
        model["user"] = reader.username
        model["secureJsonData"]["password"] = reader.password
    # Grafana never shows a secret again: a fingerprint of it, in the open, tells a push that the
    # credential changed (a rotated store credential, a new token) and the datasource needs it
    secrets_text = "\n".join(sorted(model["secureJsonData"].values()))
    model["jsonData"]["forestallCredential"] = hashlib.sha256(secrets_text.encode()).hexdigest()[:16]
    return model


def datasource_differs(wanted: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    """Grafana never returns secrets: compare the rest, and that every secret is set."""
    for key, value in wanted.items():
        if key == "secureJsonData":
            fields = current.get("secureJsonFields") or {}
            if any(not fields.get(name) for name in value):
                return True
        elif key == "jsonData":
            have = current.get("jsonData") or {}
            if any(have.get(k) != v for k, v in value.items()):
                return True
        elif current.get(key) != value:
            return True
    return False


def dashboard_differs(wanted: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    """Grafana adds ``id`` and ``version`` to a stored dashboard; the rest must be as written."""
    ignore = {"id", "version"}
    return {k: v for k, v in wanted.items() if k not in ignore} != {
        k: v for k, v in current.items() if k not in ignore
    }


def _covers(have: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Whether ``have`` holds every field of ``wanted`` as written (Grafana adds fields of its own)."""
    return all(have.get(k) == v for k, v in wanted.items())


def _or_none(call: Callable[[], Any]) -> Any:
    """What ``call`` returns from Grafana, or None where it answers 404 (not there yet)."""
    try:
        return call()
    except GrafanaClientError as exc:
        if exc.status_code != 404:
            raise
        return None


def grafana_api(url: str, credential: str | tuple[str, str] | None, org_id: int | None = None) -> GrafanaApi:
    """A client of Grafana at ``url``; with ``org_id``, every request is made in that organisation."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--url must be http(s)://host[:port][/path], got {url!r}")
    auth = TokenAuth(credential) if isinstance(credential, str) else credential
    return GrafanaApi(
        auth=auth,
        host=parts.hostname,
        port=parts.port,
        url_path_prefix=parts.path.strip("/"),
        protocol=parts.scheme,
        organization_id=org_id,
    )


class Pusher:
    def __init__(self, api: GrafanaApi) -> None:
        self.api = api

    def org(self, name: str) -> int:
        """The id of the organisation ``name``, created if it is not there."""
        found = _or_none(lambda: self.api.organization.find_organization(name))
        if found is not None:
            return int(found["id"])
        created: dict[str, Any] = self.api.organization.create_organization({"name": name})
        return int(created["orgId"])

    def datasource(self, wanted: dict[str, Any], report: Report) -> None:
        name = f"datasource {wanted['uid']}"
        current = _or_none(lambda: self.api.datasource.get_datasource_by_uid(wanted["uid"]))
        if current is None:
            self.api.datasource.create_datasource(wanted)
            report.created.append(name)
        elif datasource_differs(wanted, current):
            self.api.datasource.update_datasource_by_uid(wanted["uid"], wanted)
            report.updated.append(name)
        else:
            report.unchanged.append(name)

    def dashboards(self, wanted: Iterable[dict[str, Any]], report: Report) -> None:
        for board in wanted:
            name = f"dashboard {board['uid']}"
            stored = _or_none(partial(self.api.dashboard.get_dashboard, board["uid"]))
            current = stored["dashboard"] if stored is not None else {}
            if current and not dashboard_differs(board, current):
                report.unchanged.append(name)
                continue
            self.api.dashboard.update_dashboard(
                {"dashboard": board, "overwrite": True, "message": "forestall"}
            )
            (report.updated if current else report.created).append(name)

    def refuse_file_provisioned(self, dashboard_uids: Sequence[str], rules: bool) -> None:
        """Raise ``FileProvisionedError`` if a dashboard of these uids, or (with ``rules``) the rule
        group, came from Grafana's provisioning files into this organisation."""
        found = []
        for uid in dashboard_uids:
            stored = _or_none(partial(self.api.dashboard.get_dashboard, uid))
            if stored is not None and (stored.get("meta") or {}).get("provisioned"):
                found.append(f"dashboard {uid}")
        if rules and _or_none(lambda: self.api.folder.get_folder(FOLDER_UID)) is not None:
            group = _or_none(lambda: self.api.alertingprovisioning.get_rule_group(FOLDER_UID, GROUP)) or {}
            if any(r.get("provenance") == "file" for r in group.get("rules", [])):
                found.append(f"rule group {GROUP}")
        if found:
            raise FileProvisionedError(
                f"this organisation is provisioned from files ({', '.join(found)}: grafana/provisioning); "
                "push would fight them. Change those with `forestall grafana build`, or push with "
                "--tenant into organisations of their own"
            )

    def alerting(self, org_id: int, alert_url: str, new_token: Callable[[], str], report: Report) -> None:
        """The folder, the rule group, the contact point to the API and the policy that routes to it.

        ``new_token`` makes the contact point's credential (a tenant's ``grafana`` key) only when
        the contact point is not there yet: Grafana never shows it again, and keeps it on updates.
        """
        if _or_none(lambda: self.api.folder.get_folder(FOLDER_UID)) is not None:
            report.unchanged.append(f"folder {FOLDER_UID}")
        else:
            self.api.folder.create_folder("Forestall", uid=FOLDER_UID)
            report.created.append(f"folder {FOLDER_UID}")
        wanted = rule_group_model(org_id)
        current = _or_none(lambda: self.api.alertingprovisioning.get_rule_group(FOLDER_UID, GROUP)) or {}
        if current and not rules_differ(wanted, current):
            report.unchanged.append(f"rule group {GROUP}")
        else:
            self.api.alertingprovisioning.update_rule_group(FOLDER_UID, GROUP, wanted)
            (report.updated if current else report.created).append(f"rule group {GROUP}")
        points = {p.get("uid"): p for p in self.api.alertingprovisioning.get_contactpoints()}
        existing = points.get(CONTACT_POINT)
        if existing is None:
            self.api.alertingprovisioning.create_contactpoint(contact_point_model(alert_url, new_token()))
            report.created.append(f"contact point {CONTACT_POINT}")
        else:
            wanted_point = contact_point_model(alert_url, None)
            if existing.get("type") != wanted_point["type"] or not _covers(
                existing.get("settings") or {}, wanted_point["settings"]
            ):
                self.api.alertingprovisioning.update_contactpoint(CONTACT_POINT, wanted_point)
                report.updated.append(f"contact point {CONTACT_POINT}")
            else:
                report.unchanged.append(f"contact point {CONTACT_POINT}")
        tree = self.api.alertingprovisioning.get_notification_policy_tree()
        routes = list(tree.get("routes") or [])
        ours = [r for r in routes if r.get("receiver") == CONTACT_POINT]
        if len(ours) == 1 and _covers(ours[0], ROUTE):
            report.unchanged.append("notification policy")
        else:  # our route, once, as written; the organisation's other routes and root kept
            routes = [r for r in routes if r.get("receiver") != CONTACT_POINT] + [dict(ROUTE)]
            self.api.alertingprovisioning.set_notification_policy_tree({**tree, "routes": routes})
            report.updated.append("notification policy")


def rules_differ(wanted: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    """Grafana adds ids, provenance and timestamps to stored rules; the rest must be as written."""
    if wanted["interval"] != current.get("interval"):
        return True
    have = {r.get("uid"): r for r in current.get("rules", [])}
    for rule in wanted["rules"]:
        stored = have.get(rule["uid"])
        if stored is None or not _covers(stored, rule):
            return True
    return len(have) != len(wanted["rules"])


@dataclass(frozen=True)
class Alerting:
    """Where Grafana's alerts go: the API's ``/v1/integrations/grafana`` and how to get a key."""

    url: str
    new_token: Callable[[], str]


class FileProvisionedError(ValueError):
    """The organisation's Forestall dashboards or rules come from Grafana's provisioning files."""


def push_org(
    api: GrafanaApi,
    influx_url: str,
    reader: Reader,
    alerting: Alerting | None = None,
    org_id: int = 1,
    board_url: str = BOARD_URL,
) -> Report:
    """Datasource, dashboards and (with ``alerting``) the alert rules and their contact point,
    into the organisation ``api`` is bound to, unless files provision it (``FileProvisionedError``)."""
    report = Report()
    pusher = Pusher(api)
    boards = [dashboard_json(b) for b in dashboards(board_url).values()]
    pusher.refuse_file_provisioned([b["uid"] for b in boards], alerting is not None)
    pusher.datasource(datasource_model(influx_url, reader), report)
    pusher.dashboards(boards, report)
    if alerting is not None:
        pusher.alerting(org_id, alerting.url, alerting.new_token, report)
    return report
