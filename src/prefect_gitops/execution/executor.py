"""Execute a `Plan` against the live server: ordered, concurrent, and with the narrowest calls.

What each action sends (never anything for a no-op):

| resource | create | update | delete |
| --- | --- | --- | --- |
| flow | `POST /flows/` | – | never |
| work pool | `POST /work_pools/` (full template) | `PATCH` changed fields | `DELETE` |
| queue | `POST .../queues` (`default`, or one a deployment created: `PATCH`) | `PATCH` changed fields | `DELETE` |
| variable | `POST /variables/` | `PATCH /variables/name/{n}` | `DELETE` |
| concurrency limit | `POST /v2/concurrency_limits/` | `PATCH` changed fields | `DELETE` |
| deployment | `POST /deployments/` with our ownership label | `PATCH` changed fields; schedules one by one (below) | `DELETE` |
| automation (a deployment trigger) | `POST /automations/` owned by the deployment (`owner_resource`) | `PATCH` when only `enabled` changed, else `PUT` | `DELETE` |

Automations are written one by one, only those that changed: never the delete-all-then-recreate
of `prefect deploy`. A `PUT` keeps the owner recorded at creation.

Schedules are reconciled by slug through `/deployments/{id}/schedules`: `POST` the new ones,
`PATCH` only the changed fields of a changed one, `DELETE` the removed ones; the others keep
their ids and settings. Prefect 3.9 itself deletes a deployment's future auto-scheduled runs on
any deployment `PATCH` and any schedule `PATCH`/`DELETE` (the scheduler recreates them within a
minute, with the same idempotency keys); a deployment that does not change is never touched.
Labels can only be written by the `POST /deployments/` upsert, which re-creates every schedule:
a label change upserts the whole deployment with its schedules (and the unmanaged ones from
the server) and says so in the report. A pool replace (`type` changed) deletes and recreates the
pool, then recreates its queues and re-points its deployments.

Values are taken from the desired spec, except under paths the plan does not manage (opaque
placeholders such as `{{ prefect.blocks.* }}`, unmanaged fields and `ignore` rules): there the
live value is kept, so apply never overwrites what `plan` said it would leave alone.

Order: flows, pools, queues (per pool in priority order), variables and limits, then
deployments; deletes after all of them, deployments first and pools last. Independent requests
run concurrently on a bounded thread pool. A failure is reported and does not stop independent
resources; what depends on it is skipped. Progress goes to a callback; nothing is printed.
"""

from __future__ import annotations

import fnmatch
import itertools
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal
from urllib.parse import quote

from ..errors import ReconcilerError
from ..plans.build import Action, Plan, Reason, ResourceChange, sort_key
from ..prefect.api import MAX_IN_FLIGHT, ApiClient, ApiError
from ..prefect.automations import request_body
from ..repo.models import IgnoreRule
from ..state.diff import align, ignored_fields
from ..state.ownership import (
    LABEL,
    MAX_PARTS,
    PENDING,
    ForeignInventoryError,
    Inventory,
    digest,
    encode_inventory,
    inventory_base_name,
    inventory_names,
    inventory_owner,
    is_inventory_of,
    is_owned,
    our_inventory_variables,
)
from ..state.resources import Address, Resource, State, join_path

# Worker threads: enough to hide ~50 ms of latency to a remote server (2.9x faster than one
# behind 50 ms on PostgreSQL). The API client's `Throttle` lowers the writes actually in
# flight when the server pushes back: to one against a locked SQLite database.
DEFAULT_PARALLELISM = 8
MAX_PARALLELISM = MAX_IN_FLIGHT
UPSERT_ATTEMPTS = 3  # `POST /deployments/` and `POST /flows/` are upserts: safe to resend
# Connection failures before anything was sent, after the client's retries: the server is gone.
_UNREACHABLE = ("cannot connect", "timed out connecting")

Status = Literal["applied", "failed", "skipped"]

__all__ = [
    "DEFAULT_PARALLELISM",
    "ApplyResult",
    "Cancel",
    "Outcome",
    "apply_plan",
    "check_prune_guard",
    "inventory_after",
    "inventory_before",
    "record_inventory",
]


@dataclass(frozen=True)
class Outcome:
    address: str
    type: str
    name: str
    action: Action
    status: Status
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "type": self.type,
            "name": self.name,
            "actions": self.action.actions,
            "status": self.status,
            "detail": self.detail,
        }


Progress = Callable[[Outcome, int, int], None]
"""Called after each change settles: (outcome, settled so far, total changes)."""


@dataclass(frozen=True)
class ApplyResult:
    outcomes: tuple[Outcome, ...]
    requests: int = 0
    writes: int = 0
    seconds: float = 0.0
    inventory_written: bool = False
    interrupted: str | None = None  # why apply stopped sending before the end

    @property
    def ok(self) -> bool:
        return all(o.status == "applied" for o in self.outcomes)

    def summary(self) -> dict[str, int]:
        counts = {"added": 0, "changed": 0, "destroyed": 0, "failed": 0, "skipped": 0}
        for o in self.outcomes:
            if o.status != "applied":
                counts[o.status] += 1
            elif o.action is Action.CREATE:
                counts["added"] += 1
            elif o.action is Action.UPDATE:
                counts["changed"] += 1
            elif o.action is Action.DELETE:
                counts["destroyed"] += 1
            elif o.action is Action.REPLACE:
                counts["added"] += 1
                counts["destroyed"] += 1
        return counts


