"""What this project owns on the server, recorded on the server itself (no local state file).

Design:

- **Deployments** carry the label `prefect-gitops.project: <project>`. `apply` sets it when it
  creates a deployment (labels can only be written by the create/upsert call). The label is
  bookkeeping, not configuration: `plan` never shows it as a change, so a repository deployed
  with `prefect deploy` (which sets no such label) plans as "No changes".
- **Everything else** (work pools, queues, variables, global concurrency limits), and every
  deployment as well, is listed in an **inventory**: one or more Prefect variables named
  `prefect_gitops_<slug>_<hash>` (then `..._2`, `..._3` when the list outgrows the server's
  5,000-character cap on a variable's value). `<hash>` is a digest of the exact owner, so
  projects whose names sanitise alike (`Team A`, `team-a`) never share a name, and no part
  name of one owner is ever another's first name (those end in ten hex digits). Each holds JSON:
  `{"v": 1, "project": <owner>, "part", "parts", "applied_at", "desired": <fingerprint>,
  "items": {"<address>": "<12-hex digest of the spec last applied>"}}`.
  `apply` records the addresses it is about to write before writing them (`PENDING`), and
  rewrites the inventory after the run; `plan` reads it with one filter request. A variable
  with one of our names but whose content names another owner is never read, written or
  deleted.
- **The owner** is the project, and the environment when `--env` selects one
  (`owner_key`): two environments sharing a server never own each other's objects.
- **Owned** means: a deployment with our label, or any address listed in the inventory.
  Prune deletes only owned objects that the repository no longer declares. Objects that merely
  share a name with ours but were never applied by this project are never touched; taking them
  over is an explicit adoption.
- **Drift** uses the digests: a resource whose desired spec still has the digest recorded at the
  last apply, yet differs on the server, was changed outside git (see `plan.py`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ReconcilerError
from .resources import Address, Resource, canonical_json

LABEL = "prefect-gitops.project"
INVENTORY_PREFIX = "prefect_gitops_"
INVENTORY_VERSION = 1
MAX_VALUE_CHARS = 5000  # prefect.types.MAX_VARIABLE_VALUE_LENGTH
PENDING = "pending"  # the digest of an address recorded before apply writes it
_SLUG_MAX = 150  # variable names are at most 255 characters; room for the hash and a part
_HASH_CHARS = 10


class ForeignInventoryError(ReconcilerError):
    """A variable with one of our inventory names belongs to someone else."""


def owner_key(project: str, environment: str | None = None) -> str:
    """Who owns what `apply` writes: the project, or `<project>@<environment>` with `--env`.

    `%` and `@` in either part are percent-escaped, so that distinct (project, environment)
    pairs never give the same key; a plain project name is its own key.
    """

    def escape(text: str) -> str:
        return text.replace("%", "%25").replace("@", "%40")

    if environment is None:
        return escape(project)
    return f"{escape(project)}@{escape(environment)}"


def slug(name: str) -> str:
    """Lower-cased, other characters as `_` (variable-name rules)."""
    return re.sub(r"[^a-z0-9_]", "_", name.lower()).strip("_")[:_SLUG_MAX] or "default"


def owner_hash(owner: str) -> str:
    return hashlib.sha256(owner.encode("utf-8")).hexdigest()[:_HASH_CHARS]


def inventory_base_name(project: str) -> str:
    """`prefect_gitops_<slug>_<hash of the exact owner>`."""
    return f"{INVENTORY_PREFIX}{slug(project)}_{owner_hash(project)}"


MAX_PARTS = 1000


def inventory_names(project: str, parts: int) -> list[str]:
    base = inventory_base_name(project)
    return [base if i == 1 else f"{base}_{i}" for i in range(1, parts + 1)]


def digest(spec: Mapping[str, Any]) -> str:
    """A short digest of a desired spec (collisions only blur drift reporting)."""
    return hashlib.sha256(canonical_json(dict(spec)).encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class Inventory:
    project: str
    items: Mapping[str, str] = field(default_factory=dict)  # address -> digest
    applied_at: str | None = None
    desired: str | None = None

    def owns(self, address: Address) -> bool:
        return str(address) in self.items

    def digest_of(self, address: Address) -> str | None:
        return self.items.get(str(address))

    def addresses(self) -> list[Address]:
        out = []
        for text in sorted(self.items):
            try:
                out.append(Address.parse(text))
            except ValueError:
                continue
        return out


def build_inventory(
    project: str, resources: Iterable[Resource], *, applied_at: str, desired: str
) -> Inventory:
    return Inventory(
        project=project,
        items={str(r.address): digest(r.spec) for r in resources if r.type != "flow"},
        applied_at=applied_at,
        desired=desired,
    )


def encode_inventory(inventory: Inventory) -> list[tuple[str, dict[str, Any]]]:
    """The inventory as `(variable name, value)` pairs, each value under the size cap."""
    chunks: list[dict[str, str]] = [{}]
    # Headroom for the envelope (project, timestamps, fingerprint, part numbers).
    budget = MAX_VALUE_CHARS - 400 - len(inventory.project)
    size = 0
    for address, value in sorted(inventory.items.items()):
        cost = len(json.dumps(address)) + len(json.dumps(value)) + 2
        if size + cost > budget and chunks[-1]:
            chunks.append({})
            size = 0
        chunks[-1][address] = value
        size += cost
    names = inventory_names(inventory.project, len(chunks))
    return [
        (
            name,
            {
                "v": INVENTORY_VERSION,
                "project": inventory.project,
                "part": index,
                "parts": len(chunks),
                "applied_at": inventory.applied_at,
                "desired": inventory.desired,
                "items": chunk,
            },
        )
        for index, (name, chunk) in enumerate(zip(names, chunks, strict=True), start=1)
    ]


def decode_inventory(project: str, variables: Iterable[Mapping[str, Any]]) -> Inventory | None:
    """Read the inventory back from the variables the server returned (API objects).

    Variables whose content names another owner, parts stored under another part's name, and
    incomplete writes are ignored; None when no usable inventory exists. Without one under
    today's names, one written by an earlier version (`prefect_gitops_<slug>`, no hash) is
    read if its content names exactly this owner: its objects stay owned after an upgrade.
    """
    found = list(variables)
    return _assemble(project, found, inventory_names(project, MAX_PARTS)) or _assemble(
        project, found, legacy_inventory_names(project)
    )


def legacy_inventory_names(project: str) -> list[str]:
    legacy_slug = re.sub(r"[^a-z0-9_]", "_", project.lower()).strip("_") or "default"
    base = (INVENTORY_PREFIX + legacy_slug)[:200]
    return [base if i == 1 else f"{base}_{i}" for i in range(1, MAX_PARTS + 1)]


def inventory_search(project: str) -> str:
    """A `like_` filter term that finds this owner's inventory parts, today's and legacy."""
    return INVENTORY_PREFIX + slug(project)


def _assemble(
    project: str, variables: Iterable[Mapping[str, Any]], names: list[str]
) -> Inventory | None:
    parts: dict[int, Mapping[str, Any]] = {}
    for var in variables:
        value = var.get("value")
        if not isinstance(value, Mapping) or not is_inventory_of(project, value):
            continue
        part = value.get("part")
        if isinstance(part, int) and 1 <= part <= len(names) and var.get("name") == names[part - 1]:
            parts[part] = value
    if not parts or 1 not in parts:
        return None
    first = parts[1]
    total = first.get("parts")
    if not isinstance(total, int) or total < 1:
        return None
    items: dict[str, str] = {}
    for index in range(1, total + 1):
        part_value = parts.get(index)
        if part_value is None or part_value.get("applied_at") != first.get("applied_at"):
            return None  # an interrupted rewrite: treat as unknown rather than guess
        chunk = part_value.get("items")
        if isinstance(chunk, Mapping):
            items.update({str(k): str(v) for k, v in chunk.items()})
    return Inventory(
        project=project,
        items=items,
        applied_at=first.get("applied_at"),
        desired=first.get("desired"),
    )


def is_inventory_of(project: str, value: Any) -> bool:
    """Whether a variable's value is an inventory part of exactly this owner."""
    return (
        isinstance(value, Mapping)
        and value.get("v") == INVENTORY_VERSION
        and value.get("project") == project
    )


