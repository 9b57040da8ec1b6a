"""What every stage starts from: where the repository is, as which environment, with which
process environment; and where the user-facing notes go."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

Notify = Callable[[str], None]
"""Receives a line for the user (a note or a warning); the CLI prints it on stderr."""


def ignore(_line: str) -> None:
    """The default `Notify`: the Python API returns results and prints nothing."""


@dataclass(frozen=True)
class Source:
    """A repository directory (or one prefect.yaml), its root config, the environment to
    see it as (`--env`), and the process environment to resolve `{{ $VAR }}` with."""

    path: Path = Path(".")
    config_path: Path | None = None
    environment: str | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
