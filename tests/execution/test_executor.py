"""Unit tests of `apply.py` through `httpx.MockTransport`: which requests each change sends."""

from __future__ import annotations

import copy
import dataclasses
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from prefect_gitops.errors import ReconcilerError
from prefect_gitops.execution.effective import effective_spec
from prefect_gitops.execution.executor import INTERRUPTED, Cancel, apply_plan, check_prune_guard
from prefect_gitops.execution.inventory import inventory_after, inventory_before, record_inventory
from prefect_gitops.execution.results import ApplyResult
from prefect_gitops.pipeline import applied as applied_stage
from prefect_gitops.plans.build import Action, Plan, ResourceChange, build_plan
from prefect_gitops.prefect.api import ApiClient, Throttle
from prefect_gitops.prefect.settings import Settings
from prefect_gitops.state.ownership import (
    LABEL,
    PENDING,
    ForeignInventoryError,
    Inventory,
    digest,
    inventory_base_name,
    inventory_names,
)
from prefect_gitops.state.resources import Address, Resource, State
from tests.prefect_server import RunningServer
from tests.repo_factory import write_repo
from tests.run_cli import run_cli

PROJECT = "proj"
Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport that records every request and answers from a handler."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        self.handler = handler

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        path = request.url.path.removeprefix("/api")
        self.requests.append((request.method, path, body))
        if self.handler is not None:
            return self.handler(request)
        return default_answer(request.method, path, body)

    def writes(self) -> list[tuple[str, str, Any]]:
        return [r for r in self.requests if not r[1].endswith("/filter")]

    def client(self) -> ApiClient:
        settings = Settings(api_url="http://prefect.test/api", max_retries=0)
        return ApiClient(settings, transport=httpx.MockTransport(self), sleep=lambda s: None)


def default_answer(method: str, path: str, body: Any) -> httpx.Response:
    if method == "POST" and path == "/flows/":
        return httpx.Response(201, json={"id": f"flow-{body['name']}", "name": body["name"]})
    if method == "POST" and path == "/deployments/":
        return httpx.Response(201, json={"id": f"dep-{body['name']}", "schedules": []})
    if method == "POST" and path.endswith("/filter"):
        return httpx.Response(200, json=[])
    if method == "POST":
        return httpx.Response(201, json={"id": "new", **(body if isinstance(body, dict) else {})})
    return httpx.Response(204)


# -- resources -------------------------------------------------------------------------------


def schedule(slug: str, cron: str, *, active: bool = True) -> dict[str, Any]:
    return {
        "slug": slug,
        "schedule": {"cron": cron, "timezone": "UTC", "day_or": True},
        "active": active,
        "parameters": {},
        "max_scheduled_runs": None,
    }


def deployment_spec(**over: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "daily",
        "flow_name": "etl",
        "entrypoint": "flows/etl.py:etl",
        "path": None,
        "description": "ETL",
        "version": "1",
        "tags": ["a"],
        "labels": {},
        "parameters": {"x": 1},
        "parameter_openapi_schema": {"type": "object", "properties": {}},
        "enforce_parameter_schema": True,
        "job_variables": {"env": {"A": "1"}},
        "work_pool_name": "pool",
        "work_queue_name": "default",
        "paused": False,
        "concurrency_limit": None,
        "concurrency_options": None,
        "pull_steps": [],
        "schedules": [schedule("morning", "0 6 * * *"), schedule("evening", "0 18 * * *")],
    }
    spec.update(over)
    return spec


def pool_spec(**over: Any) -> dict[str, Any]:
    spec = {
        "name": "pool",
        "type": "process",
        "description": None,
        "base_job_template": {"job_configuration": {}, "variables": {"properties": {}}},
        "is_paused": False,
        "concurrency_limit": 4,
    }
    spec.update(over)
    return spec


DEP = Address.deployment("etl", "daily")
POOL = Address.pool("pool")
FLOW = Address.flow("etl")


def desired_state(dep: dict[str, Any] | None = None, **extra: Resource) -> State:
    resources = [
        Resource(POOL, pool_spec()),
        Resource(FLOW, {"name": "etl"}),
        Resource(
            DEP, dep or deployment_spec(), {"unmanaged": [], "opaque": [], "generated_slugs": []}
        ),
        *extra.values(),
    ]
    return State.of(resources)


