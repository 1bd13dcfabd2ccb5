"""The worker's predictor: loaded from its checkpoint (or rebuilt after a model upgrade), and
saved again every ``worker.checkpoint_interval_s`` and on stop."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from forestall.series import TelemetryStore
from forestall.settings import Settings

if TYPE_CHECKING:
    from predictor.service import PredictorService

log = logging.getLogger(__name__)


def checkpoint_path(settings: Settings) -> Path:
    """Where the worker of this partition keeps its predictor checkpoint."""
    worker = settings.worker
    return Path(worker.checkpoint_dir) / f"worker-{worker.partition}-of-{worker.partitions}.pkl"


def load_predictor(
    path: Path,
    sessions: sessionmaker[Session],
    store: TelemetryStore,
    owns: Callable[[str, str], bool],
) -> PredictorService:
    """The models saved at ``path``, rebuilt from the stored telemetry and labels if they are of
    another version, or new ones."""
    # Imported here: an ingest-only worker need not load River and SciPy (~100 MB).
    from predictor.engine import Predictor
    from predictor.service import PredictorService

    predictor = Predictor.load(path)
    if predictor is None and (old := Predictor.version_of(path)) is not None:
        from predictor.rebuild import rebuild

        # A checkpoint of other models: teach the new ones what the old had learnt, from the
        # stored telemetry and the labels, rather than start every fleet from nothing.
        log.warning("checkpoint holds model version %s, not %s: rebuilding", old, Predictor().version)
        predictor = rebuild(sessions, store, owns, progress=log.warning)
        predictor.save(path)
    return PredictorService(predictor or Predictor(), store, owns=owns)


class Checkpoints:
    """Saves the predictor's models, at most every ``interval_s`` of wall time unless told now."""

    def __init__(self, path: Path, interval_s: float, predictor: PredictorService | None) -> None:
        self.path = path
        self._interval_s = interval_s
        self._predictor = predictor
        self._last = time.monotonic()

    def save_if_due(self) -> None:
        if self._predictor is not None and time.monotonic() - self._last > self._interval_s:
            self.save()

    def save(self) -> None:
        if self._predictor is None:
            return
        self._predictor.predictor.save(self.path)
        self._last = time.monotonic()
