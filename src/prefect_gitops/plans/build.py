"""The plan: pure, versioned data saying what `apply` would change, and how it is built.

A `Plan` is computed from two `State`s (desired from the repository, live from the server)
and never touches the network. Renderers (render/plan_*.py) turn it into text, JSON or
Markdown; `apply` executes it. Its JSON form (`to_dict`) is the `--format json` output and
the `--out plan.json` file; `from_dict` reads it back.

Drift: a resource has drifted when the live server differs from the repository in a way
the repository did not ask for. Without local state we cannot know what the last apply
wrote, so the definition is per resource: an update (or replace, or a prune-delete) of a
resource that already exists is drift when the repository did not change since the last
apply recorded in the ownership inventory (its desired fingerprint for that address), or
when no apply was ever recorded for it. When the inventory records the resource with the
same desired fingerprint, the difference can only come from outside git. When the
desired fingerprint recorded differs, the repository changed: an ordinary update.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Any, cast

from ..repo.models import IgnoreRule
from ..state.diff import align, resource_changes
from ..state.ownership import Inventory, digest, is_owned
from ..state.resources import RESOURCE_TYPES, Address, ChangeKind, FieldChange, Resource, State
from ..version import __version__

__all__ = [
    "FORMAT_VERSION",
    "Action",
    "ChangeKind",
    "FieldChange",
    "Plan",
    "Reason",
    "ResourceChange",
    "build_plan",
]

FORMAT_VERSION = "1"

# Apply order: dependencies first (state lists the types in that order). Deletes run last,
# in reverse order.
TYPE_ORDER: tuple[str, ...] = RESOURCE_TYPES


class Action(str, Enum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    REPLACE = "replace"
    NOOP = "no-op"

    @property
    def symbol(self) -> str:
        return _SYMBOLS[self]

    @property
    def actions(self) -> list[str]:
        """The Terraform-style action list of the JSON form."""
        if self is Action.REPLACE:
            return ["delete", "create"]
        return [self.value]

    @classmethod
    def from_actions(cls, actions: Iterable[str]) -> Action:
        items = list(actions)
        if items == ["delete", "create"] or items == ["replace"]:
            return cls.REPLACE
        if len(items) != 1:
            raise ValueError(f"unknown actions {items!r}")
        return cls(items[0])


_SYMBOLS = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.DELETE: "-",
    Action.REPLACE: "-/+",
    Action.NOOP: " ",
}


class Reason(str, Enum):
    NEW = "new"
    CHANGED = "changed"
    NOT_IN_CONFIG = "delete_because_not_in_config"
    IMMUTABLE_FIELD = "replace_because_immutable_field"
    ADOPT = "adopt"


@dataclass(frozen=True)
class ResourceChange:
    """What happens to one resource. `before`/`after` are normalized JSON-able states
    (`before` is None for a create, `after` is None for a delete)."""

    address: str
    type: str
    name: str
    action: Action
    before: Any | None
    after: Any | None
    changes: tuple[FieldChange, ...]
    reason: Reason | None
    drifted: bool = False
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "type": self.type,
            "name": self.name,
            "actions": self.action.actions,
            "before": self.before,
            "after": self.after,
            "changed_fields": [c.to_dict() for c in self.changes],
            "reason": self.reason.value if self.reason is not None else None,
            "drifted": self.drifted,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ResourceChange:
        reason = d.get("reason")
        return cls(
            address=d["address"],
            type=d["type"],
            name=d["name"],
            action=Action.from_actions(d["actions"]),
            before=d.get("before"),
            after=d.get("after"),
            changes=tuple(FieldChange.from_dict(c) for c in d.get("changed_fields", ())),
            reason=Reason(reason) if reason is not None else None,
            drifted=bool(d.get("drifted", False)),
            notes=tuple(d.get("notes", ())),
        )


@dataclass(frozen=True)
class Plan:
    format_version: str
    tool_version: str
    created_at: str
    api_url: str
    environment: str | None
    live_fingerprint: str
    desired_fingerprint: str
    prune: bool
    resource_changes: tuple[ResourceChange, ...] = field(default=())

    def summary(self) -> dict[str, int]:
        """Counts as Terraform shows them: a replace counts in `add` and `destroy` too."""
        counts = {"add": 0, "change": 0, "destroy": 0, "replace": 0, "no_op": 0}
        for rc in self.resource_changes:
            if rc.action is Action.CREATE:
                counts["add"] += 1
            elif rc.action is Action.UPDATE:
                counts["change"] += 1
            elif rc.action is Action.DELETE:
                counts["destroy"] += 1
            elif rc.action is Action.REPLACE:
                counts["replace"] += 1
                counts["add"] += 1
                counts["destroy"] += 1
            else:
                counts["no_op"] += 1
        return counts

    def has_changes(self) -> bool:
        return any(rc.action is not Action.NOOP for rc in self.resource_changes)

    @property
    def changes(self) -> tuple[ResourceChange, ...]:
        """The resource changes that are not no-ops."""
        return tuple(rc for rc in self.resource_changes if rc.action is not Action.NOOP)

    @property
    def drifted(self) -> tuple[ResourceChange, ...]:
        return tuple(rc for rc in self.resource_changes if rc.drifted)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "tool_version": self.tool_version,
            "created_at": self.created_at,
            "api_url": self.api_url,
            "environment": self.environment,
            "live_fingerprint": self.live_fingerprint,
            "desired_fingerprint": self.desired_fingerprint,
            "prune": self.prune,
            "resource_changes": [rc.to_dict() for rc in self.resource_changes],
            "summary": self.summary(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Plan:
        version = str(d.get("format_version"))
        if version != FORMAT_VERSION:
            raise ValueError(
                f"unsupported plan format_version {version!r} (expected {FORMAT_VERSION!r})"
            )
        return cls(
            format_version=version,
            tool_version=str(d.get("tool_version", "")),
            created_at=str(d.get("created_at", "")),
            api_url=str(d.get("api_url", "")),
            environment=cast("str | None", d.get("environment")),
            live_fingerprint=str(d["live_fingerprint"]),
            desired_fingerprint=str(d["desired_fingerprint"]),
            prune=bool(d.get("prune", False)),
            resource_changes=tuple(
                ResourceChange.from_dict(rc) for rc in d.get("resource_changes", ())
            ),
        )


def sort_key(rc: ResourceChange) -> tuple[int, int, str]:
    """Apply order: creates/updates/replaces by dependency, then deletes in reverse."""
    rank = TYPE_ORDER.index(rc.type) if rc.type in TYPE_ORDER else len(TYPE_ORDER)
    if rc.action is Action.DELETE:
        return (1, len(TYPE_ORDER) - rank, rc.address)
    return (0, rank, rc.address)


def tool_version() -> str:
    return __version__


# -- building a plan -------------------------------------------------------------------------

NEVER_DELETED = ("flow",)  # deleting a flow deletes its deployments; Prefect creates flows anyway


def build_plan(
    desired: State,
    live: State,
    *,
    project: str,
    inventory: Inventory | None = None,
    prune: bool = False,
    adopt: bool = False,
    ignore: Sequence[IgnoreRule] = (),
    api_url: str = "",
    environment: str | None = None,
    now: datetime | None = None,
    desired_fingerprint: str | None = None,
) -> Plan:
    """Compare the desired state with the live one. Pure: both states are already read.

    - In the repository, not on the server: create.
    - On both: update with the field changes (`diff.py` holds the policy), replace when an
      immutable field differs (a pool's `type`), or no-op.
    - On the server and owned by the project (`ownership.py`), no longer in the repository:
      delete with `prune`, else a no-op with a note.

    `desired_fingerprint`: `desired.fingerprint()` when the caller already has it.
    """
    aligned = align(desired, live)
    moved = _undeclared_owned_deployments(desired, aligned, project, inventory)
    changes: list[ResourceChange] = []
    for address, want in desired.items():
        have = aligned.get(address)
        notes = _create_notes(want, aligned, desired, moved) if have is None else ()
        changes.append(_compare(want, have, aligned, project, inventory, adopt, ignore, notes))
    for address, have in aligned.items():
        if address.type == "automation" and address not in desired:
            changes.extend(_removed_automation(have, desired, aligned, project, inventory, prune))
        elif address not in desired and is_owned(have, project, inventory):
            changes.extend(_undeclared(have, aligned, prune))
    when = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return Plan(
        format_version=FORMAT_VERSION,
        tool_version=tool_version(),
        created_at=when.isoformat().replace("+00:00", "Z"),
        api_url=api_url,
        environment=environment,
        live_fingerprint=live.fingerprint(),
        desired_fingerprint=desired_fingerprint or desired.fingerprint(),
        prune=prune,
        resource_changes=tuple(sorted(changes, key=sort_key)),
    )


def _compare(
    want: Resource,
    have: Resource | None,
    live: State,
    project: str,
    inventory: Inventory | None,
    adopt: bool,
    ignore: Sequence[IgnoreRule],
    create_notes: Iterable[str],
) -> ResourceChange:
    address = want.address
    after = dict(want.spec)
    notes = list(create_notes)
    if have is None:
        return ResourceChange(
            str(address), address.type, address.name, Action.CREATE, None, after,
            _all_fields(want), Reason.NEW, notes=tuple(notes),
        )  # fmt: skip
    before = dict(have.spec)
    fields = tuple(resource_changes(have, want, ignore=ignore))
    owned = is_owned(have, project, inventory)
    drifted = (
        bool(fields) and inventory is not None and inventory.digest_of(address) == digest(want.spec)
    )
    if address.type == "work_pool" and have.spec.get("type") != want.spec.get("type"):
        type_change = FieldChange("type", have.spec.get("type"), want.spec.get("type"), "changed")
        if all(f.path != "type" for f in fields):
            fields = (type_change, *fields)
        return ResourceChange(
            str(address), address.type, address.name, Action.REPLACE, before, after, fields,
            Reason.IMMUTABLE_FIELD, drifted=drifted, notes=_delete_notes(have, live),
        )  # fmt: skip
    if not owned and address.type != "flow":
        if adopt:
            notes.append(f"adopted into project '{project}'")
        elif fields:
            notes.append(f"not yet recorded as owned by project '{project}'; apply takes it over")
    if adopt and not owned and address.type != "flow":
        action = Action.UPDATE if fields else Action.NOOP
        return ResourceChange(
            str(address), address.type, address.name, action, before, after, fields,
            Reason.ADOPT, drifted=drifted, notes=tuple(notes),
        )  # fmt: skip
    if not fields:
        return ResourceChange(
            str(address), address.type, address.name, Action.NOOP, before, after, (), None,
            notes=tuple(notes),
        )  # fmt: skip
    return ResourceChange(
        str(address), address.type, address.name, Action.UPDATE, before, after, fields,
        Reason.CHANGED, drifted=drifted, notes=tuple(notes),
    )  # fmt: skip


def _removed_automation(
    have: Resource,
    desired: State,
    live: State,
    project: str,
    inventory: Inventory | None,
    prune: bool,
) -> Iterable[ResourceChange]:
    """A deployment's automation the repository does not declare. Its deployment decides:
    declared with a `triggers` list, the list is the whole set (delete, as `prefect deploy`
    does, no `--prune` needed); declared without `triggers`, left alone; no longer declared,
    it goes with the deployment when that is pruned."""
    address = have.address
    owner = desired.get(address.owner)
    if owner is not None:
        if not owner.meta.get("manages_triggers"):
            return
        note = f"not in the `triggers` of {address.owner}"
    else:
        deployment = live.get(address.owner)
        if deployment is None or not prune or not is_owned(deployment, project, inventory):
            return
        note = f"deleted with {address.owner}"
    yield ResourceChange(
        str(address), address.type, address.name, Action.DELETE, dict(have.spec), None, (),
        Reason.NOT_IN_CONFIG, notes=(note,),
    )  # fmt: skip


def _all_fields(want: Resource) -> tuple[FieldChange, ...]:
    return tuple(FieldChange(k, None, v, "added") for k, v in sorted(want.spec.items()))


def _undeclared(have: Resource, aligned: State, prune: bool) -> list[ResourceChange]:
    """An owned object the repository no longer declares: deleted with `prune`, else a
    no-op with a note (pools' default queues and NEVER_DELETED types are never deleted)."""
    address = have.address
    if address.type in NEVER_DELETED or (
        address.type == "work_queue" and address.name.endswith("/default")
    ):
        return []
    if prune:
        return [
            ResourceChange(
                str(address), address.type, address.name, Action.DELETE,
                dict(have.spec), None, (), Reason.NOT_IN_CONFIG,
                notes=_delete_notes(have, aligned),
            )
        ]  # fmt: skip
    return [
        ResourceChange(
            str(address), address.type, address.name, Action.NOOP,
            dict(have.spec), None, (), None,
            notes=("no longer in the repository; `--prune` deletes it",),
        )
    ]  # fmt: skip


def _undeclared_owned_deployments(
    desired: State, live: State, project: str, inventory: Inventory | None
) -> dict[str, list[Address]]:
    """Live deployments the project owns but no longer declares, by deployment name: a
    created deployment of the same name is that one under another flow. Built once per plan
    (looked up per created deployment, the scan was quadratic)."""
    moved: dict[str, list[Address]] = {}
    for other in live.of_type("deployment"):
        if other.address not in desired and is_owned(other, project, inventory):
            moved.setdefault(other.name.split("/", 1)[1], []).append(other.address)
    return moved


def _create_notes(
    want: Resource, live: State, desired: State, moved: Mapping[str, list[Address]]
) -> tuple[str, ...]:
    if want.type != "deployment":
        return ()
    notes = []
    pool = want.spec.get("work_pool_name")
    if (
        isinstance(pool, str)
        and Address.pool(pool) not in live
        and Address.pool(pool) not in desired
    ):
        notes.append(f"work pool '{pool}' does not exist on the server")
    for other in moved.get(want.name.split("/", 1)[1], ()):
        notes.append(f"the flow changed: replaces {other}")
    return tuple(notes)


def _delete_notes(have: Resource, live: State) -> tuple[str, ...]:
    if have.type != "work_pool":
        return ()
    count = sum(1 for d in live.of_type("deployment") if d.spec.get("work_pool_name") == have.name)
    queues = sum(1 for q in live.of_type("work_queue") if q.spec.get("pool") == have.name)
    notes = [
        f"replacing or deleting the pool detaches {count} deployment{'s' if count != 1 else ''}"
    ]
    if queues:
        notes.append(f"its {queues} queue{'s' if queues != 1 else ''} go with it")
    return tuple(notes)