def live_state(dep: dict[str, Any] | None = None, *, labels: dict[str, Any] | None = None) -> State:
    dep = dep or deployment_spec()
    return State.of(
        [
            Resource(POOL, pool_spec(), {"id": "pool-id"}),
            Resource(FLOW, {"name": "etl"}, {"id": "flow-id"}),
            Resource(
                DEP,
                dep,
                {
                    "id": "dep-id",
                    "labels": {LABEL: PROJECT} if labels is None else labels,
                    "schedule_ids": {s["slug"]: f"sid-{s['slug']}" for s in dep["schedules"]},
                    "unslugged_ids": [],
                },
            ),
        ]
    )


def run(
    desired: State, live: State, rec: Recorder | None = None, **kw: Any
) -> tuple[ApplyResult, Recorder]:
    rec = rec or Recorder()
    plan = build_plan(desired, live, project=PROJECT, prune=kw.pop("prune", False))
    with rec.client() as client:
        result = apply_plan(client, plan, desired=desired, live=live, project=PROJECT, **kw)
    return result, rec


# -- the narrowest calls ---------------------------------------------------------------------


def test_no_op_sends_no_request() -> None:
    result, rec = run(desired_state(), live_state())
    assert rec.requests == []
    assert result.outcomes == () and result.ok and result.writes == 0


def test_a_changed_tag_is_one_patch_with_only_tags() -> None:
    result, rec = run(desired_state(deployment_spec(tags=["a", "b"])), live_state())
    assert rec.requests == [("PATCH", "/deployments/dep-id", {"tags": ["a", "b"]})]
    assert [(o.address, o.status) for o in result.outcomes] == [(str(DEP), "applied")]


def test_one_changed_cron_patches_only_that_schedule() -> None:
    dep = deployment_spec(
        schedules=[schedule("morning", "0 7 * * *"), schedule("evening", "0 18 * * *")]
    )
    _, rec = run(desired_state(dep), live_state())
    assert rec.requests == [
        (
            "PATCH",
            "/deployments/dep-id/schedules/sid-morning",
            {"schedule": {"cron": "0 7 * * *", "timezone": "UTC", "day_or": True}},
        )
    ]


def test_schedule_added_and_removed_one_by_one() -> None:
    dep = deployment_spec(
        schedules=[schedule("morning", "0 6 * * *"), schedule("noon", "0 12 * * *")]
    )
    _, rec = run(desired_state(dep), live_state())
    assert sorted(rec.requests, key=lambda r: r[0]) == [
        ("DELETE", "/deployments/dep-id/schedules/sid-evening", None),
        (
            "POST",
            "/deployments/dep-id/schedules",
            [{"schedule": {"cron": "0 12 * * *", "timezone": "UTC", "day_or": True},
              "active": True, "parameters": {}, "slug": "noon"}],
        ),
    ]  # fmt: skip


def test_only_active_changed_sends_only_active() -> None:
    dep = deployment_spec(
        schedules=[
            schedule("morning", "0 6 * * *", active=False),
            schedule("evening", "0 18 * * *"),
        ]
    )
    _, rec = run(desired_state(dep), live_state())
    assert rec.requests == [
        ("PATCH", "/deployments/dep-id/schedules/sid-morning", {"active": False})
    ]


def test_pool_update_patches_changed_fields_only() -> None:
    desired = State({**desired_state(), POOL: Resource(POOL, pool_spec(concurrency_limit=8))})
    _, rec = run(desired, live_state())
    assert rec.requests == [("PATCH", "/work_pools/pool", {"concurrency_limit": 8})]


def test_labels_change_upserts_with_schedules_and_ownership_label() -> None:
    result, rec = run(desired_state(deployment_spec(labels={"team": "data"})), live_state())
    ((method, path, body),) = rec.requests
    assert (method, path) == ("POST", "/deployments/")
    assert body["labels"] == {"team": "data", LABEL: PROJECT}
    assert body["flow_id"] == "flow-id"
    assert [s["slug"] for s in body["schedules"]] == ["morning", "evening"]
    assert "re-created" in (result.outcomes[0].detail or "")


