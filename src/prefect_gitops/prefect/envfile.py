"""Read a ``.env`` file the way Prefect does (python-dotenv's ``dotenv_values``), without it.

The rules, as python-dotenv 1.x applies them:

- one ``KEY=value`` binding per line, optionally after ``export``; a key may be single-quoted;
- a value is single-quoted (``\\'`` and ``\\\\`` escapes), double-quoted (C escapes such as
  ``\\n``; may span lines) or bare (up to the end of the line, a `` #`` comment cut off, trailing
  blanks stripped);
- ``KEY=`` is the empty string, a bare ``KEY`` has no value (``None``: Prefect ignores it);
- a line that does not parse is skipped; a later binding of a key replaces an earlier one;
- ``${NAME}`` and ``${NAME:-default}`` are expanded in every value, from the bindings above the
  line first, then from the process environment.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping
from dataclasses import dataclass

_NEWLINE = re.compile(r"(\r\n|\n|\r)")
_MULTILINE_WHITESPACE = re.compile(r"\s*", re.MULTILINE)
_WHITESPACE = re.compile(r"[^\S\r\n]*")
_EXPORT = re.compile(r"(?:export[^\S\r\n]+)?")
_SINGLE_QUOTED_KEY = re.compile(r"'([^']+)'")
_UNQUOTED_KEY = re.compile(r"([^=\#\s]+)")
_EQUAL_SIGN = re.compile(r"(=[^\S\r\n]*)")
_SINGLE_QUOTED_VALUE = re.compile(r"'((?:\\.|[^'\\])*)'", re.DOTALL)
_DOUBLE_QUOTED_VALUE = re.compile(r'"((?:\\.|[^"\\])*)"', re.DOTALL)
_UNQUOTED_VALUE = re.compile(r"([^\r\n]*)")
_COMMENT = re.compile(r"(?:[^\S\r\n]*#[^\r\n]*)?")
_END_OF_LINE = re.compile(r"[^\S\r\n]*(?:\r\n|\n|\r|$)")
_REST_OF_LINE = re.compile(r"[^\r\n]*(?:\r|\n|\r\n)?")
_DOUBLE_QUOTE_ESCAPES = re.compile(r"\\[\\'\"abfnrtv]")
_SINGLE_QUOTE_ESCAPES = re.compile(r"\\[\\']")
_VARIABLE = re.compile(r"\$\{(?P<name>[^\}:]*)(?::-(?P<default>[^\}]*))?\}")


@dataclass(frozen=True)
class Binding:
    """One ``KEY=value`` of the file: ``value`` is None for a bare ``KEY``."""

    key: str
    value: str | None
    line: int


class _NoMatch(Exception):
    pass


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text.removeprefix("\ufeff")
        self.chars = 0
        self.line = 1

    def has_next(self) -> bool:
        return self.chars < len(self.text)

    def peek(self, count: int) -> str:
        return self.text[self.chars : self.chars + count]

    def read(self, regex: re.Pattern[str]) -> tuple[str, ...]:
        match = regex.match(self.text, self.chars)
        if match is None:
            raise _NoMatch
        consumed = self.text[match.start() : match.end()]
        self.chars += len(consumed)
        self.line += len(_NEWLINE.findall(consumed))
        return match.groups()


def _decode(regex: re.Pattern[str], value: str) -> str:
    return regex.sub(lambda m: codecs.decode(m.group(0), "unicode-escape"), value)


def _value(reader: _Reader) -> str:
    first = reader.peek(1)
    if first == "'":
        return _decode(_SINGLE_QUOTE_ESCAPES, reader.read(_SINGLE_QUOTED_VALUE)[0])
    if first == '"':
        return _decode(_DOUBLE_QUOTE_ESCAPES, reader.read(_DOUBLE_QUOTED_VALUE)[0])
    if first in ("", "\n", "\r"):
        return ""
    return re.sub(r"\s+#.*", "", reader.read(_UNQUOTED_VALUE)[0]).rstrip()


def _binding(reader: _Reader) -> Binding | None:
    """The next binding, or None for a blank, a comment or a line that does not parse."""
    try:
        reader.read(_MULTILINE_WHITESPACE)
        if not reader.has_next():
            return None
        line = reader.line
        reader.read(_EXPORT)
        key: str | None = None
        if reader.peek(1) != "#":
            quoted = reader.peek(1) == "'"
            key = reader.read(_SINGLE_QUOTED_KEY if quoted else _UNQUOTED_KEY)[0]
        reader.read(_WHITESPACE)
        value: str | None = None
        if reader.peek(1) == "=":
            (equal_sign,) = reader.read(_EQUAL_SIGN)
            # `KEY= # note` is empty with a comment; `KEY=#x` is the value "#x".
            value = "" if len(equal_sign) > 1 and reader.peek(1) == "#" else _value(reader)
        reader.read(_COMMENT)
        reader.read(_END_OF_LINE)
    except _NoMatch:
        reader.read(_REST_OF_LINE)  # from where it failed, as python-dotenv does
        return None
    return Binding(key, value, line) if key is not None else None


def parse_bindings(text: str) -> list[Binding]:
    """The bindings of a ``.env`` text, in file order, before expansion."""
    reader = _Reader(text)
    out: list[Binding] = []
    while reader.has_next():
        binding = _binding(reader)
        if binding is not None:
            out.append(binding)
    return out


def _expand(value: str, scope: Mapping[str, str | None]) -> str:
    def substitute(match: re.Match[str]) -> str:
        found = scope.get(match["name"], match["default"] or "")
        return found if found is not None else ""

    return _VARIABLE.sub(substitute, value)


def read_env_text(text: str, environ: Mapping[str, str]) -> dict[str, Binding]:
    """Each key's last binding, ``${...}`` expanded (earlier bindings win over ``environ``)."""
    values: dict[str, str | None] = {}
    out: dict[str, Binding] = {}
    for binding in parse_bindings(text):
        value = binding.value
        if value is not None:
            value = _expand(value, {**environ, **values})
        values[binding.key] = value
        out[binding.key] = Binding(binding.key, value, binding.line)
    return out