def inventory_owner(value: Any) -> str | None:
    """The owner a variable's value is an inventory part of (None: not an inventory)."""
    if isinstance(value, Mapping) and value.get("v") == INVENTORY_VERSION:
        owner = value.get("project")
        if isinstance(owner, str) and isinstance(value.get("items"), Mapping):
            return owner
    return None


def our_inventory_variables(
    project: str, variables: Iterable[Mapping[str, Any]]
) -> dict[str, Mapping[str, Any]]:
    """The variables (by name) holding this owner's inventory parts, from a name filter's
    answer. Raises `ForeignInventoryError` when one of our names holds something else: it is
    not ours to overwrite or delete."""
    names = set(inventory_names(project, MAX_PARTS))
    out: dict[str, Mapping[str, Any]] = {}
    for var in variables:
        name = str(var.get("name"))
        if name not in names:
            continue
        if not is_inventory_of(project, var.get("value")):
            raise ForeignInventoryError(
                f"the variable '{name}' is not the ownership inventory of project "
                f"'{project}'; refusing to overwrite it",
                hint="rename or delete that variable, or give this project another `project:` "
                "name in prefect-gitops.yaml",
            )
        out[name] = var
    return out


def is_owned(resource: Resource, project: str, inventory: Inventory | None) -> bool:
    """A live resource belongs to this project: our label, or listed in the inventory."""
    labels = resource.meta.get("labels")
    if isinstance(labels, Mapping) and labels.get(LABEL) == project:
        return True
    return inventory is not None and inventory.owns(resource.address)
