from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.prefect_server import RunningServer, running_server


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[RunningServer]:
    """One real Prefect server for the whole session (127.0.0.1, temporary PREFECT_HOME).

    Tests sharing it must use unique names for what they create.
    """
    with running_server() as server:
        yield server


@pytest.fixture
def fresh_prefect_server() -> Iterator[RunningServer]:
    """A real Prefect server of the test's own (slower: about 15 s to start)."""
    with running_server() as server:
        yield server
