"""The plan as a Markdown pull-request comment; the only module that imports jinja2.

The comment starts with a hidden marker so a CI job can find and update its own comment
(the "sticky comment"), then a summary line, then one collapsed section per changed resource
holding a ```diff block, then a count of unchanged resources (never a list: a repository of
thousands would not fit).

GitHub refuses a comment over 65,536 characters, and a refused comment is no comment at all,
so the comment has a size budget: the summary and every changed address always appear, diff
sections are added while they fit, and the changes whose diff did not fit are listed by address
under a line saying where the full plan is.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection
from typing import Any

import jinja2

from ..plans.build import Plan
from .escaping import visible
from .plan_json import plan_document
from .plan_text import VERBS, Line, action_of, changed_resources, resource_lines, summary_line

MARKER = "<!-- prefect-gitops-plan -->"
# GitHub rejects comments over 65,536 characters; the margin leaves room for the marker the
# workflow puts in front and for its own wording around the plan.
COMMENT_BUDGET = 60_000

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


def _section(rc: dict[str, Any]) -> str:
    diff = resource_diff(rc)
    return (
        _environment()
        .get_template("resource.md.j2")
        .render(
            address=rc["address"],
            verb=VERBS[action_of(rc)],
            drifted=bool(rc.get("drifted")),
            diff=diff,
            fence=_fence(diff),
        )
        .rstrip("\n")
    )


def _left_out_groups(changed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The addresses without a diff section, grouped by what happens to them, one per line
    in a fenced block (the most compact form that shows any name as it is)."""
    groups: dict[str, list[str]] = {}
    for rc in changed:
        groups.setdefault(VERBS[action_of(rc)], []).append(visible(str(rc["address"])))
    out = []
    for verb, addresses in groups.items():
        text = "\n".join(addresses)
        out.append(
            {
                "verb": verb[0].upper() + verb[1:],
                "count": len(addresses),
                "addresses": text,
                "fence": _fence(text),
            }
        )
    return out


def _render(
    doc: dict[str, Any],
    sections: list[str],
    left_out: list[dict[str, Any]],
    listed: int | None = None,
) -> str:
    """The comment; of `left_out`, only the first `listed` addresses (default: all)."""
    noop = sum(1 for rc in doc.get("resource_changes", ()) if action_of(rc) == "no-op")
    shown = left_out if listed is None else left_out[:listed]
    return (
        _environment()
        .get_template("plan.md.j2")
        .render(
            marker=MARKER,
            environment=doc.get("environment"),
            summary=summary_line(doc),
            sections=sections,
            left_out=_left_out_groups(shown),
            left_out_count=len(left_out),
            unlisted=len(left_out) - len(shown),
            noop=noop,
            tool_version=doc.get("tool_version", ""),
        )
    )


def _listed_within(doc: dict[str, Any], changed: list[dict[str, Any]], budget: int) -> int:
    """How many changed addresses fit in `budget` without any diff, when all of them do not
    (so many that the comment would not post at all)."""
    low, high = 0, len(changed)  # the most that fit is in [low, high)
    while high - low > 1:
        middle = (low + high) // 2
        if len(_render(doc, [], changed, middle)) <= budget:
            low = middle
        else:
            high = middle
    return low


def render_document_markdown(doc: dict[str, Any], *, budget: int = COMMENT_BUDGET) -> str:
    """The comment, at most `budget` characters: the summary and every changed address (as
    many as `budget` holds without any diff, which is thousands), then diff sections while
    they fit."""
    changed = changed_resources(doc)
    # Sized with every change listed by address only; a section that replaces a listed
    # address only shortens the list, so the sum below never underestimates.
    room = budget - len(_render(doc, [], changed))
    if room < 0:
        return _render(doc, [], changed, _listed_within(doc, changed, budget))
    sections: list[str] = []
    left_out: list[dict[str, Any]] = []
    for rc in changed:
        section = _section(rc)
        cost = len(section) + 2  # the blank line before it
        if cost <= room:
            sections.append(section)
            room -= cost
        else:
            left_out.append(rc)
    return _render(doc, sections, left_out)


def render_plan_markdown(
    plan: Plan,
    *,
    use_color: bool = False,
    mask_keys: Collection[str] = (),
    mask_values: Collection[str] = (),
    budget: int = COMMENT_BUDGET,
) -> str:
    doc = plan_document(plan, mask_keys=mask_keys, mask_values=mask_values)
    return render_document_markdown(doc, budget=budget)
