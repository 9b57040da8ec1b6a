"""The plan as GitHub Actions workflow commands: a summary notice, then one per changed resource.

GitHub shows only the first few annotations of a step, so the summary comes first. A resource
whose source is known (`sources`: address -> (file from the repository's top, line)) gets its
notice on that line, so it shows in the pull request's diff.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from ..plans.build import Plan
from .escaping import escape_data, escape_property
from .plan_json import plan_document
from .plan_text import changed_resources, headline, reason_notes, summary_line, top_field

# Field names listed per resource before "…".
MAX_FIELDS = 10


def notice(title: str, message: str, source: tuple[str, int] | None = None) -> str:
    where = ""
    if source is not None:
        where = f"file={escape_property(source[0])},line={source[1]},"
    return f"::notice {where}title={escape_property(title)}::{escape_data(message)}"


def _message(rc: dict[str, Any]) -> str:
    text = headline(rc)
    notes = reason_notes(rc)
    if notes:
        text += " (" + "; ".join(notes) + ")"
    fields: list[str] = []
    for fc in rc.get("changed_fields", ()):
        top = top_field(str(fc.get("path", "")))
        if top not in fields:
            fields.append(top)
    if fields and rc.get("actions") not in (["create"], ["delete"]):
        shown = fields[:MAX_FIELDS]
        text += ": " + ", ".join(shown) + (", …" if len(fields) > len(shown) else "")
    return text


def render_document_github(
    doc: dict[str, Any], *, sources: Mapping[str, tuple[str, int]] | None = None
) -> str:
    title = "prefect-gitops plan"
    if doc.get("environment"):
        title += f" ({doc['environment']})"
    lines = [notice(title, summary_line(doc))]
    sources = sources or {}
    lines += [
        notice(str(rc["address"]), _message(rc), sources.get(str(rc["address"])))
        for rc in changed_resources(doc)
    ]
    return "\n".join(lines) + "\n"


def render_plan_github(
    plan: Plan,
    *,
    use_color: bool = False,
    mask_keys: Collection[str] = (),
    mask_values: Collection[str] = (),
    sources: Mapping[str, tuple[str, int]] | None = None,
) -> str:
    doc = plan_document(plan, mask_keys=mask_keys, mask_values=mask_values)
    return render_document_github(doc, sources=sources)
