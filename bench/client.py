"""What the benchmarks share about the CLIs they time."""

from __future__ import annotations

import os
from pathlib import Path


def client_env(url: str, home: Path) -> dict[str, str]:
    """The environment of a timed CLI: only `url` and `home` of Prefect's settings (none
    inherited from the caller), no analytics, no colour."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_API_URL=url,
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        NO_COLOR="1",
    )
    return env
