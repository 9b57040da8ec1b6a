"""Hand-built plans for the renderer tests (no server, no diff engine)."""

from __future__ import annotations

from typing import Any

from prefect_gitops.plans.build import Action, Plan, Reason, ResourceChange
from prefect_gitops.state.resources import FieldChange

PROCESS_TEMPLATE: dict[str, Any] = {
    "job_configuration": {
        "command": "{{ command }}",
        "env": "{{ env }}",
        "labels": "{{ labels }}",
        "name": "{{ name }}",
        "stream_output": "{{ stream_output }}",
        "working_dir": "{{ working_dir }}",
    },
    "variables": {
        "type": "object",
        "properties": {
            "command": {"type": "string", "title": "Command"},
            "env": {"type": "object", "title": "Environment Variables"},
            "image": {"type": "string", "title": "Image", "default": "python:3.11"},
            "stream_output": {"type": "boolean", "default": True},
            "working_dir": {"type": "string", "format": "path"},
        },
    },
}


def make_plan(*changes: ResourceChange, environment: str | None = None) -> Plan:
    return Plan(
        format_version="1",
        tool_version="0.1.0",
        created_at="2025-01-02T03:04:05+00:00",
        api_url="http://127.0.0.1:4200/api",
        environment=environment,
        live_fingerprint="sha256:live",
        desired_fingerprint="sha256:desired",
        prune=True,
        resource_changes=changes,
    )


def change(
    address: str,
    action: Action,
    *,
    before: Any = None,
    after: Any = None,
    fields: tuple[tuple[str, Any, Any, str], ...] = (),
    reason: Reason | None = None,
    drifted: bool = False,
    notes: tuple[str, ...] = (),
) -> ResourceChange:
    type_, _, name = address.partition(".")
    return ResourceChange(
        address=address,
        type=type_,
        name=name,
        action=action,
        before=before,
        after=after,
        changes=tuple(FieldChange(p, b, a, k) for p, b, a, k in fields),  # type: ignore[arg-type]
        reason=reason,
        drifted=drifted,
        notes=notes,
    )


def pool_update() -> ResourceChange:
    """A pool whose concurrency and image default changed, with a tag added."""
    before = {"name": "above-ground", "type": "process", "concurrency_limit": 4, "tags": []}
    before["base_job_template"] = PROCESS_TEMPLATE
    return change(
        "work_pool.above-ground",
        Action.UPDATE,
        before=before,
        after=before,
        fields=(
            (
                "base_job_template.variables.properties.image.default",
                "python:3.11",
                "python:3.12",
                "changed",
            ),
            (
                "base_job_template.job_configuration.stream_output",
                "{{ stream_output }}",
                None,
                "removed",
            ),
            ("concurrency_limit", 4, 8, "changed"),
        ),
        reason=Reason.CHANGED,
    )


def deployment_create() -> ResourceChange:
    return change(
        "deployment.etl/daily",
        Action.CREATE,
        after={
            "name": "daily",
            "flow_name": "etl",
            "entrypoint": "flows/etl.py:etl",
            "description": None,
            "tags": ["etl", "prod"],
            "parameters": {"day": 1},
            "job_variables": {"env": {"LOG_LEVEL": "INFO"}, "image": "repo/etl:1.2.3"},
            "schedules": [
                {
                    "slug": "daily",
                    "active": True,
                    "schedule": {"cron": "0 9 * * *", "timezone": "UTC"},
                }
            ],
        },
        reason=Reason.NEW,
    )


def deployment_delete() -> ResourceChange:
    return change(
        "deployment.etl/old",
        Action.DELETE,
        before={"name": "old", "flow_name": "etl", "entrypoint": "flows/etl.py:etl", "tags": []},
        reason=Reason.NOT_IN_CONFIG,
    )


def pool_replace() -> ResourceChange:
    return change(
        "work_pool.gpu",
        Action.REPLACE,
        before={"name": "gpu", "type": "process"},
        after={"name": "gpu", "type": "docker"},
        fields=(("type", "process", "docker", "changed"),),
        reason=Reason.IMMUTABLE_FIELD,
        notes=("replacing detaches 3 deployments",),
    )


def queue_drift() -> ResourceChange:
    spec = {"pool": "above-ground", "name": "critical", "priority": 1}
    return change(
        "work_queue.above-ground/critical",
        Action.UPDATE,
        before={**spec, "priority": 3},
        after=spec,
        fields=(("priority", 3, 1, "changed"),),
        reason=Reason.CHANGED,
        drifted=True,
    )


def flow_noop() -> ResourceChange:
    return change("flow.etl", Action.NOOP, before={"name": "etl"}, after={"name": "etl"})


INJECTED = "x\n::add-mask::leak\r\n::error title=pwned::owned\x1b[2J\u2028"


def injected_update() -> ResourceChange:
    """A pull request's YAML keys and values carrying workflow commands and escapes."""
    env = {"LOG_LEVEL": "INFO", f"K{INJECTED}": f"v{INJECTED}"}
    return change(
        f"deployment.etl/daily{INJECTED}",
        Action.UPDATE,
        before={"job_variables": {"env": {"LOG_LEVEL": "INFO"}}},
        after={"job_variables": {"env": env}},
        fields=((f"job_variables.env.K{INJECTED}", None, f"v{INJECTED}", "added"),),
        reason=Reason.CHANGED,
        notes=(f"note{INJECTED}",),
    )


def command_lines(text: str) -> list[str]:
    """The lines a CI log would read as workflow commands (GitHub trims leading spaces)."""
    return [line for line in text.splitlines() if line.lstrip().startswith("::")]
