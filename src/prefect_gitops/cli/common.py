"""Click-side helpers shared by the commands that talk to a Prefect API. Light on purpose:
`runner start` imports this and nothing of the validate/plan stack."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..prefect.api import ApiClient
from ..prefect.settings import Settings
from ..prefect.target import Target, settings_for

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


def echo_err(line: str) -> None:
    """The pipeline's notes and warnings: on stderr, so stdout stays the command's output."""
    click.echo(line, err=True)


def resolve_settings(api_url: str | None, profile: str | None) -> Settings:
    """Settings for `--api-url`/`--profile` as Prefect resolves them, starting the embedded
    server if no API is configured (prefect.target.settings_for)."""
    return settings_for(Target(api_url, profile), os.environ, notify=echo_err)


def open_client(api_url: str | None, profile: str | None) -> ApiClient:
    """An ``ApiClient`` for the configured API, or for the embedded server when none is."""
    return ApiClient(resolve_settings(api_url, profile))
