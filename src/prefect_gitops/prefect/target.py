"""Which Prefect API to talk to: `--api-url`/`--profile`, else what Prefect itself would use,
else the embedded local server, started on demand. Kept apart from the pipeline so that the
runner resolves its API without importing the validate/plan stack."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from . import server
from .settings import Settings, load_settings


@dataclass(frozen=True)
class Target:
    """The Prefect API to use: `--api-url`/`--profile`, else the environment's, else the
    configured one (as Prefect resolves it), else the embedded local server."""

    api_url: str | None = None
    profile: str | None = None


def _silent(_line: str) -> None:
    pass


def settings_for(
    target: Target, environ: Mapping[str, str], notify: Callable[[str], None] = _silent
) -> Settings:
    """Settings as Prefect resolves them (environment, the working directory's .env,
    prefect.toml and pyproject.toml, the profile), plus the options; starts the embedded
    server if none is configured."""
    settings = load_settings(environ, api_url=target.api_url, profile=target.profile)
    if settings.api_url is not None:
        return settings
    folder = server.state_dir(environ)
    if not server.status(environ=environ).running:
        notify(
            "No Prefect API configured (PREFECT_API_URL in the environment, .env, prefect.toml "
            "or pyproject.toml, a profile, or --api-url): starting the embedded Prefect server "
            f"(state: {folder}); the first start takes about 15 s..."
        )
    url = server.ensure_running(environ=environ)
    notify(f"Using the embedded Prefect server at {url} (state: {folder})")
    return dataclasses.replace(settings, api_url=url, source="embedded")
