"""No renderer ever shows a secret: masked keys, equal values elsewhere, the API key."""

from __future__ import annotations

import dataclasses
import json

import pytest

from prefect_gitops.plans.build import Action, Plan, Reason
from prefect_gitops.render.masking import MASK
from prefect_gitops.render.plan import PLAN_RENDERERS
from tests.render.factories import change, flow_noop, make_plan

API_KEY = "pnu_0123456789abcdefghijklmnopqrstuvwxyz"
SECRETS = [
    "hunter2-old",
    "hunter2-new",
    "ghp_tokenvalue123",
    "k8s-db-pass",
    "aws-secret-access",
    "postgres://u:pw@db/x",
    "env-token-value",
    "short",
    "default-password-1",
]


def secret_plan() -> Plan:
    variable = change(
        "variable.db_password",
        Action.UPDATE,
        before={"name": "db_password", "value": "hunter2-old", "tags": []},
        after={"name": "db_password", "value": "hunter2-new", "tags": []},
        fields=(("value", "hunter2-old", "hunter2-new", "changed"),),
        reason=Reason.CHANGED,
        drifted=True,
        notes=("the old value hunter2-old was set in the UI",),
    )
    deployment = change(
        "deployment.etl/daily",
        Action.CREATE,
        after={
            "name": "daily",
            "description": "connects with short and ghp_tokenvalue123",
            "parameters": {
                "password_hint": "x",
                "echo": "env-token-value",
                "dsn": "postgres://u:pw@db/x",
            },
            "job_variables": {
                "env": {"API_TOKEN": "env-token-value", "LOG_LEVEL": "INFO"},
                "credentials": {"aws_secret_access_key": "aws-secret-access", "region": "eu"},
                "containers": [{"env": [{"name": "DB_PASSWORD", "value": "k8s-db-pass"}]}],
                "note": f"calls the API with {API_KEY}",
            },
            "pull_steps": [
                {
                    "prefect.deployments.steps.git_clone": {
                        "repository": "r",
                        "access_token": "ghp_tokenvalue123",
                    }
                }
            ],
        },
        reason=Reason.NEW,
    )
    pool = change(
        "work_pool.above-ground",
        Action.REPLACE,
        before={"type": "process", "api_key_env": "short"},
        after={"type": "docker", "api_key_env": "short"},
        fields=(
            ("type", "process", "docker", "changed"),
            (
                "base_job_template.variables.properties.password",
                None,
                {"type": "string", "default": "default-password-1"},
                "added",
            ),
            ("base_job_template.job_configuration.env.SHORT", None, "short", "added"),
        ),
        reason=Reason.IMMUTABLE_FIELD,
    )
    plan = make_plan(variable, deployment, pool, flow_noop(), environment="prod")
    return dataclasses.replace(plan, api_url="https://me:short@prefect.example/api")


@pytest.mark.parametrize("use_color", [False, True])
@pytest.mark.parametrize("name", sorted(PLAN_RENDERERS))
def test_no_renderer_shows_a_secret(name: str, use_color: bool) -> None:
    output = PLAN_RENDERERS[name](
        secret_plan(), use_color=use_color, mask_keys=["dsn"], mask_values=[API_KEY]
    )
    leaked = [s for s in [*SECRETS, API_KEY] if s in output]
    assert leaked == []
    assert "LOG_LEVEL" in output or name == "github"


@pytest.mark.parametrize("name", ["text", "json", "markdown"])
def test_masked_values_are_shown_as_masked(name: str) -> None:
    output = PLAN_RENDERERS[name](secret_plan(), mask_keys=["dsn"], mask_values=[API_KEY])
    assert MASK in output


def test_registry_names() -> None:
    assert sorted(PLAN_RENDERERS) == ["github", "json", "markdown", "text"]


def test_json_hides_the_plain_fingerprints_of_states_holding_a_secret() -> None:
    """A plain SHA-256 of the state would let anyone test guesses of a short secret."""
    doc = json.loads(PLAN_RENDERERS["json"](secret_plan(), mask_values=[API_KEY]))
    assert doc["desired_fingerprint"] == MASK and doc["live_fingerprint"] == MASK
    plain = json.loads(PLAN_RENDERERS["json"](make_plan(flow_noop())))
    assert plain["desired_fingerprint"] == "sha256:desired"
