"""The ownership inventory around an apply: what to record before anything is written (every
address the plan writes, as pending), what to record after it (digests of what was applied,
failed creates kept, deletes dropped), and its writing to the server's variables, only ever
those of this project.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone

from ..plans.build import Action, Plan, Reason
from ..prefect.api import ApiClient
from ..state.ownership import (
    MAX_PARTS,
    PENDING,
    ForeignInventoryError,
    Inventory,
    digest,
    encode_inventory,
    inventory_base_name,
    inventory_names,
    is_inventory_of,
    is_owned,
    our_inventory_variables,
)
from ..state.resources import Address, State
from .results import ApplyResult


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
