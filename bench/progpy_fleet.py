"""Run-to-failure fleets simulated with NASA's progpy, in the backtest fleet layout.

Writes ``OUTDIR/manifest.json`` (a list of ``{"asset", "asset_type", "failures"}``, failures as RFC 3339 UTC
times, ``[]`` for a censored asset) and one ``OUTDIR/<asset>.csv`` per asset (``ts``, then one column per
sensor; rows in time order, no empty cells). One reading summarises one slot of ``--hours-per-reading``
hours of event time and is stamped at the slot's end; assets start at random over ``[0, --stagger-hours]``
after 2026-01-01T00:00:00Z. Every life gets new random wear rates; after a failure the asset is repaired,
comes back 2-6 h later and its CSV continues with the new life. Each slot is a progpy simulation carried on
from the previous slot's state, so wear accumulates through the model's own equations.

Equipment (``--model``):

valve
    ``progpy.models.PneumaticValveWithWear``. A slot is one actuation cycle: open command for 2 s, close
    command for 1 s, Euler steps of 10 ms (the model's explicit step is unstable once friction
    r * dt / m > 2, and r starts at 6000 with m = 50 kg). Sensors: opening and closing times, bottom-port
    pressure at the end of the open phase and when the stroke completes, the vented chambers' pressures,
    top-port pressure at the end of the close phase, flow through the open valve, and the two line
    pressures. Each life has a primary wear mode drawn from bottom-port leak, top-port leak, internal leak
    and spring weakening; the other three progress 1.5-5x more slowly, and friction grows by at most
    25 % (its progpy threshold, 4e6 = 670x new, is out of reach of a stable 10 ms step).
pump
    ``progpy.models.CentrifugalPumpWithWear``. A slot is 120 s of pump time at dt = 1 s with the three
    heat capacities scaled by 120 / (3600 * hours per reading): the bearing and oil temperatures settle
    over minutes as in a real hour, while speed and flow (seconds) are untouched. Sensors: speed, discharge
    flow, thrust and radial bearing temperatures, oil temperature, and the operating point (ambient
    temperature, suction and discharge pressures, drive frequency), all snapshots at the slot's end. The
    primary wear mode is impeller erosion (flow falls steadily), thrust or radial bearing friction
    (grows exponentially, so those temperatures rise late); the other two progress 1.5-5x more slowly.
    Temperature limits are absolute, so hot ambient and high speed bring bearing failures forward.

Failure is progpy's ``threshold_met`` turning true for any of the model's events (pump: every step; valve:
after each cycle, its wear states being monotonic), stamped at that instant within the slot; the failing slot
has no reading. For the valve a stroke that does not complete within its phase also ends the life ("stroke" in
the summary): with progpy's default limits a bottom-port leak area about 20 % above new already keeps the
valve from opening, long before the "Bottom Leak" threshold (4x new), and an internal leak does so at about
3/4 of its threshold. ``--threshold-only`` restores progpy's events alone; a stuck valve then reports its
timeouts until a threshold is met. Wear rates are calibrated at start-up from a few healthy simulated slots at
regime 0 so that the primary mode alone would end the life after 100-600 readings (log-uniform); the other
modes and the operating regimes move the actual lives around that.

``--regimes K``: K fleet-wide operating points, one drawn at random for every reading; regime 0 is the nominal
one (pump: progpy's example point; valve: 3.0e5 / 2.0e5 Pa line pressures; with progpy's example 3.5e5 / 2.0e5
a new valve already needs 1.7 s of the 2 s allowed to open). Pump regimes vary speed, suction and discharge
pressure and ambient temperature, with per-reading jitter on speed and ambient; valve regimes vary the line
pressures. progpy's models only take those pressures as scalars, so each regime is a separate batch and the
run time grows with K. ``--duty D``: the equipment idles for random runs of slots (mean 3) so that it runs a
share D of the time; idle slots have no reading and no wear, and a pump restarts cold. ``--noise F``: Gaussian
measurement noise, standard deviation F times the sensor's healthy value at regime 0 (temperatures in degrees
Celsius). ``--censored F``: a share F of the assets get one life whose record stops at a random 20-90 % of it,
with an empty failures list. ``--lives K``: the other assets get 1-K lives, all run to failure.
``--life-hours LO HI``: lives calibrated in hours instead of readings (100-600 readings), so that one
fleet is the same machine at any ``--hours-per-reading``; ``--idle-hours H``: idle runs of H hours on
average instead of 3 readings; ``--regime-hours H``: an operating point holds H hours on average instead
of one reading. With readings faster than every 2 minutes a pump slot is the reading's own length of pump
time. A high-rate fleet made so and ``python -m programs.backtest.resample`` give the same machines at
any cadence, jittered, with gaps and with late backlogs.
``--disguise``: random ``ch_xxxxxx`` sensor names, a random affine map per sensor, shuffled columns and a
random asset type and id prefix. Output depends only on the arguments.

    python bench/progpy_fleet.py --model valve --assets 40 --seed 1 --out /tmp/valve
    python bench/progpy_fleet.py --model pump --assets 40 --seed 1 --regimes 3 \\
        --lives 2 --censored 0.1 --out /tmp/pump
    .venv/bin/python bench/progpy_fleet.py --model pump --assets 70 --lives 2 --seed 11 --regimes 3 \\
        --regime-hours 1 --duty 0.6 --idle-hours 2 --hours-per-reading 0.0166667 --life-hours 24 96 \\
        --out /tmp/pump1m
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import statistics
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt
from progpy.models import CentrifugalPumpWithWear, PneumaticValveWithWear
from progpy.models.pneumatic_valve import PneumaticValveBase

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
State = dict[str, FloatArray]

START = datetime(2026, 1, 1, tzinfo=UTC)
TARGET_LIFE = (100.0, 600.0)  # readings; a life's target is drawn log-uniformly in this range
MAX_LIFE_FACTOR = 4  # a life still running after this many times the longest target is cut
SECONDARY_LIFE = (1.5, 5.0)  # the other wear modes would end the life this many times later
GAP_HOURS = (2.0, 6.0)  # repair time between a failure and the restart
IDLE_RUN_MEAN = 3.0  # slots, for --duty < 1 (unless --idle-hours)


def log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


M = TypeVar("M")


def quiet_model(cls: Callable[..., M]) -> M:
    # The WithWear models warn that their wear parameters are overwritten by the wear states, which is
    # the behaviour wanted here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(process_noise=0, measurement_noise=0)


def step(model: Any, x: State, u: dict[str, Any], dt: float, next_state: Any = None) -> State:
    """One progpy step as ``simulate_to`` takes it (next_state, then the state limits), minus its overhead.

    States travel as plain dicts of per-asset arrays: the models only index them by name, and progpy's
    containers cost more than the physics at these sizes. ``apply_limits`` is inlined for the same reason
    (it builds an array and checks it twice per state to decide whether to warn).
    """
    nx = (next_state or model.next_state)(x, u, dt)
    out = dict(x)  # states the step function leaves out are constant
    out.update(zip(model.states, nx.matrix, strict=False))
    for key, (lo, hi) in model.state_limits.items():
        if lo > -np.inf:
            out[key] = np.maximum(out[key], lo)
        if hi < np.inf:
            out[key] = np.minimum(out[key], hi)
    return out


def take(x: State, idx: IntArray) -> State:
    return {k: v[idx] for k, v in x.items()}


def put(x: State, idx: IntArray, sub: State) -> None:
    for k, v in sub.items():
        x[k][idx] = v


@dataclass
class SlotResult:
    readings: FloatArray  # (assets, sensors), noise-free
    failed: BoolArray
    fail_frac: FloatArray  # share of the slot elapsed when the failure happened
    mode: list[str]  # the event (or "stroke") that ended the life, "" if none


def merge_into(total: SlotResult, idx: IntArray, part: SlotResult) -> None:
    total.readings[idx] = part.readings
    total.failed[idx] = part.failed
    total.fail_frac[idx] = part.fail_frac
    for j, i in enumerate(idx):
        total.mode[int(i)] = part.mode[j]


def empty_result(n: int, n_sensors: int) -> SlotResult:
    return SlotResult(np.zeros((n, n_sensors)), np.zeros(n, bool), np.ones(n), [""] * n)


class Equipment(Protocol):
    asset_type: str
    prefix: str
    sensors: list[str]
    scales: FloatArray  # healthy reading at regime 0, the unit of measurement noise
    n_jitter: int  # standard normals drawn per asset and reading for operating-point jitter

    def new_life(self, rng: np.random.Generator, target: tuple[float, float]) -> dict[str, float]:
        """Initial state of a new life, wear rates included; ``target``: the life's range in slots."""
        ...

    def run_slot(self, x: State, regime: IntArray, jitter: FloatArray, cold: BoolArray) -> SlotResult: ...


