"""The flow-run child: pull steps, then Prefect's engine, in one process.

Runs only in a child process (or a fork of the fork server), never in the runner. It does
what Prefect 3.9.1's ``prefect.runner._workspace_supervisor`` does (prepare the workspace:
read the deployment, run its pull steps, choose the working directory, the environment and
``sys.path``) and then, instead of exec'ing a second interpreter that imports Prefect again,
runs ``python -m prefect.engine`` in this one with ``runpy``. When Prefect would launch the
flow through ``uv run`` (``PREFECT_RUNNER_AUTO_INSTALL_DEPENDENCIES``), it execs exactly that.

Cancellation: the runner sends SIGUSR1 first. The handler records Prefect's "cancel" intent
(what Prefect's runner sends over its control channel) and then SIGTERMs this process, so the
engine moves the run to CANCELLED itself instead of reporting a crash.

Usage: ``python -m prefect_gitops.runner.child FLOW_RUN_ID WORKSPACE_ROOT``.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import Any
from uuid import UUID

from .reaper import become_subreaper, kill_leftovers

# Keys the runner owns: they survive whatever the workspace environment says
# (`_RUNNER_OWNED_ENV_KEYS` in prefect/runner/_workspace_supervisor.py).
RUNNER_OWNED_KEYS = frozenset(
    {
        "PATH",
        "PREFECT_RUNNER_AUTO_INSTALL_DEPENDENCIES",
        "PREFECT__WORKER_ID",
        "PREFECT__WORKER_NAME",
        "PREFECT__FLOW_ID",
        "PREFECT__FLOW_NAME",
        "PREFECT__FLOW_RUN_ID",
        "PREFECT__ENABLE_CANCELLATION_AND_CRASHED_HOOKS",
        "PREFECT__DEPLOYMENT_ID",
        "PREFECT__DEPLOYMENT_NAME",
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY",
    }
)


def runner_owns(key: str) -> bool:
    return key in RUNNER_OWNED_KEYS or key.startswith("PREFECT_API_")


def preload() -> None:
    """Import what a flow run needs (the fork server calls this once)."""
    import prefect.deployments.steps
    import prefect.engine
    import prefect.flow_engine
    import prefect.runner._workspace_resolver
    import prefect.runner._workspace_starter  # noqa: F401


def _request_cancel(_signum: int, _frame: FrameType | None) -> None:
    try:
        from prefect._internal import control_listener

        control_listener._set_intent("cancel")
    except Exception:
        pass
    os.kill(os.getpid(), signal.SIGTERM)


def settings_changed(before: Mapping[str, str], after: Mapping[str, str]) -> bool:
    """Whether Prefect settings (``PREFECT_*``, not the ``PREFECT__*`` run markers) differ."""
    keys = {
        k for k in (*before, *after) if k.startswith("PREFECT_") and not k.startswith("PREFECT__")
    }
    return any(before.get(k) != after.get(k) for k in keys)


def execute(flow_run_id: str, workspace_root: Path, *, refresh_settings: bool = False) -> int:
    """Prepare the workspace and run the flow run; returns the process exit code.

    ``refresh_settings``: Prefect was imported (by the fork server) under another environment
    whose Prefect settings differ from this run's, so re-read them (costly: skipped if equal).
    """
    signal.signal(signal.SIGUSR1, _request_cancel)
    import anyio
    from prefect.context import refresh_global_settings_context
    from prefect.logging.configuration import setup_logging

    if refresh_settings:
        refresh_global_settings_context()
        setup_logging()

    from prefect.logging.handlers import APILogHandler
    from prefect.runner._workspace_resolver import prepare_workspace_for_flow_run
    from prefect.runner._workspace_starter import (
        _workspace_command,
        workspace_environment,
    )
    from prefect.utilities.processutils import command_from_string, sanitize_subprocess_env

    runner_env = {k: v for k, v in os.environ.items() if runner_owns(k)}
    workspace = anyio.run(prepare_workspace_for_flow_run, UUID(flow_run_id), workspace_root)
    environment: dict[str, str] = sanitize_subprocess_env(workspace_environment(workspace))
    for key in environment.keys() | runner_env.keys():
        if runner_owns(key):
            if key in runner_env:
                environment[key] = runner_env[key]
            else:
                environment.pop(key, None)
    environment["PREFECT__FLOW_RUN_ID"] = flow_run_id
    command = _workspace_command(workspace, None, environment=environment)
    environment["PREFECT__FLOW_ENTRYPOINT"] = workspace.runtime_entrypoint
    anyio.run(APILogHandler.aflush)

    os.chdir(workspace.working_directory)
    if command is not None:
        argv = command_from_string(command)
        os.execvpe(argv[0], argv, environment)

    refresh = settings_changed(os.environ, environment)
    os.environ.clear()
    os.environ.update(environment)
    for entry in reversed(environment.get("PYTHONPATH", "").split(os.pathsep)):
        if entry and entry not in sys.path:
            sys.path.insert(0, entry)
    if refresh:
        refresh_global_settings_context()
    sys.argv = [sys.argv[0]]
    try:
        with warnings.catch_warnings():
            # runpy warns that prefect.engine is already imported (by `preload`): intended.
            warnings.filterwarnings("ignore", category=RuntimeWarning, module="runpy")
            runpy.run_module("prefect.engine", run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        return _exit_code(exc.code)
    return 0


def execute_and_sweep(
    flow_run_id: str, workspace_root: Path, *, refresh_settings: bool = False
) -> int:
    """``execute`` as a subreaper, then kill whatever the flow run left running.

    As a subreaper this process adopts the orphans of a double fork (daemons that left the
    session), so they stay findable; an ``exec`` (``uv run``) keeps that, and the fork server
    or the runner then sweep after it.
    """
    become_subreaper()
    try:
        return execute(flow_run_id, workspace_root, refresh_settings=refresh_settings)
    finally:
        kill_leftovers(os.getpid(), flow_run_id=flow_run_id, adopted_by=os.getpid())


def _exit_code(code: Any) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(
            "usage: python -m prefect_gitops.runner.child FLOW_RUN_ID WORKSPACE_ROOT",
            file=sys.stderr,
        )
        return 2
    return execute_and_sweep(args[0], Path(args[1]))


if __name__ == "__main__":
    raise SystemExit(main())
