"""Click-side helpers shared by the commands that talk to a Prefect API."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ..prefect import server
from ..prefect.api import ApiClient
from ..prefect.settings import Settings, load_settings
from ..repo.environments import api_target
from ..repo.loader import load_project
from ..repo.project import Project

F = TypeVar("F", bound=Callable[..., Any])


def api_options(command: F) -> F:
    """Add ``--api-url`` and ``--profile`` (passed to the command as ``api_url``, ``profile``)."""
    command = click.option(
        "--profile",
        metavar="NAME",
        default=None,
        help="Prefect profile to use from profiles.toml (default: PREFECT_PROFILE, then the active one).",
    )(command)
    command = click.option(
        "--api-url",
        metavar="URL",
        default=None,
        help="Prefect API URL, e.g. http://127.0.0.1:4200/api (default: PREFECT_API_URL from the "
        "environment, .env, prefect.toml, pyproject.toml or the profile, as Prefect reads it; "
        "then the embedded local server).",
    )(command)
    return command


def resolve_settings(api_url: str | None, profile: str | None) -> Settings:
    """Settings as Prefect resolves them (environment, the working directory's .env,
    prefect.toml and pyproject.toml, the profile), plus the options; starts the embedded server
    if none is configured."""
    settings = load_settings(os.environ, api_url=api_url, profile=profile)
    if settings.api_url is not None:
        return settings
    folder = server.state_dir(os.environ)
    if not server.status(environ=os.environ).running:
        click.echo(
            "No Prefect API configured (PREFECT_API_URL in the environment, .env, prefect.toml "
            f"or pyproject.toml, a profile, or --api-url): starting the embedded Prefect server (state: {folder}); the first start takes about 15 s...",
            err=True,
        )
    url = server.ensure_running(environ=os.environ)
    click.echo(f"Using the embedded Prefect server at {url} (state: {folder})", err=True)
    return dataclasses.replace(settings, api_url=url, source="embedded")


def open_client(api_url: str | None, profile: str | None) -> ApiClient:
    """An ``ApiClient`` for the configured API, or for the embedded server when none is."""
    return ApiClient(resolve_settings(api_url, profile))


def environment_project(path: Path, environment: str | None) -> Project | None:
    """The project at `path` as `--env` sees it (an unknown environment is a ReconcilerError),
    or None when no environment is named and `path` does not exist."""
    if environment is None and not path.exists():
        return None
    project, _diags = load_project(path, environ=os.environ, environment=environment)
    return project


def environment_api(
    project: Project | None, api_url: str | None, profile: str | None
) -> tuple[str | None, str | None]:
    """`--api-url`/`--profile`, else the selected environment's server (environments.py)."""
    if project is None:
        return api_url, profile
    return api_target(project, api_url, profile)
