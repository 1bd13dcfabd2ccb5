"""A stand-in for Grafana's HTTP API (Grafana cannot run on these machines): the endpoints
``forestall grafana push`` uses, kept per organisation (``X-Grafana-Org-Id``) as Grafana keeps
them, with every request recorded so a test can check exactly what was sent."""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from http.client import HTTPMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

from tests.support import JsonServer

ADMIN = ("admin", "admin-password")
TOKEN = "glsa_test_token"  # an API token of organisation 1


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    org: int
    body: Any


@dataclass
class Org:
    name: str
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    annotations: list[dict[str, Any]] = field(default_factory=list)
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    rule_groups: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    contact_points: dict[str, dict[str, Any]] = field(default_factory=dict)
    policy: dict[str, Any] = field(
        default_factory=lambda: {
            "receiver": "grafana-default-email",
            "group_by": ["grafana_folder", "alertname"],
        }
    )
    provisioned: set[str] = field(default_factory=set)  # dashboard uids Grafana loaded from files


class GrafanaDouble:
    def __init__(self) -> None:
        self.orgs: dict[int, Org] = {1: Org("Main Org.")}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._http = JsonServer(self.handle)
        self.url = self._http.url

    def close(self) -> None:
        self._http.close()

    def writes(self) -> list[Request]:
        return [r for r in self.requests if r.method != "GET"]

    def provision_from_files(self, org_id: int, folder: Path) -> None:
        """What Grafana loads at start from provisioning ``folder`` into the organisation: its
        dashboards (``meta.provisioned``) and rule groups (provenance ``file``)."""
        org = self.orgs[org_id]
        for path in (folder / "dashboards" / "forestall").glob("*.json"):
            board = json.loads(path.read_text())
            org.dashboards[board["uid"]] = {**board, "id": len(org.dashboards) + 1, "version": 1}
            org.provisioned.add(board["uid"])
        alerting = yaml.safe_load((folder / "alerting" / "forestall.yaml").read_text())
        org.folders["forestall"] = {"uid": "forestall", "title": "Forestall", "id": len(org.folders) + 1}
        for group in alerting["groups"]:
            rules = [{**r, "provenance": "file"} for r in group["rules"]]
            org.rule_groups[("forestall", group["name"])] = {"title": group["name"], "rules": rules}

    def handle(self, method: str, target: str, headers: HTTPMessage, raw: bytes) -> tuple[int, Any]:
        parts = urlsplit(target)
        path, query = unquote(parts.path), parse_qs(parts.query)
        auth = headers.get("Authorization", "")
        admin = auth == "Basic " + base64.b64encode(":".join(ADMIN).encode()).decode()
        if not admin and auth != f"Bearer {TOKEN}":
            return 401, {"message": "Unauthorized"}
        # a token belongs to its organisation; a server admin may act in any
        org_id = int(headers.get("X-Grafana-Org-Id", "1")) if admin else 1
        body = json.loads(raw) if raw else None
        with self._lock:
            self.requests.append(Request(method, path, query, org_id, body))
            if org_id not in self.orgs:
                return 404, {"message": "organization not found"}
            return self._route(method, path, query, body, self.orgs[org_id], admin)

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], body: Any, org: Org, admin: bool
    ) -> tuple[int, Any]:
        if path.startswith("/api/orgs/name/") and method == "GET":
            name = path.removeprefix("/api/orgs/name/")
            found = [i for i, o in self.orgs.items() if o.name == name]
            return (
                (200, {"id": found[0], "name": name})
                if found
                else (404, {"message": "Organization not found"})
            )
        if path == "/api/orgs" and method == "POST":
            if not admin:
                return 403, {"message": "Permission denied"}
            new_id = max(self.orgs) + 1
            self.orgs[new_id] = Org(body["name"])
            return 200, {"orgId": new_id, "message": "Organization created"}
        if path.startswith("/api/datasources/uid/"):
            uid = path.removeprefix("/api/datasources/uid/")
            if method == "GET":
                if uid not in org.datasources:
                    return 404, {"message": "Data source not found"}
                stored = dict(org.datasources[uid])
                secrets = stored.pop("secureJsonData", {})
                return 200, {**stored, "secureJsonFields": {k: True for k in secrets}}
            if method == "PUT" and uid in org.datasources:
                org.datasources[uid] = body
                return 200, {"message": "Datasource updated"}
        if path == "/api/datasources" and method == "POST":
            if body["uid"] in org.datasources:
                return 409, {"message": "data source with the same uid already exists"}
            org.datasources[body["uid"]] = body
            return 200, {"message": "Datasource added"}
        if path.startswith("/api/dashboards/uid/") and method == "GET":
            uid = path.removeprefix("/api/dashboards/uid/")
            if uid not in org.dashboards:
                return 404, {"message": "Dashboard not found"}
            meta = (
                {"provisioned": True, "provisionedExternalId": f"{uid}.json"}
                if uid in org.provisioned
                else {}
            )
            return 200, {"dashboard": org.dashboards[uid], "meta": meta}
        if path == "/api/dashboards/db" and method == "POST":
            board = dict(body["dashboard"])
            old = org.dashboards.get(board["uid"])
            board["id"] = old["id"] if old else len(org.dashboards) + 1
            board["version"] = old["version"] + 1 if old else 1
            org.dashboards[board["uid"]] = board
            return 200, {"status": "success", "uid": board["uid"], "version": board["version"]}
        if path == "/api/annotations" and method == "GET":
            tags = set(query.get("tags", []))
            low, high = int(query.get("from", ["0"])[0]), int(query.get("to", [str(2**62)])[0])
            return 200, [a for a in org.annotations if tags <= set(a["tags"]) and low <= a["time"] <= high]
        if path == "/api/annotations" and method == "POST":
            org.annotations.append({**body, "id": len(org.annotations) + 1})
            return 200, {"message": "Annotation added", "id": len(org.annotations)}
        return self._alerting(method, path, body, org)

    def _alerting(self, method: str, path: str, body: Any, org: Org) -> tuple[int, Any]:
        """Folders and the alerting provisioning API, as Grafana keeps them (secrets redacted)."""
        if path.startswith("/api/folders/") and method == "GET":
            uid = path.removeprefix("/api/folders/")
            return (200, org.folders[uid]) if uid in org.folders else (404, {"message": "folder not found"})
        if path == "/api/folders" and method == "POST":
            org.folders[body["uid"]] = {**body, "id": len(org.folders) + 1}
            return 200, org.folders[body["uid"]]
        prefix = "/api/v1/provisioning/folder/"
        if path.startswith(prefix) and "/rule-groups/" in path:
            folder, group = path.removeprefix(prefix).split("/rule-groups/")
            if folder not in org.folders:
                return 404, {"message": "folder not found"}
            if method == "GET":
                found = org.rule_groups.get((folder, group))
                return (200, found) if found else (404, {"message": "rule group not found"})
            if method == "PUT":
                rules = [
                    {**r, "id": n + 1, "provenance": "api", "updated": "2026-11-30T10:00:00Z"}
                    for n, r in enumerate(body["rules"])
                ]
                org.rule_groups[(folder, group)] = {**body, "rules": rules}
                return 200, org.rule_groups[(folder, group)]
        if path == "/api/v1/provisioning/contact-points":
            if method == "GET":
                return 200, [
                    {
                        **cp,
                        "settings": {
                            k: "[REDACTED]" if k == "authorization_credentials" else v
                            for k, v in cp["settings"].items()
                        },
                    }
                    for cp in org.contact_points.values()
                ]
            if method == "POST":
                org.contact_points[body["uid"]] = body
                return 202, body
        if path.startswith("/api/v1/provisioning/contact-points/") and method == "PUT":
            uid = path.removeprefix("/api/v1/provisioning/contact-points/")
            old = org.contact_points.get(uid)
            if old is None:
                return 404, {"message": "contact point not found"}
            secret = old["settings"].get("authorization_credentials")
            settings = {"authorization_credentials": secret, **body["settings"]}  # secrets kept unless given
            org.contact_points[uid] = {**body, "settings": settings}
            return 202, {"message": "contactpoint updated"}
        if path == "/api/v1/provisioning/policies":
            if method == "GET":
                return 200, org.policy
            if method == "PUT":
                org.policy = body
                return 202, {"message": "policies updated"}
        return 404, {"message": f"no route {method} {path}"}
