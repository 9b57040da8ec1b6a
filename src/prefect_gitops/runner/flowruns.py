"""Flow-run reads and state proposals over REST, as a worker makes them."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from ..prefect.api import ApiClient, ApiError

FINAL_TYPES = frozenset({"COMPLETED", "FAILED", "CANCELLED", "CRASHED"})

# prefect/_internal/infrastructure_exit_codes.py (3.9.1): explanation, then what to do.
EXIT_HINTS: dict[int, tuple[str, str]] = {
    -9: (
        "Process exited due to a SIGKILL signal. Typically caused by the operating system "
        "terminating the process for exceeding memory limits, or by manual cancellation.",
        "Check whether the flow run exceeded its memory allocation.",
    ),
    -15: (
        "Process exited due to a SIGTERM signal. Typically caused by graceful shutdown or "
        "manual cancellation.",
        "If this was caused by cancellation, no action is needed.",
    ),
    1: (
        "Process exited with a general error.",
        "Check the flow run logs for an unhandled exception or assertion error.",
    ),
    126: (
        "Command found but not executable (permission denied).",
        "Check file permissions on the entrypoint script or binary.",
    ),
    127: (
        "Command not found.",
        "Verify that the command in the `command` job variable is installed and on PATH.",
    ),
    137: (
        "Process was killed, likely due to an out-of-memory (OOM) condition.",
        "Increase the memory available to the flow run.",
    ),
    143: ("Process received SIGTERM.", "If this was caused by cancellation, no action is needed."),
    247: (
        "Process was terminated due to high memory usage.",
        "Increase the memory available to the flow run.",
    ),
}


def crash_message(exit_code: int) -> str:
    """Prefect's message for a non-zero exit without a final state, plus the hint."""
    explanation, resolution = EXIT_HINTS.get(
        exit_code,
        (
            "Process exited with an unexpected status code.",
            "Check the flow run logs and infrastructure logs for more details.",
        ),
    )
    return f"Process exited with status code: {exit_code}. {explanation} {resolution}"


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def state_type(flow_run: dict[str, Any]) -> str | None:
    state = flow_run.get("state") or {}
    value = state.get("type") or flow_run.get("state_type")
    return str(value) if value else None


def read_flow_run(client: ApiClient, flow_run_id: str) -> dict[str, Any] | None:
    result = client.get(f"/flow_runs/{flow_run_id}", allow=(404,))
    return result if isinstance(result, dict) else None


def propose_state(
    client: ApiClient,
    flow_run_id: str,
    type_: str,
    *,
    name: str | None = None,
    message: str | None = None,
    force: bool = False,
) -> str:
    """Propose a state; returns the orchestration status (ACCEPT, REJECT, ABORT, WAIT)."""
    body = {
        "state": {"type": type_, "name": name, "message": message, "state_details": {}},
        "force": force,
    }
    try:
        result = client.post(f"/flow_runs/{flow_run_id}/set_state", json=body)
    except ApiError as exc:
        if exc.status == 404:
            return "ABORT"
        raise
    status = result.get("status") if isinstance(result, dict) else None
    return str(status or "ABORT")
