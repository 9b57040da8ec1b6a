"""Typed models of the files a repository holds.

Our own formats (work-pool files, the root config) are strict: an unknown key is an error.
`prefect.yaml` is Prefect's format, read as `prefect deploy` 3.9 reads it: the models
allow extra keys so that the structural rules can warn about them instead of dropping them.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

# -- our formats -----------------------------------------------------------------------------

_FORBID = ConfigDict(extra="forbid", populate_by_name=True)
# The server keeps limits and priorities in 64-bit integer columns: a larger value is a 500.
DB_INT_MAX = 2**63 - 1
# The server refuses these in names; a control character is refused before that by Prefect's
# client (httpx will not put a non-printable ASCII character into a URL, and every by-name
# read, which `prefect deploy` starts with, puts the name in one).
BANNED_NAME_CHARS = "/%&><"


def banned_name_chars(name: str) -> list[str]:
    """The characters of `name` that Prefect refuses, sorted, control characters escaped."""
    bad = {c for c in name if c in BANNED_NAME_CHARS or (c.isascii() and not c.isprintable())}
    return [c if c.isprintable() else repr(c)[1:-1] for c in sorted(bad)]


def _check_name(value: str) -> str:
    if not value.strip(" \t\n'\""):
        raise ValueError("must not be empty")
    bad = banned_name_chars(value)
    if bad:
        raise ValueError(f"must not contain {' '.join(bad)} (the Prefect server rejects them)")
    return value


class QueueSpec(BaseModel):
    """A work queue inside a pool."""

    model_config = _FORBID

    name: str = Field(description="Queue name, unique within the pool.")
    priority: int | None = Field(
        default=None,
        ge=1,
        le=DB_INT_MAX,
        description="1 is the highest priority; unique within the pool.",
    )
    concurrency_limit: int | None = Field(
        default=None,
        ge=0,
        le=DB_INT_MAX,
        description="Maximum PENDING+RUNNING runs from this queue.",
    )
    description: str | None = None
    paused: bool = False

    _name = field_validator("name")(_check_name)


class PoolFile(BaseModel):
    """A work pool, e.g. `work-pools/<name>.yaml`."""

    model_config = _FORBID

    name: str = Field(description="Pool name. Names starting with 'prefect' are reserved.")
    type: str = Field(description="Worker type: process, docker, kubernetes, ecs, ...")
    description: str | None = None
    concurrency_limit: int | None = Field(default=None, ge=0, le=DB_INT_MAX)
    paused: bool = False
    base_job_template: dict[str, Any] | str | None = Field(
        default=None,
        description=(
            "Inline template, or a path (relative to this file) to a JSON/YAML file. "
            "Omitted: the type's default template."
        ),
    )
    queues: list[QueueSpec] = Field(default_factory=list)

    _name = field_validator("name")(_check_name)


# The server's `check_variable_value` serializes values with orjson: integers outside
# [-2**63, 2**64 - 1] are refused (422), as are values longer than this once serialized.
_MIN_INT, _MAX_INT = -(2**63), 2**64 - 1
MAX_VARIABLE_VALUE_CHARS = 5000


def variable_value_problem(value: Any) -> str | None:
    """Why the server refuses this variable value, or None."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, bool) or item is None or isinstance(item, str):
            continue
        if isinstance(item, int) and not _MIN_INT <= item <= _MAX_INT:
            return f"the integer {item} does not fit in 64 bits (the server refuses it)"
        if isinstance(item, float) and not math.isfinite(item):
            return f"{item} is not a JSON number"
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode())
    if size > MAX_VARIABLE_VALUE_CHARS:
        return (
            f"the value is {size} bytes as JSON; the server's limit is {MAX_VARIABLE_VALUE_CHARS}"
        )
    return None


class VariableSpec(BaseModel):
    """A Prefect variable managed by the project."""

    model_config = _FORBID

    name: str = Field(pattern=r"^[a-z0-9_]+$", max_length=255)
    value: Any = None
    tags: list[str] = Field(default_factory=list)

    @field_validator("value")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        problem = variable_value_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value


class ConcurrencyLimitSpec(BaseModel):
    """A global concurrency limit managed by the project."""

    model_config = _FORBID

    name: str
    limit: int = Field(ge=0, le=DB_INT_MAX)
    active: bool = True
    slot_decay_per_second: float = Field(default=0.0, ge=0)

    _name = field_validator("name")(_check_name)


class IgnoreRule(BaseModel):
    """Fields that `plan` leaves alone because people legitimately change them in the UI."""

    model_config = _FORBID

    resource: str = Field(
        default="*", description="Address glob, e.g. 'deployment/*' or 'work_pool/prod-*'."
    )
    fields: list[str] = Field(description="Field paths, e.g. 'paused' or 'schedules.*.active'.")


class DeploymentOverride(BaseModel):
    """Per-deployment overrides of one environment (merged over the prefect.yaml values)."""

    model_config = _FORBID

    job_variables: dict[str, Any] = Field(default_factory=dict)
    parameters: dict[str, Any] = Field(default_factory=dict)


