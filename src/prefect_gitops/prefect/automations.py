"""Deployment `triggers:` as the automations `prefect deploy` 3.9.1 writes, and the server's
automations read back in the same shape.

Prefect's trigger models (`prefect.events.schemas.deployment_triggers` and `.automations`) are
mirrored with pydantic, since we do not import Prefect: the same defaults (a nameless trigger is
`<deployment>__automation_<n>`, `enabled: true`, `posture: Reactive`, a Proactive `within` of at
least 10 s, metric `range`/`firing_for` of 300 s, ...), the same coercions, extra keys ignored,
durations as float seconds. A trigger becomes `AutomationCore(name, description, enabled, tags=[],
trigger, actions=[run-deployment], actions_on_trigger=[], actions_on_resolve=[], owner_resource=
prefect.deployment.<id>)`.

The compared shape (a resource `spec`) is that body without `owner_resource` and with the
action's `deployment_id` replaced by `deployment: <flow>/<deployment>`: ids are only known live,
so `apply` fills them in (`request_body`). Set-valued trigger fields (`after`, `expect`,
`for_each`) are sorted (Prefect sends them in set order) and the server's trigger ids dropped.

A live automation belongs to a deployment when it has exactly the shape `prefect deploy` gives
it: one `run-deployment` action on that deployment (`source: selected`) and no other actions.
The server does not expose an automation's owner (only `DELETE /automations/owned-by/...` uses
it), so this shape is how `plan` recognises them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

RUN_DEPLOYMENT = "run-deployment"
OWNER_PREFIX = "prefect.deployment."
_SET_FIELDS = ("after", "expect", "for_each")
_CONFIG = ConfigDict(extra="ignore", ser_json_timedelta="float")


class TriggerError(ValueError):
    """A trigger Prefect would reject; the message is one line, `key` the trigger's key at
    fault when one is."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


def _non_negative(value: timedelta) -> timedelta:
    if value.total_seconds() < 0:
        raise ValueError("schedule_after must be non-negative")
    return value


ResourceSpec = dict[str, str | list[str]]
NonNegativeDuration = Annotated[timedelta, AfterValidator(_non_negative)]
_DURATION: TypeAdapter[timedelta] = TypeAdapter(timedelta)


class _Trigger(BaseModel):
    model_config = _CONFIG


class EventTrigger(_Trigger):
    type: Literal["event"] = "event"
    match: ResourceSpec = Field(default_factory=dict)
    match_related: ResourceSpec | list[ResourceSpec] = Field(default_factory=dict)
    after: set[str] = Field(default_factory=set)
    expect: set[str] = Field(default_factory=set)
    for_each: set[str] = Field(default_factory=set)
    posture: Literal["Reactive", "Proactive"] = "Reactive"
    threshold: int = 1
    within: timedelta = Field(default=timedelta(0), ge=timedelta(0))

    @model_validator(mode="before")
    @classmethod
    def _proactive_within(cls, data: Any) -> Any:
        # `EventTrigger.enforce_minimum_within_for_proactive_triggers`
        if not isinstance(data, dict):
            return data
        if "within" in data and data["within"] is None:
            raise ValueError("`within` should be a valid timedelta")
        within = data.get("within")
        if within is not None and not isinstance(within, timedelta):
            try:
                within = _DURATION.validate_python(within)
            except ValidationError:
                return data
        if data.get("posture") == "Proactive":
            if not within:
                within = timedelta(seconds=10.0)
            elif within < timedelta(seconds=10.0):
                raise ValueError(
                    "`within` for Proactive triggers must be greater than or equal to 10 seconds"
                )
        if within:
            data = {**data, "within": within}
        return data


class MetricQuery(BaseModel):
    model_config = _CONFIG

    name: str
    threshold: float
    operator: Literal["<", "<=", ">", ">="]
    range: timedelta = timedelta(seconds=300)
    firing_for: timedelta = timedelta(seconds=300)

    @field_validator("range", "firing_for")
    @classmethod
    def _minimum(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=300):
            raise ValueError("The minimum range is 300 seconds (5 minutes)")
        return value