def test_opaque_and_ignored_paths_keep_the_live_value() -> None:
    want = deployment_spec(
        job_variables={"image": "{{ prefect.blocks.secret.img }}", "env": {"A": "2"}}, paused=True
    )
    have = deployment_spec(job_variables={"image": "resolved:1", "env": {"A": "1"}})
    desired = State.of(
        [
            Resource(POOL, pool_spec()),
            Resource(FLOW, {"name": "etl"}),
            Resource(DEP, want, {"unmanaged": [], "opaque": ["job_variables.image"]}),
        ]
    )
    from prefect_gitops.repo.models import IgnoreRule

    ignore = [IgnoreRule(resource="deployment.*", fields=["paused"])]
    plan = build_plan(desired, live_state(have), project=PROJECT, ignore=ignore)
    rec = Recorder()
    with rec.client() as client:
        apply_plan(
            client, plan, desired=desired, live=live_state(have), project=PROJECT, ignore=ignore
        )
    assert rec.requests == [
        (
            "PATCH",
            "/deployments/dep-id",
            {"job_variables": {"image": "resolved:1", "env": {"A": "2"}}},
        )
    ]


def test_effective_spec_takes_unmanaged_schedules_from_live() -> None:
    want = Resource(DEP, deployment_spec(schedules=[]), {"unmanaged": ["schedules"]})
    have = Resource(DEP, deployment_spec())
    assert effective_spec(want, have)["schedules"] == deployment_spec()["schedules"]


# -- creates, order, failures ----------------------------------------------------------------


def test_create_from_empty_in_dependency_order() -> None:
    queue = Resource(
        Address.queue("pool", "high"),
        {"pool": "pool", "name": "high", "description": None, "is_paused": False,
         "concurrency_limit": 2, "priority": 1},
        {"unmanaged": ["description"]},
    )  # fmt: skip
    var = Resource(Address.variable("v"), {"name": "v", "value": 1, "tags": []})
    desired = desired_state(queue=queue, var=var)
    result, rec = run(desired, State(), parallelism=1)
    paths = [(m, p) for m, p, _ in rec.requests]
    assert paths.index(("POST", "/work_pools/")) < paths.index(("POST", "/work_pools/pool/queues"))
    assert paths.index(("POST", "/work_pools/pool/queues")) < paths.index(("POST", "/deployments/"))
    assert paths.index(("POST", "/variables/")) < paths.index(("POST", "/deployments/"))
    queue_body = next(b for m, p, b in rec.requests if p == "/work_pools/pool/queues")
    assert queue_body == {"name": "high", "is_paused": False, "concurrency_limit": 2, "priority": 1}
    dep_body = next(b for m, p, b in rec.requests if p == "/deployments/")
    assert dep_body["flow_id"] == "flow-etl" and dep_body["labels"] == {LABEL: PROJECT}
    assert [s["slug"] for s in dep_body["schedules"]] == ["morning", "evening"]
    assert result.ok and result.summary()["added"] == 5


def test_failure_skips_dependents_and_keeps_going() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/work_pools/":
            return httpx.Response(422, json={"detail": "bad template"})
        body = json.loads(request.content) if request.content else None
        return default_answer(request.method, request.url.path.removeprefix("/api"), body)

    var = Resource(Address.variable("v"), {"name": "v", "value": 1, "tags": []})
    result, rec = run(desired_state(var=var), State(), Recorder(handler))
    status = {o.address: (o.status, o.detail) for o in result.outcomes}
    assert status["work_pool.pool"][0] == "failed" and "bad template" in status["work_pool.pool"][1]
    assert status[str(DEP)][0] == "skipped" and "work_pool.pool" in status[str(DEP)][1]
    assert status["variable.v"] == ("applied", None)
    assert not result.ok
    assert not any(p == "/deployments/" for _, p, _ in rec.requests)


def test_unreachable_server_stops_further_attempts() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    result, rec = run(desired_state(), State(), Recorder(handler), parallelism=1)
    statuses = [o.status for o in result.outcomes]
    assert statuses[0] == "failed" and set(statuses[1:]) == {"skipped"}
    assert len(rec.requests) == 1  # max_retries=0: one attempt, then nothing more


def test_deletes_run_last_and_pool_after_its_deployments() -> None:
    live = live_state()
    inventory = Inventory(PROJECT, {str(POOL): "x", str(DEP): "y"})
    desired = State.of([Resource(Address.variable("v"), {"name": "v", "value": 1, "tags": []})])
    plan = build_plan(desired, live, project=PROJECT, inventory=inventory, prune=True)
    rec = Recorder()
    with rec.client() as client:
        result = apply_plan(
            client, plan, desired=desired, live=live, project=PROJECT, parallelism=4
        )
    assert [(m, p) for m, p, _ in rec.requests] == [
        ("POST", "/variables/"),
        ("DELETE", "/deployments/dep-id"),
        ("DELETE", "/work_pools/pool"),
    ]
    assert result.summary()["destroyed"] == 2


