"""The plan renderers by name: `plan --format NAME` picks one, the CLI prints what it returns.

`sources` (address -> (file from the repository's top, line); `cli.annotations.resource_sources`)
lets `github` annotate the line that declares each resource; the others ignore it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Protocol

from ..plan import Plan
from .plan_github import render_plan_github
from .plan_json import render_plan_json
from .plan_markdown import render_plan_markdown
from .plan_text import render_plan_text


class PlanRenderer(Protocol):
    def __call__(
        self,
        plan: Plan,
        *,
        use_color: bool = False,
        mask_keys: Collection[str] = (),
        mask_values: Collection[str] = (),
        sources: Mapping[str, tuple[str, int]] | None = None,
    ) -> str: ...


PLAN_RENDERERS: dict[str, PlanRenderer] = {
    "text": render_plan_text,
    "json": render_plan_json,
    "markdown": render_plan_markdown,
    "github": render_plan_github,
}
