"""What a check of job variables or of a base job template finds: `Problem`s of a
`ProblemKind`, located by their path, and whether the server would reject them (answer 422).
Plain data; `rules/` turns them into located diagnostics.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any

Path = tuple[str | int, ...]


class ProblemKind(str, enum.Enum):
    INVALID = "invalid"  # the server answers 422
    BROKEN_SCHEMA = "broken-schema"  # the pool's variables schema is not valid (422 too)
    OFFLINE = "offline"  # depends on a value that exists only at deploy time
    DROPPED = "dropped"  # `prefect deploy` drops an unresolved placeholder
    UNKNOWN_KEY = "unknown-key"  # a warning (strict: error): the server accepts and ignores it
    UNREFERENCED = "unreferenced"  # strict: job_configuration never uses it
    MISSING_REQUIRED = "missing-required"  # strict: the server only fails at run creation


SERVER_REJECTS = frozenset({ProblemKind.INVALID, ProblemKind.BROKEN_SCHEMA})


@dataclass(frozen=True)
class Problem:
    kind: ProblemKind
    path: Path  # inside job_variables (deployments) or the base job template (pools)
    message: str
    rule: str = ""  # the JSON Schema keyword that failed, e.g. "type", "enum"

    @property
    def rejected_by_server(self) -> bool:
        return self.kind in SERVER_REJECTS


def rejected(problems: list[Problem]) -> bool:
    """The server's verdict: would it answer 422?"""
    return any(p.rejected_by_server for p in problems)


def short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."
