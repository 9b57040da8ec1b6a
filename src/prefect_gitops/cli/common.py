"""Click-side helpers shared by the commands that talk to a Prefect API."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ..pipeline.checked import check
from ..pipeline.planned import Target, settings_for
from ..pipeline.source import Source
from ..prefect.api import ApiClient
from ..prefect.settings import Settings
from ..render.diagnostics import RENDERERS
from ..repo.environments import api_target
from ..repo.loader import load_project
from ..repo.project import Project
from .options import use_color

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
    server if no API is configured (pipeline.planned.settings_for)."""
    return settings_for(Target(api_url, profile), os.environ, notify=echo_err)


def checked_project(
    source: Source, *, action: str, output_format: str = "text", runs_steps: bool = False
) -> Project | None:
    """The repository loaded and checked (as `source.environment` sees it); on errors print
    them (also as the JSON document on stdout with `--format json`) and return None."""
    checked = check(source, runs_steps=runs_steps)
    if checked.ok:
        return checked.project
    diags, summary = checked.diagnostics, checked.summary
    text = RENDERERS["text"](diags, use_color=use_color(sys.stderr), summary=summary, verbose=False)
    click.echo(text, err=True)
    click.echo(f"Error: the repository has errors; nothing was {action}.", err=True)
    if output_format == "json":
        click.echo(RENDERERS["json"](diags, use_color=False, summary=summary))
    return None


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