# -- guards before anything is written -------------------------------------------------------


PRUNE_GUARDED_KINDS = {
    "deployment": "deployments",
    "work_pool": "work pools",
    "work_queue": "work queues",
    "variable": "variables",
    "concurrency_limit": "concurrency limits",
}


def check_prune_guard(plan: Plan, desired: State, *, allow_empty: bool) -> None:
    """Argo CD's `allowEmpty`, per kind: never prune every owned object of a kind (deployments,
    pools, queues, variables, limits) because the repository suddenly declares none of it."""
    if allow_empty:
        return
    deletes = [rc for rc in plan.resource_changes if rc.action is Action.DELETE]
    deleted_pools = {rc.name for rc in deletes if rc.type == "work_pool"}
    emptied: dict[str, int] = {}
    for type_ in PRUNE_GUARDED_KINDS:
        count = sum(
            1
            for rc in deletes
            # A queue deleted with its pool follows the pool (which the pool kind guards).
            if rc.type == type_
            and not (type_ == "work_queue" and rc.name.split("/", 1)[0] in deleted_pools)
        )
        if count and not desired.of_type(type_):
            emptied[type_] = count
    if emptied:
        kinds = " and no ".join(PRUNE_GUARDED_KINDS[t] for t in emptied)
        counts = ", ".join(f"{n} {PRUNE_GUARDED_KINDS[t]}" for t, n in emptied.items())
        raise ReconcilerError(
            f"the repository declares no {kinds}, and prune would delete all {counts} "
            "this project owns; nothing was written",
            hint="if that is really wanted, set `allow_empty: true` in prefect-gitops.yaml",
        )


# -- paths: which parts of a spec the plan manages -------------------------------------------

_MISSING: Any = object()


def _dotted(path: str) -> str:
    return path.replace("[", ".").replace("]", "")


def _skipped(path: str, patterns: Sequence[str]) -> bool:
    """The same matching as `diff.py`: a path is skipped when any prefix matches a pattern."""
    pieces = _dotted(path).split(".")
    return any(
        fnmatch.fnmatchcase(".".join(pieces[:end]), p)
        for end in range(1, len(pieces) + 1)
        for p in patterns
    )


def _format(parts: Sequence[Any]) -> str:
    out: list[str | int] = []
    for i, part in enumerate(parts):
        if i == 1 and parts[0] == "schedules":
            out.append(f"[{part}]")
        elif isinstance(part, int):
            out.append(part)
        else:
            out.append(str(part))
    return join_path(out)


def skip_patterns(desired: Resource, ignore: Iterable[IgnoreRule]) -> list[str]:
    return [
        _dotted(p)
        for p in (
            *desired.meta.get("unmanaged", ()),
            *desired.meta.get("opaque", ()),
            *ignored_fields(desired.address, ignore),
        )
    ]


def effective_spec(
    desired: Resource, live: Resource | None, ignore: Iterable[IgnoreRule] = ()
) -> dict[str, Any]:
    """The desired spec with every path the plan does not manage taken from the live one."""
    if live is None:
        return dict(desired.spec)
    patterns = skip_patterns(desired, ignore)
    merged = _merge(dict(desired.spec), dict(live.spec), (), patterns)
    return dict(merged)


def _merge(want: Any, have: Any, parts: tuple[Any, ...], patterns: Sequence[str]) -> Any:
    if parts and _skipped(_format(parts), patterns):
        return have
    if parts == ("schedules",) and isinstance(want, list):
        have_by_slug = {
            s.get("slug"): s
            for s in (have if isinstance(have, list) else [])
            if isinstance(s, dict)
        }
        out = []
        for item in want:
            merged = _merge(
                item,
                have_by_slug.get(item.get("slug"), _MISSING),
                (*parts, item.get("slug")),
                patterns,
            )
            if merged is not _MISSING:
                out.append(merged)
        return out
    if isinstance(want, Mapping) and isinstance(have, Mapping):
        result: dict[str, Any] = {}
        for key, value in want.items():
            merged = _merge(value, have.get(key, _MISSING), (*parts, key), patterns)
            if merged is not _MISSING:
                result[key] = merged
        for key in have.keys() - want.keys():
            if _skipped(_format((*parts, key)), patterns):
                result[key] = have[key]
        return result
    if isinstance(want, list) and isinstance(have, list) and len(want) == len(have):
        items = [
            _merge(w, h, (*parts, i), patterns)
            for i, (w, h) in enumerate(zip(want, have, strict=True))
        ]
        return [i for i in items if i is not _MISSING]
    return want


_FIELD = re.compile(r"^([^.\[]+)")
_SCHEDULE_PATH = re.compile(r"^schedules\[(?P<slug>.+?)\](?:\.(?P<sub>[^.\[]+))?")


def changed_fields(rc: ResourceChange) -> set[str]:
    """Top-level fields a change touches (`job_variables.env.X` -> `job_variables`)."""
    out = set()
    for change in rc.changes:
        match = _FIELD.match(change.path)
        if match:
            out.add(match.group(1))
    return out


