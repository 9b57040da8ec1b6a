"""The plan as JSON: the canonical, masked document every other plan renderer reads."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from ..plans.build import Plan
from .escaping import json_visible
from .masking import mask_plan_dict


def plan_document(
    plan: Plan, *, mask_keys: Collection[str] = (), mask_values: Collection[str] = ()
) -> dict[str, Any]:
    """`plan.to_dict()` with secrets masked: what `--format json` prints and the others show."""
    return mask_plan_dict(plan.to_dict(), mask_keys=mask_keys, mask_values=mask_values)


def render_plan_json(
    plan: Plan,
    *,
    use_color: bool = False,
    mask_keys: Collection[str] = (),
    mask_values: Collection[str] = (),
) -> str:
    return render_document_json(plan_document(plan, mask_keys=mask_keys, mask_values=mask_values))


def render_document_json(doc: dict[str, Any]) -> str:
    return json_visible(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False)) + "\n"
