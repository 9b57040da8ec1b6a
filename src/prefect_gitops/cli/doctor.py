"""`prefect-gitops doctor`: is the API reachable, and why would runs of each pool stay pending."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import click

from ..prefect.api import ApiClient
from ..runner.doctor import api_error, diagnose_pool, pools_to_check
from .common import api_options, resolve_settings
from .group import cli
from .options import env_option
from .project import environment_api, environment_project


@cli.command("doctor")
@click.argument("path", type=click.Path(path_type=Path), default=Path("."), required=False)
@click.option(
    "--pool",
    "-p",
    "pools",
    multiple=True,
    help="Check these pools (default: the pools PATH declares, else every pool).",
)
@env_option
@api_options
def doctor(
    path: Path,
    pools: tuple[str, ...],
    environment: str | None,
    api_url: str | None,
    profile: str | None,
) -> int:
    """Diagnose "pending forever": one verdict per work pool, with a fix for each problem.

    PATH is the repository (default: the current folder); with --env its environment's server
    and pool names are checked.

    Exit status: 0 every check passed, 1 a check failed or bad
    input, 2 a usage error, 3 an internal crash (a bug).
    """
    project = environment_project(path, environment)
    settings = resolve_settings(*environment_api(project, api_url, profile))
    with ApiClient(settings) as client:
        error = api_error(client)
        if error is not None:
            click.echo(f"FAIL API {client.shown_base_url}: unreachable ({error.detail})")
            if error.hint:
                click.echo(f"  fix: {error.hint}")
            return 1
        click.echo(f"OK   API {client.shown_base_url} is reachable (source: {settings.source})")
        declared = [e.name for e in project.pools if e.name] if project is not None else []
        names = pools_to_check(client, pools, declared)
        if not names:
            click.echo("no work pools to check")
            return 0
        now = datetime.now(timezone.utc)
        failed = False
        for name in names:
            report = diagnose_pool(client, name, now)
            click.echo(report.line())
            failed = failed or not report.ok
        return 1 if failed else 0
