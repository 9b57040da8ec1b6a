"""The apply result as JSON for CI: every address of the plan with what happened to it."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from ..execution.results import ApplyResult
from ..plans.build import Plan
from ..version import __version__
from .escaping import json_visible
from .masking import mask_message

FORMAT_VERSION = "1"


def apply_document(
    plan: Plan, result: ApplyResult, *, mask_values: Collection[str] = ()
) -> dict[str, Any]:
    """`resource_changes[]` has the plan's addresses in plan order; `status` is `applied`,
    `failed` (with the server's reason in `detail`), `skipped` (a dependency did not apply)
    or `no-op` (nothing was sent)."""
    outcomes = {o.address: o for o in result.outcomes}
    changes: list[dict[str, Any]] = []
    for rc in plan.resource_changes:
        outcome = outcomes.pop(rc.address, None)
        if outcome is None:
            changes.append(
                {"address": rc.address, "type": rc.type, "name": rc.name,
                 "actions": rc.action.actions, "status": "no-op", "detail": None}
            )  # fmt: skip
            continue
        changes.append(outcome.to_dict())
    changes.extend(o.to_dict() for o in outcomes.values())  # recreated with a replaced pool
    for item in changes:
        if item["detail"]:
            item["detail"] = mask_message(item["detail"], mask_values)
    return {
        "format_version": FORMAT_VERSION,
        "tool_version": __version__,
        "api_url": plan.api_url,
        "ok": result.ok,
        "summary": result.summary(),
        "resource_changes": changes,
        "requests": {"total": result.requests, "writes": result.writes},
        "duration_seconds": round(result.seconds, 3),
        "inventory_written": result.inventory_written,
    }


def render_apply_json(plan: Plan, result: ApplyResult, *, mask_values: Collection[str] = ()) -> str:
    doc = apply_document(plan, result, mask_values=mask_values)
    return json_visible(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False)) + "\n"
