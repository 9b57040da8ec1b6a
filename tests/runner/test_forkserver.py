"""The lazily started fork server, without a Prefect server."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from prefect_gitops.runner.forkserver import LazyForkServer
from prefect_gitops.runner.process import LaunchError, LaunchSpec

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork server is Linux-only"),
]


def test_a_fork_server_that_fails_is_not_restarted_for_every_run(tmp_path: Path) -> None:
    # `false` exits at once, like a fork server that cannot import Prefect.
    lazy = LazyForkServer(dict(os.environ), "false", idle_seconds=300)
    spec = LaunchSpec("id", None, dict(os.environ), tmp_path, 1)
    try:
        with pytest.raises(LaunchError, match="fork server exited"):
            lazy.launch(spec)
        started = time.monotonic()
        with pytest.raises(LaunchError, match="failed recently"):
            lazy.launch(spec)
        assert time.monotonic() - started < 1.0
    finally:
        lazy.close()
