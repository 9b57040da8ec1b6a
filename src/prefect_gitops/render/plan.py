"""The plan renderers by name: `plan --format NAME` picks one, the CLI prints what it returns.

`render_document` renders a plan already masked (`plan_json.plan_document`), so a command that
also saves the plan masks it once. `sources` (address -> (file from the repository's top, line);
`cli.annotations.resource_sources`) lets `github` annotate the line that declares each
resource.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Protocol

from ..plans.build import Plan
from .plan_github import render_document_github, render_plan_github
from .plan_json import render_document_json, render_plan_json
from .plan_markdown import COMMENT_BUDGET, render_document_markdown, render_plan_markdown
from .plan_text import render_document_text, render_plan_text


class PlanRenderer(Protocol):
    def __call__(
        self,
        plan: Plan,
        *,
        use_color: bool = False,
        mask_keys: Collection[str] = (),
        mask_values: Collection[str] = (),
    ) -> str: ...


PLAN_RENDERERS: dict[str, PlanRenderer] = {
    "text": render_plan_text,
    "json": render_plan_json,
    "markdown": render_plan_markdown,
    "github": render_plan_github,
}


def render_document(
    doc: dict[str, Any],
    output_format: str,
    *,
    use_color: bool = False,
    sources: Mapping[str, tuple[str, int]] | None = None,
    markdown_budget: int = COMMENT_BUDGET,
) -> str:
    """The masked plan document `doc` in `output_format` (a key of PLAN_RENDERERS)."""
    if output_format == "text":
        return render_document_text(doc, use_color=use_color)
    if output_format == "json":
        return render_document_json(doc)
    if output_format == "markdown":
        return render_document_markdown(doc, budget=markdown_budget)
    if output_format == "github":
        return render_document_github(doc, sources=sources)
    raise ValueError(f"unknown plan format {output_format!r}")
