"""Fair share: the publish-to-stored latency of a calm tenant, alone and while one device of another
tenant floods the broker flat out (the ``bench_ingest`` stack and publisher: a real Mosquitto, a
``forestall worker --no-predictor``). The calm tenant's 200 assets send 1-sample batches at
``--calm-rate`` samples/s in all; its p50/p99 come from the worker's per-tenant lag histogram.
The flood runs against the default device rate limit, then against a worker with the limit
lifted, to show what the limit and the per-tenant turns of the inbox each buy.

    python bench/bench_fairshare.py --seconds 20
"""

from __future__ import annotations

import argparse
import re
import threading
import time
from typing import Any

from bench_ingest import histogram, ingest_stack, metrics, publish, quantile

LAG = "forestall_ingest_lag_seconds"


def observed(buckets: list[tuple[float, float]]) -> float:
    """How many observations a cumulative histogram holds (its +Inf bucket)."""
    return buckets[-1][1] if buckets else 0.0


def rate_limited(text: str) -> float:
    found = re.search(r'^forestall_ingest_rejected_total\{reason="rate_limited"\}\s+([0-9.e+]+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def calm_latency(args: argparse.Namespace, port: int, mport: int, seq0: int, flood: bool) -> dict[str, Any]:
    """Publish the calm tenant's stream (and the flood, alongside); its latency once all is stored."""
    before = metrics(mport)
    calm = argparse.Namespace(assets=200, seconds=args.seconds)
    flooder = argparse.Namespace(assets=1, seconds=args.seconds)
    flooded: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: flooded.update(publish(flooder, port, 1, 0, seq0 + 1, tenant="flood")[0]), daemon=True
    )
    if flood:
        thread.start()
    published, _ = publish(calm, port, 1, args.calm_rate, seq0, tenant="calm")
    if flood:
        thread.join()
    lag_before = histogram(before, LAG, "calm")
    target = observed(lag_before) + published["messages"]
    deadline = time.monotonic() + 300
    while observed(histogram(metrics(mport), LAG, "calm")) < target and time.monotonic() < deadline:
        time.sleep(0.5)
    after = metrics(mport)
    lag_after = histogram(after, LAG, "calm")
    limited = rate_limited(after) - rate_limited(before)
    return {
        "p50_ms": quantile(lag_before, lag_after, 0.5) * 1000,
        "p99_ms": quantile(lag_before, lag_after, 0.99) * 1000,
        "calm_messages": published["messages"],
        "flood_messages": flooded.get("messages", 0),
        "rate_limited": limited,
        "last_seq": max(published["last_seq"], flooded.get("last_seq", 0)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="publishing time per phase")
    parser.add_argument("--calm-rate", type=int, default=200, help="the calm tenant's samples/s")
    args = parser.parse_args()
    print(f"command: python bench/bench_fairshare.py --seconds {args.seconds:g} --calm-rate {args.calm_rate}")
    results = []
    with ingest_stack("forestall-bench-fair-") as (_worker, port, mport):
        alone = calm_latency(args, port, mport, 1, flood=False)
        results.append(("calm tenant alone", alone))
        results.append(
            ("with one device flooding, default limit", calm_latency(args, port, mport, 10**6, flood=True))
        )
    with ingest_stack("forestall-bench-fair-", FORESTALL_WORKER__DEVICE_RATE_PER_S="1e9") as (
        _worker,
        port,
        mport,
    ):
        results.append(
            ("with one device flooding, no device limit", calm_latency(args, port, mport, 1, flood=True))
        )
    for name, r in results:
        flood = f"flood {r['flood_messages']:,} messages, {r['rate_limited']:,.0f} rate_limited"
        calm = f"calm p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms ({r['calm_messages']:,} messages)"
        print(f"{name}: {calm}; {flood}")


if __name__ == "__main__":
    main()
