"""`prefect-gitops export`: write repository files from what a live server holds."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
import yaml

from ..errors import ReconcilerError
from ..export import (
    CONFIG_FILE,
    Selection,
    adopt,
    build_export,
    local_schema_dir,
    read_inventories,
    read_server,
    recorded_owners,
    write_files,
)
from ..pipeline.planned import PlanOptions, desired_online
from ..prefect.api import ApiClient
from ..repo.environments import api_target
from ..repo.loader import load_project
from ..repo.models import RootConfig
from ..repo.project import Project
from ..state.desired import analyze_flows, project_name
from ..state.resources import Address
from .common import api_options, echo_err, open_client
from .group import EXIT_OK, cli
from .options import env_option


@cli.command("export")
@click.argument(
    "directory",
    required=False,
    default=".",
    type=click.Path(file_okay=False, dir_okay=True, path_type=Path),
)
@click.option(
    "--pool",
    "pools",
    multiple=True,
    metavar="GLOB",
    help="Only these work pools (and their deployments).",
)
@click.option(
    "--deployment",
    "deployments",
    multiple=True,
    metavar="GLOB",
    help="Only these deployments: `flow/name` or `name` globs.",
)
@click.option(
    "--tag", "tags", multiple=True, metavar="TAG", help="Only deployments with one of these tags."
)
@click.option(
    "--project",
    "project",
    metavar="NAME",
    default=None,
    help="Project name (default: the project the server records as owner of the exported "
    "objects, else the `project` of an existing prefect-gitops.yaml, else the folder's name).",
)
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
@click.option(
    "--adopt",
    "adopt_objects",
    is_flag=True,
    help="Also record the exported objects on the server as owned by the project (so `--prune` may delete them later).",
)
@env_option
@api_options
def export_command(
    directory: Path,
    pools: tuple[str, ...],
    deployments: tuple[str, ...],
    tags: tuple[str, ...],
    project: str | None,
    force: bool,
    adopt_objects: bool,
    environment: str | None,
    api_url: str | None,
    profile: str | None,
) -> int:
    """Write prefect.yaml, work-pool files and prefect-gitops.yaml from a live server.

    DIRECTORY (default: the current one) should hold the flow code, so that the export can
    leave out what `prefect deploy` derives from it. Variables and global concurrency limits
    are exported only without --pool/--deployment/--tag. Existing files are kept unless
    --force; secrets are written as Secret block references, never in clear text.
    """
    target = directory.absolute()
    existing = _existing_config(target)
    if environment is not None:
        # The environment's server; the files written are the repository's (base) files.
        current, _ = load_project(target, environ=os.environ, environment=environment)
        api_url, profile = api_target(current, api_url, profile)
    selection = Selection(pools=pools, deployments=deployments, tags=tags)
    lookup = analyze_flows(Project(root=target, config=RootConfig(), config_file=None))
    with open_client(api_url, profile) as client:
        objects = read_server(client, selection)
        owners = recorded_owners(objects, read_inventories(client))
        name = _project_name(project, owners, str(existing.get("project") or ""), target)
        result = build_export(
            objects,
            target=target,
            project=name,
            source=client.shown_base_url,
            flow_lookup=lookup,
            config=existing,
            local_schemas=local_schema_dir(target),
        )
        written = write_files(target, result.files, force=force)
        for path in written:
            click.echo(f"wrote {os.path.relpath(path)}")
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)
        click.echo(f"Exported {result.summary()}.")
        if adopt_objects:
            _adopt(client, target, directory, result.addresses)
    click.echo(f"Next: prefect-gitops validate {directory} && prefect-gitops plan {directory}")
    return EXIT_OK


def _adopt(
    client: ApiClient, target: Path, directory: Path, addresses: tuple[Address, ...]
) -> None:
    """`--adopt`: record what was exported as owned by the project the written files name."""
    loaded, diags = load_project(target, environ=os.environ)
    if diags.has_errors:
        raise ReconcilerError(
            "the files were written, but they have errors; nothing was adopted",
            hint=f"run `prefect-gitops validate {directory}`, fix them, then "
            "`prefect-gitops export --force --adopt` again",
        )
    desired = desired_online(client, loaded, os.environ, PlanOptions(), notify=echo_err)
    owner = project_name(loaded)
    inventory = adopt(client, owner, addresses, desired)
    count = sum(1 for a in addresses if inventory.owns(a))
    click.echo(
        f"Adopted {count} object(s) into project '{owner}': `plan --prune` may "
        "now delete them when they leave the repository."
    )


def _project_name(chosen: str | None, owners: dict[str, int], existing: str, target: Path) -> str:
    """--project, else the owner the server records (apply and prune then treat the exported
    objects as the repository's own), else the existing config's name, else the folder's."""
    listed = ", ".join(f"'{owner}' ({count})" for owner, count in owners.items())
    if chosen is not None:
        if owners and chosen not in owners:
            click.echo(
                f"warning: the exported objects are owned by {listed} on the server, not by "
                f"'{chosen}': plan will show them as not yet owned by this project",
                err=True,
            )
        return chosen
    if not owners:
        return existing or target.name
    name = next(iter(owners))
    if len(owners) > 1 or (existing and existing != name):
        click.echo(
            f"warning: the exported objects are owned by {listed} on the server; the project "
            f"is named '{name}' (choose another with --project)",
            err=True,
        )
    return name


def _existing_config(target: Path) -> dict[str, Any]:
    """The root config already in `target` (kept, apart from what export writes)."""
    path = target / CONFIG_FILE
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ReconcilerError(
            f"cannot read {path}: {exc}", hint="fix it, or export into another folder"
        ) from exc
    return data if isinstance(data, dict) else {}
