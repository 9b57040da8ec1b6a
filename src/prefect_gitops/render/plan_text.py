"""The plan as text, in Terraform's grammar.

    Resource actions are indicated with the following symbols:
      ~ update in-place

    prefect-gitops will perform the following actions:

      # work_pool.above-ground will be updated in-place
      ~ work_pool "above-ground" {
          ~ concurrency_limit = 4 -> 8
        }

    Plan: 0 to add, 1 to change, 0 to destroy.

The layout is built as `Line`s first so the Markdown renderer can reuse it in a ```diff block.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from ..plans.build import Plan
from .escaping import visible
from .masking import MASK, parse_path
from .plan_json import plan_document
from .structural import MISSING, Leaf, format_pair, format_value, structural_diff

NO_CHANGES = "No changes. Live state matches the repository."

LEGEND = {
    "create": ("+", "create"),
    "update": ("~", "update in-place"),
    "delete": ("-", "destroy"),
    "replace": ("-/+", "destroy and then create replacement"),
}
VERBS = {
    "create": "will be created",
    "update": "will be updated in-place",
    "delete": "will be destroyed",
    "replace": "must be replaced",
}
_KIND_SYMBOLS = {"added": "+", "removed": "-", "changed": "~"}

# Fields whose change forces a replace, and how a reason note names them.
IMMUTABLE_FIELDS: dict[str, dict[str, str]] = {
    "work_pool": {"type": "pool type"},
    "deployment": {"name": "deployment name", "flow_name": "flow", "flow": "flow"},
}
# At most this many changed leaves are listed per field; the rest are counted.
MAX_LEAVES = 20
# A block whose longest name is longer than this is not aligned.
ALIGN_LIMIT = 32

_COLORS = {"+": "32", "~": "33", "-": "31"}


@dataclass(frozen=True)
class Line:
    """One output line: `symbol` right-aligned at column 2 + 4 * depth, then `text`.
    `symbol` is an action symbol, "#" for a comment, or " " for none."""

    depth: int
    symbol: str
    text: str


def action_of(rc: dict[str, Any]) -> str:
    actions = list(rc.get("actions", ()))
    if actions == ["delete", "create"]:
        return "replace"
    return str(actions[0]) if len(actions) == 1 else "no-op"


def symbol_of(action: str) -> str:
    return LEGEND[action][0] if action in LEGEND else " "


def changed_resources(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [rc for rc in doc.get("resource_changes", ()) if action_of(rc) != "no-op"]


def summary_line(doc: dict[str, Any]) -> str:
    if not changed_resources(doc):
        return NO_CHANGES
    s = doc.get("summary", {})
    return (
        f"Plan: {s.get('add', 0)} to add, {s.get('change', 0)} to change, "
        f"{s.get('destroy', 0)} to destroy."
    )


def headline(rc: dict[str, Any]) -> str:
    return f"{rc['address']} {VERBS[action_of(rc)]}"


def reason_notes(rc: dict[str, Any]) -> list[str]:
    """The parenthesised notes under a resource's headline."""
    action, reason = action_of(rc), rc.get("reason")
    notes: list[str] = []
    if reason == "delete_because_not_in_config":
        notes.append("not in the repository; owned by this project")
    elif reason == "replace_because_immutable_field":
        names = _immutable_names(rc)
        if not names:
            notes.append("because an immutable field changed")
        else:
            verb = "is" if len(names) == 1 else "are"
            notes.append(f"because {' and '.join(names)} {verb} immutable")
    elif reason == "adopt":
        notes.append("already on the server; adopted by this project")
    if rc.get("drifted") and action != "no-op":
        notes.append("changed outside git")
    notes.extend(str(n) for n in rc.get("notes", ()))
    return notes


def top_field(path: str) -> str:
    segments = parse_path(path)
    return segments[0][0] if segments else path


def _immutable_names(rc: dict[str, Any]) -> list[str]:
    known = IMMUTABLE_FIELDS.get(str(rc.get("type")), {})
    names: list[str] = []
    for fc in rc.get("changed_fields", ()):
        top = top_field(str(fc.get("path", "")))
        if top in known and known[top] not in names:
            names.append(known[top])
    return names


def resource_lines(rc: dict[str, Any]) -> list[Line]:
    """The headline, its notes and the resource block of one change (user text made visible)."""
    action = action_of(rc)
    lines = [Line(0, "#", visible(headline(rc)))]
    lines += [Line(0, "#", f"({visible(note)})") for note in reason_notes(rc)]
    kind = visible(str(rc["type"]))
    lines.append(Line(0, symbol_of(action), f"{kind} {visible(_quote(str(rc['name'])))} {{"))
    lines += _align(_field_lines(rc, action), depth=1)
    lines.append(Line(0, " ", "}"))
    return lines


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _groups(rc: dict[str, Any], action: str) -> list[tuple[str, list[Leaf]]]:
    """Changed leaves grouped by top-level field, fields in name order."""
    groups: dict[str, list[Leaf]] = {}
    if action in ("create", "delete"):
        state = rc.get("after") if action == "create" else rc.get("before")
        if isinstance(state, dict):
            for key, value in state.items():
                if value is None:
                    continue
                before, after = (MISSING, value) if action == "create" else (value, MISSING)
                groups[str(key)] = structural_diff(before, after)
    else:
        for fc in sorted(rc.get("changed_fields", ()), key=lambda fc: str(fc.get("path", ""))):
            path = str(fc.get("path", ""))
            top = top_field(path)
            rest = path[len(top) :].lstrip(".") if path.startswith(top) else path
            kind = fc.get("kind")
            before = MISSING if kind == "added" else fc.get("before")
            after = MISSING if kind == "removed" else fc.get("after")
            leaves = structural_diff(before, after, rest)
            if not leaves:
                # Masking made both sides equal: a secret changed. Say so, without values.
                leaves = [Leaf(rest, "changed", before, after)]
            groups.setdefault(top, []).extend(leaves)
    return sorted(((k, v) for k, v in groups.items() if v), key=lambda kv: kv[0])


