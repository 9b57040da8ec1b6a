"""Diagnostics: what a rule found, where, and how bad it is. Rules collect; none stops a run."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .source import Span


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Diagnostic:
    severity: Severity
    code: str
    message: str
    span: Span
    path: str = ""
    resource: str | None = None
    hint: str | None = None

    @property
    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.span.file, self.span.line, self.span.column, self.code, self.message)


class Diagnostics:
    """An ordered collection of diagnostics with counts."""

    def __init__(self, items: Iterable[Diagnostic] = ()) -> None:
        self._items: list[Diagnostic] = list(items)

    def add(self, diagnostic: Diagnostic) -> None:
        self._items.append(diagnostic)

    def extend(self, diagnostics: Iterable[Diagnostic]) -> None:
        self._items.extend(diagnostics)

    def error(self, code: str, message: str, span: Span, **kw: str | None) -> None:
        self._items.append(Diagnostic(Severity.ERROR, code, message, span, **kw))  # type: ignore[arg-type]

    def warning(self, code: str, message: str, span: Span, **kw: str | None) -> None:
        self._items.append(Diagnostic(Severity.WARNING, code, message, span, **kw))  # type: ignore[arg-type]

    def info(self, code: str, message: str, span: Span, **kw: str | None) -> None:
        self._items.append(Diagnostic(Severity.INFO, code, message, span, **kw))  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def sorted(self) -> list[Diagnostic]:
        return sorted(self._items, key=lambda d: d.sort_key)

    def count(self, severity: Severity) -> int:
        return sum(1 for d in self._items if d.severity is severity)

    @property
    def errors(self) -> int:
        return self.count(Severity.ERROR)

    @property
    def warnings(self) -> int:
        return self.count(Severity.WARNING)

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self._items)


@dataclass(frozen=True)
class Summary:
    """The counts a renderer prints under the diagnostics."""

    errors: int = 0
    warnings: int = 0
    files: int = 0
    deployments: int = 0
    work_pools: int = 0

    @classmethod
    def of(
        cls, diagnostics: Iterable[Diagnostic], *, files: int, deployments: int, work_pools: int
    ) -> Summary:
        items = list(diagnostics)
        return cls(
            errors=sum(1 for d in items if d.severity is Severity.ERROR),
            warnings=sum(1 for d in items if d.severity is Severity.WARNING),
            files=files,
            deployments=deployments,
            work_pools=work_pools,
        )
