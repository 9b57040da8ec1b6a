"""The live state: what the server holds for the resources a project cares about.

Read with filter endpoints, 200 objects per page, never one request per deployment:

| what | request |
| --- | --- |
| the ownership inventory | `POST /variables/filter` (name like `prefect_gitops_<project>`) |
| work pools | `POST /work_pools/filter` (names) |
| queues of all those pools | `POST /work_queues/filter` (queue names; responses carry the pool) |
| flows | `POST /flows/filter` (names) |
| deployments, schedules included | `POST /deployments/filter` (deployment and flow names) |
| variables | `POST /variables/filter` (names) |
| global concurrency limits | `GET /v2/concurrency_limits/{name}` per declared limit (the filter endpoint has no name filter and also lists one `deployment:<id>` limit per deployment) |
| deployment triggers | `POST /automations/filter` (all; only when some deployment declares `triggers`), matched to the deployments read by their `run-deployment` action |

Before the desired state is built, `read_deploy_inputs` reads what `prefect deploy` itself reads
from the server: the variables a deployment uses but the project does not declare
(`POST /variables/filter`), and the server's default base job templates
(`GET /collections/views/aggregate-worker-metadata`, as `prefect work-pool create` does when the
worker package is not installed) for pools declared without a template.

Each request names at most 199 objects (`read_named`), so its answer fits on one page of 200
and the server never matches all N names once per page (quadratic: measured). So 1,000
deployments on 10 pools take about ten requests. The result has the same shape as the
desired state (`desired.py`), normalized: server-only fields dropped, `description: "None"` read
as null, `concurrency_limit` taken from `global_concurrency_limit.limit`, system labels
(`prefect.*`) and our ownership label set aside, schedules through `normalize_server_schedule`.
Server ids and the like go to each resource's `meta` for `apply`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from ..prefect.api import MAX_PAGE_SIZE, MAX_PAGES, ApiClient, ApiError
from ..prefect.automations import live_spec, owning_deployment_id
from .desired import normalize_schedule_item
from .ownership import LABEL, Inventory, decode_inventory, inventory_search
from .resources import Address, Resource, State

PAGE_SIZE = MAX_PAGE_SIZE
K = TypeVar("K")
MAX_CONCURRENT_PAGES = 4
MAX_DUPLICATES = 10_000  # automations of one name on one deployment (bounds a loop)


WORKER_METADATA = "/collections/views/aggregate-worker-metadata"
# Worker types whose class ships with Prefect: its CLI takes their template from the class
# (our shipped data is generated from it), not from the server's registry view.
BUILT_IN_TYPES = frozenset({"process"})


@dataclass(frozen=True)
class ServerDefaults:
    variables: dict[str, Any]
    pool_templates: dict[str, dict[str, Any]] | None  # None: could not be read
    templates_note: str


def read_deploy_inputs(
    client: ApiClient, variable_names: Iterable[str], pool_types: Iterable[str]
) -> ServerDefaults:
    """The server's values of `variable_names` and its default templates of `pool_types`."""
    names = sorted(set(variable_names))
    variables: dict[str, Any] = {}
    if names:
        for obj in read_named(client, "/variables/filter", names, by_name("variables")):
            if isinstance(obj, dict) and isinstance(obj.get("name"), str):
                variables[obj["name"]] = obj.get("value")
    wanted = sorted(set(pool_types) - BUILT_IN_TYPES)
    if not wanted:
        return ServerDefaults(variables, {}, "")
    try:
        view = client.get(WORKER_METADATA)
    except ApiError as exc:
        note = f"default pool templates: shipped data (the server's could not be read: {exc})"
        return ServerDefaults(variables, None, note)
    templates = _worker_templates(view, wanted)
    note = "default pool templates: the server's (" + WORKER_METADATA.lstrip("/") + ")"
    missing = [t for t in wanted if t not in templates]
    if missing:
        note += f"; shipped data for {', '.join(missing)} (not in the server's registry)"
    return ServerDefaults(variables, templates, note)


def _worker_templates(view: Any, wanted: Iterable[str]) -> dict[str, dict[str, Any]]:
    """`{package: {worker: {type, default_base_job_configuration}}}` -> type -> template."""
    found: dict[str, dict[str, Any]] = {}
    types = set(wanted)
    for collection in view.values() if isinstance(view, dict) else ():
        for worker in collection.values() if isinstance(collection, dict) else ():
            if not isinstance(worker, dict) or worker.get("type") not in types:
                continue
            template = worker.get("default_base_job_configuration")
            if isinstance(template, dict) and worker["type"] not in found:
                found[worker["type"]] = template
    return found


