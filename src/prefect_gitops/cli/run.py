"""`prefect-gitops run FLOW/DEPLOYMENT`: create a flow run, then watch it or run it here."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import click

from ..errors import ReconcilerError
from ..prefect.api import ApiClient
from ..runner.oneoff import RunRequest, create_flow_run, final_state
from .common import api_options, echo_err, resolve_settings
from .group import cli
from .options import Seconds, env_option
from .project import environment_api, environment_project


class _NotFinite(ValueError):
    """A JSON number with no JSON value (`1e999`, `NaN`, `Infinity`): the request cannot carry it."""


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(f"{text} is out of range for a JSON number")
    return value


def _no_constant(name: str) -> Any:
    raise _NotFinite(f"{name} is not a JSON number")


def _loads(text: str) -> Any:
    """JSON without the numbers a request cannot carry; ValueError when not JSON at all."""
    try:
        return json.loads(text, parse_float=_finite, parse_constant=_no_constant)
    except _NotFinite:
        json.loads(text)  # the hooks run while scanning: `NaNa` is simply not JSON
        raise
    except RecursionError:
        raise ValueError("nested too deeply") from None


def parse_assignments(pairs: tuple[str, ...], what: str) -> dict[str, Any]:
    """``key=value`` pairs; a value that parses as JSON is used as such (like `prefect deployment run`)."""
    result: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint=what)
        try:
            result[key] = _loads(raw)
        except _NotFinite as exc:
            raise ReconcilerError(f"{what} {pair!r}: {exc}", hint=_FINITE_HINT) from None
        except ValueError:
            result[key] = raw
    return result


def parse_params_json(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        value = _loads(text)
    except _NotFinite as exc:
        raise ReconcilerError(f"--params: {exc}", hint=_FINITE_HINT) from None
    except ValueError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint="--params") from None
    if not isinstance(value, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--params")
    return value


_FINITE_HINT = "use a finite number, or quote it to pass a string"


def _flow_slash_deployment(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    # A usage error before anything is contacted: `run local` names no deployment.
    flow_name, sep, deployment_name = value.partition("/")
    if not sep or not flow_name or not deployment_name:
        raise click.BadParameter(
            f"{value!r} is not FLOW_NAME/DEPLOYMENT_NAME (e.g. prefect-gitops run hello/daily)"
        )
    return value


@cli.command("run")
@click.argument("deployment", metavar="FLOW/DEPLOYMENT", callback=_flow_slash_deployment)
@click.option(
    "--param",
    "param_pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="A parameter (repeatable; JSON values allowed).",
)
@click.option(
    "--params", "params_json", metavar="JSON", help="Parameters as a JSON object (--param wins)."
)
@click.option(
    "--job-variable",
    "job_variable_pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="A job variable override (repeatable).",
)
@click.option(
    "--watch",
    "watch_run",
    is_flag=True,
    help="Follow the run until it is final; exit 0 only if it Completed.",
)
@click.option(
    "--local",
    is_flag=True,
    help="Execute the run here, like the runner would; exit 0 only if it Completed.",
)
@click.option(
    "--timeout",
    type=Seconds(min=1),
    default=3600.0,
    show_default=True,
    help="Give up watching after this many seconds.",
)
@env_option
@api_options
def run_command(
    deployment: str,
    param_pairs: tuple[str, ...],
    params_json: str | None,
    job_variable_pairs: tuple[str, ...],
    watch_run: bool,
    local: bool,
    timeout: float,
    environment: str | None,
    api_url: str | None,
    profile: str | None,
) -> int:
    """Create a flow run of a deployment (a CI smoke test with --local).

    FLOW/DEPLOYMENT is the deployment's name on the server. --env NAME runs it on that
    environment's server (the root config of the current folder names it).

    Exit status: 0 created (with --watch or --local: the run Completed), 1 the run did not
    complete or bad input, 2 a usage error, 3 an internal crash (a bug).
    """
    parameters = {**parse_params_json(params_json), **parse_assignments(param_pairs, "--param")}
    job_variables = parse_assignments(job_variable_pairs, "--job-variable")
    project = environment_project(Path("."), environment) if environment else None
    settings = resolve_settings(*environment_api(project, api_url, profile))
    with ApiClient(settings) as client:
        flow_run = create_flow_run(client, RunRequest(deployment, parameters, job_variables))
        click.echo(
            f"Created flow run {flow_run['name']!r} ({flow_run['id']}) of {deployment}", err=True
        )
        if not (watch_run or local):
            return 0
        final = final_state(client, settings, flow_run, local=local, timeout=timeout,
                            environ=os.environ, log=echo_err, output=click.echo)  # fmt: skip
        click.echo(f"Flow run {flow_run['name']!r} finished: {final}", err=True)
        return 0 if final == "COMPLETED" else 1
