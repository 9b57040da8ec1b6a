"""Running one rule on a small repository written for the test."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from prefect_gitops.check.options import ValidateOptions
from prefect_gitops.repo.diagnostics import Diagnostic
from prefect_gitops.repo.loader import load_project
from prefect_gitops.repo.project import Project

Rule = Callable[[Project, ValidateOptions], Iterable[Diagnostic]]


def run_rule(rule: Rule, root: Path, prefect_yaml: str, **files: str) -> list[Diagnostic]:
    """`rule`'s diagnostics, sorted by place, on `root` holding `prefect_yaml` and `files`
    (relative path -> text)."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / "prefect.yaml").write_text(prefect_yaml)
    project, _ = load_project(root)
    return sorted(rule(project, ValidateOptions()), key=lambda d: d.sort_key)
