"""Property: any `schedules:` item gets a verdict without crashing, and an item with no
error becomes a body Prefect's own client schema accepts (validate ⇔ plan)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from prefect.client.schemas.actions import DeploymentScheduleCreate

from prefect_gitops.prefect.schedules import (
    ScheduleError,
    check_schedule,
    is_templated,
    to_server_schedule,
)
from tests.properties.strategies import schedules

PROPS = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
NOW = datetime.datetime(2026, 12, 5, tzinfo=datetime.timezone.utc)


@PROPS
@given(schedules())
@example({"rrule": "RRULE:FREQ=DAILY;UNTIL=99991231T000000Z"})
@example({"rrule": "FREQ=YEARLY;UNTIL=99999999T999999Z"})
@example({"cron": "0 0 1W * *"})
@example({"interval": 2**70})
@example({"anchor_date": "99999-01-01", "interval": 60})
@example({"active": None, "timezone": "UTC", "anchor_date": "{{0}}", "interval": 1})
@example({"active": "{{0}}", "anchor_date": "2024-01-01T00:00:00", "cron": "0 * * * *"})
def test_schedule_verdicts_agree_with_the_body_we_send(item: dict[str, Any]) -> None:
    problems = check_schedule(item)
    assert all(p.message for p in problems)
    if any(p.severity == "error" for p in problems):
        return
    if any(is_templated(value) for value in item.values()):
        # Resolved at deploy time; left unresolved, it is a clear error, never a crash.
        with pytest.raises(ScheduleError, match="unresolved placeholder"):
            to_server_schedule(item, now=NOW)
        return
    body = to_server_schedule(item, now=NOW)
    DeploymentScheduleCreate.model_validate(body)
