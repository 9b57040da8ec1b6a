"""`prefect-gitops validate`: check a repository's configuration offline."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..pipeline.checked import check
from ..pipeline.source import Source
from ..render.diagnostics import RENDERERS
from .annotations import with_repository_paths
from .group import EXIT_OK, EXIT_PROBLEM, cli
from .options import (
    batch_gc_paused,
    config_option,
    env_option,
    format_option,
    path_argument,
    use_color,
    verbose_option,
)


@cli.command("validate")
@path_argument
@config_option
@format_option(*RENDERERS)
@click.option("--strict", is_flag=True, help="Also run the stricter checks (or `strict: true`).")
@click.option("--warnings-as-errors", is_flag=True, help="Exit 1 when there are warnings, too.")
@verbose_option
@env_option
@batch_gc_paused
def validate_command(
    path: Path,
    config_path: Path | None,
    output_format: str,
    strict: bool,
    warnings_as_errors: bool,
    verbose: bool,
    environment: str | None,
) -> int:
    """Check prefect.yaml files, work-pool files and the root config, offline.

    PATH is a repository directory (default: the current one) or a single prefect.yaml.
    With `environments:` in the root config, every environment is checked too (only the
    one named with --env, when given).

    Exit status: 0 no errors, 1 errors (or warnings with --warnings-as-errors),
    2 a usage error (an unknown option, a PATH that does not exist), 3 an internal crash
    (always a bug in prefect-gitops; PREFECT_GITOPS_TRACEBACK=1 shows the traceback).
    """
    return _validate(
        path, config_path, output_format, strict, warnings_as_errors, verbose, environment
    )


def _validate(
    path: Path,
    config_path: Path | None,
    output_format: str,
    strict: bool,
    warnings_as_errors: bool,
    verbose: bool,
    environment: str | None,
) -> int:
    checked = check(Source(path, config_path, environment), strict=strict, every_environment=True)
    project, diags, summary = checked.project, checked.diagnostics, checked.summary
    shown = (
        with_repository_paths(diags, project.root, os.environ)
        if output_format == "github"
        else diags
    )
    renderer = RENDERERS[output_format]
    color = use_color()
    # `color=` stops click from stripping the codes again when it guesses differently.
    click.echo(renderer(shown, use_color=color, summary=summary, verbose=verbose), color=color)
    if diags.has_errors or (warnings_as_errors and diags.warnings):
        return EXIT_PROBLEM
    return EXIT_OK