class MetricTrigger(_Trigger):
    type: Literal["metric"] = "metric"
    match: ResourceSpec = Field(default_factory=dict)
    match_related: ResourceSpec | list[ResourceSpec] = Field(default_factory=dict)
    posture: Literal["Metric"] = "Metric"
    metric: MetricQuery


class CompoundTrigger(_Trigger):
    type: Literal["compound"] = "compound"
    triggers: list[TriggerTypes]
    within: timedelta | None = None
    require: int | Literal["any", "all"]

    @model_validator(mode="after")
    def _require(self) -> CompoundTrigger:
        if isinstance(self.require, int):
            if self.require < 1:
                raise ValueError("require must be at least 1")
            if self.require > len(self.triggers):
                raise ValueError("require must be less than or equal to the number of triggers")
        return self


class SequenceTrigger(_Trigger):
    type: Literal["sequence"] = "sequence"
    triggers: list[TriggerTypes]
    within: timedelta | None = None


def _nested_kind(value: Any) -> str:
    """`trigger_discriminator` (nested triggers)."""
    if isinstance(value, dict):
        if "type" in value:
            return str(value["type"])
        if "triggers" in value:
            return "compound" if "require" in value else "sequence"
        if value.get("posture") == "Metric":
            return "metric"
        return "event"
    return str(getattr(value, "type", "event"))


def _top_kind(value: Any) -> str:
    """`deployment_trigger_discriminator` (a trigger under `triggers:`)."""
    if isinstance(value, dict):
        if "type" in value:
            return str(value["type"])
        if value.get("posture") == "Metric":
            return "metric"
        if "triggers" in value:
            return "compound" if "require" in value else "sequence"
        return "event"
    return str(getattr(value, "type", "event"))


_UNION = (
    Annotated[EventTrigger, Tag("event")]
    | Annotated[MetricTrigger, Tag("metric")]
    | Annotated[CompoundTrigger, Tag("compound")]
    | Annotated[SequenceTrigger, Tag("sequence")]
)
TriggerTypes = Annotated[_UNION, Discriminator(_nested_kind)]
CompoundTrigger.model_rebuild()
SequenceTrigger.model_rebuild()
_TOP: TypeAdapter[Any] = TypeAdapter(Annotated[_UNION, Discriminator(_top_kind)])


class _DeploymentFields(BaseModel):
    """`BaseDeploymentTrigger`: the automation's and the run-deployment action's fields."""

    model_config = _CONFIG

    name: str | None = None
    description: str = ""
    enabled: bool = True
    parameters: dict[str, Any] | None = None
    job_variables: dict[str, Any] | None = None
    schedule_after: NonNegativeDuration = Field(default_factory=lambda: timedelta(0))


def default_name(deployment_name: str, index: int) -> str:
    """`_initialize_deployment_triggers`: the name of the `index`-th (from 1) nameless trigger."""
    return f"{deployment_name}__automation_{index}"


def build_automation(spec: Any, *, deployment: str, default: str) -> dict[str, Any]:
    """One templated trigger from `triggers:` -> the compared automation spec.

    `deployment` is `<flow>/<deployment>`, `default` the name Prefect gives a nameless trigger.
    Raises `TriggerError` where Prefect's models would refuse the trigger.
    """
    if not isinstance(spec, dict):
        raise TriggerError("a trigger must be a mapping")
    data = {**spec}
    data.setdefault("name", default)
    try:
        fields = _DeploymentFields.model_validate(data)
        trigger = _TOP.validate_python(data)
    except ValidationError as exc:
        raise TriggerError(_one_line(exc), key=_first_key(exc, data)) from None
    if not fields.name:
        # `as_automation` would name it after the deployment's id, which changes per server.
        raise TriggerError(
            "`name` is empty: give the trigger a name or leave `name` out", key="name"
        )
    dumped = fields.model_dump(mode="json")
    return {
        "name": fields.name,
        "description": fields.description,
        "enabled": fields.enabled,
        "tags": [],
        "trigger": normalize_trigger(_TOP.dump_python(trigger, mode="json")),
        "actions": [
            {
                "type": RUN_DEPLOYMENT,
                "source": "selected",
                "deployment": deployment,
                "parameters": dumped["parameters"],
                "job_variables": dumped["job_variables"],
                "schedule_after": dumped["schedule_after"],
            }
        ],
        "actions_on_trigger": [],
        "actions_on_resolve": [],
    }