# --- valve ------------------------------------------------------------------------------------------------


class _VectorValve(PneumaticValveWithWear):  # type: ignore[misc]
    """progpy's valve with ``gas_flow`` evaluated on whole arrays.

    The original handles arrays by calling itself once per element; this is the same piecewise
    (choked / subsonic, either direction) orifice formula in numpy, checked against it to the last bit.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        p = self.parameters
        k, z, r, t = p["gas_gamma"], p["gas_z"], p["gas_R"], p["gas_temp"]
        self._choked = math.sqrt(k / z / r / t * (2 / (k + 1)) ** ((k + 1) / (k - 1)))
        self._sub = math.sqrt(2 / z / r / t * k / (k - 1))
        self._critical = ((k + 1) / 2) ** (-k / (k - 1))  # pressure ratio below which the flow is choked
        self._e1, self._e2 = 2 / k, (k + 1) / k

    def gas_flow(self, p_in: Any, p_out: Any, c: Any, a: Any) -> Any:
        hi = np.maximum(np.maximum(p_in, p_out), 1e-99)
        ratio = np.minimum(p_in, p_out) / hi
        sub = self._sub * np.sqrt(np.abs(ratio**self._e1 - ratio**self._e2))
        mag = c * a * hi * np.where(ratio <= self._critical, self._choked, sub)
        return np.where(np.greater_equal(p_in, p_out), mag, -mag)


class Valve:
    asset_type = "pneumatic_valve"
    prefix = "valve"
    sensors = [
        "open_time_s",
        "close_time_s",
        "p_bottom_open_mpa",
        "p_bottom_stroke_mpa",
        "p_top_open_mpa",
        "p_top_close_mpa",
        "p_bottom_close_mpa",
        "flow_open_m3s",
        "line_upstream_kpa",
        "line_downstream_kpa",
    ]
    n_jitter = 0
    DT = 0.01
    OPEN_S = 2.0  # also the stroke-time limit
    CLOSE_S = 1.0
    WEAR = ("wb", "wi", "wk", "wr", "wt")
    FRICTION_GROWTH = 0.25
    MODES = ("bottom", "top", "internal", "spring")

    def __init__(self, regimes: Sequence[tuple[float, float]], threshold_only: bool) -> None:
        self.model = quiet_model(_VectorValve)
        self.regimes = list(regimes)
        self.threshold_only = threshold_only
        p = self.model.parameters
        self.x0 = {s: float(v) for s, v in p["x0"].items()}
        self.x0["pDiff"] = self.regimes[0][0] - self.regimes[0][1]
        self.ls, self.tol = float(p["Ls"]), float(p["indicatorTol"])
        self._calibrate()

    def _fresh(self, n: int, **overrides: FloatArray) -> State:
        x = {s: np.full(n, self.x0[s]) for s in self.model.states}
        x.update(overrides)
        return x

    def _calibrate(self) -> None:
        p = self.model.parameters
        # Column 0: healthy with tiny wear rates, to measure each wear state's increment per cycle per unit
        # rate. Then a grid of bottom-leak and of internal-leak areas, to find where the valve stops opening.
        grid = 41
        aeb = np.linspace(self.x0["Aeb"], p["AbMax"], grid)
        ai = np.linspace(self.x0["Ai"], p["AiMax"], grid)
        n = 1 + 2 * grid
        tiny = {"wb": 1e-9, "wt": 1e-9, "wk": 1e-3, "wi": 1e-12, "wr": 1e-3}
        x = self._fresh(n)
        for s, w in tiny.items():
            x[s][0] = w
        x["Aeb"][1 : 1 + grid] = aeb
        x["Ai"][1 + grid :] = ai
        x, _, _, _ = self._cycle(x, *self.regimes[0])  # settle the chamber pressures
        before = {s: x[s][0] for s in ("Aeb", "Aet", "Ai", "k", "r")}
        x, feats, stroke_ok, _ = self._cycle(x, *self.regimes[0])
        self.per_cycle = {
            "wb": (x["Aeb"][0] - before["Aeb"]) / tiny["wb"],
            "wt": (x["Aet"][0] - before["Aet"]) / tiny["wt"],
            "wk": (before["k"] - x["k"][0]) / tiny["wk"],
            "wi": (x["Ai"][0] - before["Ai"]) / tiny["wi"],
            "wr": (x["r"][0] - before["r"]) / tiny["wr"],
        }
        self.scales = np.abs(feats[0])

        def stuck_at(values: FloatArray, ok: BoolArray, limit: float) -> float:
            bad = np.flatnonzero(~ok)
            return float(values[bad[0]]) if bad.size else limit

        # How far each wear state can travel before the life ends, at regime 0.
        self.span = {
            "bottom": stuck_at(aeb, stroke_ok[1 : 1 + grid], p["AbMax"]) - self.x0["Aeb"],
            "internal": stuck_at(ai, stroke_ok[1 + grid :], p["AiMax"]) - self.x0["Ai"],
            "top": p["AtMax"] - self.x0["Aet"],
            "spring": self.x0["k"] - p["kMin"],
        }
        if self.threshold_only:
            self.span["bottom"] = p["AbMax"] - self.x0["Aeb"]
            self.span["internal"] = p["AiMax"] - self.x0["Ai"]

    def new_life(self, rng: np.random.Generator, target: tuple[float, float]) -> dict[str, float]:
        life = log_uniform(rng, *target)
        primary = self.MODES[int(rng.integers(len(self.MODES)))]
        rate_of = {"bottom": "wb", "top": "wt", "internal": "wi", "spring": "wk"}
        x = dict(self.x0)
        for mode, rate in rate_of.items():
            mode_life = life if mode == primary else life * rng.uniform(*SECONDARY_LIFE)
            x[rate] = self.span[mode] / (self.per_cycle[rate] * mode_life)
        x["wr"] = rng.uniform(0, self.FRICTION_GROWTH) * self.x0["r"] / (self.per_cycle["wr"] * life)
        return x

    def run_slot(self, x: State, regime: IntArray, jitter: FloatArray, cold: BoolArray) -> SlotResult:
        result = empty_result(len(regime), len(self.sensors))
        # progpy's valve builds its pDiff state from a list repeated per asset, which only works for scalar
        # line pressures: run each regime's assets as their own batch.
        for r in np.unique(regime):
            idx = np.flatnonzero(regime == r)
            sub, feats, stroke_ok, fail_frac = self._cycle(take(x, idx), *self.regimes[int(r)])
            put(x, idx, sub)
            part = empty_result(len(idx), len(self.sensors))
            part.readings[:] = feats
            met = self.model.threshold_met(sub)
            for j in range(len(idx)):
                events = [e for e, hit in met.items() if hit[j]]
                if events:
                    part.failed[j], part.mode[j], part.fail_frac[j] = True, events[0], 1.0
                elif not stroke_ok[j] and not self.threshold_only:
                    part.failed[j], part.mode[j], part.fail_frac[j] = True, "stroke", fail_frac[j]
            merge_into(result, idx, part)
        return result

    def _cycle(self, x: State, p_up: float, p_down: float) -> tuple[State, FloatArray, BoolArray, FloatArray]:
        """Open then close the valve once; returns the state, the features, whether both strokes completed
        and, where a stroke did not, the share of the cycle elapsed at the end of the phase that failed."""
        n = len(x["x"])
        dt, top, bottom = self.DT, self.ls - self.tol, self.tol
        cycle_s = self.OPEN_S + self.CLOSE_S
        x["pDiff"] = np.full(n, p_up - p_down)
        opening = {"pL": p_up, "pR": p_down, "uTop": False, "uBot": True}
        closing = {"pL": p_up, "pR": p_down, "uTop": True, "uBot": False}
        open_t, close_t = np.full(n, np.nan), np.full(n, np.nan)
        at_stroke = {k: v.copy() for k, v in x.items()}  # state when the open stroke completes
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # PneumaticValveWithWear.next_state copies the wear-rate states into the parameters on every
            # step (through callbacks that warn) and then steps the base model; the rates are constant
            # within a life, so copy them once per cycle and step the base model directly.
            for w in self.WEAR:
                self.model.parameters[w] = x[w]
        base = functools.partial(PneumaticValveBase.next_state, self.model)
        for i in range(round(self.OPEN_S / dt)):
            prev = x["x"]
            x = step(self.model, x, opening, dt, base)
            done = np.isnan(open_t) & (x["x"] >= top)
            if done.any():
                # Linear interpolation within the step, or the times would be quantised to 10 ms.
                frac = (top - prev) / np.where(x["x"] > prev, x["x"] - prev, 1.0)
                open_t = np.where(done, (i + np.clip(frac, 0, 1)) * dt, open_t)
                for k, v in x.items():
                    at_stroke[k] = np.where(done, v, at_stroke[k])
        z_open = self.model.output(x)
        for i in range(round(self.CLOSE_S / dt)):
            prev = x["x"]
            x = step(self.model, x, closing, dt, base)
            done = np.isnan(close_t) & (x["x"] <= bottom)
            if done.any():
                frac = (prev - bottom) / np.where(prev > x["x"], prev - x["x"], 1.0)
                close_t = np.where(done, (i + np.clip(frac, 0, 1)) * dt, close_t)
        z_close = self.model.output(x)
        z_stroke = self.model.output(at_stroke)
        opened, closed = ~np.isnan(open_t), ~np.isnan(close_t)
        feats = np.column_stack(
            [
                np.where(opened, open_t, self.OPEN_S),  # a stuck valve reports the timeout
                np.where(closed, close_t, self.CLOSE_S),
                z_open["pB"],
                np.where(opened, z_stroke["pB"], z_open["pB"]),
                z_open["pT"],
                z_close["pT"],
                z_close["pB"],
                z_open["Q"],
                np.full(n, p_up / 1e3),
                np.full(n, p_down / 1e3),
            ]
        )
        fail_frac = np.where(opened, 1.0, self.OPEN_S / cycle_s)
        return x, feats, opened & closed, fail_frac


# --- pump -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PumpPoint:
    speed: float  # multiple of progpy's example drive (471.2389 V, wsync = 0.8 V = 60 Hz)
    p_suction: float  # Pa
    p_discharge: float  # Pa
    t_ambient: float  # K


class Pump:
    asset_type = "centrifugal_pump"
    prefix = "pump"
    sensors = [
        "speed_rpm",
        "flow_lps",
        "thrust_bearing_temp_c",
        "radial_bearing_temp_c",
        "oil_temp_c",
        "ambient_temp_c",
        "suction_pressure_kpa",
        "discharge_pressure_kpa",
        "drive_freq_hz",
    ]
    n_jitter = 2  # speed, ambient temperature
    DT = 1.0
    V_NOMINAL = 471.2389
    SPEED_JITTER = 0.003
    AMBIENT_JITTER_K = 1.0
    MODES = ("impeller", "thrust", "radial")

    def __init__(self, regimes: Sequence[PumpPoint], hours_per_reading: float) -> None:
        # Pump time per slot: 120 s, or the slot's own length when readings come faster than that.
        self.SLOT_S = min(120.0, round(3600.0 * hours_per_reading))
        self.hours_per_reading = hours_per_reading
        self.model = quiet_model(CentrifugalPumpWithWear)
        p = self.model.parameters
        for mc in ("mcThrust", "mcRadial", "mcOil"):
            p[mc] = p[mc] * self.SLOT_S / (3600.0 * hours_per_reading)
        self.regimes = list(regimes)
        point = self.regimes[0]
        u = self._inputs(point, np.ones(1), np.full(1, point.t_ambient))
        self.x0 = {s: float(v) for s, v in self.model.initialize(u).items()}
        self._calibrate()

    def _inputs(self, point: PumpPoint, speed: FloatArray, t_ambient: FloatArray) -> dict[str, Any]:
        v = self.V_NOMINAL * point.speed * speed
        return {
            "Tamb": t_ambient,
            "V": v,
            "pdisch": point.p_discharge,
            "psuc": point.p_suction,
            "wsync": 0.8 * v,
        }

    def _calibrate(self) -> None:
        # Healthy, thrust friction x2 and radial friction x2 at regime 0, run to thermal equilibrium: the
        # temperatures are linear in the friction coefficients, which gives the multiple at which each
        # bearing reaches its limit; the healthy run gives the flow and speed that drive the wear.
        x = {s: np.full(3, v) for s, v in self.x0.items()}
        x["rThrust"][1] *= 2
        x["rRadial"][2] *= 2
        regime, none = np.zeros(3, np.int64), np.zeros(3, bool)
        # Twelve hours of event time (twelve slots at the hourly default), however short a slot is.
        for _ in range(max(12, math.ceil(12.0 / self.hours_per_reading))):
            res = self.run_slot(x, regime, np.zeros((3, self.n_jitter)), none)
        lim = self.model.parameters["lim"]
        tt, tr = x["Tt"], x["Tr"]
        self.ratio = {
            "thrust": 1 + (lim["Tt"] - tt[0]) / (tt[1] - tt[0]),
            "radial": 1 + (lim["Tr"] - tr[0]) / (tr[2] - tr[0]),
        }
        self.w2, self.q2 = float(x["w"][0] ** 2), float(x["Q"][0] ** 2)
        self.a_span = self.x0["A"] - lim["A"]
        self.scales = np.abs(res.readings[0])

    def new_life(self, rng: np.random.Generator, target: tuple[float, float]) -> dict[str, float]:
        life = log_uniform(rng, *target)
        primary = self.MODES[int(rng.integers(len(self.MODES)))]
        x = dict(self.x0)
        mode_life = {m: life if m == primary else life * rng.uniform(*SECONDARY_LIFE) for m in self.MODES}
        x["wA"] = self.a_span / (self.q2 * self.SLOT_S * mode_life["impeller"])
        # Bearing friction grows as r' = w_r * r * w^2, i.e. exponentially.
        x["wThrust"] = math.log(self.ratio["thrust"]) / (self.w2 * self.SLOT_S * mode_life["thrust"])
        x["wRadial"] = math.log(self.ratio["radial"]) / (self.w2 * self.SLOT_S * mode_life["radial"])
        return x

    def run_slot(self, x: State, regime: IntArray, jitter: FloatArray, cold: BoolArray) -> SlotResult:
        result = empty_result(len(regime), len(self.sensors))
        # progpy's pump builds its QLeak state from a list repeated per asset, which only works for scalar
        # suction and discharge pressures: run each regime's assets as their own batch.
        for r in np.unique(regime):
            idx = np.flatnonzero(regime == r)
            point = self.regimes[int(r)]
            speed = 1.0 + self.SPEED_JITTER * jitter[idx, 0]
            t_amb = point.t_ambient + self.AMBIENT_JITTER_K * jitter[idx, 1]
            u = self._inputs(point, speed, t_amb)
            sub = take(x, idx)
            for s in ("Tt", "Tr", "To"):
                sub[s] = np.where(cold[idx], t_amb, sub[s])
            part = empty_result(len(idx), len(self.sensors))
            steps = round(self.SLOT_S / self.DT)
            for i in range(steps):
                sub = step(self.model, sub, u, self.DT)
                for event, hit in self.model.threshold_met(sub).items():
                    for j in np.flatnonzero(np.atleast_1d(hit) & ~part.failed):
                        part.failed[j], part.mode[j], part.fail_frac[j] = True, event, (i + 1) / steps
            z = self.model.output(sub)
            part.readings[:] = np.column_stack(
                [
                    z["w"] * 60 / (2 * math.pi),
                    z["Qout"] * 1e3,
                    z["Tt"] - 273.15,
                    z["Tr"] - 273.15,
                    z["To"] - 273.15,
                    t_amb - 273.15,
                    np.full(len(idx), point.p_suction / 1e3),
                    np.full(len(idx), point.p_discharge / 1e3),
                    u["wsync"] / (2 * math.pi),
                ]
            )
            put(x, idx, sub)
            merge_into(result, idx, part)
        return result


# --- fleet ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    model: str
    seed: int
    hours_per_reading: float
    regimes: int
    noise: float
    duty: float
    threshold_only: bool
    life_hours: tuple[float, float] | None = None  # None: TARGET_LIFE, in readings
    idle_hours: float | None = None  # mean idle run; None: IDLE_RUN_MEAN readings
    regime_hours: float | None = None  # mean time an operating point holds; None: one reading

    @property
    def life_slots(self) -> tuple[float, float]:
        if self.life_hours is None:
            return TARGET_LIFE
        return self.life_hours[0] / self.hours_per_reading, self.life_hours[1] / self.hours_per_reading

    @property
    def max_life_slots(self) -> int:
        return MAX_LIFE_FACTOR * math.ceil(self.life_slots[1])


@dataclass(frozen=True)
class Plan:
    index: int
    start_h: float
    lives: int
    censor_at: float | None  # share of the (only) life after which the record stops


@dataclass
class Life:
    """One life, simulated on its own: times are hours since the life started."""

    asset: int
    number: int
    rows: list[tuple[float, list[float]]] = field(default_factory=list)
    fail_h: float | None = None  # None: still running at Config.max_life_slots
    mode: str = ""
    clock_h: float = 0.0  # end of the last slot
    on: bool = True
    cold: bool = False


def fleet_regimes(cfg: Config) -> list[Any]:
    rng = np.random.default_rng([cfg.seed, 1])
    if cfg.model == "valve":
        # Line pressures (Pa). progpy's example uses 3.5e5 / 2.0e5, where a new valve needs 1.7 s to open
        # and stops opening once the bottom leak grows by 10 %; a smaller drop leaves some margin.
        points: list[Any] = [(3.0e5, 2.0e5)]
        for _ in range(cfg.regimes - 1):
            up = rng.uniform(2.5e5, 4.0e5)
            points.append((up, up - rng.uniform(0.6e5, 1.2e5)))
        return points
    pumps = [PumpPoint(1.0, 239179.0, 928654.0, 290.0)]
    for _ in range(cfg.regimes - 1):
        pumps.append(
            PumpPoint(
                speed=rng.uniform(0.9, 1.05),
                p_suction=239179.0 * rng.uniform(0.8, 1.2),
                p_discharge=928654.0 * rng.uniform(0.85, 1.1),
                t_ambient=rng.uniform(283.0, 300.0),
            )
        )
    return pumps


def build_equipment(cfg: Config) -> Equipment:
    if cfg.model == "valve":
        return Valve(fleet_regimes(cfg), cfg.threshold_only)
    return Pump(fleet_regimes(cfg), cfg.hours_per_reading)


def simulate(cfg: Config, wanted: list[tuple[int, int]]) -> list[Life]:
    """Simulate the given (asset, life number) lives side by side, one slot each per iteration.

    A repaired asset starts from a new state, so its lives are independent and all of them can share the
    batch: the number of iterations is the longest life, not the longest record, and progpy's per-step
    overhead is paid once for the whole batch.
    """
    eq = build_equipment(cfg)
    h = cfg.hours_per_reading
    lives = [Life(a, n) for a, n in wanted]
    rngs = [np.random.default_rng([cfg.seed, 2, a, n]) for a, n in wanted]
    x: State = {}
    for i, rng in enumerate(rngs):
        for k, v in eq.new_life(rng, cfg.life_slots).items():
            x.setdefault(k, np.zeros(len(lives)))[i] = v
    idle_mean = IDLE_RUN_MEAN if cfg.idle_hours is None else max(cfg.idle_hours / h, 1.0)
    p_off = (1 - cfg.duty) / (cfg.duty * idle_mean) if cfg.duty < 1 else 0.0
    # The chance per slot that an operating point gives way to a new draw (1: a new one every reading).
    p_switch = 1.0 if cfg.regime_hours is None else min(h / cfg.regime_hours, 1.0)
    held = np.full(len(lives), -1, np.int64)
    running = list(range(len(lives)))
    while running:
        busy: list[int] = []
        for i in running:
            life = lives[i]
            draw = rngs[i].random()
            life.on = draw >= p_off if life.on else draw < 1 / idle_mean
            if life.on:
                busy.append(i)
            else:
                life.cold, life.clock_h = True, life.clock_h + h
        if busy:
            idx = np.array(busy, np.int64)
            for i in busy:
                if p_switch >= 1.0 or held[i] < 0 or rngs[i].random() < p_switch:
                    held[i] = rngs[i].integers(cfg.regimes)
            regime = held[busy]
            jitter = np.array([rngs[i].standard_normal(eq.n_jitter) for i in busy]).reshape(len(busy), -1)
            cold = np.array([lives[i].cold for i in busy], bool)
            sub = take(x, idx)
            res = eq.run_slot(sub, regime, jitter, cold)
            put(x, idx, sub)
            for j, i in enumerate(busy):
                life = lives[i]
                life.cold = False
                noise = rngs[i].standard_normal(len(eq.sensors)) * cfg.noise * eq.scales
                if res.failed[j]:
                    life.fail_h, life.mode = life.clock_h + float(res.fail_frac[j]) * h, res.mode[j]
                else:
                    life.clock_h += h
                    life.rows.append((life.clock_h, [float(v) for v in res.readings[j] + noise]))
        running = [
            i for i in running if lives[i].fail_h is None and lives[i].clock_h < cfg.max_life_slots * h
        ]
    return lives


@dataclass
class Record:
    rows: list[tuple[float, list[float]]] = field(default_factory=list)  # hours since START
    failures: list[float] = field(default_factory=list)
    life_hours: list[float] = field(default_factory=list)
    modes: list[str] = field(default_factory=list)
    lives: int = 0
    unfailed: int = 0  # lives cut at Config.max_life_slots without failing


def assemble(cfg: Config, plan: Plan, lives: list[Life]) -> Record:
    """Lay an asset's lives end to end from its start time, with a repair gap after each failure."""
    rng = np.random.default_rng([cfg.seed, 4, plan.index])
    rec, t0 = Record(), plan.start_h
    for life in lives:
        rec.lives += 1
        if life.fail_h is None:
            rec.rows.extend((t0 + t, v) for t, v in life.rows)
            rec.unfailed += 1
            break
        if plan.censor_at is not None:
            kept = [(t0 + t, v) for t, v in life.rows if t <= plan.censor_at * life.fail_h]
            rec.rows.extend(kept or [(t0 + t, v) for t, v in life.rows[:1]])
            break
        rec.rows.extend((t0 + t, v) for t, v in life.rows)
        rec.failures.append(t0 + life.fail_h)
        rec.life_hours.append(life.fail_h)
        rec.modes.append(life.mode)
        t0 += life.fail_h + rng.uniform(*GAP_HOURS)
    return rec


