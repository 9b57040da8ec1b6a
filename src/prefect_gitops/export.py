"""`export`: turn what a live server holds into repository files that plan as "No changes".

Three steps, kept apart:

1. `read_server` reads pools, queues, deployments (with their flows), variables and global
   concurrency limits with filter endpoints (a handful of requests), as normalized resources
   (`live.py`'s converters, so the shapes are exactly the ones `plan` compares).
2. `build_export` is pure: it writes the documents.
   - `prefect.yaml`: one entry per deployment with only what differs from what `prefect deploy`
     fills in itself (the flow's docstring as description, the flow file's hash as version, the
     default pull step for this folder, `enforce_parameter_schema: true`). Settings that several
     deployments share (job variables, the whole `work_pool`, tags, schedules, pull steps) are
     written once under `definitions:` as YAML anchors and referenced with aliases; pull steps
     every deployment shares go to the top-level `pull:`.
   - `work-pools/<pool>.yaml` per pool, its queues included; the `base_job_template` only when
     it differs from the type's default (then as `work-pools/templates/<pool>.json`).
   - `prefect-gitops.yaml`: the project name, variables and global concurrency limits.
   Secrets never reach a file in clear text: a value under a secret-looking key (`password`,
   `token`, `api_key`, ...) in job variables, parameters, pull steps or a pool variable's default
   becomes a `{{ prefect.blocks.secret.<name> }}` reference (the export says which block to
   create); variables with secret-looking names are left out. References already on the server
   (`{{ prefect.blocks.* }}` in pull steps) stay references.
3. `write_files` never overwrites without `force`, and writes every file atomically (a
   temporary file in the same folder, then a rename), all files or none.

`adopt` records the exported objects as owned by the project in the ownership inventory
(`ownership.py`), with the digests `apply` would record, so `--prune` may later delete them.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .errors import ReconcilerError
from .execution.inventory import record_inventory
from .prefect import templates
from .prefect.api import ApiClient
from .prefect.schedules import normalize_server_schedule
from .prefect.templating import find_placeholders
from .render.masking import Masker
from .repo.models import banned_name_chars
from .repo.schemas import CONFIG_SCHEMA, POOL_SCHEMA, PREFECT_YAML_SCHEMA, SCHEMAS, modeline
from .repo.yaml_writer import dump_yaml
from .state.desired import DEFAULT_QUEUE, SET_WORKING_DIRECTORY, FlowFacts
from .state.diff import diff_specs
from .state.live import (
    by_name,
    deployment_resource,
    limit_resource,
    pool_resource,
    queue_resource,
    read_deploy_inputs,
    read_inventory,
    read_named,
    variable_resource,
)
from .state.ownership import INVENTORY_PREFIX, LABEL, Inventory, decode_inventory, digest
from .state.resources import Address, Resource, State

CONFIG_FILE = "prefect-gitops.yaml"
PREFECT_FILE = "prefect.yaml"
POOLS_DIR = "work-pools"
LOCAL_SCHEMA_DIR = "schemas"  # where `prefect-gitops schema --write` is documented to write
# Names of our own bookkeeping on the server (the ownership inventory, apply's lock).
_OWN_PREFIXES = (INVENTORY_PREFIX, "prefect-gitops")
_VARIABLE_NAME = re.compile(r"^[a-z0-9_]+$")
DEFAULT_QUEUE_DESCRIPTION = "The work pool's default queue."
_EXPORTED_CONFIG_KEYS = ("project", "variables", "concurrency_limits")
_DTSTART = re.compile(r"^DTSTART[^\n]*\n")

FlowLookup = Callable[[str, Path], "FlowFacts | str"]


@dataclass(frozen=True)
class Selection:
    """Which part of the server to export. Empty: everything.

    `pools` and `deployments` are globs (`prod-*`; a deployment glob matches `flow/name` or
    just `name`); `tags` keeps deployments that carry any of them. Variables and global
    concurrency limits are exported only when nothing narrows the selection.
    """

    pools: tuple[str, ...] = ()
    deployments: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    @property
    def narrowed(self) -> bool:
        return bool(self.pools or self.deployments or self.tags)

    def pool_matches(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, g) for g in self.pools)

    def deployment_matches(self, res: Resource) -> bool:
        if self.deployments and not any(
            fnmatch.fnmatchcase(res.name, g) or fnmatch.fnmatchcase(str(res.spec["name"]), g)
            for g in self.deployments
        ):
            return False
        if self.tags and not set(self.tags) & set(res.spec.get("tags") or ()):
            return False
        pool = res.spec.get("work_pool_name")
        return not self.pools or (isinstance(pool, str) and self.pool_matches(pool))


@dataclass(frozen=True)
class ServerObjects:
    """What `read_server` found, as normalized resources (`live.py` shapes)."""

    pools: tuple[Resource, ...] = ()
    queues: tuple[Resource, ...] = ()
    deployments: tuple[Resource, ...] = ()
    variables: tuple[Resource, ...] = ()
    limits: tuple[Resource, ...] = ()
    # The server's default template per pool type (what `plan` uses for a pool file without
    # one); a type missing here falls back to the shipped default.
    pool_templates: Mapping[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class ExportedFile:
    path: str  # relative to the target folder, `/`-separated
    text: str


@dataclass(frozen=True)
class Export:
    files: tuple[ExportedFile, ...]
    addresses: tuple[Address, ...]  # what the files declare (for --adopt)
    warnings: tuple[str, ...] = ()

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for address in self.addresses:
            counts[address.type] = counts.get(address.type, 0) + 1
        words = [
            ("deployment", "deployments"),
            ("work_pool", "work pools"),
            ("work_queue", "queues"),
            ("variable", "variables"),
            ("concurrency_limit", "concurrency limits"),
        ]
        return ", ".join(f"{counts.get(t, 0)} {w}" for t, w in words)


# -- 1. reading the server -------------------------------------------------------------------


def read_server(client: ApiClient, selection: Selection = Selection()) -> ServerObjects:
    """Read the selected objects (about six requests plus one per 200 objects)."""
    all_pools = [pool_resource(o) for o in client.paginate("/work_pools/filter", {})]
    deployments: list[Resource] = []
    raw = client.paginate("/deployments/filter", {})
    flow_ids = sorted({str(o["flow_id"]) for o in raw if o.get("flow_id")})
    flow_names: dict[str, str] = {}
    if flow_ids:
        for obj in read_named(client, "/flows/filter", flow_ids, by_name("flows", "id")):
            flow_names[str(obj["id"])] = str(obj["name"])
    for obj in raw:
        flow = flow_names.get(str(obj.get("flow_id")))
        if flow is not None:
            deployments.append(deployment_resource(obj, flow))
    deployments = [d for d in deployments if selection.deployment_matches(d)]

    if selection.pools:
        wanted = {p.name for p in all_pools if selection.pool_matches(p.name)}
    elif selection.narrowed:
        wanted = {str(d.spec["work_pool_name"]) for d in deployments}
    else:
        wanted = {p.name for p in all_pools}
    pools = [p for p in all_pools if p.name in wanted]
    queues: list[Resource] = []
    if pools:
        of_pools = by_name("work_pools")
        for obj in read_named(client, "/work_queues/filter", sorted(wanted), of_pools):
            res = queue_resource(obj)
            if res is not None and res.spec["pool"] in wanted:
                queues.append(res)

    variables: list[Resource] = []
    limits: list[Resource] = []
    if not selection.narrowed:
        variables = [
            variable_resource(o)
            for o in client.paginate("/variables/filter", {})
            if not str(o.get("name", "")).startswith(_OWN_PREFIXES)
        ]
        limits = [
            limit_resource(o)
            for o in client.paginate("/v2/concurrency_limits/filter", {})
            # `deployment:<id>` limits belong to deployments' `concurrency_limit`.
            if not str(o.get("name", "")).startswith(("deployment:", *_OWN_PREFIXES))
        ]
    defaults = read_deploy_inputs(client, [], [str(p.spec["type"]) for p in pools])
    return ServerObjects(
        pools=tuple(pools),
        queues=tuple(queues),
        deployments=tuple(deployments),
        variables=tuple(variables),
        limits=tuple(limits),
        pool_templates=defaults.pool_templates or {},
    )


def read_inventories(client: ApiClient) -> list[Inventory]:
    """Every project's ownership inventory on the server (one request per 200 variables)."""
    found = client.paginate(
        "/variables/filter", {"variables": {"name": {"like_": INVENTORY_PREFIX}}}
    )
    projects = {
        str(value["project"])
        for value in (v.get("value") for v in found)
        if isinstance(value, Mapping) and isinstance(value.get("project"), str)
    }
    inventories = (decode_inventory(project, found) for project in sorted(projects))
    return [inventory for inventory in inventories if inventory is not None]