def changed_schedules(rc: ResourceChange) -> dict[str, set[str]] | None:
    """Slug -> changed schedule fields; None when the whole list changed (`schedules`)."""
    out: dict[str, set[str]] = {}
    for change in rc.changes:
        if change.path == "schedules":
            return None
        match = _SCHEDULE_PATH.match(change.path)
        if match:
            out.setdefault(match.group("slug"), set())
            if match.group("sub"):
                out[match.group("slug")].add(match.group("sub"))
    return out


# -- request bodies --------------------------------------------------------------------------

POOL_FIELDS = ("description", "base_job_template", "is_paused", "concurrency_limit")
QUEUE_FIELDS = ("description", "is_paused", "concurrency_limit", "priority")
VARIABLE_FIELDS = ("value", "tags")
LIMIT_FIELDS = ("limit", "active", "slot_decay_per_second")
DEPLOYMENT_PATCH_FIELDS = frozenset(
    {
        "description", "version", "tags", "parameters", "parameter_openapi_schema",
        "enforce_parameter_schema", "job_variables", "work_pool_name", "work_queue_name",
        "paused", "concurrency_limit", "concurrency_options", "pull_steps", "entrypoint", "path",
    }
)  # fmt: skip
_NOT_SENT = frozenset({"name", "flow_name", "labels", "schedules"})


def schedule_body(item: Mapping[str, Any]) -> dict[str, Any]:
    """A normalized schedule -> `DeploymentScheduleCreate` (unset anchors/zones left out)."""
    body: dict[str, Any] = {
        "schedule": {k: v for k, v in (item.get("schedule") or {}).items() if v is not None},
        "active": bool(item.get("active", True)),
        "parameters": dict(item.get("parameters") or {}),
    }
    slug = item.get("slug")
    if isinstance(slug, str) and slug and not slug.startswith("#"):
        body["slug"] = slug
    if item.get("max_scheduled_runs") is not None:
        body["max_scheduled_runs"] = item["max_scheduled_runs"]
    return body


def deployment_body(
    spec: Mapping[str, Any], *, flow_id: str, labels: Mapping[str, Any], with_schedules: bool
) -> dict[str, Any]:
    body: dict[str, Any] = {"name": spec["name"], "flow_id": flow_id, "labels": dict(labels)}
    for key, value in spec.items():
        if key in _NOT_SENT or value is None:
            continue
        body[key] = value
    body["schedules"] = (
        [schedule_body(s) for s in spec.get("schedules") or []] if with_schedules else []
    )
    return body


def _q(name: str) -> str:
    return quote(name, safe="")


# -- the executor ----------------------------------------------------------------------------


@dataclass
class _Task:
    change: ResourceChange
    needs: set[str] = field(default_factory=set)  # must have been applied
    after: set[str] = field(default_factory=set)  # must have settled (ordering only)
    extra_fields: set[str] = field(default_factory=set)
    note: str | None = None