@dataclass(frozen=True)
class LiveState:
    state: State
    inventory: Inventory | None
    project: str


@dataclass(frozen=True)
class EarlyReads:
    """What `start_reads` read before the desired state was built: the inventory, and the
    deployments of the declared names and those names."""

    inventory: Inventory | None
    deployments_named: tuple[tuple[str, str], ...]  # (flow, deployment) names read
    deployments: list[Any]


def start_reads(
    client: ApiClient, declared: Iterable[Address], *, project: str
) -> Future[EarlyReads]:
    """Start, on a thread of its own, the reads that need only names (the inventory, and the
    deployments: the bulk of a large plan's reading) while the caller builds the desired
    state. `read_live(early=)` takes them, or reads the deployments again when the desired
    state names others (a templated name). An error surfaces there, as the same read's."""
    executor = ThreadPoolExecutor(1, thread_name_prefix="early-reads")
    future = executor.submit(_early_reads, client, set(declared), project)
    executor.shutdown(wait=False)  # the thread ends with its reads
    return future


def _early_reads(client: ApiClient, declared: set[Address], project: str) -> EarlyReads:
    inventory = read_inventory(client, project)
    wanted = declared | set(inventory.addresses() if inventory is not None else ())
    named = _deployment_names(wanted)
    return EarlyReads(inventory, named, _read_deployment_names(client, named))


def read_live(
    client: ApiClient,
    desired: State,
    *,
    project: str,
    early: Future[EarlyReads] | None = None,
) -> LiveState:
    """Read every live object that the desired state or this project's inventory names
    (what `early` already read is not read again)."""
    reads = early.result() if early is not None else None
    inventory = reads.inventory if reads is not None else read_inventory(client, project)
    wanted = set(desired)
    if inventory is not None:
        wanted.update(inventory.addresses())
    names = _names_by_type(wanted, desired)
    # Independent reads go out together; deployments filter on flow *names*, so they need not
    # wait for the flows' ids. Each read is one request or a few pages.
    with ThreadPoolExecutor(MAX_CONCURRENT_READS) as pool:
        pools = pool.submit(_read_pools, client, names)
        queues = pool.submit(_read_queues, client, wanted)
        flows = pool.submit(_read_flows, client, names)
        deployments = pool.submit(_read_deployments, client, wanted, reads)
        variables = pool.submit(_read_variables, client, names)
        limits = pool.submit(_read_limits, client, names)
        flow_resources, flow_ids = flows.result()
        resources = [*pools.result(), *queues.result()]
        resources += [r for r in flow_resources if r.address in wanted]
        resources += _deployment_resources(deployments.result(), flow_ids, wanted)
        tail = [*variables.result(), *limits.result()]
    if _reads_automations(desired, wanted, inventory):
        resources.extend(_automation_resources(client, resources))
    resources.extend(tail)
    return LiveState(State.of(resources), inventory, project)


MAX_CONCURRENT_READS = 6


def read_inventory(client: ApiClient, project: str) -> Inventory | None:
    """The project's ownership inventory: today's names, else one an earlier version wrote."""
    body = {"variables": {"name": {"like_": inventory_search(project)}}}
    return decode_inventory(project, client.paginate("/variables/filter", body))


def _read_pools(client: ApiClient, names: Mapping[str, set[str]]) -> list[Resource]:
    if not names["work_pool"]:
        return []
    found = read_named(
        client, "/work_pools/filter", sorted(names["work_pool"]), by_name("work_pools")
    )
    return [pool_resource(obj) for obj in found]


def _read_queues(client: ApiClient, wanted: set[Address]) -> list[Resource]:
    addresses = {a for a in wanted if a.type == "work_queue"}
    if not addresses:
        return []
    queue_names = sorted({a.name.split("/", 1)[1] for a in addresses})
    found = read_named(client, "/work_queues/filter", queue_names, by_name("work_queues"))
    resources = [queue_resource(obj) for obj in found]
    return [r for r in resources if r is not None and r.address in addresses]


def _read_flows(
    client: ApiClient, names: Mapping[str, set[str]]
) -> tuple[list[Resource], dict[str, str]]:
    if not names["flow"]:
        return [], {}
    flow_ids: dict[str, str] = {}
    resources: list[Resource] = []
    for obj in read_named(client, "/flows/filter", sorted(names["flow"]), by_name("flows")):
        flow_ids[str(obj["id"])] = str(obj["name"])
        resources.append(
            Resource(Address.flow(obj["name"]), {"name": obj["name"]}, {"id": obj["id"]})
        )
    return resources, flow_ids


