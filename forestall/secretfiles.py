"""Secrets read from files, as Docker secrets are mounted: ``<NAME>_FILE`` names the file that
holds the value of ``<NAME>`` (standard library only: the CLI reads them before any server stack
is loaded)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

FILE_SUFFIX = "_FILE"


def read_secret(variable: str, path: Path) -> str:
    """The secret in ``path`` (named by the environment variable ``variable``), less one trailing
    newline; ValueError naming both if it cannot be read."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValueError(f"{variable}: cannot read {path}: {exc.strerror or exc}") from exc
    return text.removesuffix("\n").removesuffix("\r")


def secret_from_env(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The value of the environment variable ``name``, or of the file ``<name>_FILE`` names (for
    the commands that take a secret from the environment outside the settings); None if neither.

    >>> secret_from_env("X_PASSWORD", {"X_PASSWORD": "pw"})
    'pw'
    """
    env = os.environ if environ is None else environ
    value, path = env.get(name), env.get(name + FILE_SUFFIX)
    if value and path:
        raise ValueError(f"both {name} and {name}{FILE_SUFFIX} are set: set one of them")
    if path:
        return read_secret(name + FILE_SUFFIX, Path(path))
    return value or None