def _field_lines(rc: dict[str, Any], action: str) -> list[Line]:
    forcing = IMMUTABLE_FIELDS.get(str(rc.get("type")), {}) if action == "replace" else {}
    lines: list[Line] = []
    for field, leaves in _groups(rc, action):
        marker = "  # forces replacement" if field in forcing else ""
        if len(leaves) == 1:
            leaf = leaves[0]
            lines.append(_leaf_line(1, _join(field, leaf.path), leaf, marker))
            continue
        kinds = {leaf.kind for leaf in leaves}
        symbol = _KIND_SYMBOLS[kinds.pop()] if len(kinds) == 1 else "~"
        lines.append(Line(1, symbol, f"{visible(field)} {{{marker}"))
        shown = leaves[:MAX_LEAVES]
        lines += _align([_leaf_line(2, leaf.path, leaf, "") for leaf in shown], depth=2)
        if len(leaves) > len(shown):
            lines.append(Line(2, " ", f"# ({len(leaves) - len(shown)} more changes not shown)"))
        lines.append(Line(1, " ", "}"))
    return lines


def _join(field: str, rest: str) -> str:
    if not rest or rest.startswith("["):
        return field + rest
    return f"{field}.{rest}"


def _leaf_line(depth: int, name: str, leaf: Leaf, marker: str) -> Line:
    if leaf.kind == "added":
        value = format_value(leaf.after)
    elif leaf.kind == "removed":
        value = format_value(leaf.before)
    else:
        before, after = format_pair(leaf.before, leaf.after)
        # Both sides masked: a secret changed; say so once, without values.
        value = MASK if before == after == MASK else f"{before} -> {after}"
    # "\0" marks where `_align` pads the name; it never reaches the output.
    return Line(depth, _KIND_SYMBOLS[leaf.kind], f"{visible(name)}\0= {visible(value)}{marker}")


def _align(lines: list[Line], *, depth: int) -> list[Line]:
    """Pad `name = value` lines of one block so their `=` line up, like Terraform."""
    names = [ln.text.split("\0", 1)[0] for ln in lines if ln.depth == depth and "\0" in ln.text]
    width = max((len(n) for n in names), default=0)
    if width > ALIGN_LIMIT:
        width = 0
    out: list[Line] = []
    for ln in lines:
        if ln.depth == depth and "\0" in ln.text:
            name, rest = ln.text.split("\0", 1)
            ln = Line(ln.depth, ln.symbol, f"{name.ljust(width)} {rest}")
        out.append(ln)
    return out


def format_line(line: Line, *, use_color: bool = False) -> str:
    column = 2 + 4 * line.depth
    symbol = line.symbol
    pad = " " * (column + 1 - len(symbol))
    if use_color and symbol == "#":
        is_headline = line.depth == 0 and not line.text.startswith("(")
        return f"{pad}{bold('# ' + line.text) if is_headline else '# ' + line.text}"
    if use_color and symbol.strip():
        symbol = colorize(symbol)
    return f"{pad}{symbol} {line.text}".rstrip()


def colorize(symbol: str) -> str:
    if symbol == "-/+":
        return "\x1b[31m-\x1b[0m/\x1b[32m+\x1b[0m"
    code = _COLORS.get(symbol)
    return f"\x1b[{code}m{symbol}\x1b[0m" if code else symbol


def bold(text: str) -> str:
    return f"\x1b[1m{text}\x1b[0m"


def render_document_text(doc: dict[str, Any], *, use_color: bool = False) -> str:
    out: list[str] = []
    if doc.get("environment"):
        out += [f"Environment: {visible(str(doc['environment']))}", ""]
    changed = changed_resources(doc)
    if not changed:
        out.append(bold(NO_CHANGES) if use_color else NO_CHANGES)
        return "\n".join(out) + "\n"
    out.append("Resource actions are indicated with the following symbols:")
    present = {action_of(rc) for rc in changed}
    for action, (symbol, label) in LEGEND.items():
        if action in present:
            shown = colorize(symbol) if use_color else symbol
            out.append(f"{' ' * (3 - len(symbol))}{shown} {label}")
    out += ["", "prefect-gitops will perform the following actions:", ""]
    for rc in changed:
        out += [format_line(line, use_color=use_color) for line in resource_lines(rc)]
        out.append("")
    summary = summary_line(doc)
    out.append(bold(summary) if use_color else summary)
    return "\n".join(out) + "\n"


def render_plan_text(
    plan: Plan,
    *,
    use_color: bool = False,
    mask_keys: Collection[str] = (),
    mask_values: Collection[str] = (),
) -> str:
    doc = plan_document(plan, mask_keys=mask_keys, mask_values=mask_values)
    return render_document_text(doc, use_color=use_color)
