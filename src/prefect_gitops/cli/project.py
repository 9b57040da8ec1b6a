"""Click-side helpers for the commands that read the repository: the checked project with its
errors printed, and the project and API an `--env` selects."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ..pipeline.checked import check
from ..pipeline.source import Source
from ..render.diagnostics import RENDERERS
from ..repo.environments import api_target
from ..repo.loader import load_project
from ..repo.project import Project
from .options import use_color


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