def _read_deployments(
    client: ApiClient, wanted: set[Address], early: EarlyReads | None
) -> list[Any]:
    named = _deployment_names(wanted)
    if early is not None and early.deployments_named == named:
        return early.deployments  # the very same names, read while the desired state was built
    return _read_deployment_names(client, named)


def _deployment_names(wanted: set[Address]) -> tuple[tuple[str, str], ...]:
    pairs = (a.name.split("/", 1) for a in wanted if a.type == "deployment")
    return tuple(sorted((flow, name) for flow, name in pairs))


def _read_deployment_names(client: ApiClient, named: Sequence[tuple[str, str]]) -> list[Any]:
    def body(chunk: Sequence[tuple[str, str]]) -> dict[str, Any]:
        return {
            "flows": {"name": {"any_": sorted({flow for flow, _ in chunk})}},
            "deployments": {"name": {"any_": sorted({name for _, name in chunk})}},
        }

    return read_named(client, "/deployments/filter", named, body)


def _deployment_resources(
    found: Iterable[Mapping[str, Any]], flow_ids: Mapping[str, str], wanted: set[Address]
) -> list[Resource]:
    resources: list[Resource] = []
    seen: set[str] = set()
    for obj in found:
        if obj["id"] in seen:
            continue
        seen.add(obj["id"])
        flow_name = flow_ids.get(str(obj.get("flow_id")))
        if flow_name is None:
            continue
        res = deployment_resource(obj, flow_name)
        if res.address in wanted:
            resources.append(res)
    return resources


def _read_variables(client: ApiClient, names: Mapping[str, set[str]]) -> list[Resource]:
    if not names["variable"]:
        return []
    found = read_named(client, "/variables/filter", sorted(names["variable"]), by_name("variables"))
    return [variable_resource(obj) for obj in found]


def _read_limits(client: ApiClient, names: Mapping[str, set[str]]) -> list[Resource]:
    resources: list[Resource] = []
    for name in sorted(names["concurrency_limit"]):
        obj = client.get(f"/v2/concurrency_limits/{_quote(name)}", allow=(404,))
        if isinstance(obj, Mapping) and obj.get("name") == name:
            resources.append(limit_resource(obj))
    return resources


def _reads_automations(desired: State, wanted: set[Address], inventory: Inventory | None) -> bool:
    """Only when some deployment manages its triggers, or an owned deployment may be pruned
    (its automations go with it): most projects never pay the extra request."""
    if any(r.meta.get("manages_triggers") for r in desired.of_type("deployment")):
        return True
    if any(a.type == "automation" for a in wanted):
        return True
    owned = inventory.addresses() if inventory is not None else []
    return any(a.type == "deployment" and a not in desired for a in owned)


def _automation_resources(client: ApiClient, read: list[Resource]) -> list[Resource]:
    """Every automation in one paginated filter request, kept when shaped like a trigger of a
    deployment read above (`automations.owning_deployment_id`). A second automation of the
    same name on one deployment is addressed `<name>#2` (so `plan` deletes the extra one)."""
    deployments = {
        str(r.meta["id"]): r.address for r in read if r.type == "deployment" and r.meta.get("id")
    }
    out: list[Resource] = []
    seen: set[Address] = set()
    found = client.paginate("/automations/filter", {"sort": "CREATED_DESC"})
    for obj in reversed(found):  # the oldest keeps the plain name
        owner = deployments.get(owning_deployment_id(obj) or "")
        if owner is None:
            continue
        spec = live_spec(obj, owner.name)
        address = Address.automation(owner, str(spec["name"]))
        for n in range(2, MAX_DUPLICATES):
            if address not in seen:
                break
            address = Address.automation(owner, f"{spec['name']}#{n}")
        seen.add(address)
        out.append(
            Resource(
                address,
                spec,
                {"id": obj.get("id"), "deployment": str(owner), "updated": obj.get("updated")},
            )
        )
    return out


# Each request names at most NAMED_PER_REQUEST objects, so its answer fits on one page. One
# filter of all N names sent with each of N/200 pages costs the server O(N^2): measured on
# PostgreSQL, a fifth of its CPU for a plan's reads at 3,000 deployments, a third at 10,000.
NAMED_PER_REQUEST = PAGE_SIZE - 1