def plan_fleet(args: argparse.Namespace) -> list[Plan]:
    rng = np.random.default_rng([args.seed, 0])
    censored = set(rng.permutation(args.assets)[: round(args.censored * args.assets)].tolist())
    plans = []
    for i in range(args.assets):
        start = float(rng.uniform(0, args.stagger_hours))
        lives = 1 if i in censored else int(rng.integers(1, args.lives + 1))
        censor_at = float(rng.uniform(0.2, 0.9)) if i in censored else None
        plans.append(Plan(i, start, lives, censor_at))
    return plans


def stamp(hours: float) -> int:
    return round(hours * 3600)


def rfc3339(seconds: int) -> str:
    return (START + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def write_fleet(out: Path, cfg: Config, records: list[Record], sensors: list[str], disguise: bool) -> None:
    rng = np.random.default_rng([cfg.seed, 3])
    eq_cls = Valve if cfg.model == "valve" else Pump
    names, order = list(sensors), list(range(len(sensors)))
    gain, offset = np.ones(len(sensors)), np.zeros(len(sensors))
    asset_type, prefix = eq_cls.asset_type, eq_cls.prefix
    if disguise:
        names = []
        while len(names) < len(sensors):
            name = f"ch_{int(rng.integers(16**6)):06x}"
            if name not in names:
                names.append(name)
        order = [int(i) for i in rng.permutation(len(sensors))]
        gain = rng.choice([-1.0, 1.0], len(sensors)) * 10 ** rng.uniform(-1, 1, len(sensors))
        offset = rng.uniform(-100, 100, len(sensors))
        asset_type = f"type_{int(rng.integers(16**4)):04x}"
        prefix = f"unit{int(rng.integers(100))}"
    out.mkdir(parents=True, exist_ok=True)
    manifest = []
    width = max(3, len(str(len(records))))
    for number, rec in enumerate(records, 1):
        asset = f"{prefix}-{number:0{width}d}"
        stamps: list[int] = []
        for hours, _ in rec.rows:
            stamps.append(max(stamp(hours), stamps[-1] + 1) if stamps else stamp(hours))
        with (out / f"{asset}.csv").open("w") as fh:
            fh.write("ts," + ",".join(names[k] for k in order) + "\n")
            for sec, (_, values) in zip(stamps, rec.rows, strict=True):
                cells = ",".join(f"{values[k] * gain[k] + offset[k]:.7g}" for k in order)
                fh.write(f"{rfc3339(sec)},{cells}\n")
        failures = []
        for f in rec.failures:
            before = [sec for sec, (hours, _) in zip(stamps, rec.rows, strict=True) if hours < f]
            failures.append(rfc3339(max(stamp(f), before[-1] + 1 if before else 0)))
        manifest.append({"asset": asset, "asset_type": asset_type, "failures": failures})
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--model", choices=["valve", "pump"], required=True)
    ap.add_argument("--assets", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--hours-per-reading", type=float, default=1.0)
    ap.add_argument("--stagger-hours", type=float, default=240.0)
    ap.add_argument("--lives", type=int, default=1, help="maximum lives per asset")
    ap.add_argument("--censored", type=float, default=0.0, help="share of assets whose record stops early")
    ap.add_argument("--regimes", type=int, default=1)
    ap.add_argument("--noise", type=float, default=0.01, help="relative to each sensor's healthy value")
    ap.add_argument("--duty", type=float, default=1.0, help="share of slots in operation")
    ap.add_argument("--threshold-only", action="store_true", help="valve: no failure for a failed stroke")
    ap.add_argument("--disguise", action="store_true")
    ap.add_argument(
        "--life-hours", type=float, nargs=2, metavar=("LO", "HI"), help="lives in hours, not in readings"
    )
    ap.add_argument("--idle-hours", type=float, help="mean idle run in hours (default: 3 readings)")
    ap.add_argument(
        "--regime-hours", type=float, help="mean hours an operating point holds (default: 1 reading)"
    )
    args = ap.parse_args(argv)
    if args.assets < 1 or args.lives < 1 or args.regimes < 1:
        ap.error("--assets, --lives and --regimes must be at least 1")
    if not 0 <= args.censored <= 1 or not 0 < args.duty <= 1 or args.hours_per_reading <= 0:
        ap.error("need 0 <= --censored <= 1, 0 < --duty <= 1 and --hours-per-reading > 0")
    if args.life_hours is not None and not 0 < args.life_hours[0] <= args.life_hours[1]:
        ap.error("--life-hours needs 0 < LO <= HI")
    if any(v is not None and v <= 0 for v in (args.idle_hours, args.regime_hours)):
        ap.error("--idle-hours and --regime-hours must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    t0 = time.monotonic()
    cfg = Config(
        args.model,
        args.seed,
        args.hours_per_reading,
        args.regimes,
        args.noise,
        args.duty,
        args.threshold_only,
        tuple(args.life_hours) if args.life_hours else None,
        args.idle_hours,
        args.regime_hours,
    )
    plans = plan_fleet(args)
    # One process: the cost is progpy's per-step overhead, paid once per batch however many lives it holds,
    # so splitting the lives between workers only multiplies it.
    results = simulate(cfg, [(p.index, n) for p in plans for n in range(p.lives)])
    by_asset: dict[int, list[Life]] = {}
    for life in sorted(results, key=lambda life: (life.asset, life.number)):
        by_asset.setdefault(life.asset, []).append(life)
    records = [assemble(cfg, p, by_asset[p.index]) for p in plans]
    sensors = (Valve if args.model == "valve" else Pump).sensors
    write_fleet(args.out, cfg, records, sensors, args.disguise)
    life_hours = [h for r in records for h in r.life_hours]
    modes = Counter(m for r in records for m in r.modes)
    unfailed = sum(r.unfailed for r in records)
    print(
        f"{args.model}: {len(records)} assets, {sum(r.lives for r in records)} lives, {len(life_hours)} "
        f"failures, {sum(len(r.rows) for r in records)} rows, median life "
        f"{statistics.median(life_hours) if life_hours else 0:.0f} h (failure modes: "
        f"{', '.join(f'{m} {c}' for m, c in modes.most_common())}"
        f"{f'; {unfailed} lives unfailed after {cfg.max_life_slots} readings' if unfailed else ''}; "
        f"{time.monotonic() - t0:.0f} s)"
    )


if __name__ == "__main__":
    main()
