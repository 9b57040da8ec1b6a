"""`prefect-gitops plan`: what `apply` would change on the live server. Never writes to it."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import click

from ..api import ApiClient
from ..desired import (
    DeployInputs,
    FlowLookup,
    analyze_flows,
    build_desired,
    declared_deployments,
    opaque_schema_warnings,
    parse_step_outputs,
    project_name,
    used_variables,
)
from ..diagnostics import Diagnostics, Summary
from ..environments import api_target, load_for_environment
from ..errors import ReconcilerError
from ..live import EarlyReads, LiveState, read_deploy_inputs, read_live, start_reads
from ..loader import Project
from ..ownership import owner_key
from ..plan import Plan, build_plan
from ..render.diagnostics import RENDERERS as DIAGNOSTIC_RENDERERS
from ..render.plan import PLAN_RENDERERS, render_document
from ..render.plan_json import plan_document
from ..render.plan_markdown import COMMENT_BUDGET
from ..savedplan import plan_key, render_saved, saved_document, write_private
from ..settings import describe_api
from ..state import State
from ..validate import ValidateOptions, validate_project
from . import EXIT_OK, EXIT_PROBLEM, cli
from .annotations import resource_sources
from .common import api_options, open_client
from .options import batch_gc, config_option, env_option, format_option, path_argument, use_color

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
    environ = os.environ
    project = load_valid_project(
        path,
        config_path,
        environ,
        action="planned",
        environment=environment,
        output_format=output_format,
        runs_steps=run_steps,
    )
    if project is None:
        return EXIT_PROBLEM

    outputs = parse_step_outputs(step_outputs)
    should_prune = project.config.prune if prune is None else prune
    with open_client(*api_target(project, api_url, profile)) as client:
        desired, early = desired_while_reading(client, project, environ, outputs, run_steps)
        _live, plan = compute_plan(client, project, desired, prune=should_prune, early=early)
        if client.write_count:  # pragma: no cover - a bug guard: plan must never write
            raise ReconcilerError(
                f"internal error: plan sent {client.write_count} write request(s)"
            )

    click.echo(describe_api(client.settings), err=True)  # where the URL came from
    masked = masked_document(plan, project, client.settings.secrets())
    if out_path is not None:
        save_plan(out_path, plan, masked, environ)
        click.echo(f"Saved the plan to {out_path} (apply it: prefect-gitops apply {out_path})",
                   err=True)  # fmt: skip
    click.echo(render_plan(masked, project, desired, output_format, markdown_budget))
    if detailed_exitcode and plan.has_changes():
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
    """`--out`: the masked plan (`masked`) with keyed fingerprints, mode 0600 (savedplan.py)."""
    doc = saved_document(masked, plan, plan_key(environ))
    try:
        write_private(path, render_saved(doc))
    except OSError as exc:
        raise ReconcilerError(f"cannot write the plan to {path}: {exc.strerror or exc}") from exc


# -- shared with `apply` (cli/apply.py) ------------------------------------------------------


def masked_document(plan: Plan, project: Project, secrets: Collection[str]) -> dict[str, Any]:
    """The plan document as every output shows it: what `--out` saves and `apply PLAN`
    compares with the plan it makes again."""
    return plan_document(plan, mask_keys=project.config.mask_keys, mask_values=secrets)


def desired_while_reading(
    client: ApiClient,
    project: Project,
    environ: Mapping[str, str],
    step_outputs: Mapping[str, Any],
    run_steps: bool,
) -> tuple[State, Future[EarlyReads] | None]:
    """`desired_online`, built while the live reads that need only the declared names are
    under way (`live.start_reads`; not with --run-steps, whose steps may run for minutes):
    give them to `compute_plan`."""
    flows = analyze_flows(project)
    early = None
    if not run_steps:
        declared = declared_deployments(project, flows)
        early = start_reads(client, declared, project=owner_of(project))
    desired = desired_online(client, project, environ, step_outputs, run_steps, flows)
    return desired, early


def desired_online(
    client: ApiClient,
    project: Project,
    environ: Mapping[str, str],
    step_outputs: Mapping[str, Any],
    run_steps: bool,
    flow_lookup: FlowLookup | None = None,
) -> State:
    """The desired state with what `prefect deploy` reads from the server (undeclared
    variables, default pool templates) and the step outputs; notes go to stderr."""
    declared = {v.name for v in project.config.variables}
    defaults = read_deploy_inputs(
        client,
        sorted(used_variables(project) - declared),
        [p.spec.type for p in project.pools if p.spec is not None and p.template_is_default],
    )
    runner = None
    if run_steps:
        from ..steps import prefect_step_runner  # imports Prefect: only when asked

        runner = prefect_step_runner(client.settings)
    inputs = DeployInputs(
        step_outputs=step_outputs,
        run_steps=runner,
        server_variables=defaults.variables,
        pool_templates=defaults.pool_templates,
    )
    flow_lookup = flow_lookup or analyze_flows(project)
    desired = build_desired(project, environ=environ, flow_lookup=flow_lookup, inputs=inputs)
    if defaults.templates_note:
        click.echo(f"note: {defaults.templates_note}", err=True)
    for res in desired.of_type("deployment"):
        for path, names in (res.meta.get("step_outputs") or {}).items():
            click.echo(
                f"note: {res.meta.get('source')}: {res.address}: {path} uses the step output "
                f"{', '.join(names)} (known after the steps run; apply needs --step-output "
                "or --run-steps)",
                err=True,
            )
    for warning in opaque_schema_warnings(desired):
        click.echo(f"warning: {warning}", err=True)
    return desired


def load_valid_project(
    path: Path,
    config_path: Path | None,
    environ: Mapping[str, str],
    *,
    action: str,
    environment: str | None = None,
    output_format: str = "text",
    runs_steps: bool = False,
) -> Project | None:
    """Load and validate the whole repository (as `environment` sees it); on errors print
    them (also as the JSON document on stdout with `--format json`) and return None."""
    project, load_diags = load_for_environment(path, config_path, environ, environment)
    diags = Diagnostics(load_diags)
    diags.extend(
        validate_project(
            project,
            ValidateOptions(
                strict=project.config.strict,
                pool_types=dict(project.config.pool_types),
                environ=environ,
                runs_steps=runs_steps,
            ),
        )
    )
    if not diags.has_errors:
        return project
    summary = Summary.of(
        diags,
        files=project.files_read,
        deployments=len(project.deployments),
        work_pools=len(project.pools),
    )
    click.echo(
        DIAGNOSTIC_RENDERERS["text"](
            diags, use_color=use_color(sys.stderr), summary=summary, verbose=False
        ),
        err=True,
    )
    click.echo(f"Error: the repository has errors; nothing was {action}.", err=True)
    if output_format == "json":
        click.echo(DIAGNOSTIC_RENDERERS["json"](diags, use_color=False, summary=summary))
    return None


def owner_of(project: Project) -> str:
    """Who owns what this project applies: the project, per environment (`--env`)."""
    return owner_key(project_name(project), project.environment)


def compute_plan(
    client: ApiClient,
    project: Project,
    desired: State,
    *,
    prune: bool,
    adopt: bool = False,
    early: Future[EarlyReads] | None = None,
    known: Plan | None = None,
) -> tuple[LiveState, Plan]:
    """Read the live state for `desired` (taking the `early` reads) and plan against it
    (reads only). `known`, a plan of this same `desired`, is returned as it is when the live
    state read has its live fingerprint: planning again would only redo the same diff."""
    name = owner_of(project)
    live = read_live(client, desired, project=name, early=early)
    if known is not None and live.state.fingerprint() == known.live_fingerprint:
        return live, known
    plan = build_plan(
        desired,
        live.state,
        project=name,
        inventory=live.inventory,
        prune=prune,
        adopt=adopt,
        ignore=project.config.ignore,
        api_url=client.shown_base_url,
        environment=project.environment or client.settings.profile,
    )
    return live, plan