def read_named(
    client: ApiClient,
    path: str,
    keys: Sequence[K],
    body: Callable[[Sequence[K]], dict[str, Any]],
) -> list[Any]:
    """`POST path` (a `*/filter`) with `body(chunk)` for each chunk of at most
    NAMED_PER_REQUEST `keys`, a few in flight (the client is thread-safe). No offsets: a
    chunk's answer cannot shift under a concurrent create or delete."""
    chunks = [keys[i : i + NAMED_PER_REQUEST] for i in range(0, len(keys), NAMED_PER_REQUEST)]
    if not chunks:
        return []
    budget = _Budget(client, path, len(keys), SPLIT_ALLOWANCE * len(chunks) + SPLIT_SLACK)
    if len(chunks) == 1:  # most reads of a plan (pools, flows, variables): no thread pool
        return _read_chunk(budget, chunks[0], body)
    with ThreadPoolExecutor(min(len(chunks), MAX_CONCURRENT_PAGES)) as pool:
        parts = list(pool.map(lambda chunk: _read_chunk(budget, chunk, body), chunks))
    return [obj for part in parts for obj in part]


# A full answer is split in halves. For (flow, deployment) pairs, sorted by flow, a part of
# at most 14 pairs matches at most 14 flows x 14 names = 196 < 200: never full, so halving
# 199 pairs (199, 100, 50, 25, 13) sends at most 1 + 2 + 4 + 8 + 16 = 31 requests per chunk.
# Names shared across many flows reach 5 per chunk in practice (200 flows x the same 101
# names: 502 requests for 102 chunks). A server (or something in front of it) that ignores
# the filter would have every chunk split to single names, each paged: beyond this many
# requests the read stops with an error instead.
SPLIT_ALLOWANCE = 32  # requests per chunk
SPLIT_SLACK = 64


class _Budget:
    """The requests one `read_named` may send, whichever thread sends them."""

    def __init__(self, client: ApiClient, path: str, names: int, limit: int) -> None:
        self.client, self.path, self.names, self.limit = client, path, names, limit
        self.spent = 0
        self._lock = threading.Lock()

    def post(self, body: dict[str, Any]) -> list[Any]:
        with self._lock:
            self.spent += 1
            spent = self.spent
        if spent > self.limit:
            raise self.error(
                f"the answers do not narrow by the {self.names} names asked for (full pages "
                f"after {self.limit} requests); does something between us and the Prefect "
                "API drop request bodies?"
            )
        found = self.client.post(self.path, json=body)
        if not isinstance(found, list):
            raise self.error(f"expected a JSON list, got {type(found).__name__}")
        return found

    def error(self, detail: str) -> ApiError:
        url = f"{self.client.shown_base_url}/{self.path.lstrip('/')}"
        return ApiError("POST", url, self.client.last_status, detail)


def by_name(kind: str, key: str = "name") -> Callable[[Sequence[str]], dict[str, Any]]:
    """The filter body of `kind` (e.g. `variables`) for the objects whose `key` is one of
    the values it is given."""
    return lambda values: {kind: {key: {"any_": list(values)}}}


def _read_chunk(
    budget: _Budget, chunk: Sequence[K], body: Callable[[Sequence[K]], dict[str, Any]]
) -> list[Any]:
    """A full page means the filter matched more than it names (flows x deployment names
    of the same chunk): read it again in halves, down to one key, which is paged."""
    found: list[Any] = []
    for offset in range(0, MAX_PAGES * PAGE_SIZE, PAGE_SIZE):
        page = budget.post({**body(chunk), "limit": PAGE_SIZE, "offset": offset})
        found.extend(page)
        if len(page) < PAGE_SIZE:
            return found
        if len(chunk) > 1:
            half = len(chunk) // 2
            return _read_chunk(budget, chunk[:half], body) + _read_chunk(budget, chunk[half:], body)
    raise budget.error(f"more than {MAX_PAGES} pages of {PAGE_SIZE} for one name; giving up")


def _names_by_type(wanted: Iterable[Address], desired: State) -> dict[str, set[str]]:
    names: dict[str, set[str]] = {
        t: set() for t in ("work_pool", "flow", "variable", "concurrency_limit")
    }
    for address in wanted:
        if address.type in names:
            names[address.type].add(address.name)
        elif address.type == "work_queue":
            names["work_pool"].add(address.name.split("/", 1)[0])
        elif address.type == "deployment":
            names["flow"].add(address.name.split("/", 1)[0])
    # Pools our deployments point at are read too: plan warns when they are missing.
    for res in desired.of_type("deployment"):
        pool = res.spec.get("work_pool_name")
        if isinstance(pool, str):
            names["work_pool"].add(pool)
    return names


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