def normalize_trigger(trigger: Any) -> Any:
    """Server trigger ids dropped, set-valued fields sorted, nested triggers too."""
    if not isinstance(trigger, Mapping):
        return trigger
    out = {k: v for k, v in trigger.items() if k != "id"}
    for key in _SET_FIELDS:
        if isinstance(out.get(key), list):
            out[key] = sorted(out[key], key=str)
    if isinstance(out.get("triggers"), list):
        out["triggers"] = [normalize_trigger(t) for t in out["triggers"]]
    return out


def owning_deployment_id(obj: Mapping[str, Any]) -> str | None:
    """The deployment id of an automation shaped like a deployment trigger, else None."""
    actions = obj.get("actions")
    if obj.get("actions_on_trigger") or obj.get("actions_on_resolve"):
        return None
    if not isinstance(actions, list) or len(actions) != 1 or not isinstance(actions[0], Mapping):
        return None
    action = actions[0]
    if action.get("type") != RUN_DEPLOYMENT or action.get("source", "selected") != "selected":
        return None
    deployment_id = action.get("deployment_id")
    return str(deployment_id) if deployment_id else None


def live_spec(obj: Mapping[str, Any], deployment: str) -> dict[str, Any]:
    """A server automation (owned by `deployment`, `<flow>/<name>`) in the compared shape."""
    action = dict(obj["actions"][0])
    action.pop("deployment_id", None)
    return {
        "name": obj.get("name"),
        "description": obj.get("description") or "",
        "enabled": bool(obj.get("enabled", True)),
        "tags": sorted(obj.get("tags") or []),
        "trigger": normalize_trigger(obj.get("trigger")),
        "actions": [
            {
                "type": RUN_DEPLOYMENT,
                "source": "selected",
                "deployment": deployment,
                "parameters": action.get("parameters"),
                "job_variables": action.get("job_variables"),
                "schedule_after": action.get("schedule_after", 0.0),
            }
        ],
        "actions_on_trigger": [],
        "actions_on_resolve": [],
    }


def request_body(spec: Mapping[str, Any], deployment_id: str, *, owner: bool) -> dict[str, Any]:
    """The `POST /automations/` body (`owner`) or the `PUT /automations/{id}` body (the update
    schema forbids `owner_resource`; the server keeps the owner recorded at creation)."""
    body = {k: v for k, v in spec.items()}
    actions = []
    for action in spec.get("actions") or []:
        sent = {k: v for k, v in action.items() if k != "deployment"}
        if action.get("type") == RUN_DEPLOYMENT and action.get("source") == "selected":
            sent["deployment_id"] = deployment_id
        actions.append(sent)
    body["actions"] = actions
    if owner:
        body["owner_resource"] = OWNER_PREFIX + deployment_id
    return body


def _first_key(exc: ValidationError, data: Mapping[str, Any]) -> str | None:
    for error in exc.errors(include_url=False):
        for part in error.get("loc", ()):
            if isinstance(part, str) and part in data:
                return part
    return None


def _one_line(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in error.get("loc", ()) if not str(p).startswith("function-"))
        msg = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts[:3]) + (f" (and {len(parts) - 3} more)" if len(parts) > 3 else "")
