"""`prefect-gitops doctor`: is the API reachable, and why would runs of each pool stay pending."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import click

from ..api import ApiClient, ApiError
from ..loader import load_project
from ..runner.doctor import diagnose_pool
from . import cli
from .common import api_options, resolve_settings


def _declared_pools(path: Path) -> list[str]:
    if not path.exists():
        return []
    project, _diags = load_project(path)
    return [entry.name for entry in project.pools if entry.name]


@cli.command("doctor")
@click.argument("path", type=click.Path(path_type=Path), default=Path("."), required=False)
@click.option(
    "--pool",
    "-p",
    "pools",
    multiple=True,
    help="Check these pools (default: the pools PATH declares, else every pool).",
)
@api_options
def doctor(path: Path, pools: tuple[str, ...], api_url: str | None, profile: str | None) -> int:
    """Diagnose "pending forever": one verdict per work pool, with a fix for each problem."""
    settings = resolve_settings(api_url, profile)
    with ApiClient(settings) as client:
        try:
            client.get("/health")
        except ApiError as exc:
            click.echo(f"FAIL API {client.shown_base_url}: unreachable ({exc.detail})")
            if exc.hint:
                click.echo(f"  fix: {exc.hint}")
            return 1
        click.echo(f"OK   API {client.shown_base_url} is reachable (source: {settings.source})")
        names = list(pools) or _declared_pools(path)
        if not names:
            found = client.paginate("/work_pools/filter")
            names = [
                p["name"] for p in found if not str(p.get("type", "")).startswith("prefect-agent")
            ]
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
