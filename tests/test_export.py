"""`export` offline: documents from canned server objects, read back through the loader and the
desired state, must compare equal to what the server holds (the round trip `plan` relies on)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from prefect_gitops.errors import ReconcilerError
from prefect_gitops.export import (
    Export,
    ExportedFile,
    Selection,
    ServerObjects,
    adopt,
    build_export,
    local_schema_dir,
    read_inventories,
    read_server,
    recorded_owners,
    write_files,
)
from prefect_gitops.prefect import templates
from prefect_gitops.prefect.api import ApiClient
from prefect_gitops.prefect.settings import Settings
from prefect_gitops.repo.loader import load_project
from prefect_gitops.repo.schemas import MODELINE, SCHEMA_BASE_URL, schema_texts
from prefect_gitops.state.desired import FlowFacts, build_desired
from prefect_gitops.state.diff import align, resource_changes
from prefect_gitops.state.live import (
    deployment_resource,
    limit_resource,
    pool_resource,
    queue_resource,
    variable_resource,
)
from prefect_gitops.state.ownership import LABEL, Inventory, decode_inventory, encode_inventory
from prefect_gitops.state.resources import Address, Resource, State

SCHEMA = {"title": "Parameters", "type": "object", "properties": {}}


def facts(entrypoint: str, base_dir: Path) -> FlowFacts | str:
    return FlowFacts(name="etl", parameter_schema=SCHEMA, description="Doc.", version="hash-1")


def api_deployment(name: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": f"id-{name}",
        "name": name,
        "flow_id": "flow-1",
        "description": "Doc.",
        "version": "hash-1",
        "tags": ["etl", "nightly"],
        "labels": {"prefect.flow.id": "flow-1"},
        "parameters": {},
        "parameter_openapi_schema": SCHEMA,
        "enforce_parameter_schema": True,
        "job_variables": {"env": {"MODE": "prod"}},
        "work_pool_name": "proc",
        "work_queue_name": "default",
        "paused": False,
        "concurrency_limit": None,
        "global_concurrency_limit": None,
        "concurrency_options": None,
        "pull_steps": [{"prefect.deployments.steps.git_clone": {"repository": "https://x/r.git"}}],
        "entrypoint": "flows/etl.py:etl",
        "path": None,
        "schedules": [],
    }
    body.update(extra)
    return body


def schedule(slug: str | None, sched: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": f"s-{slug}",
        "slug": slug,
        "active": True,
        "parameters": {},
        "max_scheduled_runs": None,
        "schedule": sched,
        **extra,
    }


SCHEDULES = [
    schedule("cron", {"cron": "0 4 * * *", "timezone": "Europe/Paris", "day_or": False}),
    schedule(
        "every-90s",
        {
            "interval": 90.0,
            "anchor_date": "2024-01-01T00:00:00+00:00",
            "timezone": "America/New_York",
        },
    ),
    schedule(
        "fractional",
        {"interval": 2.5, "anchor_date": "2024-01-01T01:00:00+01:00", "timezone": "UTC"},
        active=False,
    ),
    schedule(
        "rrule",
        {"rrule": "DTSTART:20200101T000000\nFREQ=WEEKLY;BYDAY=MO", "timezone": "Europe/Berlin"},
        parameters={"full": True},
    ),
    schedule(
        "minutely",
        {"rrule": "DTSTART:20261101T101500\nFREQ=MINUTELY;INTERVAL=15", "timezone": "UTC"},
    ),
    schedule(None, {"cron": "*/5 * * * *", "timezone": None, "day_or": True}),
]


def server_objects() -> ServerObjects:
    default = templates.default_template("process")
    assert default is not None
    custom = json.loads(json.dumps(default))
    custom["variables"]["properties"]["working_dir"]["default"] = "/srv"
    custom["variables"]["properties"]["db_password"] = {"type": "string", "default": "pw-123456"}
    pools = [
        pool_resource(
            {
                "name": "proc",
                "type": "process",
                "base_job_template": default,
                "concurrency_limit": 2,
                "description": None,
            }
        ),
        pool_resource(
            {
                "name": "custom pool",
                "type": "process",
                "base_job_template": custom,
                "is_paused": True,
            }
        ),
    ]
    queues = [
        queue_resource(
            {
                "name": "default",
                "work_pool_name": "proc",
                "priority": 2,
                "description": "The work pool's default queue.",
            }
        ),
        queue_resource(
            {
                "name": "fast",
                "work_pool_name": "proc",
                "priority": 1,
                "concurrency_limit": 3,
                "description": "",
                "is_paused": True,
            }
        ),
    ]
    deployments = [
        deployment_resource(api_deployment("a", schedules=SCHEDULES), "etl"),
        deployment_resource(api_deployment("b", description="Other text.", version="v9"), "etl"),
        deployment_resource(
            api_deployment(
                "c",
                job_variables={"env": {"MODE": "dev", "API_TOKEN": "tok-abcdef"}},
                parameters={"password": "pw-abcdef", "n": 1},
                work_queue_name="fast",
                paused=True,
                enforce_parameter_schema=False,
                concurrency_limit=None,
                global_concurrency_limit={"limit": 4},
                concurrency_options={
                    "collision_strategy": "CANCEL_NEW",
                    "grace_period_seconds": None,
                },
            ),
            "etl",
        ),
    ]
    variables = [
        variable_resource({"name": "region", "value": "eu", "tags": ["ops"]}),
        variable_resource({"name": "db_password", "value": "pw-zzzzzz"}),
        variable_resource({"name": "has-dash", "value": 1}),
    ]
    limits = [
        limit_resource({"name": "db", "limit": 3, "active": False, "slot_decay_per_second": 0})
    ]
    return ServerObjects(
        tuple(pools), tuple(queues), tuple(deployments), tuple(variables), tuple(limits)
    )


def export_into(root: Path, objects: ServerObjects | None = None) -> Export:
    result = build_export(
        objects or server_objects(),
        target=root,
        project="proj",
        source="http://x/api",
        flow_lookup=facts,
    )
    write_files(root, result.files, force=False)
    (root / "flows").mkdir(exist_ok=True)
    (root / "flows/etl.py").write_text("from prefect import flow\n\n@flow\ndef etl(): ...\n")
    return result


def test_round_trip_compares_equal(tmp_path: Path) -> None:
    objects = server_objects()
    result = export_into(tmp_path, objects)
    project, diags = load_project(tmp_path)
    assert not diags.has_errors, [d.message for d in diags]
    desired = build_desired(project, environ={}, flow_lookup=facts)
    live = State.of(
        [*objects.pools, *objects.queues, *objects.deployments, *objects.variables, *objects.limits]
    )
    aligned = align(desired, live)
    exported = set(result.addresses)
    # Block references in a deployment are opaque to plan (resolved only by `prefect deploy`);
    # in a pool template they are plain text, so plan proposes to replace the clear secret.
    secret_paths = {
        "work_pool.custom pool": {"base_job_template.variables.properties.db_password.default"}
    }
    for address in exported:
        changes = resource_changes(aligned.get(address), desired[address])
        assert {c.path for c in changes} == secret_paths.get(str(address), set()), address
    assert Address.variable("db_password") not in exported
    assert Address.variable("has-dash") not in exported


def test_secrets_become_block_references(tmp_path: Path) -> None:
    result = export_into(tmp_path)
    text = "".join(f.text for f in result.files)
    for secret in ("tok-abcdef", "pw-abcdef", "pw-123456", "pw-zzzzzz"):
        assert secret not in text
    assert "{{ prefect.blocks.secret.etl-c-api-token }}" in text
    assert "{{ prefect.blocks.secret.custom-pool-db-password }}" in text
    warned = "\n".join(result.warnings)
    assert "etl-c-password" in warned and "variable 'db_password' looks secret" in warned
    assert "variable 'has-dash'" in warned


def test_documents_are_idiomatic(tmp_path: Path) -> None:
    export_into(tmp_path)
    text = (tmp_path / "prefect.yaml").read_text()
    doc = yaml.safe_load(text)
    # Pull steps all deployments share go to the top level; shared tags become an anchor.
    assert doc["pull"] == [
        {"prefect.deployments.steps.git_clone": {"repository": "https://x/r.git"}}
    ]
    assert "&tags-etl-nightly" in text and text.count("*tags-etl-nightly") == 3
    by_name = {d["name"]: d for d in doc["deployments"]}
    assert set(by_name["a"]) == {"name", "entrypoint", "tags", "work_pool", "schedules"}
    assert by_name["b"]["version"] == "v9" and by_name["b"]["description"] == "Other text."
    assert by_name["c"]["concurrency_limit"] == {"limit": 4, "collision_strategy": "CANCEL_NEW"}
    assert by_name["c"]["paused"] is True and by_name["c"]["enforce_parameter_schema"] is False
    items = {s.get("slug"): s for s in by_name["a"]["schedules"]}
    assert items["rrule"]["rrule"] == "FREQ=WEEKLY;BYDAY=MO"  # Prefect adds that DTSTART itself
    assert items["every-90s"]["interval"] == 90 and items["fractional"]["active"] is False
    assert items["cron"]["day_or"] is False and "slug" not in items[None]
    pool = yaml.safe_load((tmp_path / "work-pools/proc.yaml").read_text())
    assert pool == {
        "name": "proc",
        "type": "process",
        "concurrency_limit": 2,
        "queues": [
            {"name": "fast", "priority": 1, "concurrency_limit": 3, "paused": True},
            {"name": "default", "priority": 2},
        ],
    }
    custom = yaml.safe_load((tmp_path / "work-pools/custom-pool.yaml").read_text())
    assert custom["base_job_template"] == "templates/custom-pool.json" and custom["paused"]
    assert (tmp_path / "work-pools/templates/custom-pool.json").is_file()
    config = yaml.safe_load((tmp_path / "prefect-gitops.yaml").read_text())
    assert config == {
        "project": "proj",
        "variables": [{"name": "region", "value": "eu", "tags": ["ops"]}],
        "concurrency_limits": [{"name": "db", "limit": 3, "active": False}],
    }


def test_write_files_never_overwrites_without_force(tmp_path: Path) -> None:
    files = [ExportedFile("a.yaml", "new: 1\n"), ExportedFile("sub/b.yaml", "new: 2\n")]
    (tmp_path / "a.yaml").write_text("old: 1\n")
    with pytest.raises(ReconcilerError, match=r"overwrite a\.yaml"):
        write_files(tmp_path, files, force=False)
    assert (tmp_path / "a.yaml").read_text() == "old: 1\n"
    assert not (tmp_path / "sub").exists()
    write_files(tmp_path, files, force=True)
    assert (tmp_path / "a.yaml").read_text() == "new: 1\n"
    assert (tmp_path / "sub/b.yaml").read_text() == "new: 2\n"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.yaml", "b.yaml", "sub"]


def test_selection() -> None:
    objects = server_objects()
    a, _, c = objects.deployments
    assert Selection(deployments=("etl/a",)).deployment_matches(a)
    assert Selection(deployments=("a",)).deployment_matches(a)
    assert not Selection(deployments=("etl/c*",)).deployment_matches(a)
    assert Selection(tags=("nightly",)).deployment_matches(c)
    assert not Selection(tags=("other",)).deployment_matches(c)
    assert not Selection(pools=("custom*",)).deployment_matches(a)
    assert not Selection().narrowed and Selection(tags=("x",)).narrowed


class FakeServer:
    def __init__(self) -> None:
        self.paths: list[str] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api")
        self.paths.append(path)
        body = json.loads(request.content) if request.content else {}
        offset = body.get("offset", 0)
        data: dict[str, list[dict[str, Any]]] = {
            "/work_pools/filter": [
                {"name": "p", "type": "process", "base_job_template": {}},
                {"name": "q", "type": "process", "base_job_template": {}},
            ],
            "/deployments/filter": [
                api_deployment("a", work_pool_name="p"),
                api_deployment("b", work_pool_name="q", tags=["x"]),
            ],
            "/flows/filter": [{"id": "flow-1", "name": "etl"}],
            "/work_queues/filter": [
                {"name": "default", "work_pool_name": "p"},
                {"name": "default", "work_pool_name": "q"},
            ],
            "/variables/filter": [
                {"name": "prefect_gitops_proj", "value": {}},
                {"name": "v", "value": 1},
            ],
            "/v2/concurrency_limits/filter": [
                {"name": "deployment:id-a", "limit": 1},
                {"name": "g", "limit": 2},
            ],
        }
        return httpx.Response(200, json=data[path][offset:] if offset == 0 else [])


def test_read_server_reads_in_a_few_requests_and_skips_bookkeeping() -> None:
    fake = FakeServer()
    client = ApiClient(
        Settings(api_url="http://x/api"), transport=httpx.MockTransport(fake.handler)
    )
    everything = read_server(client)
    assert len(fake.paths) == 6 and client.write_count == 0
    assert [v.name for v in everything.variables] == ["v"]
    assert [lim.name for lim in everything.limits] == ["g"]
    assert [d.name for d in everything.deployments] == ["etl/a", "etl/b"]
    subset = read_server(client, Selection(tags=("x",)))
    assert [d.name for d in subset.deployments] == ["etl/b"]
    assert [p.name for p in subset.pools] == ["q"] and [q.name for q in subset.queues] == [
        "q/default"
    ]
    assert subset.variables == () and subset.limits == ()


def _inventory_variables(*inventories: Inventory) -> list[dict[str, Any]]:
    return [
        {"name": name, "value": value}
        for inventory in inventories
        for name, value in encode_inventory(inventory)
    ]


def test_the_owner_recorded_on_the_server_names_the_exported_project() -> None:
    objects = ServerObjects(
        pools=(pool_resource({"name": "etl", "type": "process"}),),
        deployments=(
            deployment_resource(api_deployment("a", labels={LABEL: "platform"}), "etl"),
            deployment_resource(api_deployment("b", labels={LABEL: "analytics"}), "etl"),
            deployment_resource(api_deployment("c"), "etl"),
        ),
    )
    variables = _inventory_variables(
        Inventory("platform", {"work_pool.etl": "d1"}, applied_at="t1"),
        Inventory("unrelated", {"work_pool.other": "d2"}, applied_at="t2"),
    )
    fake = httpx.MockTransport(
        lambda request: httpx.Response(
            200, json=variables if json.loads(request.content).get("offset", 0) == 0 else []
        )
    )
    with ApiClient(Settings(api_url="http://x/api"), transport=fake) as client:
        inventories = read_inventories(client)
        assert client.write_count == 0
    assert sorted(i.project for i in inventories) == ["platform", "unrelated"]
    assert recorded_owners(objects, inventories) == {"platform": 2, "analytics": 1}
    assert recorded_owners(ServerObjects(deployments=objects.deployments[2:]), inventories) == {}


def test_every_exported_yaml_file_names_its_schema_on_the_first_line(tmp_path: Path) -> None:
    published = export_into(tmp_path / "plain")
    first_lines = {
        f.path: f.text.splitlines()[0] for f in published.files if f.path.endswith(".yaml")
    }
    assert first_lines == {
        "prefect-gitops.yaml": f"{MODELINE}{SCHEMA_BASE_URL}prefect-gitops.schema.json",
        "prefect.yaml": f"{MODELINE}{SCHEMA_BASE_URL}prefect.yaml.schema.json",
        "work-pools/proc.yaml": f"{MODELINE}{SCHEMA_BASE_URL}work-pool.schema.json",
        "work-pools/custom-pool.yaml": f"{MODELINE}{SCHEMA_BASE_URL}work-pool.schema.json",
    }
    # With the repository's own copy (`prefect-gitops schema --write schemas`), relative paths.
    own = tmp_path / "own"
    (own / "schemas").mkdir(parents=True)
    for name, text in schema_texts().items():
        (own / "schemas" / name).write_text(text, encoding="utf-8")
    assert local_schema_dir(own) == "schemas" and local_schema_dir(tmp_path / "plain") is None
    result = build_export(
        server_objects(),
        target=own,
        project="proj",
        source="http://x/api",
        flow_lookup=facts,
        local_schemas=local_schema_dir(own),
    )
    lines = {f.path: f.text.splitlines()[0] for f in result.files if f.path.endswith(".yaml")}
    assert lines["prefect.yaml"] == f"{MODELINE}schemas/prefect.yaml.schema.json"
    assert lines["work-pools/proc.yaml"] == f"{MODELINE}../schemas/work-pool.schema.json"
    assert lines["prefect-gitops.yaml"] == f"{MODELINE}schemas/prefect-gitops.schema.json"


def test_a_pool_with_the_servers_default_template_is_exported_without_one(tmp_path: Path) -> None:
    server_default = {
        "job_configuration": {"image": "{{ image }}"},
        "variables": {"properties": {}},
    }
    pool = pool_resource({"name": "dock", "type": "docker", "base_job_template": server_default})
    with_default = ServerObjects(pools=(pool,), pool_templates={"docker": server_default})
    result = build_export(
        with_default, target=tmp_path, project="p", source="http://x/api", flow_lookup=facts
    )
    paths = {f.path for f in result.files}
    assert "work-pools/dock.yaml" in paths and not any("templates/" in p for p in paths)
    # without the server's default, it differs from the shipped one: the template is kept
    shipped_only = build_export(
        ServerObjects(pools=(pool,)), target=tmp_path, project="p", source="x", flow_lookup=facts
    )
    assert "work-pools/templates/dock.json" in {f.path for f in shipped_only.files}


def test_adopt_keeps_what_an_inventory_of_an_earlier_version_lists() -> None:
    """`export --adopt` reads the inventory as plan and apply do: one written under the
    names of an earlier version (`prefect_gitops_<project>`) still counts, so adopting more
    objects does not drop the ones it already listed."""
    legacy = {"v": 1, "project": "alpha", "part": 1, "parts": 1, "applied_at": "t",
              "desired": None, "items": {"work_pool.old": "x"}}  # fmt: skip
    variables = [{"id": "legacy", "name": "prefect_gitops_alpha", "value": legacy}]

    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content or b"null")
        if request.url.path.endswith("/variables/filter"):
            term = body["variables"]["name"]["like_"]
            if body.get("offset"):
                return httpx.Response(200, json=[])
            return httpx.Response(200, json=[v for v in variables if term in v["name"]])
        if request.method == "POST" and request.url.path.endswith("/variables/"):
            variables.append({"id": f"v{len(variables)}", **body})
            return httpx.Response(201, json={"id": variables[-1]["id"]})
        raise AssertionError(f"unexpected {request.method} {request.url}")

    pool = Resource(Address("work_pool", "new"), {"name": "new", "type": "process"})
    client = ApiClient(Settings(api_url="http://x/api"), transport=httpx.MockTransport(handle))
    with client:
        inventory = adopt(client, "alpha", [pool.address], State.of([pool]))
    assert set(inventory.items) == {"work_pool.old", "work_pool.new"}
    stored = decode_inventory("alpha", variables)
    assert stored is not None and set(stored.items) == {"work_pool.old", "work_pool.new"}
