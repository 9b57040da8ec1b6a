from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from prefect_gitops.prefect.api import ApiClient, ApiError
from prefect_gitops.prefect.settings import Settings
from prefect_gitops.state import live
from prefect_gitops.state.live import read_deploy_inputs, read_live, start_reads
from prefect_gitops.state.ownership import LABEL, Inventory, encode_inventory
from prefect_gitops.state.resources import Address, Resource, State


def api_deployment(i: int, flow_id: str = "flow-1", **extra: Any) -> dict[str, Any]:
    body = {
        "id": f"dep-{i}",
        "name": f"d{i:04d}",
        "flow_id": flow_id,
        "description": "None",
        "version": "v",
        "tags": ["b", "a", "a"],
        "labels": {"prefect.flow.id": flow_id, LABEL: "proj", "team": "x"},
        "parameters": {},
        "parameter_openapi_schema": {},
        "enforce_parameter_schema": True,
        "job_variables": {},
        "work_pool_name": f"pool-{i % 10}",
        "work_queue_name": "default",
        "paused": False,
        "concurrency_limit": None,
        "global_concurrency_limit": {"limit": 3, "name": f"deployment:dep-{i}"},
        "concurrency_options": None,
        "pull_steps": [],
        "entrypoint": "f.py:f",
        "path": None,
        "schedules": [
            {"id": "s1", "slug": None, "active": True, "parameters": {}, "max_scheduled_runs": None,
             "schedule": {"interval": 60, "anchor_date": "2026-01-01T00:00:00+00:00", "timezone": None}},
        ],
    }  # fmt: skip
    body.update(extra)
    return body


class FakeServer:
    """Answers the read endpoints from canned objects, with real offset/limit paging."""

    def __init__(self, deployments: int) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        self.deployments = [api_deployment(i) for i in range(deployments)]
        self.flows = [{"id": "flow-1", "name": "f"}, {"id": "flow-2", "name": "g"}]
        self.pools = [
            {"id": f"pool-id-{i}", "name": f"pool-{i}", "type": "process", "base_job_template": {}}
            for i in range(10)
        ]
        inventory = Inventory("proj", {"variable.v": "abc"}, "t", "d")
        self.variables = [
            {"id": f"inv-{n}", "name": n, "value": v} for n, v in encode_inventory(inventory)
        ]
        self.variables.append({"name": "v", "value": {"a": 1}, "tags": ["z"], "id": "var-1"})

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        path = request.url.path.removeprefix("/api")
        self.calls.append((request.method, path, body))
        if request.method == "GET" and path.startswith("/v2/concurrency_limits/"):
            name = path.rsplit("/", 1)[1]
            if name == "db":
                return httpx.Response(
                    200,
                    json={
                        "id": "gcl",
                        "name": "db",
                        "limit": 2,
                        "active": True,
                        "slot_decay_per_second": 0,
                    },
                )
            return httpx.Response(404, json={"detail": "not found"})
        assert request.method == "POST" and path.endswith("/filter"), path
        assert body["limit"] <= 200
        items: list[Any] = {
            "/work_pools/filter": self.pools,
            "/work_queues/filter": [{"name": "q", "work_pool_name": "pool-1", "priority": 1}],
            "/flows/filter": self.flows,
            "/deployments/filter": self.deployments,
            "/variables/filter": self.variables,
        }[path]
        items = [obj for obj in items if self.matches(path, obj, body)]
        offset = body.get("offset", 0)
        return httpx.Response(200, json=items[offset : offset + body["limit"]])

    def matches(self, path: str, obj: dict[str, Any], body: dict[str, Any]) -> bool:
        """The name filters as the server applies them (`any_`; a deployment also by the
        name of its flow); a `like_` filter (the inventory's) matches everything here."""
        kind = path.split("/")[1]
        named = body.get(kind, {}).get("name", {}).get("any_")
        if named is not None and obj["name"] not in named:
            return False
        flows = body.get("flows", {}).get("name", {}).get("any_")
        if kind == "deployments" and flows is not None:
            flow_names = {f["id"]: f["name"] for f in self.flows}
            return flow_names.get(obj["flow_id"]) in flows
        return True


def client_for(server: FakeServer) -> ApiClient:
    return ApiClient(
        Settings(api_url="http://test/api"), transport=httpx.MockTransport(server.handler)
    )


def desired_for(count: int) -> State:
    resources = [Resource(Address.deployment("f", f"d{i:04d}"), {}) for i in range(count)]
    resources += [Resource(Address.pool(f"pool-{i}"), {}) for i in range(10)]
    resources.append(Resource(Address.queue("pool-1", "q"), {}))
    resources.append(Resource(Address.flow("f"), {}))
    resources.append(Resource(Address.limit("db"), {}))
    return State.of(resources)


