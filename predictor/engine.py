"""All predictor state of one worker, keyed by (tenant, asset); checkpointed and restorable."""

from __future__ import annotations

import contextlib
import os
import pickle
import tempfile
from pathlib import Path

from predictor.alerts import Alerts
from predictor.models import MODEL_VERSION, AssetModel, Health, TypeModels

CHECKPOINT_FORMAT = 1


class Predictor:
    def __init__(self) -> None:
        self.types: dict[tuple[str, str], TypeModels] = {}
        self.assets: dict[tuple[str, str], AssetModel] = {}
        self.version = MODEL_VERSION
        self._labelled: set[tuple[str, str]] = set()  # assets with labels waiting for their data
        self.event_cursor = 0  # the last event (state DB) whose label has been taken
        self.alerts = Alerts()  # Grafana alerts firing on assets (``grafana_alert`` events)

    def __setstate__(self, state: dict[str, object]) -> None:
        state.setdefault("alerts", Alerts())  # a checkpoint from before Grafana alerts
        self.__dict__.update(state)

    def model(self, tenant: str, asset: str, asset_type: str) -> AssetModel:
        key = (tenant, asset)
        model = self.assets.get(key)
        if model is None:
            fleet = self.types.setdefault((tenant, asset_type), TypeModels())
            model = self.assets[key] = AssetModel(fleet, asset)
        return model

    def observe(
        self, tenant: str, asset: str, asset_type: str, ts: float, values: dict[str, float]
    ) -> Health:
        return self.model(tenant, asset, asset_type).update(ts, values)

    def label(
        self, tenant: str, asset: str, asset_type: str, kind: str, at: float, received: float = 0.0
    ) -> None:
        """A label from the field (``fault``, ``failure``, ``no_fault``, ``repair``) at event time ``at``.

        It applies when the asset's data reaches ``at`` (or ``advance`` decides it never will).
        """
        model = self.model(tenant, asset, asset_type)
        model.label(kind, at, received)
        if model.labels:
            self._labelled.add((tenant, asset))

    def advance(self, tenant: str, clock: float, wall: float = 0.0) -> list[tuple[str, str]]:
        """The tenant's event clock reached ``clock``: apply labels its assets' data will not reach.

        Returns the assets whose labels were applied.
        """
        applied = []
        for key in [k for k in self._labelled if k[0] == tenant]:
            model = self.assets[key]
            waiting = len(model.labels)
            model.advance(clock, wall)
            if len(model.labels) < waiting:
                applied.append(key)
            if not model.labels:
                self._labelled.discard(key)
        return applied

    def save(self, path: Path) -> None:
        """Write a checkpoint atomically (temp file + rename), so a crash never leaves half a file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(
                    {"format": CHECKPOINT_FORMAT, "version": self.version, "state": self},
                    fh,
                    protocol=pickle.HIGHEST_PROTOCOL,
                )
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    @staticmethod
    def version_of(path: Path) -> str | None:
        """The model version a checkpoint holds (None: no checkpoint there)."""
        doc = _read(path)
        return None if doc is None else str(doc.get("version"))

    @staticmethod
    def load(path: Path) -> Predictor | None:
        """The checkpointed predictor, or None when there is none or it is of another version."""
        doc = _read(path)
        if doc is None or doc.get("format") != CHECKPOINT_FORMAT or doc.get("version") != MODEL_VERSION:
            return None
        state = doc.get("state")
        return state if isinstance(state, Predictor) else None


def _read(path: Path) -> dict[str, object] | None:
    if not path.is_file():
        return None
    with path.open("rb") as fh:
        doc = pickle.load(fh)
    return doc if isinstance(doc, dict) else {"version": "unknown"}
