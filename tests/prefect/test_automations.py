"""Deployment triggers -> automation bodies: parity with Prefect 3.9.1's own models, and the
live shape. Prefect is installed in the dev venv, so its `as_automation()` is the oracle."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest
from prefect.events import DeploymentTriggerTypes
from pydantic import TypeAdapter

from prefect_gitops.prefect.automations import (
    TriggerError,
    build_automation,
    default_name,
    live_spec,
    normalize_trigger,
    owning_deployment_id,
    request_body,
)
from prefect_gitops.state.resources import canonical_json

PREFECT: TypeAdapter[Any] = TypeAdapter(DeploymentTriggerTypes)
DEPLOYMENT_ID = "5b7a7c1e-7d0c-4b1e-9f4e-0c6a2f1f7a11"

SPECS: list[dict[str, Any]] = [
    {},
    {
        "enabled": True,
        "match": {"prefect.resource.id": "prefect.flow-run.*"},
        "match_related": {"prefect.resource.name": "hello", "prefect.resource.role": "flow"},
        "expect": ["prefect.flow-run.Completed", "prefect.flow-run.Failed"],
        "parameters": {"name": "{{ event.name }}"},
    },
    {"posture": "Proactive", "expect": ["x"]},  # within defaults to 10 s
    {"posture": "Proactive", "expect": ["x"], "within": 60, "for_each": ["a", "b"], "after": ["y"]},
    {"expect": ["e"], "enabled": "false", "threshold": "3", "within": "PT2M"},
    {"schedule_after": "PT30S", "job_variables": {"env": {"A": "1"}}, "description": "d"},
    {"match_related": [{"prefect.resource.role": "flow"}, {"x": ["a", "b"]}], "unknown": 1},
    {"type": "compound", "require": "any", "triggers": [{"expect": ["a"]}, {"expect": ["b"]}]},
    {"require": 2, "triggers": [{"expect": ["a"]}, {"posture": "Proactive", "expect": ["b"]}]},
    {"triggers": [{"expect": ["a"]}, {"expect": ["b"]}], "within": "PT1M"},  # a sequence
    {"type": "metric", "metric": {"name": "lateness", "threshold": 10, "operator": ">"}},
    {"posture": "Metric", "metric": {"name": "duration", "threshold": 1, "operator": "<="}},
    {"name": "named", "parameters": None},
]


def prefect_body(spec: dict[str, Any], index: int) -> dict[str, Any]:
    """What `prefect deploy` POSTs for this trigger (`_initialize_deployment_triggers`)."""
    data = copy.deepcopy(spec)
    data.setdefault("name", default_name("dep", index))
    trigger = PREFECT.validate_python(data)
    trigger.set_deployment_id(uuid.UUID(DEPLOYMENT_ID))
    body: dict[str, Any] = trigger.as_automation().model_dump(mode="json")
    body["trigger"] = normalize_trigger(body["trigger"])  # sets are sent in set order
    return body


@pytest.mark.parametrize("index", range(1, len(SPECS) + 1))
def test_body_equals_prefects(index: int) -> None:
    spec = SPECS[index - 1]
    ours = build_automation(
        copy.deepcopy(spec), deployment="f/dep", default=default_name("dep", index)
    )
    assert ours["actions"][0]["deployment"] == "f/dep"
    body = request_body(ours, DEPLOYMENT_ID, owner=True)
    assert canonical_json(body) == canonical_json(prefect_body(spec, index))
    assert body["owner_resource"] == f"prefect.deployment.{DEPLOYMENT_ID}"
    assert "owner_resource" not in request_body(ours, DEPLOYMENT_ID, owner=False)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"posture": "Proactive", "within": 5}, "greater than or equal to 10 seconds"),
        ({"require": 3, "triggers": [{}]}, "require must be less than or equal"),
        ({"schedule_after": -1}, "must be non-negative"),
        ({"threshold": "x"}, "threshold"),
        ({"expect": "not-a-list"}, "expect"),
        ({"type": "metric", "metric": {"name": "x", "threshold": 1, "operator": ">", "range": 10}},
         "minimum range is 300"),
        ({"type": "nope"}, "nope"),
        ({"name": ""}, "`name` is empty"),
        ("not a mapping", "mapping"),
    ],
)  # fmt: skip
def test_what_prefect_rejects_is_an_error(spec: Any, message: str) -> None:
    with pytest.raises(TriggerError, match=message):
        build_automation(spec, deployment="f/d", default="d__automation_1")
    if isinstance(spec, dict) and spec.get("name") != "":
        with pytest.raises(ValueError):
            PREFECT.validate_python({"name": "n", **spec})


def server_object(body: dict[str, Any]) -> dict[str, Any]:
    """An automation as `POST /automations/filter` returns it (observed shape)."""
    obj = {k: v for k, v in body.items() if k != "owner_resource"}
    obj.update(id=str(uuid.uuid4()), created="2026-01-01T00:00:00Z", updated="2026-01-01T00:00:00Z")
    trigger = dict(obj["trigger"], id=str(uuid.uuid4()))
    if "triggers" in trigger:
        trigger["triggers"] = [dict(t, id=str(uuid.uuid4())) for t in trigger["triggers"]]
    if "expect" in trigger:
        trigger["expect"] = list(reversed(trigger["expect"]))
    obj["trigger"] = trigger
    return obj


@pytest.mark.parametrize("index", range(1, len(SPECS) + 1))
def test_live_shape_equals_desired(index: int) -> None:
    ours = build_automation(
        copy.deepcopy(SPECS[index - 1]), deployment="f/dep", default=default_name("dep", index)
    )
    obj = server_object(request_body(ours, DEPLOYMENT_ID, owner=True))
    assert owning_deployment_id(obj) == DEPLOYMENT_ID
    assert canonical_json(live_spec(obj, "f/dep")) == canonical_json(ours)


def test_only_the_deploy_shape_belongs_to_a_deployment() -> None:
    ours = build_automation({}, deployment="f/d", default="d__automation_1")
    base = server_object(request_body(ours, DEPLOYMENT_ID, owner=True))
    action = base["actions"][0]
    assert owning_deployment_id(base) == DEPLOYMENT_ID
    assert owning_deployment_id({**base, "actions": [action, {"type": "do-nothing"}]}) is None
    assert owning_deployment_id({**base, "actions_on_trigger": [{"type": "do-nothing"}]}) is None
    inferred = {**action, "source": "inferred", "deployment_id": None}
    assert owning_deployment_id({**base, "actions": [inferred]}) is None
    assert owning_deployment_id({**base, "actions": [{"type": "pause-deployment"}]}) is None
