"""Diagnostics as text, JSON or GitHub Actions annotations. Renderers return strings."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Protocol

from ..repo.diagnostics import Diagnostic, Severity, Summary
from .escaping import escape_data, escape_property, safe_line_start, visible

FORMAT_VERSION = "1"

_RESET = "\033[0m"
_BOLD = "\033[1m"
_DIM = "\033[2m"
_COLORS = {Severity.ERROR: "\033[31m", Severity.WARNING: "\033[33m", Severity.INFO: "\033[36m"}


class Renderer(Protocol):
    def __call__(
        self,
        diags: Iterable[Diagnostic],
        *,
        use_color: bool,
        summary: Summary,
        verbose: bool = False,
    ) -> str: ...


def _shown(diags: Iterable[Diagnostic], verbose: bool) -> list[Diagnostic]:
    items = [d for d in diags if verbose or d.severity is not Severity.INFO]
    return sorted(items, key=lambda d: d.sort_key)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def summary_line(summary: Summary) -> str:
    scope = (
        f"{_plural(summary.files, 'file')}, {_plural(summary.deployments, 'deployment')}, "
        f"{_plural(summary.work_pools, 'work pool')}"
    )
    if not summary.errors and not summary.warnings:
        return f"No problems found ({scope})."
    return (
        f"Found {_plural(summary.errors, 'error')} and "
        f"{_plural(summary.warnings, 'warning')} ({scope})."
    )


def render_text(
    diags: Iterable[Diagnostic], *, use_color: bool, summary: Summary, verbose: bool = False
) -> str:
    """`path:line:col: error[CODE] message`, an indented `hint:` line, then a summary."""

    def paint(text: str, *styles: str) -> str:
        return "".join(styles) + text + _RESET if use_color else text

    lines: list[str] = []
    for d in _shown(diags, verbose):
        where = paint(safe_line_start(visible(f"{d.span}:")), _BOLD)
        level = paint(f"{d.severity.value}[{d.code}]", _BOLD, _COLORS[d.severity])
        lines.append(f"{where} {level} {visible(d.message)}")
        if d.hint:
            lines.append(f"    {paint('hint:', _DIM)} {visible(d.hint)}")
    line = summary_line(summary)
    if summary.errors:
        line = paint(line, _BOLD, _COLORS[Severity.ERROR])
    elif summary.warnings:
        line = paint(line, _BOLD, _COLORS[Severity.WARNING])
    if lines:
        lines.append("")
    lines.append(line)
    return "\n".join(lines)


def to_json_dict(
    diags: Iterable[Diagnostic], *, summary: Summary, verbose: bool = False
) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "diagnostics": [
            {
                "severity": d.severity.value,
                "code": d.code,
                "message": d.message,
                "file": d.span.file,
                "line": d.span.line,
                "column": d.span.column,
                "path": d.path,
                "resource": d.resource,
            }
            for d in _shown(diags, verbose)
        ],
        "summary": {
            "errors": summary.errors,
            "warnings": summary.warnings,
            "files": summary.files,
            "deployments": summary.deployments,
            "work_pools": summary.work_pools,
        },
    }


def render_json(
    diags: Iterable[Diagnostic], *, use_color: bool, summary: Summary, verbose: bool = False
) -> str:
    del use_color  # JSON is never coloured
    return json.dumps(to_json_dict(diags, summary=summary, verbose=verbose), indent=2)


def render_error_json(message: str, hint: str | None) -> str:
    """A command that stopped with an error, as the JSON document `--format json` promises:
    one error diagnostic without a location."""
    diagnostic = {
        "severity": Severity.ERROR.value,
        "code": None,
        "message": message,
        "hint": hint,
        "file": None,
        "line": None,
        "column": None,
        "path": None,
        "resource": None,
    }
    document = to_json_dict((), summary=Summary(errors=1))
    document["diagnostics"] = [diagnostic]
    return json.dumps(document, indent=2)


_COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def render_github(
    diags: Iterable[Diagnostic], *, use_color: bool, summary: Summary, verbose: bool = False
) -> str:
    """GitHub Actions workflow commands: one `::error file=...::message` line per diagnostic."""
    del use_color
    lines: list[str] = []
    for d in _shown(diags, verbose):
        properties = ",".join(
            f"{name}={escape_property(str(value))}"
            for name, value in (
                ("file", d.span.file),
                ("line", d.span.line),
                ("col", d.span.column),
                ("title", d.code),
            )
        )
        message = d.message if not d.hint else f"{d.message}\nhint: {d.hint}"
        lines.append(f"::{_COMMANDS[d.severity]} {properties}::{escape_data(message)}")
    lines.append(summary_line(summary))
    return "\n".join(lines)


RENDERERS: dict[str, Renderer] = {
    "text": render_text,
    "json": render_json,
    "github": render_github,
}
