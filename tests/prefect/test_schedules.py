"""Schedules: our reading of a `schedules:` item against prefect deploy 3.9.1's own code,
and our canonical form against what a real Prefect server stores."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from typing import Any

import httpx
import pytest
from prefect.cli.deploy._models import PrefectYamlModel
from prefect.cli.deploy._schedules import _schedule_config_to_deployment_schedule
from prefect.client.schemas.actions import DeploymentScheduleCreate
from prefect.client.schemas.schedules import CronSchedule

from prefect_gitops.prefect.api import ApiClient
from prefect_gitops.prefect.schedules import (
    ScheduleError,
    check_schedule,
    normalize_server_schedule,
    to_server_schedule,
)
from prefect_gitops.prefect.settings import load_settings
from prefect_gitops.repo.models import ScheduleConfig
from tests.prefect_server import RunningServer

NOW = dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.timezone.utc)


def prefect_deploy_body(item: Any) -> dict[str, Any] | None:
    """What prefect deploy 3.9.1 sends for one item, or None when it refuses the item."""
    try:
        model = PrefectYamlModel.model_validate(
            {"deployments": [{"name": "x", "schedules": [item]}]}
        )
        loaded = model.deployments[0].model_dump(exclude_unset=True, mode="json")["schedules"][0]
        built = _schedule_config_to_deployment_schedule(loaded)
        body: dict[str, Any] = DeploymentScheduleCreate(**built).model_dump(
            mode="json", exclude_unset=True
        )
        return body
    except Exception:  # any failure means `prefect deploy` stops on this item
        return None


CASES: list[Any] = [
    {"cron": "0 9 * * 1-5"},
    {"cron": "0 9 * * 1-5", "timezone": "America/New_York", "day_or": False},
    {"cron": "0 9 1-7 * 5", "day_or": "false"},
    {"cron": "@daily"},
    {"cron": "*/5 * * * *", "timezone": "EST"},
    {"cron": "0 0 * * *", "timezone": ""},
    {"cron": "H 9 * * *"},
    {"cron": "R 9 * * *"},
    {"cron": "61 9 * * *"},
    {"cron": "0 9 * *"},
    {"cron": ""},
    {"cron": 5},
    {"cron": "0 9 * * *", "timezone": "Mars/Base"},
    {"cron": "0 9 * * *", "day_or": "sometimes"},
    {"interval": 3600},
    {"interval": 1.5},
    {"interval": "01:00:00"},
    {"interval": "PT1H"},
    {"interval": "P1D"},
    {"interval": 0},
    {"interval": -5},
    {"interval": "abc"},
    {"interval": "3600"},
    {"interval": 60, "anchor_date": "2024-01-01T00:00:00"},
    {"interval": 60, "anchor_date": "2024-01-01T00:00:00+02:00"},
    {"interval": 60, "anchor_date": "2024-01-01T10:30:00Z", "timezone": "Europe/Paris"},
    {"interval": 60, "anchor_date": "2024-01-01"},
    {"interval": 60, "anchor_date": dt.datetime(2024, 1, 1)},
    {"interval": 60, "anchor_date": dt.date(2024, 1, 1)},
    {"interval": 60, "anchor_date": dt.datetime(2024, 1, 1), "slug": "a"},
    {"interval": 60, "anchor_date": "not a date"},
    {"interval": 60, "timezone": "Mars/Base"},
    {"rrule": "FREQ=DAILY;BYHOUR=6"},
    {"rrule": "FREQ=DAILY;BYHOUR=6", "timezone": "Europe/Paris"},
    {"rrule": "DTSTART:20240101T000000\nFREQ=HOURLY"},
    {"rrule": "FREQ=WEEKLY;COUNT=3"},
    {"rrule": '{"rrule": "FREQ=WEEKLY", "timezone": "Asia/Tokyo"}'},
    {"rrule": '{"rrule": "FREQ=WEEKLY"}', "timezone": "Europe/Paris"},
    {"rrule": '{"rrule": "FREQ=WEEKLY", "bogus": 1}'},
    {"rrule": "FREQ=NOPE"},
    {"rrule": "FREQ=DAILY", "timezone": "Nowhere/City"},
    {"cron": "0 * * * *", "interval": 60},
    {},
    {"timezone": "UTC"},
    {"schedule": {"cron": "0 * * * *"}, "active": False},
    {"cron": "0 * * * *", "active": "yes"},
    {"cron": "0 * * * *", "active": False},
    {"cron": "0 * * * *", "active": "maybe"},
    {"cron": "0 * * * *", "slug": "s", "parameters": {"a": 1}, "replaces": "old"},
    {"cron": "0 * * * *", "max_scheduled_runs": 5},
    {"cron": "0 * * * *", "bogus": 1},
    "0 * * * *",
]


@pytest.mark.parametrize("item", CASES, ids=lambda c: json.dumps(c, default=str)[:60])
def test_verdict_and_body_match_prefect_deploy(item: Any) -> None:
    theirs = prefect_deploy_body(item)
    errors = [p for p in check_schedule(item) if p.severity == "error"]
    if theirs is None:
        assert errors, "prefect deploy refuses this item, we accept it"
        with pytest.raises(ScheduleError):
            to_server_schedule(item, now=NOW)
        return
    assert not errors, errors
    assert to_server_schedule(item, now=NOW) == theirs


def test_high_frequency_rrule_gets_prefects_recent_anchor() -> None:
    item = {"rrule": "FREQ=MINUTELY;INTERVAL=5"}
    ours = to_server_schedule(item, now=NOW)["schedule"]["rrule"]
    assert ours == "DTSTART:20260304T050500\nFREQ=MINUTELY;INTERVAL=5"
    theirs = prefect_deploy_body(item)
    assert theirs is not None
    # prefect uses the wall clock; both are phase-equivalent and compare equal once normalized
    assert normalize_server_schedule(theirs) == normalize_server_schedule(
        {"schedule": {"rrule": ours}}
    )


@pytest.mark.parametrize(
    "cron",
    ["* * * * *", "0 0 L * *", "0 0 * * 5#2", "0 0 * * MON-FRI", "@hourly", "@reboot",
     "0 0 29 2 *", "0 0 31 2 *", "*/0 * * * *", "0 0 * * * *", "0 0 * * * * *",
     "H/5 * * * *", "0 12 ? * *", "0 0 1 JAN-MAR *", "60 * * * *", "0 0 * * 8",
     "0 0 1W * *", "0 0 15w * *", "0 0 LW * *", "0 0 W * *", "0 0 1W * MON", "0 0 1,15W * *",
     "0 0 * * 1L", "0 0 L,15 * *", "0 0 1,L * *"],
)  # fmt: skip
def test_cron_verdict_matches_the_servers_validator(cron: str) -> None:
    try:
        CronSchedule(cron=cron)
        accepted = True
    except ValueError:
        accepted = False
    ours = not any(p.key == "cron" for p in check_schedule({"cron": cron}))
    assert ours == accepted


def test_schedule_config_model_is_accepted() -> None:
    cfg = ScheduleConfig.model_validate({"interval": "PT1H", "slug": "hourly", "active": False})
    assert to_server_schedule(cfg) == {
        "schedule": {"interval": 3600.0, "timezone": "UTC"},
        "active": False,
        "slug": "hourly",
    }


def test_templated_values_are_not_judged() -> None:
    item = {"cron": "{{ $CRON }}", "active": "{{ prefect.variables.on }}", "day_or": "{{ x }}"}
    assert check_schedule(item) == []


def test_ignored_options_are_warnings() -> None:
    problems = check_schedule({"cron": "0 * * * *", "anchor_date": "2024-01-01"})
    assert [(p.key, p.severity) for p in problems] == [("anchor_date", "warning")]
    problems = check_schedule({"interval": 60, "day_or": False})
    assert [(p.key, p.severity) for p in problems] == [("day_or", "warning")]


def test_normalize_fills_defaults_and_drops_server_fields() -> None:
    server = {
        "id": str(uuid.uuid4()),
        "created": "2026-01-01T00:00:00Z",
        "deployment_id": str(uuid.uuid4()),
        "schedule": {"interval": 3600.0, "anchor_date": "2024-01-01T00:00:00Z", "timezone": "UTC"},
        "active": True,
        "max_scheduled_runs": None,
        "parameters": {},
        "slug": None,
    }
    sent = {"schedule": {"interval": 3600, "anchor_date": "2024-01-01T02:00:00+02:00"}}
    assert normalize_server_schedule(server) == normalize_server_schedule(sent)
    assert normalize_server_schedule({"schedule": {"cron": "0 * * * *"}})["schedule"] == {
        "cron": "0 * * * *",
        "timezone": None,
        "day_or": True,
    }


# -- against a real server ----------------------------------------------------------------

SERVER_CASES: list[dict[str, Any]] = [
    {"cron": "0 9 * * 1-5"},
    {"cron": "0 9 1-7 * 5", "timezone": "America/New_York", "day_or": False, "slug": "c"},
    {"cron": "@daily", "active": False},
    {"interval": 3600},
    {"interval": "01:30:00", "anchor_date": "2024-01-01T00:00:00", "slug": "i"},
    {"interval": "PT15M", "anchor_date": "2024-01-01T00:00:00+02:00"},
    {"interval": 90.5, "anchor_date": "2024-06-01T12:00:00Z", "timezone": "Europe/Paris"},
    {"interval": "P1D", "parameters": {"n": 3}},
    {"rrule": "FREQ=DAILY;BYHOUR=6"},
    {"rrule": "FREQ=MINUTELY;INTERVAL=7"},
    {"rrule": "FREQ=SECONDLY;INTERVAL=30", "timezone": "Asia/Tokyo"},
    {"rrule": "DTSTART:20240101T000000\nFREQ=HOURLY;INTERVAL=2"},
    {"rrule": '{"rrule": "FREQ=WEEKLY;BYDAY=MO", "timezone": "Europe/Paris"}'},
    {"rrule": "FREQ=WEEKLY;COUNT=3", "replaces": "old-slug", "slug": "r"},
]


@pytest.mark.server
def test_server_stores_what_we_send(prefect_server: RunningServer) -> None:
    # Our client retries the 503s SQLite answers under write contention.
    with ApiClient(load_settings({}, api_url=prefect_server.url)) as client:
        flow = client.post("/flows/", json={"name": f"sched-{uuid.uuid4().hex[:8]}"})
        for i, item in enumerate(SERVER_CASES):  # bounded: one request pair per case
            body = to_server_schedule(item)
            created = client.post(
                "/deployments/",
                json={"name": f"d{i}-{uuid.uuid4().hex[:6]}", "flow_id": flow["id"],
                      "schedules": [body]},
            )  # fmt: skip
            [live] = client.get(f"/deployments/{created['id']}/schedules")
            no_anchor = "interval" in item and "anchor_date" not in item
            assert normalize_server_schedule(live, ignore_anchor=no_anchor) == (
                normalize_server_schedule(body, ignore_anchor=no_anchor)
            ), (item, body, live)


@pytest.mark.parametrize(
    "rrule",
    [
        "FREQ=DAILY;BYHOUR=99999999999999999999",
        "FREQ=DAILY;BYSECOND=99999999999999999999",
        "DTSTART:99991231T235959\nRRULE:FREQ=DAILY;BYHOUR=99999999999999999999",
        "FREQ=MINUTELY;INTERVAL=0",
        "FREQ=SECONDLY;INTERVAL=-1",
        "DTSTART:20200101T000000\nRRULE:FREQ=SECONDLY;INTERVAL=0",
        "DTSTART:20200101T000000\nRRULE:FREQ=DAILY\nEXRULE:FREQ=MINUTELY;INTERVAL=0",
    ],
)
def test_rrules_dateutil_cannot_represent_are_errors_not_crashes(rrule: str) -> None:
    item = {"rrule": rrule, "timezone": "Pacific/Kiritimati"}
    assert [p.kind for p in check_schedule(item)] == ["rrule"]
    with pytest.raises(ScheduleError, match="not a valid RRule"):
        to_server_schedule(item, now=NOW)
    # what the server may hold is normalized without crashing
    assert normalize_server_schedule({"schedule": item})["schedule"]["timezone"] == item["timezone"]


@pytest.mark.parametrize(
    "rrule",
    [
        "FREQ=DAILY;UNTIL=99991231T235959Z",
        "FREQ=MINUTELY;UNTIL=99991231T235959Z",
        "FREQ=DAILY;COUNT=99999999999999999999",
        "FREQ=SECONDLY;INTERVAL=99999999999999999999",
        "DTSTART:00010101T000000\nRRULE:FREQ=MINUTELY;INTERVAL=999999999999",
        "DTSTART:99991231T235959\nRRULE:FREQ=MINUTELY",
    ],
)
def test_rrules_near_the_calendar_limits_normalize(rrule: str) -> None:
    item = {"rrule": rrule, "timezone": "America/Adak"}
    assert check_schedule(item) == []
    body = to_server_schedule(item, now=NOW)
    assert normalize_server_schedule(body)["schedule"]["rrule"].endswith(rrule.split("\n")[-1])


@pytest.mark.parametrize("anchor", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
def test_an_anchor_outside_the_utc_calendar_is_a_warning(anchor: str) -> None:
    # prefect deploy and the server take it (parity), but no run time follows from it.
    item = {"interval": 60, "anchor_date": anchor}
    assert [(p.key, p.severity) for p in check_schedule(item)] == [("anchor_date", "warning")]
    assert "outside years 1 to 9999" in check_schedule(item)[0].message
    assert to_server_schedule(item, now=NOW) == prefect_deploy_body(item)
    normalized = normalize_server_schedule({"schedule": item})
    assert normalized["schedule"]["anchor_date"] is not None


@pytest.mark.parametrize("rrule", ["FREQ=DAILY;INTERVAL=0", "FREQ=WEEKLY;INTERVAL=-1"])
def test_a_low_frequency_interval_below_1_is_a_warning(rrule: str) -> None:
    item = {"rrule": rrule}
    assert [(p.key, p.severity) for p in check_schedule(item)] == [("rrule", "warning")]
    assert to_server_schedule(item, now=NOW) == prefect_deploy_body(item)
    # The JSON form of an rrule is the same rule: the same warning.
    as_json = {"rrule": json.dumps({"rrule": rrule})}
    assert [(p.key, p.severity) for p in check_schedule(as_json)] == [("rrule", "warning")]


SERVER_VERDICTS: list[dict[str, Any]] = [
    {"cron": "0 0 1W * *"},
    {"cron": "0 0 15W * MON"},
    {"cron": "0 0 L * *"},
    {"rrule": "FREQ=DAILY;BYHOUR=99999999999999999999"},
    {"rrule": "FREQ=MINUTELY;INTERVAL=0"},
    {"rrule": "FREQ=DAILY;COUNT=99999999999999999999"},
    {"rrule": "FREQ=DAILY;UNTIL=99991231T235959Z"},
    {"interval": 86400000000000},
    {"interval": 86399999999999},
    {"interval": 1e-7},
    {"interval": 60, "anchor_date": "9999-12-31T23:59:59-14:00"},
]


@pytest.mark.server
def test_our_errors_are_what_the_server_refuses(prefect_server: RunningServer) -> None:
    settings = load_settings({}, api_url=prefect_server.url)
    flow = f"verdicts-{uuid.uuid4().hex[:8]}"
    with ApiClient(settings) as client:
        flow_id = client.post("/flows/", json={"name": flow})["id"]
        deployment = client.post("/deployments/", json={"name": "d", "flow_id": flow_id})
    for item in SERVER_VERDICTS:
        ours = any(p.severity == "error" for p in check_schedule(item))
        answer = _post_schedule(f"{prefect_server.url}/deployments/{deployment['id']}", item)
        assert ours is not answer.is_success, (item, answer.status_code)


def _post_schedule(deployment_url: str, item: dict[str, Any]) -> httpx.Response:
    """The server's verdict on one schedule. A 503 is SQLite's "database is locked" (the
    server's own services write too), not a verdict: asked again, a bounded number of times."""
    for _ in range(10):
        # one connection per request: the server drops it after a 500
        answer = httpx.post(
            f"{deployment_url}/schedules", json=[{"schedule": item, "active": False}], timeout=30
        )
        if answer.status_code != 503:
            return answer
        time.sleep(0.5)
    return answer


def test_an_item_is_checked_once_and_a_date_is_not_its_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Validation and the desired state both check every item, and a large repository repeats
    the same few: each distinct item (by its repr: a date and its text differ) runs once."""
    from prefect_gitops.prefect import schedules

    runs: list[object] = []
    real = schedules._check_schedule
    monkeypatch.setattr(schedules, "_check_schedule", lambda item: runs.append(item) or real(item))
    monkeypatch.setattr(schedules, "_CHECKED", {})
    item = {"cron": "0 3 * * *", "timezone": "UTC"}
    assert schedules.check_schedule(item) == schedules.check_schedule(dict(item)) == []
    assert len(runs) == 1
    bad = {"interval": 60, "anchor_date": "not a date"}
    first = schedules.check_schedule(bad)
    assert first and schedules.check_schedule(bad) == first and len(runs) == 2
    dated = {"interval": 60, "anchor_date": dt.datetime(2026, 1, 1)}
    textual = {"interval": 60, "anchor_date": "2026-01-01 00:00:00"}
    schedules.check_schedule(dated)
    schedules.check_schedule(textual)
    assert len(runs) == 4
