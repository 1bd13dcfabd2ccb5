"""A model upgrade keeps what the fleets learnt: the models are rebuilt from stored telemetry and labels."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from forestall.settings import load_settings
from ingest.worker import Worker, checkpoint_path
from predictor.engine import Predictor
from programs.backtest.history import read_folder
from programs.backtest.replay import FleetReplay, ReplayOptions
from programs.cli import main
from simulators.histories import generate_fleet


@pytest.mark.integration
def test_the_rebuilt_models_learnt_what_the_live_ones_did(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    generate_fleet(4, assets=5, two_lives=1, censored=1).write(tmp_path / "fleet")
    data = tmp_path / "replay"
    FleetReplay(read_folder(tmp_path / "fleet"), ReplayOptions(data_dir=data)).run()
    live = Predictor.load(data / "checkpoints" / "worker-0-of-1.pkl")
    assert live is not None
    (live_fleet,) = live.types.values()
    env = {
        "database_url": f"sqlite:///{data / 'state.db'}",
        "store": {"kind": "embedded", "path": data / "tsdb.sqlite"},
        "worker": {"checkpoint_dir": tmp_path / "rebuilt"},
    }
    settings = load_settings(**env)
    path = checkpoint_path(settings)
    config = tmp_path / "forestall.toml"
    config.write_text(
        f'database_url = "sqlite:///{data / "state.db"}"\n'
        f'[store]\nkind = "embedded"\npath = "{data / "tsdb.sqlite"}"\n'
        f'[worker]\ncheckpoint_dir = "{tmp_path / "rebuilt"}"\n'
    )
    assert main(["rebuild", "--config", str(config)]) == 0
    assert "rebuilt" in capsys.readouterr().err
    rebuilt = Predictor.load(path)
    assert rebuilt is not None
    (rebuilt_fleet,) = rebuilt.types.values()
    assert rebuilt_fleet.library.failures == live_fleet.library.failures >= 4
    assert rebuilt_fleet.library.signature() == pytest.approx(live_fleet.library.signature(), rel=0.05)
    assert set(rebuilt.assets) == set(live.assets)
    assert rebuilt.event_cursor == live.event_cursor

    # A worker that finds a checkpoint of older models rebuilds by itself instead of starting empty.
    with path.open("rb") as fh:
        doc = pickle.load(fh)
    doc["version"] = "an-older-model"
    with path.open("wb") as fh:
        pickle.dump(doc, fh)
    worker = Worker(settings)
    try:
        assert worker.predictor is not None
        (fleet,) = worker.predictor.predictor.types.values()
        assert fleet.library.failures == live_fleet.library.failures
        assert Predictor.version_of(path) == Predictor().version
    finally:
        worker.store.close()
        worker.engine.dispose()
