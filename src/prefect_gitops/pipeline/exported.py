"""Export: read what the server holds, name the project, build the repository files, write
them; and `--adopt`, which records the exported objects as owned by the project the written
files name. Typed inputs and results, no printing: notes and warnings go to `notify`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import ReconcilerError
from ..export import (
    CONFIG_FILE,
    FlowLookup,
    Selection,
    adopt,
    build_export,
    local_schema_dir,
    read_inventories,
    read_server,
    recorded_owners,
    write_files,
)
from ..prefect.api import ApiClient
from ..prefect.versioning import version_control
from ..repo.loader import load_project
from ..repo.models import RootConfig
from ..repo.project import Project
from ..state.desired import analyze_flows, project_name, versioned_lookup
from ..state.resources import Address
from .planned import PlanOptions, desired_online
from .source import Notify, ignore


@dataclass(frozen=True)
class ExportRequest:
    """What to export into which folder: read before any request, so that an unreadable
    prefect-gitops.yaml is reported before the server is contacted."""

    target: Path  # absolute
    selection: Selection
    project: str | None  # `--project`; None: the recorded owner, the config's, the folder's
    force: bool
    existing: Mapping[str, Any]  # the root config already in `target`
    flow_lookup: FlowLookup


@dataclass(frozen=True)
class Exported:
    """The files written (absolute paths), the export's warnings, the summary line's text
    and the addresses the files declare (for `adopt_exported`)."""

    written: tuple[Path, ...]
    warnings: tuple[str, ...]
    summary: str
    addresses: tuple[Address, ...]


@dataclass(frozen=True)
class Adopted:
    """The project that now owns the exported objects, and how many of them it owns."""

    project: str
    count: int


def export_request(
    directory: Path,
    selection: Selection,
    project: str | None = None,
    force: bool = False,
    environ: Mapping[str, str] | None = None,
) -> ExportRequest:
    """The request for exporting into `directory`: its existing root config and its flows
    (with the version `prefect deploy` would infer there from version control)."""
    target = directory.absolute()
    lookup = analyze_flows(Project(root=target, config=RootConfig(), config_file=None))
    lookup = versioned_lookup(lookup, version_control(os.environ if environ is None else environ))
    return ExportRequest(target, selection, project, force, existing_config(target), lookup)


def export_from(client: ApiClient, request: ExportRequest, notify: Notify = ignore) -> Exported:
    """Read the server through `client`, build the files and write them (none is overwritten
    unless `request.force`; all are written or none)."""
    objects = read_server(client, request.selection)
    owners = recorded_owners(objects, read_inventories(client))
    existing = str(request.existing.get("project") or "")
    name = choose_project_name(request.project, owners, existing, request.target, notify)
    result = build_export(
        objects,
        target=request.target,
        project=name,
        source=client.shown_base_url,
        flow_lookup=request.flow_lookup,
        config=request.existing,
        local_schemas=local_schema_dir(request.target),
    )
    written = write_files(request.target, result.files, force=request.force)
    return Exported(tuple(written), result.warnings, result.summary(), result.addresses)


def adopt_exported(
    client: ApiClient,
    directory: Path,
    addresses: tuple[Address, ...],
    environ: Mapping[str, str],
    notify: Notify = ignore,
) -> Adopted:
    """Record `addresses` as owned by the project the files in `directory` name, with the
    digests of the desired specs those files give (as apply would)."""
    loaded, diags = load_project(directory.absolute(), environ=environ)
    if diags.has_errors:
        raise ReconcilerError(
            "the files were written, but they have errors; nothing was adopted",
            hint=f"run `prefect-gitops validate {directory}`, fix them, then "
            "`prefect-gitops export --force --adopt` again",
        )
    desired = desired_online(client, loaded, environ, PlanOptions(), notify=notify)
    owner = project_name(loaded)
    inventory = adopt(client, owner, addresses, desired)
    return Adopted(owner, sum(1 for a in addresses if inventory.owns(a)))


def choose_project_name(
    chosen: str | None, owners: dict[str, int], existing: str, target: Path, notify: Notify
) -> str:
    """--project, else the owner the server records (apply and prune then treat the exported
    objects as the repository's own), else the existing config's name, else the folder's."""
    listed = ", ".join(f"'{owner}' ({count})" for owner, count in owners.items())
    if chosen is not None:
        if owners and chosen not in owners:
            notify(
                f"warning: the exported objects are owned by {listed} on the server, not by "
                f"'{chosen}': plan will show them as not yet owned by this project"
            )
        return chosen
    if not owners:
        return existing or target.name
    name = next(iter(owners))
    if len(owners) > 1 or (existing and existing != name):
        notify(
            f"warning: the exported objects are owned by {listed} on the server; the project "
            f"is named '{name}' (choose another with --project)"
        )
    return name


def existing_config(target: Path) -> dict[str, Any]:
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