def test_pool_replace_recreates_queues_and_repoints_deployments() -> None:
    desired = State({**desired_state(), POOL: Resource(POOL, pool_spec(type="docker"))})
    result, rec = run(desired, live_state(), parallelism=1)
    paths = [(m, p) for m, p, _ in rec.requests]
    assert paths[:2] == [("DELETE", "/work_pools/pool"), ("POST", "/work_pools/")]
    patch = next(b for m, p, b in rec.requests if p == "/deployments/dep-id")
    assert patch == {"work_pool_name": "pool", "work_queue_name": "default"}
    assert result.ok


# -- guards and inventory --------------------------------------------------------------------


def test_allow_empty_guard() -> None:
    live = live_state()
    inventory = Inventory(PROJECT, {str(POOL): "x"})
    plan = build_plan(State(), live, project=PROJECT, inventory=inventory, prune=True)
    with pytest.raises(ReconcilerError, match="declares no deployments and no work pools"):
        check_prune_guard(plan, State(), allow_empty=False)
    check_prune_guard(plan, State(), allow_empty=True)


def variable(name: str) -> Resource:
    return Resource(Address.variable(name), {"name": name, "value": 1, "tags": []})


def limit(name: str) -> Resource:
    spec = {"name": name, "limit": 1, "active": True, "slot_decay_per_second": 0.0}
    return Resource(Address.limit(name), spec)


@pytest.mark.parametrize("kind", ["variable", "concurrency_limit", "deployment", "work_pool"])
def test_allow_empty_guard_holds_per_kind(kind: str) -> None:
    """A repository that still declares other things but suddenly no object of one kind,
    while the server holds owned ones of it, is refused for prune."""
    owned = {"variable": variable("v"), "concurrency_limit": limit("l")}
    live = State({**live_state(), **{r.address: r for r in owned.values()}})
    inventory = Inventory(PROJECT, {str(a): "x" for a in live if a.type != "flow"})
    desired = State({a: r for a, r in live.items() if a.type != kind})
    if kind == "work_pool":  # a deployment declared on a pool the repository no longer has
        desired = State({a: r for a, r in desired.items() if a.type != "deployment"})
        desired = State({**desired, DEP: desired_state()[DEP]})
    plan = build_plan(desired, live, project=PROJECT, inventory=inventory, prune=True)
    assert any(rc.action is Action.DELETE and rc.type == kind for rc in plan.changes)
    label = {"concurrency_limit": "concurrency limits", "work_pool": "work pools"}
    with pytest.raises(ReconcilerError, match=f"declares no {label.get(kind, kind + 's')}"):
        check_prune_guard(plan, desired, allow_empty=False)
    check_prune_guard(plan, desired, allow_empty=True)
    # Still declaring one of that kind: pruning the others is ordinary.
    other = {"variable": variable("w"), "concurrency_limit": limit("m")}.get(kind)
    if other is not None:
        more = State({**desired, other.address: other})
        kept = build_plan(more, live, project=PROJECT, inventory=inventory, prune=True)
        check_prune_guard(kept, more, allow_empty=False)


def queue(pool: str, name: str) -> Resource:
    spec = {"pool": pool, "name": name, "description": None, "is_paused": False,
            "concurrency_limit": None, "priority": 1}  # fmt: skip
    return Resource(Address.queue(pool, name), spec, {"id": f"q-{name}"})


def test_pruning_a_pool_with_its_queue_converges_children_first() -> None:
    """Both owned, both no longer declared: the queue is deleted before its pool (there used
    to be a cycle: "skipped: unresolvable ordering" on every run)."""
    live = State({**live_state(), queue("pool", "high").address: queue("pool", "high")})
    inventory = Inventory(PROJECT, {str(a): "x" for a in live if a.type != "flow"})
    desired = State.of([variable("v")])
    plan = build_plan(desired, live, project=PROJECT, inventory=inventory, prune=True)
    rec = Recorder()
    with rec.client() as client:
        result = apply_plan(client, plan, desired=desired, live=live, project=PROJECT)
    assert result.ok, result.outcomes
    deletes = [p for m, p, _ in rec.requests if m == "DELETE"]
    assert deletes == ["/deployments/dep-id", "/work_pools/pool/queues/high", "/work_pools/pool"]
    assert result.summary()["destroyed"] == 3


