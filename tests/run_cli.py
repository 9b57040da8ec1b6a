"""Run the real CLI entry point (`prefect_gitops.cli.main`, with its error boundary) in-process."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from click.testing import CliRunner

from prefect_gitops.cli import main


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.stdout)
        return data

    def codes(self) -> list[str]:
        return [d["code"] for d in self.json()["diagnostics"]]


def run_cli(*args: str, env: Mapping[str, str | None] | None = None) -> CliResult:
    runner = CliRunner()
    with runner.isolation(env=env) as streams:
        code = main(list(args))
    return CliResult(code, streams[0].getvalue().decode(), streams[1].getvalue().decode())
