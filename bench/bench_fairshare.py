"""Fair share: the publish-to-stored latency of a calm tenant, alone and while one device of another
tenant floods the broker flat out (the ``bench_ingest`` stack and publisher: a real Mosquitto, a
``forestall worker --no-predictor``). The calm tenant's 200 assets send 1-sample batches at
``--calm-rate`` samples/s in all; its p50/p99 come from the worker's per-tenant lag histogram.
The flood runs against the default device rate limit, then against a worker with the limit
lifted, to show what the limit and the per-tenant turns of the inbox each buy; last with every
client authenticated through Mosquitto's dynamic security and the worker's guard on
(``worker.guard_url``), which disables the flooding device at the broker.

    python bench/bench_fairshare.py --seconds 20
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from bench_ingest import counter, histogram, ingest_stack, metrics, publish, quantile

from forestall.devices import DYNSEC_PLUGINS, DeviceCredential, DynSec, device_commands, service_commands

LAG = "forestall_ingest_lag_seconds"
RATE_LIMITED = ("forestall_ingest_rejected_total", 'reason="rate_limited"')
ADMIN_PASSWORD = secrets.token_urlsafe(12)
PHASES = {
    "alone": "calm tenant alone",
    "limit": "with one device flooding, default limit",
    "nolimit": "with one device flooding, no device limit",
    "guard": "with one device flooding, default limit, guard on",
}
Auth = dict[str, tuple[str, str]]  # tenant -> the publisher's user name and password


class Guarded:
    """A broker with dynamic security: the worker, its guard, the calm tenant's publisher and the
    flooding device each with a credential of their own (the flooder a device role)."""

    def __init__(self, flood_client_id: str) -> None:
        self.flood_client_id = flood_client_id
        self.passwords = {name: secrets.token_urlsafe(12) for name in ("worker", "guard", "calm", "flood")}
        self.auth: Auth = {
            "calm": ("calm-publisher", self.passwords["calm"]),
            "flood": ("flood.a00000", self.passwords["flood"]),
        }

    def access(self, work: Path) -> str:
        plugin = next(p for p in DYNSEC_PLUGINS if os.path.exists(p))
        config = work / "dynamic-security.json"
        ctrl = shutil.which("mosquitto_ctrl") or "/usr/bin/mosquitto_ctrl"
        subprocess.run(
            [ctrl, "dynsec", "init", str(config), "admin", ADMIN_PASSWORD], check=True, capture_output=True
        )
        return f"allow_anonymous false\nplugin {plugin}\nplugin_opt_config_file {config}\n"

    def setup(self, port: int) -> dict[str, str]:
        pw = self.passwords
        flood = DeviceCredential("flood", "a00000", "flood.a00000", pw["flood"], self.flood_client_id)
        calm_acl = {"acltype": "publishClientSend", "topic": "forestall/v1/calm/#", "allow": True}
        with DynSec(f"mqtt://admin:{ADMIN_PASSWORD}@127.0.0.1:{port}") as dynsec:
            dynsec.run(service_commands({"forestall-worker": pw["worker"], "forestall-guard": pw["guard"]}))
            dynsec.run(device_commands(flood))
            dynsec.run(
                [
                    {"command": "createRole", "rolename": "calm-publisher", "acls": [calm_acl]},
                    {
                        "command": "createClient",
                        "username": "calm-publisher",
                        "password": pw["calm"],
                        "roles": [{"rolename": "calm-publisher"}],
                    },
                ]
            )
        return {
            "FORESTALL_MQTT__URL": f"mqtt://forestall-worker:{pw['worker']}@127.0.0.1:{port}",
            "FORESTALL_WORKER__GUARD_URL": f"mqtt://forestall-guard:{pw['guard']}@127.0.0.1:{port}",
        }


def observed(buckets: list[tuple[float, float]]) -> float:
    """How many observations a cumulative histogram holds (its +Inf bucket)."""
    return buckets[-1][1] if buckets else 0.0


def calm_latency(
    args: argparse.Namespace, port: int, mport: int, seq0: int, flood: bool, auth: Auth | None = None
) -> dict[str, Any]:
    """Publish the calm tenant's stream (and the flood, alongside); its latency once all is stored."""
    before = metrics(mport)
    calm = argparse.Namespace(assets=200, seconds=args.seconds)
    flooder = argparse.Namespace(assets=1, seconds=args.seconds)
    flooded: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: flooded.update(
            publish(flooder, port, 1, 0, seq0 + 1, tenant="flood", auth=(auth or {}).get("flood"))[0]
        ),
        daemon=True,
    )
    if flood:
        thread.start()
    published, _ = publish(calm, port, 1, args.calm_rate, seq0, tenant="calm", auth=(auth or {}).get("calm"))
    if flood:
        thread.join()
    lag_before = histogram(before, LAG, "calm")
    target = observed(lag_before) + published["messages"]
    deadline = time.monotonic() + 300
    while observed(histogram(metrics(mport), LAG, "calm")) < target and time.monotonic() < deadline:
        time.sleep(0.5)
    after = metrics(mport)
    lag_after = histogram(after, LAG, "calm")
    limited = counter(after, *RATE_LIMITED) - counter(before, *RATE_LIMITED)
    return {
        "p50_ms": quantile(lag_before, lag_after, 0.5) * 1000,
        "p99_ms": quantile(lag_before, lag_after, 0.99) * 1000,
        "calm_messages": published["messages"],
        "flood_messages": flooded.get("messages", 0),
        "rate_limited": limited,
        "flood_dropped": bool(flooded.get("dropped")),
        "disabled": counter(after, "forestall_devices_disabled_total", 'outcome="disabled"'),
        "last_seq": max(published["last_seq"], flooded.get("last_seq", 0)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="publishing time per phase")
    parser.add_argument("--calm-rate", type=int, default=200, help="the calm tenant's samples/s")
    parser.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated, of {', '.join(PHASES)}")
    args = parser.parse_args()
    print(
        f"command: python bench/bench_fairshare.py --seconds {args.seconds:g} --calm-rate {args.calm_rate}"
        f" --phases {args.phases}"
    )
    phases = args.phases.split(",")
    if "alone" in phases or "limit" in phases:
        with ingest_stack("forestall-bench-fair-") as (_worker, port, mport):
            if "alone" in phases:
                report(PHASES["alone"], calm_latency(args, port, mport, 1, flood=False))
            if "limit" in phases:
                report(PHASES["limit"], calm_latency(args, port, mport, 10**6, flood=True))
    if "nolimit" in phases:
        with ingest_stack("forestall-bench-fair-", FORESTALL_WORKER__DEVICE_RATE_PER_S="1e9") as (
            _worker,
            port,
            mport,
        ):
            report(PHASES["nolimit"], calm_latency(args, port, mport, 1, flood=True))
    if "guard" in phases:
        guarded = Guarded(flood_client_id="bench-pub-2")  # the flooder's client id: seq0 + 1
        with ingest_stack("forestall-bench-fair-", guarded.access, guarded.setup) as (_worker, port, mport):
            report(PHASES["guard"], calm_latency(args, port, mport, 1, flood=True, auth=guarded.auth))


def report(name: str, r: dict[str, Any]) -> None:
    flood = f"flood {r['flood_messages']:,} messages, {r['rate_limited']:,.0f} rate_limited"
    if r["flood_dropped"]:
        flood += f", the device disabled at the broker ({r['disabled']:.0f})"
    calm = f"calm p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms ({r['calm_messages']:,} messages)"
    print(f"{name}: {calm}" + (f"; {flood}" if r["flood_messages"] else ""), flush=True)


if __name__ == "__main__":
    main()