def test_inventory_is_rewritten_only_when_it_changes() -> None:
    desired, live = desired_state(), live_state()
    plan = build_plan(desired, live, project=PROJECT)
    items = {str(DEP): digest(desired[DEP].spec)}  # the deployment is ours by its label
    previous = Inventory(PROJECT, items, desired=plan.desired_fingerprint)
    got_items, fingerprint = inventory_after(
        plan, ApplyResult(()), desired=desired, live=live, project=PROJECT, inventory=previous
    )
    assert got_items == items and fingerprint == plan.desired_fingerprint
    rec = Recorder()
    with rec.client() as client:
        assert not record_inventory(client, PROJECT, got_items, fingerprint, previous=previous)
        assert rec.requests == []
        assert record_inventory(
            client, PROJECT, {**items, "variable.v": "abc"}, fingerprint, previous=previous
        )
    methods = [(m, p) for m, p, _ in rec.requests]
    assert methods == [("POST", "/variables/filter"), ("POST", "/variables/")]
    value = rec.requests[1][2]["value"]
    assert value["items"] == {**items, "variable.v": "abc"} and value["project"] == PROJECT


def foreign_inventory_server(variables: list[dict[str, Any]]) -> Recorder:
    """A server holding `variables`; the variable filter answers them all (as `like_` does)."""

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api")
        body = json.loads(request.content) if request.content else None
        if path == "/variables/filter":
            return httpx.Response(200, json=variables if body.get("offset") == 0 else [])
        if (
            request.method == "POST"
            and path == "/variables/"
            and any(v["name"] == body["name"] for v in variables)
        ):
            return httpx.Response(409, json={"detail": "exists"})
        return default_answer(request.method, path, body)

    return Recorder(handler)


def test_recording_never_touches_another_projects_or_a_users_variable() -> None:
    """Project `alpha` used to delete `prefect_gitops_alpha_2` (project `alpha-2`'s
    inventory, or any variable of that name) as a stale part of its own."""
    theirs = [
        {"id": "v-alpha2", "name": inventory_base_name("alpha-2"),
         "value": {"v": 1, "project": "alpha-2", "part": 1, "parts": 1, "items": {}}},
        {"id": "v-user", "name": "prefect_gitops_alpha_2", "value": "a user's"},
        {"id": "v-old", "name": inventory_names("alpha", 2)[1],
         "value": {"v": 1, "project": "alpha", "part": 2, "parts": 2, "items": {}}},
    ]  # fmt: skip
    rec = foreign_inventory_server(theirs)
    with rec.client() as client:
        assert record_inventory(client, "alpha", {"work_pool.a": "x"}, None, previous=None)
    writes = [(m, p) for m, p, _ in rec.writes()]
    # Created its own first part; deleted only its own stale second part, by id.
    assert writes == [("POST", "/variables/"), ("DELETE", "/variables/v-old")]
    assert rec.writes()[0][2]["name"] == inventory_base_name("alpha")


def test_a_foreign_variable_under_our_inventory_name_is_refused_unwritten() -> None:
    squatter = {"id": "v-x", "name": inventory_base_name("alpha"), "value": {"user": "data"}}
    rec = foreign_inventory_server([squatter])
    with rec.client() as client, pytest.raises(ForeignInventoryError, match="not the ownership"):
        record_inventory(client, "alpha", {"work_pool.a": "x"}, None, previous=None)
    assert rec.writes() == []


def test_unowned_no_op_is_not_taken_over_without_adopt() -> None:
    desired, live = desired_state(), live_state(labels={})
    plan = build_plan(desired, live, project=PROJECT)
    items, _ = inventory_after(
        plan, ApplyResult(()), desired=desired, live=live, project=PROJECT, inventory=None
    )
    assert items == {}
    adopted = build_plan(desired, live, project=PROJECT, adopt=True)
    items, _ = inventory_after(
        adopted, ApplyResult(()), desired=desired, live=live, project=PROJECT, inventory=None
    )
    assert set(items) == {str(POOL), str(DEP)}


