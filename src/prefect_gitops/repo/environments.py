"""Environments: one repository, several servers (dev, staging, prod).

The root config's `environments:` names each target with its server (`api_url` or `profile`)
and its overrides. `--env NAME` applies them to the loaded project *before* anything else
looks at it, so validation, the desired state, plan and apply all see the environment's
version of each file:

- `work_pools: {local: local-dev}` renames pools, in the pool files and in every deployment
  that points at them;
- `job_variables:` is merged (deeply: `env` maps key by key) into every deployment's job
  variables, then `deployments: {<name glob>: {job_variables, parameters}}` into the
  deployments it names (names as prefect.yaml writes them, before the suffix);
- `schedules: false` makes every schedule inactive (they stay declared, nothing runs);
- `name_suffix: -dev` is appended to every deployment's name.

An override lands in the data without a line of its own: a diagnostic it causes points at
the deployment's value in prefect.yaml and says which environment it comes from.
"""

from __future__ import annotations

import copy
import dataclasses
import fnmatch
import os
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import ConfigError, ReconcilerError
from ..prefect.settings import (
    CREDENTIAL_KEYS,
    Settings,
    check_api_url,
    is_loopback_url,
    load_settings,
    redact_url,
    resolve_sources,
    same_api_url,
)
from .diagnostics import Diagnostic, Diagnostics
from .modelcheck import validate_model
from .models import DeploymentConfig, EnvironmentSpec
from .project import Project
from .source import format_path
from .suggest import did_you_mean


def select(project: Project, name: str) -> EnvironmentSpec:
    spec = project.config.environments.get(name)
    if spec is not None:
        return spec
    known = sorted(project.config.environments)
    where = project.config_file.rel if project.config_file is not None else "the root config"
    raise ReconcilerError(
        f"unknown environment '{name}': {where} declares "
        + (", ".join(f"'{n}'" for n in known) if known else "no `environments:`"),
        hint=did_you_mean(name, known),
    )


def merge(base: Any, override: Any) -> Any:
    """`override` over `base`: mappings merge key by key, anything else is replaced."""
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        out = dict(base)
        for key, value in override.items():
            out[key] = merge(base.get(key), value) if key in base else copy.deepcopy(value)
        return out
    return copy.deepcopy(override)


def apply_environment(project: Project, name: str, diags: Diagnostics) -> None:
    """Rewrite `project` (in place) as environment `name` sees it."""
    if name not in project.config.environments and diags.has_errors:
        project.environment = name  # the root config did not load: its errors say why
        return
    spec = select(project, name)
    project.environment = name
    if not diags.has_errors:  # with files that did not load, names would be missing
        _check_targets(project, name, spec, diags)
    for pool in project.pools:
        if pool.spec is not None and pool.spec.name in spec.work_pools:
            pool.spec = pool.spec.model_copy(update={"name": spec.work_pools[pool.spec.name]})
    for entry in project.deployments:
        if not isinstance(entry.raw, dict):
            continue
        raw = copy.deepcopy(entry.raw)
        original_name = raw.get("name")
        work_pool = raw.get("work_pool")
        if isinstance(work_pool, dict):
            pool_name = work_pool.get("name")
            if isinstance(pool_name, str) and pool_name in spec.work_pools:
                work_pool["name"] = spec.work_pools[pool_name]
        overrides: list[Mapping[str, Any]] = [spec.job_variables] if spec.job_variables else []
        parameters: list[Mapping[str, Any]] = []
        for pattern, targeted in spec.deployments.items():
            if isinstance(original_name, str) and fnmatch.fnmatchcase(original_name, pattern):
                if targeted.job_variables:
                    overrides.append(targeted.job_variables)
                if targeted.parameters:
                    parameters.append(targeted.parameters)
        if overrides:
            if not isinstance(work_pool, dict):
                work_pool = raw["work_pool"] = {}
            job_variables: Any = work_pool.get("job_variables") or {}
            for values in overrides:
                job_variables = merge(job_variables, values)
            work_pool["job_variables"] = job_variables
        for values in parameters:
            raw["parameters"] = merge(raw.get("parameters") or {}, values)
        if not spec.schedules:
            _deactivate(raw)
        if spec.name_suffix and isinstance(original_name, str):
            raw["name"] = original_name + spec.name_suffix
        entry.raw = raw
        if entry.config is not None:
            entry.config = validate_model(
                DeploymentConfig,
                raw,
                entry.file,
                entry.path,
                diags,
                label=f"{entry.label} (environment '{name}')",
                resource=entry.resource,
                unknown_is_error=False,
            )


def _names(project: Project) -> tuple[list[str], set[str]]:
    """Deployment names and pool names (declared or used) as the repository writes them."""
    deployments: list[str] = []
    pools = {p.spec.name for p in project.pools if p.spec is not None}
    for entry in project.deployments:
        raw = entry.raw if isinstance(entry.raw, dict) else {}
        if isinstance(raw.get("name"), str):
            deployments.append(raw["name"])
        pool = raw.get("work_pool")
        if isinstance(pool, dict) and isinstance(pool.get("name"), str):
            pools.add(pool["name"])
    return deployments, pools