# -- API objects -> resources ----------------------------------------------------------------


def pool_resource(obj: Mapping[str, Any]) -> Resource:
    return Resource(
        Address.pool(obj["name"]),
        {
            "name": obj["name"],
            "type": obj.get("type"),
            "description": obj.get("description"),
            "base_job_template": obj.get("base_job_template") or {},
            "is_paused": bool(obj.get("is_paused")),
            "concurrency_limit": obj.get("concurrency_limit"),
        },
        {
            "id": obj.get("id"),
            "default_queue_id": obj.get("default_queue_id"),
            "updated": obj.get("updated"),
        },
    )


def queue_resource(obj: Mapping[str, Any]) -> Resource | None:
    pool = obj.get("work_pool_name")
    if not pool:
        return None  # a legacy pool-less queue
    return Resource(
        Address.queue(pool, obj["name"]),
        {
            "pool": pool,
            "name": obj["name"],
            "description": obj.get("description"),
            "is_paused": bool(obj.get("is_paused")),
            "concurrency_limit": obj.get("concurrency_limit"),
            "priority": obj.get("priority"),
        },
        {"id": obj.get("id"), "updated": obj.get("updated")},
    )


def deployment_resource(obj: Mapping[str, Any], flow_name: str) -> Resource:
    description = obj.get("description")
    if description == "None":  # the Python client's str(None) on first create
        description = None
    gcl = obj.get("global_concurrency_limit") or {}
    labels = dict(obj.get("labels") or {})
    user_labels = {k: v for k, v in labels.items() if not k.startswith("prefect.") and k != LABEL}
    schedules = []
    schedule_ids: dict[str, Any] = {}
    unslugged_ids: list[Any] = []
    for item in obj.get("schedules") or []:
        normalized = normalize_schedule_item(item)
        if normalized["slug"]:
            schedule_ids[normalized["slug"]] = item.get("id")
        else:
            unslugged_ids.append(item.get("id"))
        schedules.append(normalized)
    spec = {
        "name": obj["name"],
        "flow_name": flow_name,
        "entrypoint": obj.get("entrypoint"),
        "path": obj.get("path"),
        "description": description,
        "version": obj.get("version"),
        "tags": list(obj.get("tags") or []),
        "labels": user_labels,
        "parameters": obj.get("parameters") or {},
        "parameter_openapi_schema": obj.get("parameter_openapi_schema"),
        "enforce_parameter_schema": bool(obj.get("enforce_parameter_schema")),
        "job_variables": obj.get("job_variables") or {},
        "work_pool_name": obj.get("work_pool_name"),
        "work_queue_name": obj.get("work_queue_name"),
        "paused": bool(obj.get("paused")),
        "concurrency_limit": gcl.get("limit") if gcl else obj.get("concurrency_limit"),
        "concurrency_options": obj.get("concurrency_options"),
        "pull_steps": obj.get("pull_steps"),
        "schedules": sorted(schedules, key=lambda s: (s["slug"] is None, str(s["slug"]))),
    }
    meta = {
        "id": obj.get("id"),
        "flow_id": obj.get("flow_id"),
        "labels": labels,
        "schedule_ids": schedule_ids,  # by slug
        "unslugged_ids": unslugged_ids,  # schedules without a slug, in `spec` order
        "work_queue_id": obj.get("work_queue_id"),
        "updated": obj.get("updated"),
    }
    return Resource(Address.deployment(flow_name, obj["name"]), spec, meta)


def variable_resource(obj: Mapping[str, Any]) -> Resource:
    return Resource(
        Address.variable(obj["name"]),
        {
            "name": obj["name"],
            "value": obj.get("value"),
            "tags": sorted(set(obj.get("tags") or [])),
        },
        {"id": obj.get("id"), "updated": obj.get("updated")},
    )


def limit_resource(obj: Mapping[str, Any]) -> Resource:
    return Resource(
        Address.limit(obj["name"]),
        {
            "name": obj["name"],
            "limit": obj.get("limit"),
            "active": bool(obj.get("active", True)),
            "slot_decay_per_second": float(obj.get("slot_decay_per_second") or 0.0),
        },
        {"id": obj.get("id"), "updated": obj.get("updated")},
    )
