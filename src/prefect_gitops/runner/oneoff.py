"""One flow run of a deployment (`prefect-gitops run`): create it, then run it here as the
runner would, or follow it until it is final. Prints nothing: the state lines and notes go to
`log`, a run's own output to `output`."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ReconcilerError
from ..prefect.api import ApiClient
from ..prefect.settings import Settings
from .flowruns import FINAL_TYPES, read_flow_run, state_type
from .poll import Log, Runner, RunnerOptions


@dataclass(frozen=True)
class RunRequest:
    """A run of the deployment named `FLOW/DEPLOYMENT`, with these parameters and job
    variable overrides."""

    deployment: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    job_variables: Mapping[str, Any] = field(default_factory=dict)


def find_deployment(client: ApiClient, name: str) -> dict[str, Any]:
    flow_name, _, deployment_name = name.partition("/")
    found = client.get(f"/deployments/name/{flow_name}/{deployment_name}", allow=(404,))
    if not isinstance(found, dict):
        raise ReconcilerError(
            f"deployment {name!r} not found on {client.shown_base_url}",
            hint="apply your prefect.yaml first (`prefect-gitops apply`), or check the flow and deployment names",
        )
    return found


def create_flow_run(client: ApiClient, request: RunRequest) -> dict[str, Any]:
    """The flow run created (as the server returns it); job variables only when given."""
    found = find_deployment(client, request.deployment)
    body: dict[str, Any] = {"parameters": dict(request.parameters)}
    if request.job_variables:
        body["job_variables"] = dict(request.job_variables)
    created: dict[str, Any] = client.post(f"/deployments/{found['id']}/create_flow_run", json=body)
    return created


def watch(
    client: ApiClient, flow_run_id: str, timeout: float, log: Log, interval: float = 1.0
) -> str:
    """Follow a run until it is final (bounded by ``timeout``); its final state type. Each
    new state goes to `log`."""
    deadline = time.monotonic() + timeout
    last: str | None = None
    while True:
        flow_run = read_flow_run(client, flow_run_id)
        if flow_run is None:
            raise ReconcilerError(f"flow run {flow_run_id} was deleted")
        state = flow_run.get("state") or {}
        shown = f"{state.get('type')}/{state.get('name')}"
        if shown != last:
            log(f"  state: {shown}" + (f" - {state['message']}" if state.get("message") else ""))
            last = shown
        current = state_type(flow_run)
        if current in FINAL_TYPES:
            return current
        if time.monotonic() >= deadline:
            raise ReconcilerError(
                f"flow run {flow_run_id} is still {shown} after {timeout:g}s",
                hint="is a worker or `prefect-gitops runner start` polling its work pool? try `prefect-gitops doctor`",
            )
        time.sleep(interval)


def final_state(
    client: ApiClient,
    settings: Settings,
    flow_run: Mapping[str, Any],
    *,
    local: bool,
    timeout: float,
    environ: Mapping[str, str],
    log: Log,
    output: Log,
) -> str:
    """The run's final state type: with `local`, claimed and run here (followed instead when
    another worker claimed it first); else followed for up to `timeout` seconds."""
    final: str | None = None
    if local:
        options = RunnerOptions(
            pool=str(flow_run.get("work_pool_name") or ""),
            fork_server=False,
            name=f"prefect-gitops-run-{os.getpid()}",
        )
        runner = Runner(client, settings, options, environ=environ, log=log, output=output)
        final = runner.execute_flow_run(dict(flow_run))
        if final is None:
            log("Another worker claimed the run first; following it instead.")
    if final is None:
        return watch(client, str(flow_run["id"]), timeout, log)
    return state_type(read_flow_run(client, str(flow_run["id"])) or {}) or final
