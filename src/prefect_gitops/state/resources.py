"""Resources and states: the common shape of what the repository wants and what the server has.

A `Resource` is one object on the server, identified by an `Address` (`work_pool.prod`,
`work_queue.prod/critical`, `deployment.etl/daily`, `automation.etl/daily/<name>` (a deployment
trigger), `variable.x`, `concurrency_limit.x`, `flow.etl`), with a normalized, JSON-able `spec` that `diff` compares field by field, and
`meta` (server ids and other facts `apply` needs) that is never compared or fingerprinted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

ChangeKind = Literal["added", "removed", "changed"]

RESOURCE_TYPES = (  # in dependency order: plan.TYPE_ORDER applies them so
    "flow",
    "work_pool",
    "work_queue",
    "variable",
    "concurrency_limit",
    "deployment",
    "automation",
)


@dataclass(frozen=True, order=True)
class Address:
    type: str
    name: str

    def __str__(self) -> str:
        return f"{self.type}.{self.name}"

    @classmethod
    def parse(cls, text: str) -> Address:
        type_, sep, name = text.partition(".")
        if not sep or type_ not in RESOURCE_TYPES or not name:
            raise ValueError(f"not a resource address: {text!r}")
        return cls(type_, name)

    @classmethod
    def pool(cls, name: str) -> Address:
        return cls("work_pool", name)

    @classmethod
    def queue(cls, pool: str, name: str) -> Address:
        return cls("work_queue", f"{pool}/{name}")

    @classmethod
    def deployment(cls, flow: str, name: str) -> Address:
        return cls("deployment", f"{flow}/{name}")

    @classmethod
    def automation(cls, deployment: Address, name: str) -> Address:
        """A deployment trigger's automation: `automation.<flow>/<deployment>/<name>`."""
        return cls("automation", f"{deployment.name}/{name}")

    @property
    def owner(self) -> Address:
        """The deployment an `automation.<flow>/<deployment>/<name>` address belongs to."""
        flow, deployment, _ = self.name.split("/", 2)
        return Address.deployment(flow, deployment)

    @classmethod
    def flow(cls, name: str) -> Address:
        return cls("flow", name)

    @classmethod
    def variable(cls, name: str) -> Address:
        return cls("variable", name)

    @classmethod
    def limit(cls, name: str) -> Address:
        return cls("concurrency_limit", name)


@dataclass(frozen=True)
class Resource:
    address: Address
    spec: Mapping[str, Any]
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def type(self) -> str:
        return self.address.type

    @property
    def name(self) -> str:
        return self.address.name

    def fingerprint(self) -> str:
        return sha256_of(self.spec)


class State(Mapping[Address, Resource]):
    """An immutable mapping address -> resource, iterated in address order."""

    def __init__(self, resources: Mapping[Address, Resource] | None = None) -> None:
        self._items: dict[Address, Resource] = dict(sorted((resources or {}).items()))

    @classmethod
    def of(cls, resources: list[Resource]) -> State:
        return cls({r.address: r for r in resources})

    def __getitem__(self, key: Address) -> Resource:
        return self._items[key]

    def __iter__(self) -> Iterator[Address]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"State({len(self._items)} resources)"

    def of_type(self, type_: str) -> list[Resource]:
        return [r for a, r in self._items.items() if a.type == type_]

    def to_dict(self) -> dict[str, Any]:
        return {str(a): dict(r.spec) for a, r in self._items.items()}

    def fingerprint(self) -> str:
        return sha256_of(self.to_dict())


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 kept: equal data gives equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256_of(value: Any) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def join_path(parts: tuple[str | int, ...] | list[str | int]) -> str:
    """`("job_variables", "env", "X")` -> `job_variables.env.X`; ints and `[key]` parts index."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith("["):
            out += part
        else:
            out += f".{part}" if out else part
    return out


@dataclass(frozen=True)
class FieldChange:
    """One field that differs. `path` looks like `base_job_template.variables.properties.image.default`,
    `schedules[daily].schedule.cron`, `job_variables.env.LOG_LEVEL` or `tags`."""

    path: str
    before: Any
    after: Any
    kind: ChangeKind

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "before": self.before, "after": self.after, "kind": self.kind}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FieldChange:
        kind = d["kind"]
        if kind not in ("added", "removed", "changed"):
            raise ValueError(f"unknown field change kind {kind!r}")
        return cls(path=d["path"], before=d.get("before"), after=d.get("after"), kind=kind)