class _Applier:
    """The requests for one change; each method returns a note for the report (or None)."""

    def __init__(
        self,
        client: ApiClient,
        desired: State,
        live: State,
        project: str,
        ignore: Sequence[IgnoreRule],
    ) -> None:
        self.client = client
        self.desired = desired
        self.live = live  # aligned with desired (schedule ids by compared slug)
        self.project = project
        self.ignore = ignore
        self.flow_ids: dict[str, str] = {
            r.name: str(r.meta["id"]) for r in live.of_type("flow") if r.meta.get("id")
        }
        self.deployment_ids: dict[Address, str] = {
            r.address: str(r.meta["id"]) for r in live.of_type("deployment") if r.meta.get("id")
        }
        self._flow_lock = threading.Lock()

    def run(self, task: _Task) -> str | None:
        rc = task.change
        address = Address(rc.type, rc.name)
        handler = getattr(self, f"_{rc.type}", None)
        if handler is None:
            raise ReconcilerError(f"{rc.address}: apply does not handle {rc.type} resources")
        note: str | None = handler(rc, address, task)
        return note

    def _upsert_post(self, path: str, body: Any) -> Any:
        """POST to an upsert endpoint, resending after a connection dropped mid-request
        (the API client does not resend POSTs, which may create things twice; these cannot)."""
        for attempt in range(UPSERT_ATTEMPTS):
            try:
                return self.client.post(path, json=body)
            except ApiError as exc:
                dropped = exc.status is None and not exc.detail.startswith(_UNREACHABLE)
                if not dropped or attempt == UPSERT_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _want(self, address: Address) -> Resource:
        res = self.desired.get(address)
        if res is None:
            raise ReconcilerError(f"{address}: not in the repository any more; plan again")
        return res

    def _effective(self, address: Address) -> dict[str, Any]:
        return effective_spec(self._want(address), self.live.get(address), self.ignore)

    # -- flows --

    def _flow(self, rc: ResourceChange, address: Address, task: _Task) -> str | None:
        if rc.action is Action.DELETE:
            return "flows are never deleted"
        flow = self._upsert_post("/flows/", {"name": address.name})
        with self._flow_lock:
            self.flow_ids[address.name] = str(flow["id"])
        return None

    def flow_id(self, name: str) -> str:
        with self._flow_lock:
            found = self.flow_ids.get(name)
        if found is not None:
            return found
        flow = self._upsert_post("/flows/", {"name": name})  # a flow deleted meanwhile
        with self._flow_lock:
            self.flow_ids[name] = str(flow["id"])
        return str(flow["id"])

    # -- work pools --

    def _work_pool(self, rc: ResourceChange, address: Address, task: _Task) -> str | None:
        path = f"/work_pools/{_q(address.name)}"
        if rc.action is Action.DELETE:
            self.client.delete(path, allow=(404,))
            return None
        spec = self._effective(address)
        if rc.action is Action.UPDATE:
            fields = [f for f in POOL_FIELDS if f in changed_fields(rc) | task.extra_fields]
            if fields:
                self.client.patch(path, json={f: spec.get(f) for f in fields})
            return None
        if rc.action is Action.REPLACE:
            self.client.delete(path, allow=(404,))
        body = {"name": address.name, "type": spec["type"]}
        body.update({f: spec.get(f) for f in POOL_FIELDS})
        self.client.post("/work_pools/", json=body)
        return (
            "recreated: its queues are recreated and its deployments re-pointed"
            if (rc.action is Action.REPLACE)
            else None
        )

    # -- queues --

    def _work_queue(self, rc: ResourceChange, address: Address, task: _Task) -> str | None:
        pool, name = address.name.split("/", 1)
        path = f"/work_pools/{_q(pool)}/queues/{_q(name)}"
        if rc.action is Action.DELETE:
            self.client.delete(path, allow=(404,))
            return None
        want = self._want(address)
        spec = self._effective(address)
        unmanaged = set(want.meta.get("unmanaged", ()))
        if rc.action is Action.UPDATE:
            fields = [f for f in QUEUE_FIELDS if f in changed_fields(rc)]
            if fields:
                self.client.patch(path, json={f: spec.get(f) for f in fields})
            return None
        body = {f: spec.get(f) for f in QUEUE_FIELDS if f not in unmanaged}
        if name == "default":  # created with the pool
            self.client.patch(path, json=body)
            return None
        created = self.client.post(
            f"/work_pools/{_q(pool)}/queues", json={"name": name, **body}, allow=(409,)
        )
        if created is None:  # a deployment created it implicitly meanwhile
            self.client.patch(path, json=body)
        return task.note

    # -- variables and limits --

    def _variable(self, rc: ResourceChange, address: Address, task: _Task) -> str | None:
        path = f"/variables/name/{_q(address.name)}"
        have = self.live.get(address)
        other = inventory_owner(have.spec.get("value")) if have is not None else None
        if other is not None and other != self.project:
            raise ReconcilerError(
                f"{rc.address} holds the ownership inventory of project '{other}'; not touched"
            )
        if rc.action is Action.DELETE:
            self.client.delete(path, allow=(404,))
            return None
        spec = self._effective(address)
        fields = (
            list(VARIABLE_FIELDS)
            if rc.action is not Action.UPDATE
            else [f for f in VARIABLE_FIELDS if f in changed_fields(rc)]
        )
        body = {f: spec.get(f) for f in fields}
        if rc.action is not Action.UPDATE:
            created = self.client.post(
                "/variables/", json={"name": address.name, **body}, allow=(409,)
            )
            if created is not None:
                return None
        if body:
            self.client.patch(path, json=body)
        return None

    def _concurrency_limit(self, rc: ResourceChange, address: Address, task: _Task) -> str | None:
        path = f"/v2/concurrency_limits/{_q(address.name)}"
        if rc.action is Action.DELETE:
            self.client.delete(path, allow=(404,))
            return None
        spec = self._effective(address)
        fields = (
            list(LIMIT_FIELDS)
            if rc.action is not Action.UPDATE
            else [f for f in LIMIT_FIELDS if f in changed_fields(rc)]
        )
        body = {f: spec.get(f) for f in fields}
        if rc.action is not Action.UPDATE:
            created = self.client.post(
                "/v2/concurrency_limits/", json={"name": address.name, **body}, allow=(409,)
            )
            if created is not None:
                return None
        if body:
            self.client.patch(path, json=body)
        return None

    # -- deployments --

    def _deployment(self, rc: ResourceChange, address: Address, task: _Task) -> str | None:
        have = self.live.get(address)
        if rc.action is Action.DELETE:
            if have is not None and have.meta.get("id"):
                self.client.delete(f"/deployments/{have.meta['id']}", allow=(404,))
            return None
        spec = self._effective(address)
        if rc.action is Action.CREATE or have is None or not have.meta.get("id"):
            self._upsert(spec, labels={**spec.get("labels", {}), LABEL: self.project})
            return None
        fields = changed_fields(rc) | task.extra_fields
        deployment_id = str(have.meta["id"])
        if "labels" in fields:
            self._upsert(spec, labels={**spec.get("labels", {}), LABEL: self.project})
            return (
                "labels can only be set by re-creating the deployment (upsert): its schedules "
                "were re-created and the scheduler regenerates its future runs"
            )
        patch_fields = sorted(fields & DEPLOYMENT_PATCH_FIELDS)
        if "work_queue_name" in fields or "work_pool_name" in fields:
            patch_fields = sorted({*patch_fields, "work_pool_name", "work_queue_name"})
        if patch_fields:
            self.client.patch(
                f"/deployments/{deployment_id}", json={f: spec.get(f) for f in patch_fields}
            )
        if "schedules" in fields:
            self._reconcile_schedules(rc, deployment_id, spec, have)
        return task.note

    def _upsert(self, spec: Mapping[str, Any], *, labels: Mapping[str, Any]) -> None:
        flow_id = self.flow_id(str(spec["flow_name"]))
        schedules = list(spec.get("schedules") or [])
        # The upsert drops `max_scheduled_runs`; the schedules endpoint keeps it.
        separate = any(s.get("max_scheduled_runs") is not None for s in schedules)
        body = deployment_body(spec, flow_id=flow_id, labels=labels, with_schedules=not separate)
        created = self._upsert_post("/deployments/", body)
        if isinstance(created, Mapping) and created.get("id"):
            with self._flow_lock:
                address = Address.deployment(str(spec["flow_name"]), str(spec["name"]))
                self.deployment_ids[address] = str(created["id"])
        if separate and schedules:
            self.client.post(
                f"/deployments/{created['id']}/schedules",
                json=[schedule_body(s) for s in schedules],
            )

    # -- automations (deployment triggers) --

    def _automation(self, rc: ResourceChange, address: Address, task: _Task) -> str | None:
        have = self.live.get(address)
        automation_id = have.meta.get("id") if have is not None else None
        if rc.action is Action.DELETE:
            if automation_id:
                self.client.delete(f"/automations/{automation_id}", allow=(404,))
            return None
        spec = self._effective(address)
        with self._flow_lock:
            deployment_id = self.deployment_ids.get(address.owner)
        if deployment_id is None:
            raise ReconcilerError(f"{rc.address}: {address.owner} has no id on the server")
        if rc.action is Action.CREATE or not automation_id:
            self.client.post("/automations/", json=request_body(spec, deployment_id, owner=True))
            return None
        path = f"/automations/{automation_id}"
        if changed_fields(rc) == {"enabled"}:
            self.client.patch(path, json={"enabled": spec["enabled"]})
        else:
            self.client.put(path, json=request_body(spec, deployment_id, owner=False))
        return None

    def _reconcile_schedules(
        self, rc: ResourceChange, deployment_id: str, spec: Mapping[str, Any], have: Resource
    ) -> None:
        want = {str(s["slug"]): s for s in spec.get("schedules") or []}
        live = {str(s.get("slug")): s for s in have.spec.get("schedules") or []}
        ids: Mapping[str, Any] = have.meta.get("schedule_ids") or {}
        assigned = set(have.meta.get("assigned_slugs") or ())
        touched = changed_schedules(rc)
        slugs = sorted(set(want) | set(live)) if touched is None else sorted(touched)
        base = f"/deployments/{deployment_id}/schedules"
        creates = [schedule_body(want[s]) for s in slugs if s in want and s not in live]
        if creates:
            self.client.post(base, json=creates)
        for slug in slugs:
            if slug in want and slug in live:
                subfields = (touched or {}).get(slug) or {
                    "schedule",
                    "active",
                    "parameters",
                    "max_scheduled_runs",
                }
                full = schedule_body(want[slug])
                body: dict[str, Any] = {}
                for sub in sorted(subfields):
                    if sub == "max_scheduled_runs":
                        body[sub] = want[slug].get("max_scheduled_runs")
                    elif sub in full:
                        body[sub] = full[sub]
                if slug in assigned:
                    body["slug"] = slug  # an unslugged schedule (`prefect deploy`) gets its slug
                if body and ids.get(slug):
                    self.client.patch(f"{base}/{ids[slug]}", json=body)
            elif slug in live and slug not in want and ids.get(slug):
                self.client.delete(f"{base}/{ids[slug]}", allow=(404,))