def recorded_owners(objects: ServerObjects, inventories: Iterable[Inventory]) -> dict[str, int]:
    """How many of `objects` each project owns as the server records it (a deployment's
    label, else the inventories), most first: the name an export should keep, so that the
    exported repository still owns what it declares."""
    inventories = list(inventories)
    counts: dict[str, int] = {}
    every = (*objects.pools, *objects.queues, *objects.deployments, *objects.variables)
    for res in (*every, *objects.limits):
        label = res.meta.get("labels", {}).get(LABEL) if res.type == "deployment" else None
        owners = [str(label)] if label else [i.project for i in inventories if i.owns(res.address)]
        for owner in owners:
            counts[owner] = counts.get(owner, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


# -- 2. building the documents ---------------------------------------------------------------


class _Secrets:
    """Replaces clear-text secrets by Secret block references and remembers which.

    `owner` is what the value belongs to (`deployment etl/daily`); the block is named after
    the owner's name and the secret's key (`etl-daily-db-password`).
    """

    def __init__(self) -> None:
        self.masker = Masker()
        self.replaced: list[str] = []

    def hide(self, value: Any, owner: str, where: str) -> Any:
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for key, sub in value.items():
                path = f"{where}.{key}" if where else str(key)
                if self.masker.is_secret_key(key) and _is_clear_text(sub):
                    out[key] = self._reference(owner, path, str(key))
                else:
                    out[key] = self.hide(sub, owner, path)
            return out
        if isinstance(value, list):
            return [self.hide(v, owner, f"{where}[{i}]") for i, v in enumerate(value)]
        return value

    def hide_pool_defaults(self, template: dict[str, Any], owner: str) -> dict[str, Any]:
        props = (template.get("variables") or {}).get("properties")
        if not isinstance(props, dict):
            return template
        for name, prop in props.items():
            if (
                isinstance(prop, dict)
                and self.masker.is_secret_key(name)
                and _is_clear_text(prop.get("default"))
            ):
                prop["default"] = self._reference(owner, f"variables.{name}.default", name)
        return template

    def _reference(self, owner: str, where: str, key: str) -> str:
        block = _slug(f"{owner.split(' ', 1)[-1]}-{key}")
        self.replaced.append(
            f"{owner}: {where} is a secret; exported as a reference to the Secret block "
            f"'{block}' (create that block with the value before applying)"
        )
        return "{{ prefect.blocks.secret." + block + " }}"


def _is_clear_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and not find_placeholders(value)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def build_export(
    objects: ServerObjects,
    *,
    target: Path,
    project: str,
    source: str,
    flow_lookup: FlowLookup,
    config: Mapping[str, Any] | None = None,
    local_schemas: str | None = None,
) -> Export:
    """The files for `objects`, to be written into `target` (whose flow code `flow_lookup`
    reads to leave out what `prefect deploy` would fill in itself). `config` is the root
    config already there: its other settings (environments, ignore rules...) are kept.
    Each YAML file starts with a modeline naming its schema: the copy in `local_schemas`
    (a folder of `target`, see `local_schema_dir`), else the published URL."""
    secrets = _Secrets()
    warnings: list[str] = []
    header = (
        f"Exported from {source} by `prefect-gitops export`.\n"
        "Review it, then check it with `prefect-gitops validate` and `prefect-gitops plan`."
    )
    addresses: list[Address] = []
    files = _pool_files(objects, secrets, header, local_schemas, warnings, addresses)

    entries: list[dict[str, Any]] = []
    for res in sorted(
        objects.deployments, key=lambda r: (str(r.spec.get("work_pool_name")), r.name)
    ):
        if not res.spec.get("work_pool_name"):
            warnings.append(
                f"deployment '{res.name}' has no work pool (served with `.serve()`?); "
                "prefect.yaml cannot declare it; not exported"
            )
            continue
        if res.spec.get("labels"):
            warnings.append(
                f"deployment '{res.name}': its labels {sorted(res.spec['labels'])} cannot be "
                "declared in prefect.yaml; plan will show them as a change"
            )
        entries.append(_deployment_entry(res, target, flow_lookup, secrets))
        addresses.append(res.address)
    document, anchors = _factor(entries)
    prefect_doc: dict[str, Any] = {"name": project}
    prefect_doc.update(document)
    prefect_text = dump_yaml(prefect_doc, anchors=anchors, header=header)
    files.append(_yaml_file(PREFECT_FILE, PREFECT_YAML_SCHEMA, local_schemas, prefect_text))

    root: dict[str, Any] = {"project": project}
    root.update({k: v for k, v in (config or {}).items() if k not in _EXPORTED_CONFIG_KEYS})
    variables = _variable_items(objects, secrets, warnings, addresses)
    limits = _limit_items(objects, warnings, addresses)
    if variables:
        root["variables"] = variables
    if limits:
        root["concurrency_limits"] = limits
    files.insert(
        0, _yaml_file(CONFIG_FILE, CONFIG_SCHEMA, local_schemas, dump_yaml(root, header=header))
    )
    return Export(tuple(files), tuple(addresses), tuple(warnings + secrets.replaced))


def _pool_files(
    objects: ServerObjects,
    secrets: _Secrets,
    header: str,
    local_schemas: str | None,
    warnings: list[str],
    addresses: list[Address],
) -> list[ExportedFile]:
    """A file per work pool (with its queues), and its template when not the default."""
    files: list[ExportedFile] = []
    pool_names = _file_names([p.name for p in objects.pools])
    for pool in objects.pools:
        if pool.name.startswith("prefect"):
            warnings.append(f"work pool '{pool.name}': reserved 'prefect' name; not exported")
            continue
        stem = pool_names[pool.name]
        queues = [q for q in objects.queues if q.spec["pool"] == pool.name]
        default = objects.pool_templates.get(str(pool.spec["type"]))
        doc, template = _pool_document(pool, queues, stem, secrets, default)
        pool_path = f"{POOLS_DIR}/{stem}.yaml"
        files.append(
            _yaml_file(pool_path, POOL_SCHEMA, local_schemas, dump_yaml(doc, header=header))
        )
        if template is not None:
            files.append(
                ExportedFile(
                    f"{POOLS_DIR}/templates/{stem}.json",
                    json.dumps(template, indent=2, ensure_ascii=False) + "\n",
                )
            )
        addresses.append(pool.address)
        addresses.extend(q.address for q in queues)
    return files


def _variable_items(
    objects: ServerObjects, secrets: _Secrets, warnings: list[str], addresses: list[Address]
) -> list[dict[str, Any]]:
    """The `variables` of prefect-gitops.yaml: those it can declare and that are not secret."""
    variables: list[dict[str, Any]] = []
    for var in sorted(objects.variables, key=lambda r: r.name):
        if secrets.masker.is_secret_key(var.name):
            warnings.append(
                f"variable '{var.name}' looks secret; not exported (declare it yourself, "
                "or keep the value in a Secret block)"
            )
            continue
        if not _VARIABLE_NAME.match(var.name):
            warnings.append(
                f"variable '{var.name}': only lowercase letters, digits and _ are supported "
                "in prefect-gitops.yaml; not exported"
            )
            continue
        item: dict[str, Any] = {"name": var.name, "value": var.spec.get("value")}
        if var.spec.get("tags"):
            item["tags"] = list(var.spec["tags"])
        variables.append(item)
        addresses.append(var.address)
    return variables


def _limit_items(
    objects: ServerObjects, warnings: list[str], addresses: list[Address]
) -> list[dict[str, Any]]:
    """The `concurrency_limits` of prefect-gitops.yaml."""
    limits: list[dict[str, Any]] = []
    for lim in sorted(objects.limits, key=lambda r: r.name):
        if banned_name_chars(lim.name):
            warnings.append(f"concurrency limit '{lim.name}': name not supported; not exported")
            continue
        item = {"name": lim.name, "limit": lim.spec["limit"]}
        if not lim.spec.get("active", True):
            item["active"] = False
        decay = lim.spec.get("slot_decay_per_second") or 0.0
        if decay:
            item["slot_decay_per_second"] = decay
        limits.append(item)
        addresses.append(lim.address)
    return limits


def _yaml_file(path: str, schema: str, local_schemas: str | None, text: str) -> ExportedFile:
    """The file with a first line telling editors its schema: the repository's own copy in
    `local_schemas` when it has one, else the published one."""
    return ExportedFile(path, f"{modeline(schema, path, local_schemas)}\n{text}")


def local_schema_dir(target: Path) -> str | None:
    """`schemas`, when `prefect-gitops schema --write schemas` put a copy in `target`."""
    found = all((target / LOCAL_SCHEMA_DIR / name).is_file() for name in SCHEMAS)
    return LOCAL_SCHEMA_DIR if found else None


def _file_names(names: Sequence[str]) -> dict[str, str]:
    """A file-system-safe, unique stem per pool name."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for name in sorted(names):
        stem = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "pool"
        candidate, n = stem, 1
        while candidate.lower() in used:
            n += 1
            candidate = f"{stem}-{n}"
        used.add(candidate.lower())
        out[name] = candidate
    return out


def _pool_document(
    pool: Resource,
    queues: Sequence[Resource],
    stem: str,
    secrets: _Secrets,
    server_default: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    spec = pool.spec
    doc: dict[str, Any] = {"name": pool.name, "type": spec["type"]}
    if spec.get("description") is not None:
        doc["description"] = spec["description"]
    if spec.get("concurrency_limit") is not None:
        doc["concurrency_limit"] = spec["concurrency_limit"]
    if spec.get("is_paused"):
        doc["paused"] = True
    template: dict[str, Any] | None = None
    live_template = json.loads(json.dumps(spec.get("base_job_template") or {}))
    default = server_default or templates.default_template(str(spec["type"]))
    if default is None or diff_specs({"t": live_template}, {"t": default}):
        template = secrets.hide_pool_defaults(live_template, f"work-pool {pool.name}")
        doc["base_job_template"] = f"templates/{stem}.json"
    items = []
    for queue in sorted(queues, key=lambda q: (_priority(q), q.name)):
        item: dict[str, Any] = {"name": queue.spec["name"]}
        if queue.spec.get("priority") is not None:
            item["priority"] = queue.spec["priority"]
        if queue.spec.get("concurrency_limit") is not None:
            item["concurrency_limit"] = queue.spec["concurrency_limit"]
        # The server stores "" when no description was given, and its own text for `default`.
        if queue.spec.get("description") not in (None, "", DEFAULT_QUEUE_DESCRIPTION):
            item["description"] = queue.spec["description"]
        if queue.spec.get("is_paused"):
            item["paused"] = True
        items.append(item)
    if items:
        doc["queues"] = items
    return doc, template


def _priority(queue: Resource) -> int:
    value = queue.spec.get("priority")
    return value if isinstance(value, int) else 1 << 30


def _deployment_entry(
    res: Resource, target: Path, flow_lookup: FlowLookup, secrets: _Secrets
) -> dict[str, Any]:
    spec = res.spec
    owner = f"deployment {res.name}"
    entrypoint = str(spec.get("entrypoint") or "")
    facts = flow_lookup(entrypoint, target) if entrypoint else "no entrypoint"
    known = facts if isinstance(facts, FlowFacts) else None
    entry: dict[str, Any] = {"name": spec["name"]}
    if spec.get("version") is not None and (known is None or known.version != spec["version"]):
        entry["version"] = spec["version"]
    description = spec.get("description")
    if description is not None and (known is None or known.description != description):
        entry["description"] = description
    entry["entrypoint"] = entrypoint
    if spec.get("parameters"):
        entry["parameters"] = secrets.hide(dict(spec["parameters"]), owner, "parameters")
    if not spec.get("enforce_parameter_schema", True):
        entry["enforce_parameter_schema"] = False
    if spec.get("tags"):
        entry["tags"] = list(spec["tags"])
    if spec.get("concurrency_limit") is not None:
        options = spec.get("concurrency_options") or {}
        if options:
            limit: dict[str, Any] = {"limit": spec["concurrency_limit"]}
            limit.update({k: v for k, v in options.items() if v is not None})
            entry["concurrency_limit"] = limit
        else:
            entry["concurrency_limit"] = spec["concurrency_limit"]
    if spec.get("paused"):
        entry["paused"] = True
    job_variables = secrets.hide(dict(spec.get("job_variables") or {}), owner, "job_variables")
    work_pool: dict[str, Any] = {
        "name": spec["work_pool_name"],
        "work_queue_name": spec.get("work_queue_name") or DEFAULT_QUEUE,
    }
    if job_variables:
        work_pool["job_variables"] = job_variables
    entry["work_pool"] = work_pool
    pull = spec.get("pull_steps")
    if pull is None:
        pull = []
    if pull != _default_pull(job_variables, target):
        entry["pull"] = secrets.hide(list(pull), owner, "pull")
    if spec.get("schedules"):
        entry["schedules"] = [_schedule_item(s) for s in spec["schedules"]]
    return entry


def _default_pull(job_variables: Mapping[str, Any], target: Path) -> list[dict[str, Any]]:
    directory = "/opt/prefect" if job_variables.get("image") else str(target.absolute().resolve())
    return [{SET_WORKING_DIRECTORY: {"directory": directory}}]


def _schedule_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A normalized server schedule (`normalize_server_schedule`) as a prefect.yaml item."""
    schedule = dict(item.get("schedule") or {})
    out: dict[str, Any] = {}
    if "cron" in schedule:
        out["cron"] = schedule["cron"]
        if schedule.get("timezone"):
            out["timezone"] = schedule["timezone"]
        if schedule.get("day_or") is False:
            out["day_or"] = False
    elif "interval" in schedule:
        seconds = schedule["interval"]
        out["interval"] = int(seconds) if float(seconds).is_integer() else seconds
        if schedule.get("anchor_date"):
            out["anchor_date"] = schedule["anchor_date"]
        out["timezone"] = schedule.get("timezone") or "UTC"
    elif "rrule" in schedule:
        rrule, tz = str(schedule["rrule"]), schedule.get("timezone") or "UTC"
        bare = _DTSTART.sub("", rrule, count=1)
        # Keep the DTSTART only when Prefect would not add the same one again.
        same = normalize_server_schedule({"schedule": {"rrule": bare, "timezone": tz}})
        if bare != rrule and same["schedule"]["rrule"] == rrule:
            rrule = bare
        out["rrule"] = rrule
        out["timezone"] = tz
    else:
        out.update(schedule)
    if item.get("active") is False:
        out["active"] = False
    if item.get("parameters"):
        out["parameters"] = dict(item["parameters"])
    if item.get("slug"):
        out["slug"] = item["slug"]
    if item.get("max_scheduled_runs") is not None:
        out["max_scheduled_runs"] = item["max_scheduled_runs"]
    return out


# -- shared settings -> definitions + anchors ------------------------------------------------


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


@dataclass
class _Anchors:
    names: dict[int, str] = field(default_factory=dict)
    definitions: dict[str, dict[str, Any]] = field(default_factory=dict)
    _used: set[str] = field(default_factory=set)

    def share(self, section: str, base: str, value: Any) -> str:
        name = re.sub(r"[^A-Za-z0-9_-]+", "-", base).strip("-")[:60] or section
        candidate, n = name, 1
        while candidate in self._used:
            n += 1
            candidate = f"{name}-{n}"
        self._used.add(candidate)
        self.names[id(value)] = candidate
        self.definitions.setdefault(section, {})[candidate] = value
        return candidate


def _groups(
    entries: Iterable[dict[str, Any]], get: Callable[[dict[str, Any]], Any]
) -> list[list[dict[str, Any]]]:
    by_value: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        value = get(entry)
        if value:
            by_value.setdefault(_key(value), []).append(entry)
    return [group for group in by_value.values() if len(group) >= 2]


def _factor(entries: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[int, str]]:
    """Pull settings several deployments share into `definitions` (anchored); pull steps
    that every deployment shares become the top-level `pull:`."""
    anchors = _Anchors()
    document: dict[str, Any] = {}
    pulls = [e.get("pull") for e in entries]
    if (
        len(entries) >= 2
        and all(p is not None for p in pulls)
        and len({_key(p) for p in pulls}) == 1
    ):
        document["pull"] = pulls[0]
        for entry in entries:
            del entry["pull"]

    for group in _groups(entries, lambda e: e["work_pool"].get("job_variables")):
        shared = group[0]["work_pool"]["job_variables"]
        anchors.share("job_variables", f"{group[0]['work_pool']['name']}-job-variables", shared)
        for entry in group:
            entry["work_pool"]["job_variables"] = shared
    for group in _groups(entries, lambda e: e["work_pool"]):
        shared = group[0]["work_pool"]
        anchors.share("work_pools", f"{shared['name']}-{shared['work_queue_name']}", shared)
        for entry in group:
            entry["work_pool"] = shared
    for group in _groups(entries, lambda e: e.get("tags")):
        shared = group[0]["tags"]
        anchors.share("tags", "tags-" + "-".join(shared), shared)
        for entry in group:
            entry["tags"] = shared
    for group in _groups(entries, lambda e: e.get("schedules")):
        shared = group[0]["schedules"]
        slug = shared[0].get("slug") or "shared"
        anchors.share("schedules", f"schedules-{slug}", shared)
        for entry in group:
            entry["schedules"] = shared
    for group in _groups(entries, lambda e: e.get("pull")):
        shared = group[0]["pull"]
        anchors.share("pull", _steps_name(shared), shared)
        for entry in group:
            entry["pull"] = shared
    if anchors.definitions:
        document["definitions"] = anchors.definitions
    document["deployments"] = entries
    return document, anchors.names


def _steps_name(steps: list[Any]) -> str:
    """`pull-<what the first step points at>`: a repository or a folder name."""
    first = steps[0] if steps and isinstance(steps[0], dict) else {}
    for function, inputs in first.items():
        if isinstance(inputs, dict):
            for key in ("repository", "directory", "bucket", "block_document_name"):
                value = inputs.get(key)
                if isinstance(value, str) and value.strip("/"):
                    tail = value.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
                    return f"pull-{tail}"
        return "pull-" + str(function).rsplit(".", 1)[-1].replace("_", "-")
    return "pull-steps"


# -- 3. writing ------------------------------------------------------------------------------


def write_files(target: Path, files: Sequence[ExportedFile], *, force: bool) -> list[Path]:
    """Write every file or none. Existing files are an error unless `force`."""
    paths = [target / f.path for f in files]
    existing = [f.path for f, p in zip(files, paths, strict=True) if p.exists()]
    if existing and not force:
        raise ReconcilerError(
            f"export would overwrite {', '.join(existing)} in {target}",
            hint="pass --force to overwrite, or export into an empty folder",
        )
    temps: list[Path] = []
    try:
        for file, path in zip(files, paths, strict=True):
            path.parent.mkdir(parents=True, exist_ok=True)
            temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            temp.write_text(file.text, encoding="utf-8")
            temps.append(temp)
        for temp, path in zip(temps, paths, strict=True):
            os.replace(temp, path)
    except OSError as exc:
        for temp in temps:
            with contextlib.suppress(OSError):
                temp.unlink()
        raise ReconcilerError(f"cannot write the export: {exc.strerror or exc}") from exc
    return paths


# -- adoption --------------------------------------------------------------------------------


def adopt(
    client: ApiClient,
    project: str,
    addresses: Iterable[Address],
    desired: State,
    *,
    now: datetime | None = None,
) -> Inventory:
    """Record `addresses` as owned by `project`, with the digests of their desired specs,
    keeping whatever the inventory already lists."""
    existing = read_inventory(client, project)
    items = dict(existing.items) if existing is not None else {}
    for address in addresses:
        res = desired.get(address)
        if res is not None and address.type != "flow":
            items[str(address)] = digest(res.spec)
    record_inventory(client, project, items, desired.fingerprint(), previous=existing, now=now)
    return Inventory(project=project, items=items, desired=desired.fingerprint())
