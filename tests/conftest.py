from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

from tests.prefect_server import BACKENDS, RunningServer, running_server

# CI (`.ci/run` sets HYPOTHESIS_PROFILE=ci) replays the same examples on every run, so a red CI
# is never a coin toss; at a desk the default profile explores new ones each time (keep the
# failures found as @example).
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked `both_backends` run once per database backend of the Prefect server."""
    if "backend" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
        "both_backends"
    ):
        metafunc.parametrize("backend", BACKENDS, indirect=True, scope="session")


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> str:
    """The Prefect server's database: "sqlite" unless the test is marked `both_backends`."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture(scope="session")
def prefect_server(backend: str) -> Iterator[RunningServer]:
    """One real Prefect server per backend for the whole session (127.0.0.1, temporary
    PREFECT_HOME). Tests sharing it must use unique names for what they create."""
    with running_server(backend) as server:
        yield server


@pytest.fixture
def fresh_prefect_server(backend: str) -> Iterator[RunningServer]:
    """A real Prefect server of the test's own (slower: about 15 s to start)."""
    with running_server(backend) as server:
        yield server
