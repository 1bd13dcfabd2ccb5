"""All predictor state of one worker, keyed by (tenant, asset); checkpointed and restorable."""

from __future__ import annotations

import contextlib
import os
import pickle
import tempfile
from pathlib import Path

from predictor.models import MODEL_VERSION, AssetModel, Health, TypeModels

CHECKPOINT_FORMAT = 1


class Predictor:
    def __init__(self) -> None:
        self.types: dict[tuple[str, str], TypeModels] = {}
        self.assets: dict[tuple[str, str], AssetModel] = {}
        self.version = MODEL_VERSION

    def model(self, tenant: str, asset: str, asset_type: str) -> AssetModel:
        key = (tenant, asset)
        model = self.assets.get(key)
        if model is None:
            fleet = self.types.setdefault((tenant, asset_type), TypeModels())
            model = self.assets[key] = AssetModel(fleet)
        return model

    def observe(
        self, tenant: str, asset: str, asset_type: str, ts: float, values: dict[str, float]
    ) -> Health:
        return self.model(tenant, asset, asset_type).update(ts, values)

    def label(self, tenant: str, asset: str, asset_type: str, kind: str, at: float) -> None:
        """Apply a label from the field: ``fault``, ``failure``, ``no_fault`` or ``repair``."""
        model = self.model(tenant, asset, asset_type)
        if kind == "fault":
            model.confirm_fault(at, failed=False)
            model.repaired(at)
        elif kind == "failure":
            model.confirm_fault(at, failed=True)
        elif kind == "no_fault":
            model.confirm_no_fault(at)
        elif kind == "repair":
            model.repaired(at)
        else:
            raise ValueError(f"unknown label kind {kind!r}")

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
    def load(path: Path) -> Predictor | None:
        """The checkpointed predictor, or None when there is none or it is of another version."""
        if not path.is_file():
            return None
        with path.open("rb") as fh:
            doc = pickle.load(fh)
        if (
            not isinstance(doc, dict)
            or doc.get("format") != CHECKPOINT_FORMAT
            or doc.get("version") != MODEL_VERSION
        ):
            return None
        state = doc.get("state")
        return state if isinstance(state, Predictor) else None
