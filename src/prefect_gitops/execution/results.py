"""What an apply reports: one `Outcome` per change (applied, failed or skipped, and why), the
`ApplyResult` of the run with its request counts, and the `Progress` callback's signature.
Plain data, rendered by `render/`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ..plans.build import Action

Status = Literal["applied", "failed", "skipped"]


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