def test_thousand_deployments_in_a_handful_of_requests() -> None:
    server = FakeServer(1000)
    with client_for(server) as client:
        live = read_live(client, desired_for(1000), project="proj")
        assert client.write_count == 0
        assert client.request_count <= 20
    assert len(live.state.of_type("deployment")) == 1000
    assert len(live.state.of_type("work_pool")) == 10
    assert live.inventory is not None and live.inventory.owns(Address.variable("v"))
    assert live.state[Address.variable("v")].spec == {"name": "v", "value": {"a": 1}, "tags": ["z"]}
    assert live.state[Address.limit("db")].spec["limit"] == 2
    # six requests of at most 199 names each (concurrently), no count, no offsets
    deployment_calls = [b for _, p, b in server.calls if p.startswith("/deployments/")]
    assert len(deployment_calls) == 6
    assert all(len(b["deployments"]["name"]["any_"]) <= 199 for b in deployment_calls)
    assert {b["offset"] for b in deployment_calls} == {0}
    # never one request per deployment
    deployment_paths = {p for _, p, _ in server.calls if p.startswith("/deployments/")}
    assert deployment_paths == {"/deployments/filter"}


def test_no_read_names_more_objects_than_a_page_holds() -> None:
    """A filter naming all N objects, sent with each of N/200 pages, costs the server
    O(N^2); each request names at most 199, whatever is read by name."""
    server = FakeServer(450)
    server.pools = [{"id": f"p{i}", "name": f"pool-{i}", "type": "process"} for i in range(450)]
    server.variables += [{"id": f"v{i}", "name": f"var-{i}", "value": i} for i in range(450)]
    desired = desired_for(450)
    extra = [Resource(Address.pool(f"pool-{i}"), {}) for i in range(450)]
    extra += [Resource(Address.variable(f"var-{i}"), {}) for i in range(450)]
    with client_for(server) as client:
        live = read_live(client, State.of([*(desired[a] for a in desired), *extra]), project="proj")
    assert len(live.state.of_type("deployment")) == 450
    assert len(live.state.of_type("work_pool")) == 450
    assert len(live.state.of_type("variable")) >= 450
    for _, path, body in server.calls:
        kind = path.split("/")[1]
        named = (body or {}).get(kind, {}).get("name", {}).get("any_", [])
        assert len(named) <= 199, (path, len(named))


def test_a_chunk_matching_more_than_it_names_is_read_again_in_halves() -> None:
    """Flows x deployment names: 150 names under two flows match 300 deployments when only
    150 pairs are wanted; the full answer is split until each part fits on a page."""
    server = FakeServer(150)
    server.deployments += [api_deployment(i, "flow-2") | {"id": f"g-{i}"} for i in range(150)]
    wanted = [Resource(Address.deployment("f", f"d{i:04d}"), {}) for i in range(0, 150, 2)]
    wanted += [Resource(Address.deployment("g", f"d{i:04d}"), {}) for i in range(1, 150, 2)]
    with client_for(server) as client:
        live = read_live(client, State.of(wanted), project="proj")
    assert {r.address for r in live.state.of_type("deployment")} == {r.address for r in wanted}
    filters = [b for _, p, b in server.calls if p == "/deployments/filter"]
    assert len(filters) > 1 and all(b["offset"] == 0 for b in filters)


def test_deployment_normalization() -> None:
    server = FakeServer(1)
    with client_for(server) as client:
        live = read_live(client, desired_for(1), project="proj")
    dep = live.state[Address.deployment("f", "d0000")]
    assert dep.spec["description"] is None  # the "None" quirk
    assert dep.spec["concurrency_limit"] == 3  # from global_concurrency_limit
    assert dep.spec["tags"] == ["b", "a", "a"]  # as stored: order and duplicates kept
    assert dep.spec["labels"] == {"team": "x"}  # system and ownership labels set aside
    assert dep.meta["labels"][LABEL] == "proj"
    (schedule,) = dep.spec["schedules"]
    assert schedule["schedule"] == {
        "interval": 60.0,
        "anchor_date": "2026-01-01T00:00:00Z",
        "timezone": "UTC",
    }
    assert dep.meta["unslugged_ids"] == ["s1"]


def test_nothing_declared_reads_only_the_inventory() -> None:
    server = FakeServer(0)
    with client_for(server) as client:
        live = read_live(client, State(), project="nobody")
        assert client.request_count == 1
    assert live.inventory is None
    assert len(live.state) == 0


