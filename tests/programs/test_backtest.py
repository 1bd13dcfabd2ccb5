"""Backtests: the C-MAPSS reader and scorer on files written here, and the sim backtest end to end."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from programs.backtest.cmapss import SOURCE_URL, nasa_name, read_engines, rmse, text_sha256
from programs.backtest.sim import backtest_sim
from programs.cli import main


def engine_rows(unit: int, cycles: int) -> list[str]:
    rows = []
    for c in range(1, cycles + 1):
        wear = (c / cycles) ** 2
        sensors = [518.67, 642.0 + 2 * wear, 1590.0 + 15 * wear, 1400.0 + 20 * wear] + [10.0 + 0.01 * c] * 17
        rows.append(" ".join(str(v) for v in [unit, c, 0.0, 0.0, 100.0, *sensors]))
    return rows


def test_reader_accepts_gzip_and_plain_and_names_bad_lines(tmp_path: Path) -> None:
    plain = tmp_path / "train.txt"
    plain.write_text("\n".join(engine_rows(1, 5) + engine_rows(2, 3)) + "\n")
    packed = tmp_path / "train.txt.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    for path in (plain, packed):
        engines = read_engines(path)
        assert [(e.unit, len(e.rows)) for e in engines] == [(1, 5), (2, 3)]
        assert engines[0].rows[4]["sensor_3"] == pytest.approx(1605.0)
    bad = tmp_path / "bad.txt"
    bad.write_text("1 1 0.0\n")
    with pytest.raises(ValueError, match=r"bad\.txt:1"):
        read_engines(bad)
    assert rmse([3.0, -4.0]) == pytest.approx(math.sqrt(12.5))


def write_data(
    tmp_path: Path, lives: dict[int, int], cuts: dict[int, tuple[int, int]], rul: str
) -> tuple[Path, Path, Path]:
    """Train engines ``unit: cycles``, test engines ``unit: (life, cut)`` and a RUL file."""
    train, test, rul_path = tmp_path / "train.txt", tmp_path / "test.txt", tmp_path / "rul.txt"
    train.write_text("\n".join(r for u, life in lives.items() for r in engine_rows(u, life)) + "\n")
    rows = (r for u, (life, cut) in cuts.items() for r in engine_rows(u, life)[:cut])
    test.write_text("\n".join(rows) + "\n")
    rul_path.write_text(rul)
    return train, test, rul_path


def test_cmapss_backtest_writes_predictions_and_prints_metrics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lives = {u: 60 + 10 * u for u in range(1, 7)}
    cuts = {u: (80, 50 + 10 * u) for u in range(1, 4)}
    train, test, rul = write_data(tmp_path, lives, cuts, "30\n20\n10\n")
    out = tmp_path / "pred.csv"
    argv = [
        "backtest",
        "cmapss",
        "--train",
        str(train),
        "--test",
        str(test),
        "--rul",
        str(rul),
        "--predictions",
        str(out),
    ]
    assert main(argv) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["train_engines"] == 6 and metrics["test_engines"] == 3
    assert metrics["rmse_capped_125"] >= 0
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["unit"] for r in rows] == ["1", "2", "3"]
    assert all(float(r["predicted_rul"]) >= 0 for r in rows)
    rul.write_text("30\n")
    assert main(argv) == 2  # a RUL file that does not match the test engines is a clear error


def test_sim_backtest_reports_forestall_and_both_baselines() -> None:
    result = backtest_sim(assets=8, days=6, seed=5)
    names = sorted(result["baselines"])
    assert len(names) == 2 and names[0].startswith("calendar every")
    assert names[1].startswith("static thresholds ±")  # its width chosen on another seed
    assert result["threshold_width_chosen_on_seed"] != result["seed"]
    assert result["fault_episodes"] == result["failures_occurred"] + result["failures_prevented"] > 0
    assert result["visits_completed"] <= result["recommendations"]
    calendar = result["baselines"][names[0]]
    assert calendar["visits_completed"] > 0
    assert 0.0 <= (result["false_visit_share"] or 0.0) <= 1.0
    for summary in (result, *result["baselines"].values()):  # an episode is caught once at most
        timely, useful = summary["timely_share"] or 0.0, summary["useful_recommendation_share"] or 0.0
        assert 0.0 <= timely <= useful <= 1.0
    assert set(result["beats"]) == set(names)


def test_cmapss_backtest_learns_remaining_life_from_the_training_failures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Once enough training engines have failed, the learned RUL beats a constant guess by far."""
    lives = {u: 100 + 10 * u for u in range(1, 9)}
    cuts = {1: (120, 60), 2: (120, 80), 3: (120, 100)}  # true RUL 60, 40, 20
    train, test, rul = write_data(tmp_path, lives, cuts, "60\n40\n20\n")
    assert main(["backtest", "cmapss", "--train", str(train), "--test", str(test), "--rul", str(rul)]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    constant_guess = math.sqrt(((60 - 40) ** 2 + 0 + (20 - 40) ** 2) / 3)  # the mean truth for all: 16.3
    assert metrics["rmse_capped_125"] < 0.3 * constant_guess
    assert 0.0 <= metrics["band_coverage"] <= 1.0


def test_cmapss_backtest_prints_only_its_json_on_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Progress goes to stderr, so ``forestall backtest cmapss … | jq`` reads one JSON document."""
    train, test, rul = write_data(tmp_path, {1: 30, 2: 40}, {1: (40, 20)}, "20\n")
    assert main(["backtest", "cmapss", "--train", str(train), "--test", str(test), "--rul", str(rul)]) == 0
    captured = capsys.readouterr()
    assert captured.out.count("\n") == 1
    assert json.loads(captured.out)["test_engines"] == 1
    assert "through the predictor" in captured.err


def test_sim_backtest_prints_only_its_json_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", "sim", "--assets", "2", "--days", "1", "--seed", "3"]) == 0
    captured = capsys.readouterr()
    assert captured.out.count("\n") == 1
    assert json.loads(captured.out)["backtest"] == "sim"
    assert "simulating 2 assets" in captured.err


def test_a_file_named_like_nasas_must_be_nasas(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing or altered C-MAPSS file is refused with where to download it; other names are not checked."""
    train, test, rul = write_data(tmp_path, {1: 30, 2: 40}, {1: (40, 20)}, "20\n")
    nasa = tmp_path / "train_FD001.txt.gz"
    nasa.write_bytes(gzip.compress(train.read_bytes()))  # a C-MAPSS-shaped file, but not NASA's text
    argv = ["backtest", "cmapss", "--train", str(nasa), "--test", str(test), "--rul", str(rul)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "train_FD001.txt.gz is not NASA's train_FD001.txt" in err and SOURCE_URL in err
    nasa.unlink()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"no such file: {nasa}" in err and SOURCE_URL in err
    assert main(["backtest", "fleet", "--cmapss", str(nasa)]) == 2  # the fleet replay reads it alike
    assert SOURCE_URL in capsys.readouterr().err


def test_the_recorded_digest_is_of_the_text_whatever_its_packing(tmp_path: Path) -> None:
    text = b"1 1 0.5\r\n1 2 0.6\r\n"
    plain, packed = tmp_path / "a.txt", tmp_path / "a.txt.gz"
    plain.write_bytes(text)
    packed.write_bytes(gzip.compress(text.replace(b"\r\n", b"\n")))
    assert text_sha256(plain) == text_sha256(packed) == hashlib.sha256(b"1 1 0.5\n1 2 0.6\n").hexdigest()
    assert nasa_name(tmp_path / "RUL_FD003.txt.gz") == "RUL_FD003.txt"
    assert nasa_name(tmp_path / "RUL_FD002.txt") is None  # no digest recorded: read unchecked


@pytest.mark.integration
@pytest.mark.parametrize("dataset", ["sim", "cmapss", "fleet"])
def test_every_backtest_pipes_into_a_json_reader(tmp_path: Path, dataset: str) -> None:
    """``forestall backtest … | python -m json.tool`` as a user types it: stdout is one JSON document."""
    train, test, rul = write_data(tmp_path, {u: 40 + 5 * u for u in range(1, 4)}, {1: (50, 30)}, "20\n")
    args, figure = {
        "sim": ("sim --assets 2 --days 1 --seed 3", "timely_share"),
        "cmapss": (f"cmapss --train {train} --test {test} --rul {rul}", "rmse_capped_125"),
        "fleet": (f"fleet --cmapss {train} --stagger-hours 10", "caught_share"),
    }[dataset]
    bindir = Path(sys.executable).parent
    done = subprocess.run(
        [
            "bash",
            "-o",
            "pipefail",
            "-c",
            f"{bindir}/forestall backtest {args} | {sys.executable} -m json.tool",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert figure in json.loads(done.stdout)
    assert done.stderr  # the progress, apart from the result
