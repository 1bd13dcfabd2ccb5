"""Fixtures for the edge agent tests; the helpers live in ``edge_support``."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.edge_agent.edge_support import Collector


@pytest.fixture
def collector() -> Iterator[Callable[[str, list[str]], Collector]]:
    made: list[Collector] = []

    def make(url: str, topics: list[str]) -> Collector:
        made.append(Collector(url, topics))
        return made[-1]

    yield make
    for item in made:
        item.close()


@pytest.fixture(scope="session")
def edge_command() -> list[str]:
    """``forestall edge`` from the venv under test."""
    return [str(Path(sys.executable).parent / "forestall"), "edge"]
