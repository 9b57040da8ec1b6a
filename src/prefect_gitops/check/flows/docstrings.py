"""Parameter descriptions from Google-style docstrings, as Prefect reads them.

Prefect 3.9 feeds `inspect.getdoc(fn)` to griffe's Google parser and keeps the last
`Args:`/`Arguments:`/`Params:`/`Parameters:` section. This is a port of the part of that
parser that decides which lines belong to which section and item, so that the
descriptions in our parameter schemas match Prefect's byte for byte without importing
griffe or user code.
"""

from __future__ import annotations

import inspect
import re

_PARAMETER_SECTIONS = frozenset({"args", "arguments", "params", "parameters"})
_OTHER_SECTIONS = frozenset(
    {
        "keyword args", "keyword arguments", "other args", "other arguments", "other params",
        "other parameters", "type args", "type arguments", "type params", "type parameters",
        "raises", "exceptions", "returns", "yields", "receives", "examples", "attributes",
        "functions", "methods", "classes", "type aliases", "modules", "warns", "warnings",
    }
)  # fmt: skip
_RE_ADMONITION = re.compile(r"^(?P<type>[\w][\s\w-]*):(\s+(?P<title>[^\s].*))?\s*$", re.IGNORECASE)


def _empty(line: str) -> bool:
    return not line or line.isspace()


def _read_block_items(lines: list[str], offset: int) -> tuple[list[list[str]], int]:
    if offset >= len(lines):
        return [], offset
    new_offset = offset
    while new_offset < len(lines) and _empty(lines[new_offset]):
        new_offset += 1
    if new_offset >= len(lines):
        return [], new_offset - 1
    indent = len(lines[new_offset]) - len(lines[new_offset].lstrip())
    if indent == 0:
        return [], new_offset - 1
    items: list[list[str]] = []
    current = [lines[new_offset][indent:]]
    new_offset += 1
    while new_offset < len(lines):
        line = lines[new_offset]
        if _empty(line):
            current.append("")
        elif line.startswith(indent * 2 * " "):
            current.append(line[indent * 2 :])
        elif line.startswith((indent + 1) * " "):
            current.append(line[len(line) - len(line.lstrip()) :])
        elif line.startswith(indent * " "):
            items.append(current)
            current = [line[indent:]]
        else:
            break
        new_offset += 1
    items.append(current)
    return items, new_offset - 1


def _read_block(lines: list[str], offset: int) -> tuple[str, int]:
    if offset >= len(lines):
        return "", offset - 1
    new_offset = offset
    while new_offset < len(lines) and _empty(lines[new_offset]):
        new_offset += 1
    if new_offset >= len(lines):
        return "", offset - 1
    indent = len(lines[new_offset]) - len(lines[new_offset].lstrip())
    if indent == 0:
        return "", offset - 1
    block = [lines[new_offset].lstrip()]
    new_offset += 1
    while new_offset < len(lines) and (
        lines[new_offset].startswith(indent * " ") or _empty(lines[new_offset])
    ):
        block.append(lines[new_offset][indent:])
        new_offset += 1
    return "\n".join(block).rstrip("\n"), new_offset - 1


def _parameters(items: list[list[str]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in items:
        if ":" not in item[0]:
            continue
        name_with_type, description = item[0].split(":", 1)
        description = "\n".join([description.lstrip(), *item[1:]]).rstrip("\n")
        if "(" in name_with_type and name_with_type.endswith(")"):
            name = name_with_type.split("(", 1)[0].strip()
        else:
            name = name_with_type
        found[name] = description
    return found


def parameter_docstrings(docstring: str | None) -> dict[str, str]:
    """Parameter name -> description, as `prefect.utilities.callables.parameter_docstrings`."""
    if not docstring:
        return {}
    lines = inspect.cleandoc(docstring.rstrip()).split("\n")
    result: dict[str, str] = {}
    in_code_block = False
    offset = 0
    while offset < len(lines):
        line = lines[offset]
        fence = line.lstrip(" ").startswith("```")
        if in_code_block:
            in_code_block = not fence
        elif fence:
            in_code_block = True
        elif ":" in line and (match := _RE_ADMONITION.match(line)):
            kind = match.group("type").lower()
            has_next = offset < len(lines) - 1
            has_next2 = offset < len(lines) - 2
            blank_above = offset == 0 or _empty(lines[offset - 1])
            blank_below = has_next and _empty(lines[offset + 1])
            blanks_below = has_next2 and _empty(lines[offset + 2])
            indented_below = has_next and not blank_below and lines[offset + 1].startswith(" ")
            indented_below2 = has_next2 and not blanks_below and lines[offset + 2].startswith(" ")
            if not (indented_below or indented_below2):
                offset += 1
                continue
            if not blank_above or (indented_below2 and blank_below):
                offset += 1
                continue
            if kind in _PARAMETER_SECTIONS:
                items, offset = _read_block_items(lines, offset + 1)
                result = _parameters(items)
            elif kind in _OTHER_SECTIONS:
                _, offset = _read_block_items(lines, offset + 1)
            else:
                _, offset = _read_block(lines, offset + 1)
        offset += 1
    return result