def _tasks(plan: Plan, desired: State) -> list[_Task]:
    changes = [rc for rc in plan.resource_changes if rc.action is not Action.NOOP]
    replaced = {rc.name for rc in changes if rc.type == "work_pool" and rc.action is Action.REPLACE}
    tasks: dict[str, _Task] = {}

    def add(rc: ResourceChange, **kw: Any) -> _Task:
        task = _Task(rc, **kw)
        tasks[rc.address] = task
        return task

    for rc in changes:
        add(rc)
    for pool in sorted(replaced):
        _add_replacement_tasks(pool, desired, tasks, add)

    writes = [t for t in tasks.values() if t.change.action is not Action.DELETE]
    deletes = [t for t in tasks.values() if t.change.action is Action.DELETE]
    # Dependencies first: every other create/update settles before deployments. One set for
    # all of them (built per deployment, it made 10k deployments 10^8 steps).
    before_deployments = frozenset(
        t.change.address for t in writes if t.change.type not in ("deployment", "automation")
    )
    for task in writes:
        rc = task.change
        if rc.type == "work_queue":
            task.needs |= _created(tasks, str(Address.pool(rc.name.split("/", 1)[0])))
        elif rc.type == "deployment":
            want = desired.get(Address(rc.type, rc.name))
            spec = want.spec if want is not None else {}
            flow, pool_name = spec.get("flow_name"), spec.get("work_pool_name")
            task.needs |= _created(tasks, str(Address.flow(str(flow))))
            if isinstance(pool_name, str):
                task.needs |= _created(tasks, str(Address.pool(pool_name)))
                queue_name = str(spec.get("work_queue_name") or "default")
                queue = str(Address.queue(pool_name, queue_name))
                task.needs |= _created(tasks, queue)
            task.after |= before_deployments
        elif rc.type == "automation":
            task.needs |= _created(tasks, str(Address(rc.type, rc.name).owner))
    # Queues of one pool in priority order: the server renumbers the others on each write.
    by_pool: dict[str, list[_Task]] = {}
    for task in writes:
        if task.change.type == "work_queue":
            by_pool.setdefault(task.change.name.split("/", 1)[0], []).append(task)
    for queue_tasks in by_pool.values():
        queue_tasks.sort(key=lambda t: (_priority(t, desired), t.change.address))
        for before, task in itertools.pairwise(queue_tasks):
            task.after.add(before.change.address)
    _order_deletes(writes, deletes)
    return sorted(tasks.values(), key=lambda t: sort_key(t.change))


