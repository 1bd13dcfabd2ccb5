"""The pipeline's running event clock and future limit, and the device rate limiter's memory."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from forestall import ratelimit
from forestall.clock import clock_from
from ingest.pipeline import Pipeline

WALL_PAST = 1_600_000_000.0  # stamps well before the wall clock: the clock is the newest asset's


def batch(asset: str, seq: int, ts: float) -> bytes:
    sample = {"ts": ts, "values": {"t": 1.0}}
    return json.dumps(
        {"schema": "forestall.telemetry/1", "asset": asset, "seq": seq, "samples": [sample]}
    ).encode()


@given(st.lists(st.tuples(st.sampled_from("abcde"), st.floats(0, 1e6)), max_size=40))
def test_the_running_clock_is_what_the_two_newest_assets_say(batches: list[tuple[str, float]]) -> None:
    pipeline = Pipeline()
    newest: dict[str, float] = {}
    for seq, (asset, offset) in enumerate(batches, start=1):
        outcome = pipeline.handle(
            f"forestall/v1/acme/{asset}/telemetry", batch(asset, seq, WALL_PAST + offset)
        )
        assert outcome.samples and not outcome.rejections
        newest[asset] = max(newest.get(asset, -math.inf), WALL_PAST + offset)
    expected = clock_from(sorted(newest.values(), reverse=True)[:2], wall=2e9)
    assert pipeline.running_clock("acme") == (expected if expected is not None else -math.inf)


def test_a_sample_past_the_horizon_is_rejected_alone_and_the_rest_kept() -> None:
    pipeline = Pipeline(horizon=lambda _tenant, running: max(running, WALL_PAST) + 3600)
    samples = [{"ts": WALL_PAST, "values": {"t": 1.0}}, {"ts": WALL_PAST + 7200, "values": {"t": 2.0}}]
    payload = json.dumps({"schema": "forestall.telemetry/1", "asset": "a", "seq": 1, "samples": samples})
    outcome = pipeline.handle("forestall/v1/acme/a/telemetry", payload.encode())
    assert [s.ts for s in outcome.samples] == [WALL_PAST]
    [rejected] = outcome.rejections
    assert rejected.reason == "future_ts" and rejected.detail.startswith("1 of 2 samples")


def test_the_rate_limiter_forgets_idle_devices_once_it_tracks_many(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ratelimit, "MAX_TRACKED", 3)
    limiter = ratelimit.TokenBuckets(rate_per_s=1.0, burst=2)
    for asset in ("a", "b", "c"):
        assert limiter.allow(("t", asset), now=0.0)
    assert [limiter.allow(("t", "busy"), now=100.0) for _ in range(3)] == [True, True, False]
    assert set(limiter._buckets) == {("t", "busy")}  # the three idle ones had refilled


def test_the_flood_guard_names_a_device_again_only_once_a_window_has_passed() -> None:
    guard = ratelimit.FloodGuard(limit=100, window_s=60.0)
    assert guard.observe({("t", "a"): 99, ("t", "b"): 10}, now=0.0) == []
    assert guard.observe({("t", "a"): 1}, now=30.0) == [("t", "a")]
    assert guard.observe({("t", "a"): 1000}, now=59.0) == []  # its queued backlog, still being refused
    assert guard.observe({("t", "a"): 1000}, now=91.0) == [("t", "a")]  # enabled again, flooding again
    assert guard.observe({("t", "b"): 95}, now=61.0) == []  # b's first ten are a window old


def test_the_flood_guard_forgets_ended_windows_once_it_tracks_many(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ratelimit, "MAX_TRACKED", 4)
    guard = ratelimit.FloodGuard(limit=10, window_s=60.0)
    guard.observe({("t", "a"): 10, ("t", "b"): 1, ("t", "c"): 1}, now=0.0)
    guard.observe({("t", "d"): 1}, now=100.0)
    assert set(guard._counts) == {("t", "d")} and guard._named == {}