def _check_targets(project: Project, name: str, spec: EnvironmentSpec, diags: Diagnostics) -> None:
    """An override that names nothing is an error: after a rename it would silently stop
    applying, and the environment would get the repository's values instead."""
    config_file = project.config_file
    if config_file is None:
        return
    deployments, pools = _names(project)
    for pattern in spec.deployments:
        if not any(fnmatch.fnmatchcase(d, pattern) for d in deployments):
            diags.error(
                "S001",
                f"environment '{name}': `deployments` pattern '{pattern}' matches no "
                "deployment of the repository",
                config_file.span(("environments", name, "deployments", pattern), key=True),
                path=format_path(("environments", name, "deployments", pattern)),
                hint=did_you_mean(pattern, deployments),
            )
    for pool in spec.work_pools:
        if pool not in pools:
            diags.error(
                "S001",
                f"environment '{name}': `work_pools` renames '{pool}', which no pool file "
                "declares and no deployment uses",
                config_file.span(("environments", name, "work_pools", pool), key=True),
                path=format_path(("environments", name, "work_pools", pool)),
                hint=did_you_mean(pool, sorted(pools)),
            )


def _deactivate(raw: dict[str, Any]) -> None:
    items = raw.get("schedules")
    if isinstance(raw.get("schedule"), dict):
        raw["schedule"] = {**raw["schedule"], "active": False}
    if isinstance(items, list):
        raw["schedules"] = [
            {**item, "active": False} if isinstance(item, dict) and item else item for item in items
        ]


def label(diagnostics: Iterable[Diagnostic], name: str) -> list[Diagnostic]:
    """Diagnostics found under environment `name`, saying so."""
    return [
        dataclasses.replace(d, message=f"environment '{name}': {d.message}") for d in diagnostics
    ]


def api_target(
    project: Project,
    api_url: str | None,
    profile: str | None,
    environ: Mapping[str, str] | None = None,
) -> tuple[str | None, str | None]:
    """The `--api-url` and `--profile` to resolve the settings with.

    The options win. Else the selected environment's `profile` (one this machine defines) is
    used, and its `api_url` is only the server the environment expects: the repository is
    code under review and must never choose where this machine's credentials go. It must
    equal the URL configured here (PREFECT_API_URL or the profile), or the run stops before
    anything is sent. With no URL configured, it is used only when it is this machine's own
    (loopback) and no credential is configured."""
    if api_url or profile or project.environment is None:
        return api_url, profile
    name = project.environment
    spec = project.config.environments[name]
    if spec.api_url is None and spec.profile is None:
        return None, None
    environ = os.environ if environ is None else environ
    configured = load_settings(environ, profile=spec.profile)
    if spec.profile is not None and configured.source == f"profile {spec.profile}":
        # The repository chose this profile: only the profile's own credentials go with it.
        # Resolved as Prefect does (names in any case), not looked up by their exact names.
        _, found = resolve_sources(environ, profile=spec.profile)
        loose = [
            key
            for key in CREDENTIAL_KEYS
            if key in found and found[key].text and found[key].source == "environment"
        ]
        if loose:
            raise ConfigError(
                f"environment '{name}' ({_location(project, name, 'profile')}) selects the "
                f"Prefect profile '{spec.profile}', whose URL "
                f"{redact_url(configured.api_url or '')} would receive the {loose[0]} set in "
                "the environment; nothing was contacted",
                hint="set PREFECT_API_URL next to it, or keep the credential in the profile",
            )
    if spec.api_url is None:
        return None, spec.profile
    return _expected_server(project, name, spec.api_url, configured), spec.profile


def _expected_server(project: Project, name: str, url: str, configured: Settings) -> str | None:
    """The `--api-url` to use for an environment that names `url`, or a ConfigError."""
    where = _location(project, name, "api_url")
    expected = check_api_url(url, where)
    if configured.api_url is None:
        if configured.secrets() or not is_loopback_url(expected):
            raise ConfigError(
                f"environment '{name}' ({where}) expects the Prefect API at "
                f"{redact_url(expected)}, but no API URL is configured on this machine; a "
                "repository only names the server it expects, it never chooses where "
                "credentials and deployments go",
                hint=f"set PREFECT_API_URL={redact_url(expected)} (with its PREFECT_API_KEY) "
                "where you trust that server, or pass --api-url",
            )
        return expected
    if not same_api_url(configured.api_url, expected):
        raise ConfigError(
            f"environment '{name}' ({where}) expects the Prefect API at "
            f"{redact_url(expected)}, but Prefect's settings here point at "
            f"{redact_url(configured.api_url)} (from {configured.source}); refusing to send "
            "its credentials elsewhere; nothing was contacted",
            hint="point PREFECT_API_URL (environment, .env, prefect.toml or the profile) at "
            "the environment's server, or choose the server explicitly with --api-url",
        )
    return None


def _location(project: Project, name: str, key: str) -> str:
    if project.config_file is None:
        return "the root config"
    return str(project.config_file.span(("environments", name, key)))