def _add_replacement_tasks(
    pool: str, desired: State, tasks: Mapping[str, _Task], add: Callable[..., _Task]
) -> None:
    """A replaced pool loses its queues and detaches its deployments: recreate and re-point."""
    for res in desired.of_type("work_queue"):
        if res.spec.get("pool") == pool and str(res.address) not in tasks:
            add(
                ResourceChange(str(res.address), res.type, res.name, Action.CREATE, None,
                               dict(res.spec), (), Reason.IMMUTABLE_FIELD),
                note=f"recreated with work_pool.{pool}",
            )  # fmt: skip
    for res in desired.of_type("deployment"):
        if res.spec.get("work_pool_name") != pool:
            continue
        task = tasks.get(str(res.address))
        if task is None:
            task = add(
                ResourceChange(str(res.address), res.type, res.name, Action.UPDATE,
                               dict(res.spec), dict(res.spec), (), Reason.IMMUTABLE_FIELD),
                note=f"re-pointed to the recreated work_pool.{pool}",
            )  # fmt: skip
        task.extra_fields |= {"work_pool_name", "work_queue_name"}


def _order_deletes(writes: list[_Task], deletes: list[_Task]) -> None:
    """Deletes last, in reverse order: deployments, then limits/variables/queues, then pools
    (children before their parent: a pool's own queues are deleted before it)."""
    write_addresses = frozenset(t.change.address for t in writes)
    deployments = frozenset(t.change.address for t in deletes if t.change.type == "deployment")
    not_pools = frozenset(t.change.address for t in deletes if t.change.type != "work_pool")
    for task in deletes:
        rc = task.change
        task.after |= write_addresses
        if rc.type != "deployment":
            task.after |= deployments
        if rc.type == "work_pool":
            task.after |= not_pools


def _priority(task: _Task, desired: State) -> int:
    want = desired.get(Address(task.change.type, task.change.name))
    value = want.spec.get("priority") if want is not None else None
    return value if isinstance(value, int) else 1 << 30


def _created(tasks: Mapping[str, _Task], address: str) -> set[str]:
    """`{address}` when that resource is being created (or recreated) by this apply."""
    task = tasks.get(address)
    if task is None:
        return set()
    action = task.change.action
    return {address} if action in (Action.CREATE, Action.REPLACE) else set()


def apply_plan(
    client: ApiClient,
    plan: Plan,
    *,
    desired: State,
    live: State,
    project: str,
    ignore: Sequence[IgnoreRule] = (),
    parallelism: int = DEFAULT_PARALLELISM,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.monotonic,
    cancel: Cancel | None = None,
) -> ApplyResult:
    """Execute the plan's changes (no-ops send nothing). `live` is the live state read right
    before (its ids are used); the plan must have been computed from it.
    `parallelism` threads send the changes; the client's `Throttle` decides how many writes
    are in flight at once.
    Setting `cancel` (or Ctrl-C) stops sending: `ApplyResult.interrupted` says why."""
    if not 1 <= parallelism <= MAX_PARALLELISM:
        raise ReconcilerError(f"--parallelism must be between 1 and {MAX_PARALLELISM}")
    started = clock()
    requests, writes = client.request_count, client.write_count
    applier = _Applier(client, desired, align(desired, live), project, ignore)
    tasks = _tasks(plan, desired)
    executor = _Executor(tasks, applier, progress, cancel or Cancel())
    outcomes = executor.run(parallelism)
    return ApplyResult(
        outcomes=tuple(outcomes[t.change.address] for t in tasks),
        requests=client.request_count - requests,
        writes=client.write_count - writes,
        seconds=clock() - started,
        interrupted=executor.cancel.reason,
    )


INTERRUPTED = "apply was interrupted"


class Cancel:
    """Tells a running apply to stop sending, and why: the first reason given is kept (Ctrl-C,
    a lost lock, the server gone, ...). Set from any thread, or a signal handler."""

    def __init__(self) -> None:
        self._lock = threading.RLock()  # a signal handler may set it inside a `set`
        self.reason: str | None = None

    def set(self, reason: str = INTERRUPTED) -> None:
        with self._lock:
            if self.reason is None:
                self.reason = reason

    def is_set(self) -> bool:
        return self.reason is not None