class EnvironmentSpec(BaseModel):
    """One target of the project (dev, staging, prod): its server and its overrides."""

    model_config = _FORBID

    api_url: str | None = Field(default=None, description="Prefect API URL of this environment.")
    profile: str | None = Field(default=None, description="Prefect profile of this environment.")
    work_pools: dict[str, Annotated[str, AfterValidator(_check_name)]] = Field(
        default_factory=dict, description="Pool names as the repo writes them -> names here."
    )
    job_variables: dict[str, Any] = Field(
        default_factory=dict, description="Merged into every deployment's job variables."
    )
    deployments: dict[str, DeploymentOverride] = Field(
        default_factory=dict, description="Overrides per deployment name (globs allowed)."
    )
    schedules: bool = Field(default=True, description="false: every schedule is inactive.")
    name_suffix: str = Field(default="", description="Appended to every deployment's name.")


class RootConfig(BaseModel):
    """`prefect-gitops.yaml`: what makes up the project. Every key is optional."""

    model_config = _FORBID

    project: str | None = Field(
        default=None,
        description="Project name, recorded on the server to mark what this repo owns.",
    )
    prefect_files: list[str] = Field(
        default_factory=lambda: ["prefect.yaml"],
        description="prefect.yaml files (globs, relative to the config) that make up the project.",
    )
    work_pools: list[str] = Field(
        default_factory=lambda: ["work-pools/*.yaml", "work-pools/*.yml"],
        description="Globs of work-pool files, relative to the config.",
    )
    variables: list[VariableSpec] = Field(default_factory=list)
    concurrency_limits: list[ConcurrencyLimitSpec] = Field(default_factory=list)
    pool_types: dict[str, str] = Field(
        default_factory=dict,
        description="Types of pools used by deployments but not declared in the repo.",
    )
    strict: bool = False
    prune: bool = False
    allow_empty: bool = False
    ignore: list[IgnoreRule] = Field(default_factory=list)
    mask_keys: list[str] = Field(
        default_factory=list, description="Extra key names whose values are masked in output."
    )
    environments: dict[str, EnvironmentSpec] = Field(
        default_factory=dict, description="Targets selected with `--env NAME`."
    )


# -- prefect.yaml (Prefect's format, read leniently like prefect deploy) ---------------------

_ALLOW = ConfigDict(extra="allow", populate_by_name=True)
Steps = list[dict[str, Any]] | dict[str, Any] | None


class WorkPoolRef(BaseModel):
    model_config = _ALLOW

    name: str | None = None
    work_queue_name: str | None = None
    # Not optional: Prefect's WorkPoolConfig refuses `job_variables: null` (the whole file)
    job_variables: dict[str, Any] = Field(default_factory=dict)


class ConcurrencyLimitConfig(BaseModel):
    model_config = _ALLOW

    limit: int | None = None
    collision_strategy: str | None = None
    grace_period_seconds: int | None = None


class ScheduleConfig(BaseModel):
    model_config = _ALLOW

    cron: str | None = None
    interval: float | timedelta | str | None = None
    rrule: str | None = None
    timezone: str | None = None
    anchor_date: datetime | date | str | None = None
    day_or: bool | str | None = None
    active: bool | str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    slug: str | None = None
    replaces: str | None = None
    max_scheduled_runs: int | None = None
    # full `DeploymentScheduleCreate` shape: {schedule: {...}, active, ...}
    schedule: dict[str, Any] | None = None


class DeploymentConfig(BaseModel):
    model_config = _ALLOW

    name: str | None = None
    version: str | None = None
    version_type: str | None = None
    # Not optional: `tags: null` gets past Prefect's schema, then RunnerDeployment iterates it
    # (TypeError: 'NoneType' object is not iterable) and `prefect deploy` fails.
    tags: list[Any] | str = Field(default_factory=list)
    description: str | None = None
    schedule: ScheduleConfig | None = None
    schedules: list[ScheduleConfig] | None = None
    paused: bool | None = None
    concurrency_limit: int | ConcurrencyLimitConfig | None = None
    flow_name: str | None = None
    entrypoint: str | None = None
    # Not optional: Prefect's DeploymentConfig refuses `parameters: null` (the whole file)
    parameters: dict[str, Any] = Field(default_factory=dict)
    enforce_parameter_schema: bool | None = None
    build: Steps = None
    push: Steps = None
    pull: Steps = None
    work_pool: WorkPoolRef | None = None
    triggers: list[dict[str, Any]] | None = None
    sla: list[dict[str, Any]] | None = None


class PrefectYaml(BaseModel):
    """The top level of `prefect.yaml`, minus `deployments` (each is validated on its own)."""

    model_config = _ALLOW

    prefect_version: str | None = Field(default=None, alias="prefect-version")
    name: str | None = None
    build: Steps = None
    push: Steps = None
    pull: Steps = None
    definitions: Any = None
    deployments: Any = None


KNOWN_DEPLOYMENT_KEYS = frozenset(DeploymentConfig.model_fields)
KNOWN_TOP_LEVEL_KEYS = frozenset(
    {"prefect-version", "name", "build", "push", "pull", "deployments", "definitions"}
)
KNOWN_WORK_POOL_KEYS = frozenset(WorkPoolRef.model_fields)
KNOWN_SCHEDULE_KEYS = frozenset(ScheduleConfig.model_fields)
KNOWN_CONCURRENCY_KEYS = frozenset(ConcurrencyLimitConfig.model_fields)

CollisionStrategy = Literal["ENQUEUE", "CANCEL_NEW"]
