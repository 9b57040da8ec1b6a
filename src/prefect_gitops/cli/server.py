"""``prefect-gitops server start|stop|status``: the embedded local Prefect server."""

from __future__ import annotations

import os

import click

from ..prefect import server as embedded
from .group import cli


@cli.group("server")
def server_group() -> None:
    """The embedded local Prefect server (used when no Prefect API is configured)."""


@server_group.command("start")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Listen on this port of 127.0.0.1 (default: a free port).",
)
def start(port: int | None) -> int:
    """Start the embedded server in the background (or reuse the running one).

    It listens on 127.0.0.1 only.

    Exit status: 0 running, 1 it could not start (or runs on another port than --port),
    2 a usage error, 3 an internal crash (a bug).
    """
    before = embedded.status(environ=os.environ)
    url = embedded.ensure_running(environ=os.environ, port=port)
    verb = "Already running" if before.running and before.url == url else "Started"
    click.echo(f"{verb}: the embedded Prefect server at {url} (state: {before.state_dir})")
    return 0


@server_group.command("stop")
def stop() -> int:
    """Stop the embedded server."""
    folder = embedded.state_dir(os.environ)
    if embedded.stop(environ=os.environ):
        click.echo(f"Stopped the embedded Prefect server (state: {folder}).")
    else:
        click.echo(f"The embedded Prefect server is not running (state: {folder}).")
    return 0


@server_group.command("status")
def status() -> int:
    """Show whether the embedded server runs, and where."""
    info = embedded.status(environ=os.environ)
    if not info.running:
        click.echo(f"not running (state: {info.state_dir})")
    elif info.healthy:
        click.echo(f"running at {info.url} (pid {info.pid}, state: {info.state_dir})")
    else:
        click.echo(
            f"starting or unhealthy at {info.url} (pid {info.pid}, state: {info.state_dir}, "
            f"log: {info.log})"
        )
    return 0