def test_saved_plan_round_trip_keeps_actions() -> None:
    plan = build_plan(desired_state(deployment_spec(tags=["b"])), live_state(), project=PROJECT)
    again = Plan.from_dict(json.loads(json.dumps(plan.to_dict())))
    rec = Recorder()
    with rec.client() as client:
        apply_plan(client, again, desired=desired_state(deployment_spec(tags=["b"])),
                   live=live_state(), project=PROJECT)  # fmt: skip
    assert rec.requests == [("PATCH", "/deployments/dep-id", {"tags": ["b"]})]
    assert [rc.action for rc in again.changes] == [Action.UPDATE]


# -- CLI -------------------------------------------------------------------------------------


def test_cli_refuses_off_a_terminal_without_auto_approve(tmp_path: Any) -> None:
    result = run_cli("apply", str(tmp_path), "--api-url", "http://127.0.0.1:9/api")
    assert result.exit_code == 1
    assert "--auto-approve" in result.stderr


def test_cli_rejects_a_file_that_is_not_a_plan(tmp_path: Any) -> None:
    bad = tmp_path / "plan.json"
    bad.write_text('{"format_version": "999"}')
    result = run_cli("apply", str(bad), "--api-url", "http://127.0.0.1:9/api")
    assert result.exit_code == 1
    assert "not a saved plan" in result.stderr


def test_copy_of_live_is_not_mutated() -> None:
    live = live_state()
    before = copy.deepcopy(live.to_dict())
    run(desired_state(deployment_spec(tags=["q"])), live)
    assert live.to_dict() == before


def test_a_dropped_upsert_is_resent_once_more() -> None:
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api")
        if path == "/deployments/":
            calls["n"] += 1
            if calls["n"] == 1:
                raise httpx.RemoteProtocolError("Server disconnected", request=request)
        body = json.loads(request.content) if request.content else None
        return default_answer(request.method, path, body)

    desired = desired_state()
    live = State({a: r for a, r in live_state().items() if a.type != "deployment"})
    result, _ = run(desired, live, Recorder(handler))
    assert result.ok and calls["n"] == 2


class SqliteLike:
    """Answers writes like a SQLite-backed server: a write arriving while another is being
    written gets Prefect's 503 for a locked database."""

    def __init__(self, write_seconds: float = 0.002) -> None:
        self.write_seconds = write_seconds
        self.writing = 0
        self.locked = 0
        self.throttle: Throttle | None = None  # when set: locks met after it knew of the lock
        self.locked_after_known = 0
        self.answers: list[int] = []
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        path = request.url.path.removeprefix("/api")
        with self._lock:
            self.writing += 1
            busy = self.writing > 1
            known = self.throttle is not None and self.throttle.contended
        try:
            time.sleep(self.write_seconds)
            response = (
                httpx.Response(503, json={"exception_message": "Service Unavailable"})
                if busy
                else default_answer(request.method, path, body)
            )
        finally:
            with self._lock:
                self.writing -= 1
                self.locked += busy
                self.locked_after_known += busy and known
                self.answers.append(response.status_code)
        return response


def test_apply_against_a_locked_database_settles_on_one_write_at_a_time() -> None:
    server = SqliteLike()
    settings = Settings(api_url="http://prefect.test/api", max_retries=8)
    desired = many_variables(120)
    plan = build_plan(desired, State(), project=PROJECT)
    with ApiClient(settings, transport=httpx.MockTransport(server), sleep=lambda s: None,
                   throttle=Throttle(8)) as client:  # fmt: skip
        server.throttle = client.throttle
        result = apply_plan(client, plan, desired=desired, live=State(), project=PROJECT,
                            parallelism=8)  # fmt: skip
        assert result.ok and client.throttle.limit == 1
    # Only writes sent before the first lock came back can meet a lock (about the 7 sent
    # beside the first write, plus any a thread sent once its first write succeeded); every
    # write sent after the throttle knew is alone. The old throttle grew back and was locked
    # again and again.
    assert server.locked >= 1 and server.locked_after_known == 0, server.answers
    assert server.locked <= 8 + 7, server.answers  # one round of parallel writes, not more


# -- saved plans, interruptions, ownership recorded before writing ---------------------------


def many_variables(n: int) -> State:
    return State.of([variable(f"v{i:03d}") for i in range(n)])


