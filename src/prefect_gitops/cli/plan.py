"""`prefect-gitops plan`: what `apply` would change on the live server. Never writes to it."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click

from ..errors import ReconcilerError
from ..pipeline.planned import PlanOptions, plan_with
from ..pipeline.source import Source
from ..plans.build import Plan
from ..plans.saved import plan_key, render_saved, saved_document, write_private
from ..prefect.settings import describe_api
from ..render.plan import PLAN_RENDERERS, render_document
from ..render.plan_markdown import COMMENT_BUDGET
from ..repo.environments import api_target
from ..repo.project import Project
from ..state.desired import parse_step_outputs
from ..state.resources import State
from .annotations import resource_sources
from .common import api_options, echo_err, open_client
from .group import EXIT_OK, EXIT_PROBLEM, cli
from .options import batch_gc, config_option, env_option, format_option, path_argument, use_color
from .project import checked_project

EXIT_CHANGES = 2


def step_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--step-output` and `--run-steps`: where build/push step outputs come from."""
    command = click.option(
        "--run-steps",
        is_flag=True,
        help="Run the build and push steps as `prefect deploy` does (e.g. build the image) "
        "and use their outputs.",
    )(command)
    return click.option(
        "--step-output",
        "step_outputs",
        multiple=True,
        metavar="STEP_ID.KEY=VALUE",
        help="A build/push step output produced elsewhere (e.g. by the CI job that built the "
        "image): --step-output build_image.image=registry/app:sha. Repeatable.",
    )(command)


@cli.command("plan")
@path_argument
@config_option
@format_option(*PLAN_RENDERERS)
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Also save the plan as JSON for `apply PLAN` (secrets masked, keyed fingerprints, "
    "mode 0600).",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 2 when there are changes (0: none, 1: error).",
)
@click.option(
    "--prune",
    is_flag=True,
    default=None,
    help="Also plan to delete what this project owns but no longer declares (or `prune: true`).",
)
@click.option(
    "--markdown-budget",
    type=click.IntRange(min=0),
    default=COMMENT_BUDGET,
    show_default=True,
    help="With --format markdown: at most this many characters (a GitHub comment holds 65,536; "
    "the job summary 1 MiB); 0 for no limit. Every changed address is always listed.",
)
@step_options
@env_option
@api_options
@batch_gc
def plan_command(
    path: Path,
    config_path: Path | None,
    output_format: str,
    out_path: Path | None,
    detailed_exitcode: bool,
    prune: bool | None,
    markdown_budget: int,
    step_outputs: tuple[str, ...],
    run_steps: bool,
    environment: str | None,
    api_url: str | None,
    profile: str | None,
) -> int:
    """Show what `apply` would change on the Prefect server, field by field.

    PATH is a repository directory (default: the current one) or a single prefect.yaml.
    The repository is validated first; with errors nothing is contacted.
    Exit status: 0 success (with --detailed-exitcode: no changes), 1 error (in the
    repository or on the server), 2 changes present (only with --detailed-exitcode) or a
    usage error (click's), 3 an internal crash (a bug).
    """
    source = Source(path, config_path, environment)
    project = checked_project(source, action="planned", output_format=output_format,
                              runs_steps=run_steps)  # fmt: skip
    if project is None:
        return EXIT_PROBLEM
    options = PlanOptions(prune, step_outputs=parse_step_outputs(step_outputs), run_steps=run_steps)
    with open_client(*api_target(project, api_url, profile)) as client:
        planned = plan_with(client, project, source.environ, options, notify=echo_err)
    click.echo(describe_api(planned.settings), err=True)  # where the URL came from
    masked = planned.masked()
    if out_path is not None:
        save_plan(out_path, planned.plan, masked, source.environ)
        click.echo(f"Saved the plan to {out_path} (apply it: prefect-gitops apply {out_path})",
                   err=True)  # fmt: skip
    click.echo(render_plan(masked, project, planned.desired, output_format, markdown_budget))
    if detailed_exitcode and planned.plan.has_changes():
        return EXIT_CHANGES
    return EXIT_OK


def render_plan(
    masked: dict[str, Any],
    project: Project,
    desired: State,
    output_format: str,
    markdown_budget: int = COMMENT_BUDGET,
) -> str:
    """The masked plan `masked` as `plan --format` shows it (`apply` shows the text one)."""
    # github: annotations on the line that declares each resource
    sources = resource_sources(project, desired, os.environ) if output_format == "github" else None
    return render_document(
        masked,
        output_format,
        use_color=use_color(),
        sources=sources,
        markdown_budget=markdown_budget or sys.maxsize,
    )


def save_plan(path: Path, plan: Plan, masked: dict[str, Any], environ: Mapping[str, str]) -> None:
    """`--out`: the masked plan (`masked`) with keyed fingerprints, mode 0600 (plans/saved.py)."""
    doc = saved_document(masked, plan, plan_key(environ))
    try:
        write_private(path, render_saved(doc))
    except OSError as exc:
        raise ReconcilerError(f"cannot write the plan to {path}: {exc.strerror or exc}") from exc
