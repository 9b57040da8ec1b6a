"""Run `prefect-gitops validate ... --format json` in-process and parse what it prints."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect_gitops.cli import main


@dataclass
class ValidateRun:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def report(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.stdout)
        return data

    def findings(self, *severities: str) -> list[dict[str, Any]]:
        """Diagnostics of the given severities (default: errors and warnings)."""
        wanted = severities or ("error", "warning")
        return [d for d in self.report["diagnostics"] if d["severity"] in wanted]


def run_validate(path: Path | str, *extra: str) -> ValidateRun:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["validate", str(path), "--format", "json", *extra])
    return ValidateRun(code, out.getvalue(), err.getvalue())
