"""Paths in GitHub annotations: named from the repository's top, not from the checked folder.

GitHub puts an annotation on a pull request's changed line only when its `file=` is relative
to the repository root; a project in a sub-folder (the workflow's `working-directory`) would
otherwise get its annotations on no line at all.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..repo.diagnostics import Diagnostic
from ..repo.project import Project
from ..repo.source import Span
from ..state.resources import State


def repository_top(path: Path, environ: Mapping[str, str]) -> Path | None:
    """The folder GitHub resolves annotation paths against: GITHUB_WORKSPACE when set, else
    the git top-level of `path`, else None (paths stay relative to the checked folder)."""
    workspace = environ.get("GITHUB_WORKSPACE")
    if workspace:
        return Path(workspace).resolve()
    folder = path if path.is_dir() else path.parent
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    top = done.stdout.strip()
    return Path(top).resolve() if done.returncode == 0 and top else None


def repository_path(file: str, root: Path, top: Path | None) -> str:
    """`file` (relative to the project `root`, or absolute) relative to `top` when inside it."""
    if top is None or not file:
        return file
    absolute = Path(os.path.normpath(root.resolve() / file))
    try:
        return absolute.relative_to(top).as_posix()
    except ValueError:
        return file


def with_repository_paths(
    diags: Iterable[Diagnostic], root: Path, environ: Mapping[str, str]
) -> list[Diagnostic]:
    """The diagnostics with their files named from the repository's top, so that GitHub puts
    the annotations on the changed lines when the project is a sub-folder of the repository."""
    top = repository_top(root, environ)
    return [
        dataclasses.replace(
            d, span=Span(repository_path(d.span.file, root, top), d.span.line, d.span.column)
        )
        for d in diags
    ]


def resource_sources(
    project: Project, desired: State, environ: Mapping[str, str]
) -> dict[str, tuple[str, int]]:
    """Where each declared resource is written, named from the repository's top, for
    `plan --format github` (render/plan_github.py): address -> (file, line)."""
    top = repository_top(project.root, environ)
    found: dict[str, tuple[str, int]] = {}
    for pool in project.pools:
        if pool.spec is None:
            continue
        file = repository_path(pool.file.rel, project.root, top)
        found[f"work_pool.{pool.spec.name}"] = (file, pool.file.span(("name",)).line)
        for index, queue in enumerate(pool.spec.queues):
            line = pool.file.span(("queues", index)).line
            found[f"work_queue.{pool.spec.name}/{queue.name}"] = (file, line)
    for address, resource in desired.items():
        source = resource.meta.get("source")
        if isinstance(source, str) and ":" in source:
            file, _, line_text = source.rpartition(":")
            if line_text.isdigit():
                found[str(address)] = (repository_path(file, project.root, top), int(line_text))
    return found