def test_ctrl_c_stops_sending_at_once_and_reports_what_was_done() -> None:
    import os
    import signal

    sent: list[str] = []
    interrupted = threading.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        sent.append(body["name"])
        if not interrupted.is_set():
            interrupted.set()
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, while this request is in flight
        return default_answer(request.method, request.url.path.removeprefix("/api"), body)

    desired = many_variables(100)
    result, _ = run(desired, State(), Recorder(handler), parallelism=4)
    assert result.interrupted == INTERRUPTED
    applied = [o for o in result.outcomes if o.status == "applied"]
    skipped = [o for o in result.outcomes if o.status == "skipped"]
    assert len(applied) == len(sent) <= 4  # only what was in flight went through
    assert len(applied) + len(skipped) == 100
    assert all(o.detail == f"not attempted: {INTERRUPTED}" for o in skipped)
    # What was done is recorded as owned; what was not is not.
    plan = build_plan(desired, State(), project=PROJECT)
    items, _ = inventory_after(plan, result, desired=desired, live=State(), project=PROJECT,
                               inventory=None)  # fmt: skip
    assert set(items) == {o.address for o in applied}


def test_a_cancel_event_stops_sending() -> None:
    cancel = Cancel()

    def handler(request: httpx.Request) -> httpx.Response:
        cancel.set("the lock was lost")
        cancel.set(INTERRUPTED)  # a later reason does not replace the first
        body = json.loads(request.content) if request.content else None
        return default_answer(request.method, request.url.path.removeprefix("/api"), body)

    result, rec = run(many_variables(50), State(), Recorder(handler), parallelism=1,
                      cancel=cancel)  # fmt: skip
    assert len(rec.requests) == 1 and result.interrupted == "the lock was lost"
    skipped = [o for o in result.outcomes if o.status == "skipped"]
    assert len(skipped) == 49
    assert all(o.detail == "not attempted: the lock was lost" for o in skipped)


def test_ownership_is_recorded_before_anything_is_created() -> None:
    """A run killed after its creates and before its final inventory write still leaves the
    objects it created owned: the inventory lists them (PENDING) before they are written."""
    previous = Inventory(PROJECT, {str(DEP): "abc"})
    desired = State({**desired_state(), **many_variables(2)})
    plan = build_plan(desired, live_state(), project=PROJECT, inventory=previous)
    items = inventory_before(plan, previous)
    assert items == {str(DEP): "abc", "variable.v000": PENDING, "variable.v001": PENDING}
    # Owned from then on, so a later prune deletes them once they leave the repository.
    live = State({**live_state(), **many_variables(2)})
    pending = Inventory(PROJECT, items)
    later = build_plan(desired_state(), live, project=PROJECT, inventory=pending, prune=True)
    assert {rc.address for rc in later.changes if rc.action is Action.DELETE} == {
        "variable.v000",
        "variable.v001",
    }
    # Entries of objects that never got created and are no longer declared are dropped.
    after, _ = inventory_after(later, ApplyResult(()), desired=desired_state(),
                               live=live_state(), project=PROJECT, inventory=pending)  # fmt: skip
    assert set(after) == {str(DEP)}


def test_a_variable_holding_another_projects_inventory_is_never_written_or_deleted() -> None:
    theirs = {"v": 1, "project": "other", "part": 1, "parts": 1, "items": {"work_pool.x": "y"}}
    name = inventory_base_name("other")
    live = State.of([Resource(Address.variable(name), {"name": name, "value": theirs, "tags": []})])
    inventory = Inventory(PROJECT, {f"variable.{name}": "x"})  # listed by a tampered inventory
    for desired, prune in ((State(), True), (State.of([variable(name)]), False)):
        plan = build_plan(desired, live, project=PROJECT, inventory=inventory, prune=prune)
        rec = Recorder()
        with rec.client() as client:
            result = apply_plan(client, plan, desired=desired, live=live, project=PROJECT)
        assert rec.writes() == []
        assert [o.status for o in result.outcomes] == ["failed"]
        assert "ownership inventory of project 'other'" in str(result.outcomes[0].detail)


def test_queues_deleted_with_their_pool_do_not_trip_the_queue_guard() -> None:
    other = Resource(Address.pool("other"), pool_spec(name="other"), {"id": "o"})
    live = State({**live_state(), queue("pool", "high").address: queue("pool", "high"),
                  other.address: other})  # fmt: skip
    inventory = Inventory(PROJECT, {str(a): "x" for a in live if a.type != "flow"})
    dep = Resource(DEP, deployment_spec(work_pool_name="other"))
    desired = State.of([other, dep])  # pool `pool` and its queue are gone; no queue declared
    plan = build_plan(desired, live, project=PROJECT, inventory=inventory, prune=True)
    check_prune_guard(plan, desired, allow_empty=False)
    # Dropping the last declared queue of a pool that stays is refused.
    kept_pool = State.of([Resource(POOL, pool_spec()), dep])
    plan = build_plan(kept_pool, live, project=PROJECT, inventory=inventory, prune=True)
    with pytest.raises(ReconcilerError, match="declares no work queues"):
        check_prune_guard(plan, kept_pool, allow_empty=False)


