"""From a checked project to a plan: the API to talk to, the desired state with what the
server supplies (undeclared variables, default pool templates, step outputs), the live state,
and the plan. Reads only."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from ..errors import ReconcilerError
from ..plans.build import Plan, build_plan
from ..prefect.api import ApiClient
from ..prefect.settings import Settings
from ..prefect.target import Target
from ..prefect.versioning import version_control
from ..render.plan_json import plan_document
from ..repo.environments import api_target
from ..repo.project import Project
from ..state.desired import (
    DeployInputs,
    FlowLookup,
    analyze_flows,
    build_desired,
    declared_deployments,
    opaque_schema_warnings,
    project_name,
    used_variables,
)
from ..state.live import EarlyReads, LiveState, read_deploy_inputs, read_live, start_reads
from ..state.ownership import owner_key
from ..state.resources import State
from .source import Notify, ignore


@dataclass(frozen=True)
class PlanOptions:
    prune: bool | None = None  # None: `prune:` in the root config
    adopt: bool = False
    step_outputs: Mapping[str, Any] = field(default_factory=dict)  # nested, `--step-output`
    run_steps: bool = False  # `--run-steps`


@dataclass(frozen=True)
class Planned:
    """A plan and what it was made from."""

    project: Project
    desired: State
    live: LiveState
    plan: Plan
    settings: Settings

    def masked(self) -> dict[str, Any]:
        return masked_document(self.plan, self.project, self.settings.secrets())


def project_target(project: Project, target: Target, environ: Mapping[str, str]) -> Target:
    """`target`, or the server the selected environment names (environments.api_target)."""
    return Target(*api_target(project, target.api_url, target.profile, environ))


def owner_of(project: Project) -> str:
    """Who owns what this project applies: the project, per environment (`--env`)."""
    return owner_key(project_name(project), project.environment)


def masked_document(plan: Plan, project: Project, secrets: Collection[str]) -> dict[str, Any]:
    """The plan document as every output shows it: what `--out` saves and `apply PLAN`
    compares with the plan it makes again."""
    return plan_document(plan, mask_keys=project.config.mask_keys, mask_values=secrets)


def desired_online(
    client: ApiClient,
    project: Project,
    environ: Mapping[str, str],
    options: PlanOptions,
    notify: Notify = ignore,
    flow_lookup: FlowLookup | None = None,
) -> State:
    """The desired state with what `prefect deploy` reads from the server (undeclared
    variables, default pool templates) and the step outputs."""
    declared = {v.name for v in project.config.variables}
    defaults = read_deploy_inputs(
        client,
        sorted(used_variables(project) - declared),
        [p.spec.type for p in project.pools if p.spec is not None and p.template_is_default],
    )
    runner = None
    if options.run_steps:
        from ..prefect.steps import prefect_step_runner  # imports Prefect: only when asked

        runner = prefect_step_runner(client.settings)
    inputs = DeployInputs(
        step_outputs=options.step_outputs,
        run_steps=runner,
        server_variables=defaults.variables,
        pool_templates=defaults.pool_templates,
        inferred_version=version_control(environ),
    )
    flow_lookup = flow_lookup or analyze_flows(project)
    desired = build_desired(project, environ=environ, flow_lookup=flow_lookup, inputs=inputs)
    if defaults.templates_note:
        notify(f"note: {defaults.templates_note}")
    _notify_desired(desired, notify)
    return desired


def _notify_desired(desired: State, notify: Notify) -> None:
    for res in desired.of_type("deployment"):
        for path, names in (res.meta.get("step_outputs") or {}).items():
            notify(
                f"note: {res.meta.get('source')}: {res.address}: {path} uses the step output "
                f"{', '.join(names)} (known after the steps run; apply needs --step-output "
                "or --run-steps)"
            )
    for warning in opaque_schema_warnings(desired):
        notify(f"warning: {warning}")


def desired_while_reading(
    client: ApiClient,
    project: Project,
    environ: Mapping[str, str],
    options: PlanOptions,
    notify: Notify = ignore,
) -> tuple[State, Future[EarlyReads] | None]:
    """`desired_online`, built while the live reads that need only the declared names are
    under way (`live.start_reads`; not with --run-steps, whose steps may run for minutes):
    give them to `compute_plan`."""
    flows = analyze_flows(project)
    early = None
    if not options.run_steps:
        declared = declared_deployments(project, flows)
        early = start_reads(client, declared, project=owner_of(project))
    return desired_online(client, project, environ, options, notify, flows), early


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
    # Hashing the desired state costs as much as the diff at 10k deployments: done while the
    # early reads are still in flight.
    desired_fingerprint = desired.fingerprint() if early is not None else None
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
        desired_fingerprint=desired_fingerprint,
    )
    return live, plan


def plan_with(
    client: ApiClient,
    project: Project,
    environ: Mapping[str, str],
    options: PlanOptions,
    notify: Notify = ignore,
) -> Planned:
    """Plan `project` through `client`; never writes (a write would be a bug, refused)."""
    desired, early = desired_while_reading(client, project, environ, options, notify)
    prune = project.config.prune if options.prune is None else options.prune
    live, plan = compute_plan(
        client, project, desired, prune=prune, adopt=options.adopt, early=early
    )
    if client.write_count:  # pragma: no cover - a bug guard: plan must never write
        raise ReconcilerError(f"internal error: plan sent {client.write_count} write request(s)")
    return Planned(project, desired, live, plan, client.settings)
