"""User text made safe to print: control characters become visible escapes.

Keys, names and values come from a pull request. Printed raw, a newline in one starts a line
of its own, which a CI log reads as a command (GitHub's `::add-mask::`, `::error::`), and an
escape sequence rewrites the terminal. Every renderer passes user text through `visible`, so
`a\nb` prints as `a\\nb`; a GitHub workflow command also escapes its own delimiters
(`escape_data`, `escape_property`, as actions/toolkit does).
"""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, the Unicode line and paragraph separators, and the bidirectional
# overrides that make a line read differently from what it holds.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_CONTROL_BUT_NEWLINES = re.compile(
    "[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
# What JSON leaves raw in a string: JSON escapes only C0 controls (output with
# `ensure_ascii=False` keeps the rest, which split lines and rewrite terminals all the same).
_CONTROL_JSON_KEEPS = re.compile("[\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _SHORT.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def visible(text: str, *, keep_newlines: bool = False) -> str:
    """`text` with every control character written as an escape (`\\n`, `\\x1b`, `\\u2028`)."""
    pattern = _CONTROL_BUT_NEWLINES if keep_newlines else _CONTROL
    return pattern.sub(_escape, text)


def json_visible(text: str) -> str:
    """JSON text (`json.dumps(..., ensure_ascii=False)`) with the controls JSON leaves raw
    written as four-digit `\\u` escapes: the same data, with no line break or terminal
    control in it.
    They can only stand inside strings there, where the escape is valid JSON."""
    return _CONTROL_JSON_KEEPS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def escape_data(text: str) -> str:
    """A workflow command's message, per GitHub's rules (actions/toolkit `escapeData`);
    other control characters are made visible first."""
    text = visible(text, keep_newlines=True)
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value (actions/toolkit `escapeProperty`)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def safe_line_start(text: str) -> str:
    """A path that opens a line must not read as a workflow command (`::error::`)."""
    return "./" + text if text.lstrip().startswith("::") else text