def test_a_second_ctrl_c_gives_up_on_the_report() -> None:
    """Once stopping (the CLI turns the first Ctrl-C into `cancel`), another Ctrl-C is not
    swallowed: apply ends as soon as the requests in flight do."""
    import os
    import signal

    cancel = Cancel()
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        sent.append(body["name"])
        if len(sent) == 1:
            cancel.set()  # the first Ctrl-C, as the CLI handles it
            os.kill(os.getpid(), signal.SIGINT)  # the second one
        return default_answer(request.method, request.url.path.removeprefix("/api"), body)

    with pytest.raises(KeyboardInterrupt):
        run(many_variables(40), State(), Recorder(handler), parallelism=2, cancel=cancel)
    assert len(sent) <= 2


@pytest.mark.server
def test_thirty_deployments_on_a_real_sqlite_server_apply_with_no_failed_write(
    prefect_server: RunningServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    throttles: list[Throttle] = []

    def recorded(maximum: int) -> Throttle:
        throttles.append(Throttle(maximum))
        return throttles[-1]

    monkeypatch.setattr(applied_stage, "Throttle", recorded)
    repo = write_repo(tmp_path / "repo", deployments=30, pools=2, project="thirty",
                      prefix="thirty-", pool_prefix="thirty-pool")  # fmt: skip
    result = run_cli("apply", str(repo), "--auto-approve", "--format", "json",
                     "--api-url", prefect_server.url, "--parallelism", "8")  # fmt: skip
    assert result.exit_code == 0, result.stdout + result.stderr
    summary = result.json()["summary"]
    assert (summary["failed"], summary["skipped"]) == (0, 0)
    (throttle,) = throttles
    # SQLite may or may not have been locked meanwhile; if it was, one write at a time since.
    assert throttle.in_flight == 0 and throttle.limit == (1 if throttle.contended else 8)
    with ApiClient(Settings(api_url=prefect_server.url)) as client:
        found = client.paginate("/deployments/filter",
                                {"deployments": {"name": {"like_": "thirty-"}}})  # fmt: skip
    assert sorted(d["name"] for d in found) == [f"thirty-{i:04d}" for i in range(30)]


class _CountedChange(ResourceChange):
    """A change that counts how often anything reads its `type` (the ordering's unit of work)."""

    reads = 0

    def __getattribute__(self, name: str) -> Any:
        if name == "type":
            _CountedChange.reads += 1
        return super().__getattribute__(name)


def test_ordering_work_grows_linearly_with_the_deployments() -> None:
    # Ordering deployments after their dependencies used to scan every write once per
    # deployment: 10,000 deployments cost 10^8 steps before the first request.
    per_size: dict[int, int] = {}
    for size in (100, 400):
        deployments = [
            Resource(
                Address.deployment("etl", f"d{i}"),
                deployment_spec(name=f"d{i}"),
                {"unmanaged": [], "opaque": [], "generated_slugs": []},
            )
            for i in range(size)
        ]
        desired = State.of([Resource(POOL, pool_spec()), Resource(FLOW, {"name": "etl"}),
                            *deployments])  # fmt: skip
        plan = build_plan(desired, State(), project=PROJECT)
        counted = tuple(
            _CountedChange(**{f.name: getattr(rc, f.name) for f in dataclasses.fields(rc)})
            for rc in plan.resource_changes
        )
        plan = dataclasses.replace(plan, resource_changes=counted)
        _CountedChange.reads = 0
        rec = Recorder()
        with rec.client() as client:
            result = apply_plan(client, plan, desired=desired, live=State(), project=PROJECT)
        assert result.ok and len(rec.writes()) == size + 2
        paths = [p for _, p, _ in rec.requests]
        assert paths.index("/work_pools/") < paths.index("/deployments/")
        per_size[size] = _CountedChange.reads
    # 4x the deployments: about 4x the work (quadratic was 16x).
    assert per_size[400] < 6 * per_size[100]
