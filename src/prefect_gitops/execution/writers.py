"""The writes of each resource kind: the requests one change of a plan sends (the executor
decides when). What each action sends (never anything for a no-op):

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

Values are those of the effective spec (`effective`): the desired one, with the live value kept
under the paths the plan does not manage.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from ..errors import ReconcilerError
from ..plans.build import Action, ResourceChange
from ..prefect.api import ApiClient, ApiError
from ..prefect.automations import request_body
from ..repo.models import IgnoreRule
from ..state.ownership import LABEL, inventory_owner
from ..state.resources import Address, Resource, State
from .effective import changed_fields, changed_schedules, effective_spec

UPSERT_ATTEMPTS = 3  # `POST /deployments/` and `POST /flows/` are upserts: safe to resend
# Connection failures before anything was sent, after the client's retries: the server is gone.
UNREACHABLE = ("cannot connect", "timed out connecting")

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


# -- the writes ------------------------------------------------------------------------------


@dataclass
class Task:
    change: ResourceChange
    needs: set[str] = field(default_factory=set)  # must have been applied
    after: set[str] = field(default_factory=set)  # must have settled (ordering only)
    extra_fields: set[str] = field(default_factory=set)
    note: str | None = None


class Applier:
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

    def run(self, task: Task) -> str | None:
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
                dropped = exc.status is None and not exc.detail.startswith(UNREACHABLE)
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

    def _flow(self, rc: ResourceChange, address: Address, task: Task) -> str | None:
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

    def _work_pool(self, rc: ResourceChange, address: Address, task: Task) -> str | None:
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

    def _work_queue(self, rc: ResourceChange, address: Address, task: Task) -> str | None:
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

    def _variable(self, rc: ResourceChange, address: Address, task: Task) -> str | None:
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

    def _concurrency_limit(self, rc: ResourceChange, address: Address, task: Task) -> str | None:
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

    def _deployment(self, rc: ResourceChange, address: Address, task: Task) -> str | None:
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

    def _automation(self, rc: ResourceChange, address: Address, task: Task) -> str | None:
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
