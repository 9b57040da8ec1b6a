"""`prefect-gitops runner start`: execute the flow runs of a process work pool locally."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ..errors import ReconcilerError
from ..prefect.api import ApiClient
from ..prefect.settings import Settings
from ..runner.health import HealthServer
from ..runner.poll import Runner, RunnerOptions
from .common import api_options, resolve_settings
from .group import cli
from .options import Seconds, with_no_color


@cli.group("runner")
def runner_group() -> None:
    """The local process runner (a lightweight `prefect worker start --type process`)."""


@runner_group.command("start")
@click.option("--pool", "-p", required=True, help="The work pool to execute flow runs of.")
@click.option(
    "--work-queue",
    "-q",
    "queues",
    multiple=True,
    help="Only these queues (repeatable; default: all).",
)
@click.option("--name", "-n", default=None, help="Worker name (default: a unique name).")
@click.option(
    "--limit", "-l", type=click.IntRange(min=1), default=None, help="Maximum concurrent flow runs."
)
@click.option(
    "--prefetch-seconds",
    type=Seconds(min=0),
    default=10.0,
    show_default=True,
    envvar="PREFECT_WORKER_PREFETCH_SECONDS",
    show_envvar=True,
    help="Claim runs scheduled up to this many seconds ahead.",
)
@click.option(
    "--query-seconds",
    type=Seconds(min=0.05),
    default=10.0,
    show_default=True,
    envvar="PREFECT_WORKER_QUERY_SECONDS",
    show_envvar=True,
    help="Poll interval.",
)
@click.option(
    "--heartbeat-seconds",
    type=Seconds(min=1),
    default=30.0,
    show_default=True,
    envvar="PREFECT_WORKER_HEARTBEAT_SECONDS",
    show_envvar=True,
    help="Heartbeat interval.",
)
@click.option("--run-once", is_flag=True, help="Poll once, wait for the runs started, then exit.")
@click.option(
    "--with-healthcheck",
    is_flag=True,
    help="Serve GET /health: 200 while polling, 503 once no poll succeeded for 30 poll intervals.",
)
@click.option(
    "--healthcheck-host",
    default="127.0.0.1",
    show_default=True,
    envvar="PREFECT_WORKER_WEBSERVER_HOST",
    show_envvar=True,
    help="Address the health check listens on (with --with-healthcheck).",
)
@click.option(
    "--healthcheck-port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    envvar="PREFECT_WORKER_WEBSERVER_PORT",
    show_envvar=True,
    help="Port of the health check (with --with-healthcheck; 0: a free port, printed at start).",
)
@click.option(
    "--cancel-check-seconds",
    type=Seconds(min=0.1),
    default=5.0,
    show_default=True,
    help="How often to look for runs moved to CANCELLING.",
)
@click.option(
    "--kill-grace-seconds",
    type=Seconds(min=0),
    default=30.0,
    show_default=True,
    help="After asking a run to stop, SIGKILL it this much later.",
)
@click.option(
    "--shutdown-grace-seconds",
    type=Seconds(min=0),
    default=30.0,
    show_default=True,
    help="On SIGTERM/SIGINT, let running flow runs finish for this long, then cancel them.",
)
@click.option(
    "--fork-server/--no-fork-server",
    default=True,
    show_default=True,
    help="Start runs by forking a process that imported Prefect once (fast start).",
)
@click.option(
    "--fork-server-idle-seconds",
    type=Seconds(min=0),
    default=60.0,
    show_default=True,
    help="Stop the fork server (and free its memory) after this long without runs; "
    "it starts again with the next run.",
)
@click.option(
    "--log-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where output goes for runs with stream_output false.",
)
@api_options
def start(
    pool: str,
    queues: tuple[str, ...],
    name: str | None,
    limit: int | None,
    prefetch_seconds: float,
    query_seconds: float,
    heartbeat_seconds: float,
    run_once: bool,
    with_healthcheck: bool,
    healthcheck_host: str,
    healthcheck_port: int,
    cancel_check_seconds: float,
    kill_grace_seconds: float,
    shutdown_grace_seconds: float,
    fork_server: bool,
    fork_server_idle_seconds: float,
    log_dir: Path | None,
    api_url: str | None,
    profile: str | None,
) -> int:
    """Poll a process work pool and run its flow runs as local child processes."""
    if sys.argv[1:3] == ["runner", "start"] and __name__ != "__main__":
        _exec_lean()
    options = RunnerOptions(
        pool=pool, queues=queues, limit=limit, prefetch_seconds=prefetch_seconds,
        query_seconds=query_seconds, heartbeat_seconds=heartbeat_seconds, run_once=run_once,
        cancel_check_seconds=cancel_check_seconds, kill_grace_seconds=kill_grace_seconds,
        shutdown_grace_seconds=shutdown_grace_seconds, fork_server=fork_server,
        fork_server_idle_seconds=fork_server_idle_seconds, log_dir=log_dir,
        python=sys.executable, **({"name": name} if name else {}),
    )  # fmt: skip
    health_address = (healthcheck_host, healthcheck_port) if with_healthcheck else None
    _serve(resolve_settings(api_url, profile), options, health_address)
    return 0


def _serve(
    settings: Settings, options: RunnerOptions, health_address: tuple[str, int] | None
) -> None:
    with ApiClient(settings) as client:
        runner = Runner(
            client,
            settings,
            options,
            environ=os.environ,
            log=lambda msg: click.echo(msg, err=True),
            output=click.echo,
        )
        health: HealthServer | None = None
        if health_address is not None:
            health = HealthServer(*health_address, runner.is_healthy)
            health.start()
            click.echo(f"health check at {health.address}", err=True)
        try:
            _poll(runner, options)
        finally:
            if health is not None:
                health.close()


def _poll(runner: Runner, options: RunnerOptions) -> None:
    runner.install_signal_handlers()
    runner.start()
    queues_text = ", ".join(options.queues) if options.queues else "all queues"
    click.echo(
        f"runner {options.name!r} polling work pool {options.pool!r} ({queues_text}) every "
        f"{options.query_seconds:g}s" + (f", limit {options.limit}" if options.limit else ""),
        err=True,
    )
    runner.run()


def _exec_lean() -> None:
    """Replace this process with one that imports only what the runner needs.

    The full CLI loads every command (pydantic models, jsonschema, ...): about 20 MiB that a
    long-lived runner would carry for nothing. Same PID, same arguments, same environment.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "prefect_gitops.cli.runner", *sys.argv[2:]])


def _lean_main(argv: list[str]) -> int:
    # The error boundary of `cli.main`, without importing the other commands.
    try:
        result = with_no_color(runner_group).main(
            args=argv, prog_name="prefect-gitops runner", standalone_mode=False
        )
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return 2
    except ReconcilerError as exc:
        click.echo(f"Error: {exc.message}", err=True)
        if exc.hint:
            click.echo(f"  hint: {exc.hint}", err=True)
        return 1
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return 130
    except Exception as exc:
        click.echo(
            f"prefect-gitops crashed: {type(exc).__name__}: {exc}\n"
            "This is a bug in prefect-gitops; please report it.",
            err=True,
        )
        return 3
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(_lean_main(sys.argv[1:]))
