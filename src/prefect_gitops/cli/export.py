"""`prefect-gitops export`: write repository files from what a live server holds."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..export import Selection
from ..pipeline.exported import adopt_exported, export_from, export_request
from .common import api_options, echo_err, open_client
from .group import EXIT_OK, cli
from .options import env_option
from .project import environment_api, environment_project


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
    selection = Selection(pools=pools, deployments=deployments, tags=tags)
    request = export_request(directory, selection, project, force)
    # With --env: that environment's server; the files written are the repository's (base) files.
    env_project = environment_project(request.target, environment) if environment else None
    with open_client(*environment_api(env_project, api_url, profile)) as client:
        exported = export_from(client, request, notify=echo_err)
        for path in exported.written:
            click.echo(f"wrote {os.path.relpath(path)}")
        for warning in exported.warnings:
            click.echo(f"warning: {warning}", err=True)
        click.echo(f"Exported {exported.summary}.")
        if adopt_objects:
            adopted = adopt_exported(client, directory, exported.addresses, os.environ, echo_err)
            click.echo(
                f"Adopted {adopted.count} object(s) into project '{adopted.project}': "
                "`plan --prune` may now delete them when they leave the repository."
            )
    click.echo(f"Next: prefect-gitops validate {directory} && prefect-gitops plan {directory}")
    return EXIT_OK
