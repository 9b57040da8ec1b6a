"""The shapes of the Prefect API answers we read, checked once at the API boundary.

`api.ApiClient.request` validates each successful body against `shape_for(method, path)`, so
live/export/apply/doctor may index the fields below without guarding against a server (or a
proxy) that answers `[null]`, `{}` or a string where an object was due. Models are strict (no
"5" for 5) and allow extra fields: only what we use is checked. Callers keep the raw JSON.
"""

from __future__ import annotations

import functools
import re
from typing import Annotated, Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field

_Strict = ConfigDict(extra="allow", strict=True, defer_build=True)
_Limit = Annotated[int, Field(ge=0, strict=True)] | None


class _Object(BaseModel):
    model_config = _Strict
    id: str | None = None


class _Named(_Object):
    name: str


class Created(BaseModel):
    """What a create returns: we keep its id."""

    model_config = _Strict
    id: str = Field(min_length=1)


class JobTemplate(BaseModel):
    model_config = _Strict
    job_configuration: dict[str, Any] | None = None
    variables: dict[str, Any] | None = None


class WorkPool(_Named):
    type: str | None = None
    description: str | None = None
    base_job_template: JobTemplate | None = None
    is_paused: bool | None = None
    concurrency_limit: _Limit = None
    default_queue_id: str | None = None


class WorkQueue(_Named):
    work_pool_name: str | None = None
    description: str | None = None
    is_paused: bool | None = None
    concurrency_limit: _Limit = None
    priority: int | None = None


class Worker(BaseModel):
    model_config = _Strict
    name: str
    status: str | None = None


class Flow(_Named):
    id: str = Field(min_length=1)


class ScheduleBody(BaseModel):
    model_config = _Strict
    cron: str | None = None
    interval: float | None = None
    rrule: str | None = None
    timezone: str | None = None
    anchor_date: str | None = None
    day_or: bool | None = None


class Schedule(_Object):
    schedule: ScheduleBody
    active: bool | None = None
    parameters: dict[str, Any] | None = None
    slug: str | None = None
    max_scheduled_runs: _Limit = None


class ConcurrencyLimit(_Named):
    limit: _Limit = None
    active: bool | None = None
    slot_decay_per_second: float | None = None


class _DeploymentLimit(BaseModel):
    model_config = _Strict
    limit: _Limit = None


class Deployment(_Named):
    id: str = Field(min_length=1)
    flow_id: str
    entrypoint: str | None = None
    path: str | None = None
    description: str | None = None
    version: str | None = None
    tags: list[str] | None = None
    labels: dict[str, Any] | None = None
    parameters: dict[str, Any] | None = None
    parameter_openapi_schema: dict[str, Any] | None = None
    enforce_parameter_schema: bool | None = None
    job_variables: dict[str, Any] | None = None
    work_pool_name: str | None = None
    work_queue_name: str | None = None
    work_queue_id: str | None = None
    paused: bool | None = None
    concurrency_limit: _Limit = None
    global_concurrency_limit: _DeploymentLimit | None = None
    concurrency_options: dict[str, Any] | None = None
    pull_steps: list[dict[str, Any]] | None = None
    schedules: list[Schedule] | None = None


class Variable(_Named):
    value: Any = None
    tags: list[str] | None = None


class Automation(_Named):
    description: str | None = None
    enabled: bool | None = None
    tags: list[str] | None = None
    trigger: dict[str, Any] | None = None
    actions: list[dict[str, Any]] | None = None
    actions_on_trigger: list[Any] | None = None
    actions_on_resolve: list[Any] | None = None


class FlowRun(_Object):
    name: str | None = None
    flow_id: str | None = None
    deployment_id: str | None = None
    work_pool_name: str | None = None
    work_queue_name: str | None = None
    state: dict[str, Any] | None = None


class CreatedFlowRun(FlowRun):
    id: str = Field(min_length=1)
    name: str


_Count = Annotated[int, Field(ge=0, strict=True)]
_ID = r"[^/]+"

# (method, path pattern) -> the shape of a successful answer. Paths as `ApiClient` gets them,
# without the leading slash, the trailing slash or the query string.
_SHAPES: list[tuple[str, str, Any]] = [
    ("POST", r"work_pools/filter", list[WorkPool]),
    ("POST", r"work_pools", Created),
    ("GET", rf"work_pools/{_ID}", WorkPool),
    ("POST", rf"work_pools/{_ID}/queues/filter", list[WorkQueue]),
    ("POST", rf"work_pools/{_ID}/workers/filter", list[Worker]),
    ("POST", r"work_queues/filter", list[WorkQueue]),
    ("POST", r"flows/filter", list[Flow]),
    ("POST", r"flows", Flow),  # an upsert: apply reads its id
    ("GET", rf"flows/{_ID}", Flow),
    ("POST", r"deployments/filter", list[Deployment]),
    ("POST", r"deployments/count", _Count),
    ("POST", r"deployments", Created),
    ("GET", rf"deployments/name/{_ID}/{_ID}", Deployment),
    ("GET", rf"deployments/{_ID}", Deployment),
    ("POST", rf"deployments/{_ID}/create_flow_run", CreatedFlowRun),
    ("POST", r"variables/filter", list[Variable]),
    ("POST", r"variables", Created),
    ("GET", rf"variables/name/{_ID}", Variable),
    ("POST", r"v2/concurrency_limits/filter", list[ConcurrencyLimit]),
    ("POST", r"v2/concurrency_limits", Created),
    ("GET", rf"v2/concurrency_limits/{_ID}", ConcurrencyLimit),
    ("POST", r"automations/filter", list[Automation]),
    ("POST", r"automations", Created),
    ("POST", r"flow_runs/filter", list[FlowRun]),
    ("POST", r"flow_runs/count", _Count),
    ("GET", rf"flow_runs/{_ID}", FlowRun),
]
_PATTERNS = [(method, re.compile(pattern)) for method, pattern, _ in _SHAPES]


@functools.cache
def _adapter(index: int) -> pydantic.TypeAdapter[Any]:
    # Built on first use, not at import: one command reads only a few of these shapes.
    return pydantic.TypeAdapter(_SHAPES[index][2])


class ShapeError(ValueError):
    """A successful answer that is not shaped like the Prefect API's."""


def check_shape(method: str, path: str, body: Any) -> None:
    """Raise `ShapeError` (one line) when `body` is not what `method path` answers."""
    bare = path.split("?", 1)[0].strip("/")
    for index, (expected_method, pattern) in enumerate(_PATTERNS):
        if expected_method == method and pattern.fullmatch(bare):
            try:
                _adapter(index).validate_python(body)
            except pydantic.ValidationError as exc:
                raise ShapeError(_summary(exc, body)) from None
            return


def _summary(exc: pydantic.ValidationError, body: Any) -> str:
    parts = []
    for error in exc.errors()[:3]:
        loc = ".".join(str(p) for p in error["loc"]) or "(the body)"
        parts.append(f"{loc}: {error['msg']}")
    more = exc.error_count() - 3
    if more > 0:
        parts.append(f"(+{more} more)")
    got = "nothing" if body is None else type(body).__name__
    return f"unexpected answer ({got}): " + "; ".join(parts)
