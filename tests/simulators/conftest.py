"""Fixtures of the simulator tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.simulators.sim_fakeapi import FakeApi


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    api = FakeApi()
    yield api
    api.close()
