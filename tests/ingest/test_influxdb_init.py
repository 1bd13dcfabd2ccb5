"""``ingest/influxdb-init.sh``, the compose stack's InfluxDB 2 init step, run by ``sh`` against a
stand-in ``influx`` command: there is no InfluxDB 2 here, so this checks the script's own logic
(which rights each client's token gets, that the operator token is the only one it uses, that a
second start keeps the tokens and a token InfluxDB no longer knows is replaced), not the server.
The commands themselves are in docs/OPERATIONS.md."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "ingest" / "influxdb-init.sh"
ADMIN_TOKEN = "operator-token-=="
BUCKET_ID = "0a1b2c3d4e5f6a7b"

# `influx` as far as the script uses it: state in $STUB_STATE, output as the CLI prints tables
# (tab-separated columns; `auth`: ID, Description, Token, User Name, User ID, Permissions).
STUB = r"""
import json, os, sys
path = os.environ["STUB_STATE"]
state = json.load(open(path))
args = sys.argv[1:]
state["calls"].append({"args": args, "token": os.environ.get("INFLUX_TOKEN")})
def flag(name):
    return [args[i + 1] for i, a in enumerate(args) if a == name]
if args[:2] == ["bucket", "list"]:
    if flag("--name") == ["forestall"]:
        print(state["bucket_id"] + "\tforestall\t2160h0m0s\tn/a\torg-id")
elif args[:3] == ["v1", "dbrp", "list"]:
    for d in state["dbrps"]:
        print("dbrp-id\t" + d["db"] + "\t" + d["bucket"] + "\tautogen\ttrue")
elif args[:3] == ["v1", "dbrp", "create"]:
    state["dbrps"].append({"db": flag("--db")[0], "bucket": flag("--bucket-id")[0]})
elif args[:2] == ["auth", "list"]:
    for a in state["auths"]:
        print("\t".join([a["id"], a["description"], a["token"], "forestall", "user-id", "[...]"]))
elif args[:2] == ["auth", "create"]:
    n = state["made"] = state["made"] + 1
    rest, skip = [], False
    for a in args[2:]:  # the rights: every flag but the description, the org and the table form
        if skip or a == "--hide-headers":
            skip = False
        elif a in ("--description", "--org"):
            skip = True
        else:
            rest.append(a)
    auth = {"id": "auth-%d" % n, "description": flag("--description")[0], "token": "tok-%d/+=" % n,
            "org": flag("--org"), "rights": " ".join(rest)}
    state["auths"].append(auth)
    print("\t".join([auth["id"], auth["description"], auth["token"], "forestall", "user-id", "[...]"]))
elif args[:2] == ["auth", "delete"]:
    state["auths"] = [a for a in state["auths"] if a["id"] != flag("--id")[0]]
else:
    sys.exit("unexpected: " + " ".join(args))
json.dump(state, open(path, "w"))
"""


@pytest.fixture
def influx(tmp_path: Path) -> dict[str, Any]:
    if shutil.which("sh") is None:
        pytest.fail("needs sh")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "influx"
    stub.write_text(f"#!{sys.executable}\n{STUB}")
    stub.chmod(0o755)
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"bucket_id": BUCKET_ID, "dbrps": [], "auths": [], "calls": [], "made": 0}))
    (tmp_path / "admin-token").write_text(ADMIN_TOKEN + "\n")
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "STUB_STATE": str(state),
        "INFLUX_HOST": "http://influxdb:8086",
        "INFLUX_ORG": "forestall",
        "INFLUX_TOKEN_FILE": str(tmp_path / "admin-token"),
        "FORESTALL_BUCKET": "forestall",
        "TOKENS_DIR": str(tmp_path / "tokens"),
    }
    return {"env": env, "state": state, "tokens": tmp_path / "tokens"}


def _run(influx: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(["sh", str(SCRIPT)], env=influx["env"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    state: dict[str, Any] = json.loads(influx["state"].read_text())
    return state


def test_each_client_gets_a_token_with_only_its_rights(influx: dict[str, Any]) -> None:
    state = _run(influx)
    assert state["dbrps"] == [{"db": "forestall", "bucket": BUCKET_ID}]
    assert all(call["token"] == ADMIN_TOKEN for call in state["calls"])
    rights = {a["description"]: a["rights"] for a in state["auths"]}
    assert rights == {
        "forestall-grafana": f"--read-bucket {BUCKET_ID}",
        "forestall-api": f"--read-bucket {BUCKET_ID}",
        "forestall-worker": f"--read-bucket {BUCKET_ID} --write-bucket {BUCKET_ID}",
    }
    assert all(a["org"] == ["forestall"] for a in state["auths"])
    for auth in state["auths"]:
        client = auth["description"].removeprefix("forestall-")
        token_file = influx["tokens"] / client / "token"
        assert token_file.read_text() == auth["token"] + "\n"
        assert token_file.stat().st_mode & 0o777 == 0o444


def test_a_second_start_keeps_the_tokens_and_replaces_a_lost_one(influx: dict[str, Any]) -> None:
    first = _run(influx)
    second = _run(influx)
    assert second["auths"] == first["auths"] and len(second["dbrps"]) == 1  # nothing made twice
    # the worker's token was deleted in InfluxDB (rotation): the next start makes a new one
    second["auths"] = [a for a in second["auths"] if a["description"] != "forestall-worker"]
    influx["state"].write_text(json.dumps(second))
    third = _run(influx)
    worker = [a for a in third["auths"] if a["description"] == "forestall-worker"]
    assert len(worker) == 1 and worker[0]["token"] not in {a["token"] for a in first["auths"]}
    assert (influx["tokens"] / "worker" / "token").read_text() == worker[0]["token"] + "\n"
    assert len(third["auths"]) == 3


def test_buckets_per_tenant_give_the_api_and_the_worker_new_tokens(influx: dict[str, Any]) -> None:
    first = {a["description"]: a for a in _run(influx)["auths"]}
    influx["env"]["TENANT_BUCKETS"] = "true"
    auths = _run(influx)["auths"]
    assert len(auths) == 3  # the replaced tokens are gone from InfluxDB
    second = {a["description"]: a for a in auths}
    assert second["forestall-grafana"] == first["forestall-grafana"]  # the shared bucket's reader
    assert second["forestall-api"]["rights"] == "--read-buckets"
    assert second["forestall-worker"]["rights"] == "--read-buckets --write-buckets --read-dbrps --write-dbrps"
    for client in ("api", "worker"):
        token = second[f"forestall-{client}"]["token"]
        assert token != first[f"forestall-{client}"]["token"]
        assert (influx["tokens"] / client / "token").read_text() == token + "\n"
