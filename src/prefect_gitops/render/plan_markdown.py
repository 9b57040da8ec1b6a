"""The plan as a Markdown pull-request comment; the only module that imports jinja2.

The comment starts with a hidden marker so a CI job can find and update its own comment
(the "sticky comment"), then a summary line, then one collapsed section per changed resource
holding a ```diff block, and a collapsed count of unchanged resources.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection
from typing import Any

import jinja2

from ..plan import Plan
from .escaping import visible
from .plan_json import plan_document
from .plan_text import VERBS, Line, action_of, changed_resources, resource_lines, summary_line

MARKER = "<!-- prefect-gitops-plan -->"
# GitHub rejects comments over 65,536 characters; diffs beyond this budget are left out.
DIFF_BUDGET = 50_000

# In a ```diff block GitHub colours lines by their first character: + green, - red, ! orange.
_DIFF_MARKS = {"+": "+", "-": "-", "~": "!", "-/+": "!", "#": "#"}


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("prefect_gitops.render", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["visible"] = lambda value: visible(str(value))
    return env


def diff_line(line: Line) -> str:
    mark = _DIFF_MARKS.get(line.symbol, " ")
    text = line.text if line.symbol != "#" else f"# {line.text}"
    return f"{mark}{'    ' * line.depth} {text}".rstrip() if mark != "#" else text


def resource_diff(rc: dict[str, Any]) -> str:
    """The resource's block as diff lines; the headline is left to the section's summary."""
    return "\n".join(diff_line(line) for line in resource_lines(rc)[1:])


def _fence(body: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    return "`" * max(3, longest + 1)


def render_document_markdown(doc: dict[str, Any], *, diff_budget: int = DIFF_BUDGET) -> str:
    resources: list[dict[str, Any]] = []
    used = 0
    for rc in changed_resources(doc):
        diff: str | None = resource_diff(rc)
        used += len(diff or "")
        if used > diff_budget:
            diff = None
        resources.append(
            {
                "address": rc["address"],
                "verb": VERBS[action_of(rc)],
                "drifted": bool(rc.get("drifted")),
                "diff": diff,
                "fence": _fence(diff or ""),
            }
        )
    noop = [rc["address"] for rc in doc.get("resource_changes", ()) if action_of(rc) == "no-op"]
    return (
        _environment()
        .get_template("plan.md.j2")
        .render(
            marker=MARKER,
            environment=doc.get("environment"),
            summary=summary_line(doc),
            resources=resources,
            noop=noop,
            tool_version=doc.get("tool_version", ""),
        )
    )


def render_plan_markdown(
    plan: Plan,
    *,
    use_color: bool = False,
    mask_keys: Collection[str] = (),
    mask_values: Collection[str] = (),
) -> str:
    doc = plan_document(plan, mask_keys=mask_keys, mask_values=mask_values)
    return render_document_markdown(doc)