def test_names_shared_by_many_flows_are_read_whatever_the_splits_cost() -> None:
    """200 flows, each with deployments of the same 101 names: a chunk of 199 pairs spans
    two or three flows, so its answer is full and split, about 5 requests a chunk (502 for
    102 chunks). A legitimate repository must never hit the request budget."""
    flows = [f"f{i:03d}" for i in range(200)]
    names = [f"n{j:03d}" for j in range(101)]
    calls: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        asked_flows, asked = body["flows"]["name"]["any_"], body["deployments"]["name"]["any_"]
        found = [
            {"id": f"{f}/{n}", "name": n, "flow_id": f}
            for f in asked_flows
            for n in asked
            if n in names  # every flow has every name
        ]
        calls.append(1)
        start = body["offset"]
        return httpx.Response(200, json=found[start : start + body["limit"]])

    pairs = [(f, n) for f in flows for n in names]
    transport = httpx.MockTransport(answer)
    with ApiClient(Settings(api_url="http://test/api"), transport=transport) as client:
        found = live._read_deployment_names(client, pairs)
    assert {obj["id"] for obj in found} == {f"{f}/{n}" for f, n in pairs}
    assert len(calls) > 4 * 102 + 64  # more than the first budget allowed: it failed here


def test_a_server_that_ignores_the_filter_is_an_error_not_thousands_of_requests() -> None:
    """Every chunk's answer would be a full page, so every chunk would be split down to
    single names, each paged: about 6,000 requests for 1,000 names. The read stops at its
    budget (32 a chunk + 64) with an error naming the cause."""
    server = FakeServer(1000)
    server.matches = lambda path, obj, body: True  # type: ignore[method-assign]
    with client_for(server) as client, pytest.raises(ApiError, match="do not narrow"):
        read_live(client, desired_for(1000), project="proj")
    budget = live.SPLIT_ALLOWANCE * 6 + live.SPLIT_SLACK  # 6 chunks of 199 names
    assert sum(1 for _, p, _ in server.calls if p == "/deployments/filter") <= budget


def test_an_answer_that_is_not_a_list_is_an_api_error() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/deployments/filter"):
            return httpx.Response(200, json={"detail": "not a page"})
        return httpx.Response(200, json=[])

    client = ApiClient(Settings(api_url="http://test/api"), transport=httpx.MockTransport(answer))
    with client, pytest.raises(ApiError, match="unexpected answer"):
        read_live(client, desired_for(3), project="proj")


VIEW = {
    "prefect": {"process": {"type": "process", "default_base_job_configuration": {"p": 1}}},
    "prefect-docker": {"docker": {"type": "docker", "default_base_job_configuration": {"d": 1}}},
}


def inputs_handler(view_status: int, calls: list[str]) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api")
        calls.append(f"{request.method} {path}")
        if path == "/collections/views/aggregate-worker-metadata":
            return httpx.Response(view_status, json=VIEW if view_status == 200 else {"detail": "x"})
        body = json.loads(request.content)
        assert path == "/variables/filter" and body["variables"]["name"]["any_"] == ["region"]
        return httpx.Response(200, json=[{"name": "region", "value": "eu", "id": "v"}])

    return handler


def test_deploy_inputs_read_variables_and_the_servers_default_templates() -> None:
    calls: list[str] = []
    transport = httpx.MockTransport(inputs_handler(200, calls))
    with ApiClient(Settings(api_url="http://test/api"), transport=transport) as client:
        got = read_deploy_inputs(client, ["region"], ["docker", "process", "nope"])
    assert got.variables == {"region": "eu"}
    # process comes from Prefect's own worker class (our shipped data), like its CLI does
    assert got.pool_templates == {"docker": {"d": 1}}
    assert "server's" in got.templates_note and "shipped data for nope" in got.templates_note
    with ApiClient(Settings(api_url="http://test/api"), transport=transport) as client:
        none = read_deploy_inputs(client, [], ["process"])
    assert none.pool_templates == {} and none.templates_note == ""
    assert calls == ["POST /variables/filter", "GET /collections/views/aggregate-worker-metadata"]


def test_deploy_inputs_fall_back_to_shipped_templates_when_the_view_fails() -> None:
    transport = httpx.MockTransport(inputs_handler(404, []))
    with ApiClient(Settings(api_url="http://test/api"), transport=transport) as client:
        got = read_deploy_inputs(client, [], ["docker"])
    assert got.pool_templates is None and got.templates_note.startswith(
        "default pool templates: shipped data"
    )


def test_deployments_read_early_are_taken_only_for_the_same_filter() -> None:
    """`start_reads` reads with the names declared before templating; `read_live` takes that
    read when the desired state names the same deployments, else reads them again."""
    desired = desired_for(300)
    declared = [a for a in desired if a.type in ("deployment", "flow")]
    for guess, counts in ((declared, 2), (declared[:100], 1 + 2)):  # 199 names a request
        server = FakeServer(300)
        with client_for(server) as client:
            early = start_reads(client, guess, project="proj")
            live = read_live(client, desired, project="proj", early=early)
        assert len(live.state.of_type("deployment")) == 300
        assert sum(1 for _, p, _ in server.calls if p == "/deployments/filter") == counts
        assert live.inventory is not None and live.inventory.owns(Address.variable("v"))