class _Executor:
    """Runs the tasks on `parallelism` worker threads in dependency order. Once `cancel` is set
    (Ctrl-C here, or whoever passed it in: a lost lock), nothing new is sent: what has not
    started is settled as not attempted, what is in flight finishes. The workers record what
    they did themselves, so Ctrl-C at any point of the main thread's bookkeeping loses nothing."""

    def __init__(
        self,
        tasks: list[_Task],
        applier: _Applier,
        progress: Progress | None,
        cancel: Cancel,
    ) -> None:
        self.tasks = tasks
        self.by_address = {t.change.address: t for t in tasks}
        self.applier = applier
        self.progress = progress
        self.cancel = cancel
        self.outcomes: dict[str, Outcome] = {}
        self.finished: dict[str, tuple[Status, str | None]] = {}  # written by the workers
        self.crashes: list[BaseException] = []  # bugs in a handler, raised after the run
        self.parallelism = 1
        self._lock = threading.Lock()
        self._work: queue.SimpleQueue[_Task | None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[str] = queue.SimpleQueue()

    def not_attempted(self) -> str:
        return f"not attempted: {self.cancel.reason or INTERRUPTED}"

    def work(self) -> None:
        """A worker thread: runs tasks until told to end (bounded: each task comes once)."""
        for _ in range(len(self.tasks) + 1):
            task = self._work.get()
            if task is None:
                return
            try:
                status, detail = self._attempt(task)
            except Exception as exc:  # a bug: reported by the main thread after the run
                with self._lock:
                    self.crashes.append(exc)
                status, detail = "failed", f"internal error: {type(exc).__name__}"
            with self._lock:
                self.finished[task.change.address] = (status, detail)
            self._done.put(task.change.address)

    def _attempt(self, task: _Task) -> tuple[Status, str | None]:
        if self.cancel.is_set():  # queued before apply was told to stop
            return "skipped", self.not_attempted()
        try:
            return "applied", self.applier.run(task)
        except ApiError as exc:
            if exc.status is None and exc.detail.startswith(_UNREACHABLE):
                self.cancel.set(f"the server stopped answering ({exc.detail})")
            return "failed", str(exc)
        except ReconcilerError as exc:
            return "failed", exc.message

    def settle(self, task: _Task, status: Status, detail: str | None) -> None:
        rc = task.change
        outcome = Outcome(rc.address, rc.type, rc.name, rc.action, status, detail)
        self.outcomes[rc.address] = outcome
        if self.progress is not None:
            self.progress(outcome, len(self.outcomes), len(self.tasks))

    def settle_finished(self, task: _Task) -> bool:
        with self._lock:
            result = self.finished.get(task.change.address)
        if result is not None and task.change.address not in self.outcomes:
            self.settle(task, *result)
        return result is not None

    def release(self, pending: list[_Task], queued: set[str]) -> None:
        """Queue (or settle as skipped) pending tasks whose waits have settled, never more
        than there are workers: after Ctrl-C, only what is in flight still goes out."""
        for task in list(pending):
            if len(queued) >= self.parallelism:
                return
            waits = (task.needs | task.after) & self.by_address.keys()
            if any(a not in self.outcomes for a in waits):
                continue
            pending.remove(task)
            failed = sorted(
                a for a in task.needs & self.by_address.keys()
                if self.outcomes[a].status != "applied"
            )  # fmt: skip
            if failed:
                self.settle(task, "skipped", f"skipped because {', '.join(failed)} "
                            f"{'was' if len(failed) == 1 else 'were'} not applied")  # fmt: skip
            elif self.cancel.is_set():
                self.settle(task, "skipped", self.not_attempted())
            else:
                self._work.put(task)
                queued.add(task.change.address)

    def step(self, pending: list[_Task], queued: set[str]) -> bool:
        """One round: settle what finished, queue what is ready, wait for a worker to finish
        one. False when everything is settled."""
        for address in sorted(queued):
            if self.settle_finished(self.by_address[address]):
                queued.discard(address)
        self.release(pending, queued)
        if not queued:
            return bool(pending)  # newly settled skips may release more tasks
        self._done.get()  # each task sends one: a stale one only costs a round
        return True

    def run(self, parallelism: int) -> dict[str, Outcome]:
        self.parallelism = max(1, min(parallelism, len(self.tasks)))
        workers = [
            threading.Thread(target=self.work, name=f"apply-{i}", daemon=True)
            for i in range(self.parallelism)
        ]
        for worker in workers:
            worker.start()
        pending, queued = list(self.tasks), set[str]()
        try:
            # Bounded: each round settles a task or consumes one of its finish messages.
            for _ in range(2 * len(self.tasks) + 2 + MAX_INTERRUPTS):
                try:
                    if not self.step(pending, queued):
                        break
                except KeyboardInterrupt:
                    # Ctrl-C: stop sending; what is in flight finishes; the report says what
                    # was done. Once already stopping (cli/apply.py turns the first Ctrl-C or
                    # SIGTERM into `cancel`), the user insists: give up on the report.
                    if self.cancel.is_set():
                        raise
                    self.cancel.set(INTERRUPTED)
        except BaseException:
            self.cancel.set("apply stopped on an internal error")  # queued tasks are not sent
            raise
        finally:
            for _ in workers:
                self._work.put(None)
            for worker in workers:
                worker.join()
        if self.crashes:
            raise self.crashes[0]
        for task in self.tasks:
            if task.change.address in self.outcomes or self.settle_finished(task):
                continue
            if self.cancel.is_set():
                self.settle(task, "skipped", self.not_attempted())
            else:  # only a dependency cycle leaves tasks here (a bug)
                self.settle(task, "skipped", "skipped: unresolvable ordering")
        return self.outcomes


MAX_INTERRUPTS = 10


# -- ownership inventory ---------------------------------------------------------------------


def inventory_after(
    plan: Plan,
    result: ApplyResult,
    *,
    desired: State,
    live: State,
    project: str,
    inventory: Inventory | None,
) -> tuple[dict[str, str], str | None]:
    """The inventory items (address -> digest) and desired fingerprint after this apply.

    Recorded: what this apply created, updated or adopted, owned no-ops (digest refreshed), and
    what a failed create may have left behind; deleted objects are dropped; everything else
    keeps its previous entry. Unowned objects that only happen to match are not taken over.
    """
    items = dict(inventory.items) if inventory is not None else {}
    for rc in plan.resource_changes:  # no-ops send nothing: they have no outcome
        if rc.type == "flow" or rc.action is not Action.NOOP:
            continue
        address = Address(rc.type, rc.name)
        want, have = desired.get(address), live.get(address)
        owned = have is not None and is_owned(have, project, inventory)
        if want is not None and (owned or rc.reason is Reason.ADOPT):
            items[rc.address] = digest(want.spec)
    # Every task's outcome, the queues recreated with a replaced pool (not in the plan) too.
    for outcome in result.outcomes:
        address = Address.parse(outcome.address)
        if address.type == "flow":
            continue
        want = desired.get(address)
        if outcome.status == "applied" and outcome.action is Action.DELETE:
            items.pop(outcome.address, None)
        elif outcome.status == "applied" and want is not None:
            items[outcome.address] = digest(want.spec)
        elif outcome.status == "failed" and outcome.action is not Action.DELETE:
            items.setdefault(outcome.address, "unknown")
    # Entries recorded before an interrupted run wrote them, of objects that do not exist and
    # are no longer declared (`live` holds every inventory address that exists).
    for text in list(items):
        recorded = _parse(text)
        if recorded is not None and recorded not in desired and recorded not in live:
            items.pop(text)
    fingerprint = (
        plan.desired_fingerprint
        if result.ok
        else (inventory.desired if inventory is not None else None)
    )
    return items, fingerprint


def inventory_before(plan: Plan, inventory: Inventory | None) -> dict[str, str]:
    """The inventory to record before `apply` writes anything: the current one, plus every
    address this plan creates or writes, as `PENDING`. A run killed half-way thus leaves
    what it created owned (a later prune may delete it); the run's end records digests."""
    items = dict(inventory.items) if inventory is not None else {}
    for rc in plan.resource_changes:
        if rc.type == "flow" or rc.action in (Action.NOOP, Action.DELETE):
            continue
        items.setdefault(rc.address, PENDING)
    for pool in (rc.name for rc in plan.resource_changes if rc.action is Action.REPLACE):
        for rc in plan.resource_changes:  # queues recreated with their pool
            if rc.type == "work_queue" and rc.name.split("/", 1)[0] == pool:
                items.setdefault(rc.address, PENDING)
    return items


def _parse(text: str) -> Address | None:
    try:
        return Address.parse(text)
    except ValueError:
        return None


def record_inventory(
    client: ApiClient,
    project: str,
    items: Mapping[str, str],
    desired_fingerprint: str | None,
    *,
    previous: Inventory | None,
    now: datetime | None = None,
) -> bool:
    """Write the ownership inventory when it changed; returns whether anything was written.

    Parts after the first are written first, so a run interrupted half-way leaves parts with
    mixed timestamps, which `decode_inventory` treats as "no inventory" rather than guessing.
    Only variables whose content names exactly this owner are patched or deleted; a foreign
    one under one of our names is refused (`ForeignInventoryError`) before anything is written.
    """
    if (
        previous is not None
        and dict(previous.items) == dict(items)
        and (previous.desired == desired_fingerprint)
    ):
        return False
    when = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    inventory = Inventory(
        project=project,
        items=dict(items),
        applied_at=when.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        desired=desired_fingerprint,
    )
    parts = encode_inventory(inventory)
    names = {name for name, _ in parts}
    found = client.paginate(
        "/variables/filter", {"variables": {"name": {"like_": inventory_base_name(project)}}}
    )
    ours = our_inventory_variables(project, [v for v in found if v.get("name") in names])
    for name, value in [*parts[1:], parts[0]]:
        if name in ours:
            client.patch(f"/variables/{ours[name]['id']}", json={"value": value})
            continue
        created = client.post(
            "/variables/",
            json={"name": name, "value": value, "tags": ["prefect-gitops"]},
            allow=(409,),
        )
        if created is None:  # created meanwhile: by whom decides whether we may touch it
            raise ForeignInventoryError(
                f"the variable '{name}' appeared while recording the inventory of project "
                f"'{project}'; not overwritten",
                hint="another apply of this project may be running without the lock",
            )
    # Parts beyond the new count, left by a longer inventory: by id, and only our own.
    stale_names = set(inventory_names(project, MAX_PARTS)) - names
    for var in sorted(found, key=lambda v: str(v.get("name"))):
        if var.get("name") in stale_names and is_inventory_of(project, var.get("value")):
            client.delete(f"/variables/{var['id']}", allow=(404,))
    return True
