"""The job configuration of one flow run, built the way Prefect's process worker builds it.

Pure: base job template + job variables (+ Prefect variables, fetched by the caller) in, a
``JobConfiguration`` out. Precedence: pool defaults < deployment job variables < flow-run job
variables, with ``env`` merged at every layer (``BaseJobConfiguration.from_template_and_values``
and ``resolve_for_flow_run`` in ``prefect/workers/base.py``, 3.9.1).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import ReconcilerError
from ..prefect.templates import default_template
from ..prefect.templating import (
    VARIABLE_PREFIX,
    NotSet,
    PlaceholderKind,
    apply_values,
    find_placeholders,
    resolve_variables,
)
from .blocks import BlockError, BlockSource, has_block_references, redact, resolve_blocks

# The process type's default template, as shipped in schemas/work-pool-types/process.json;
# used when a run has no pool (e.g. `run --local` of a pool-less deployment).
DEFAULT_PROCESS_TEMPLATE: dict[str, Any] = default_template("process") or {}


class JobConfigError(ReconcilerError):
    """The job configuration cannot be built (the run is marked CRASHED with this message)."""


@dataclass(frozen=True)
class JobConfiguration:
    """What the process worker's ``ProcessJobConfiguration`` holds, after rendering."""

    # Either may hold values read from blocks: kept out of the repr.
    command: str | None = field(default=None, repr=False)
    env: dict[str, str] = field(default_factory=dict, repr=False)
    labels: dict[str, str] = field(default_factory=dict)
    name: str | None = None
    stream_output: bool = True
    working_dir: Path | None = None
    # What was read from blocks: never printed (see ``blocks.redact``).
    secrets: frozenset[str] = field(default=frozenset(), compare=False, repr=False)


def merge_job_variables(
    deployment_vars: Mapping[str, Any] | None, run_vars: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Flow-run job variables laid over the deployment's; ``env`` dicts are merged."""
    merged = copy.deepcopy(dict(deployment_vars or {}))
    overrides = copy.deepcopy(dict(run_vars or {}))
    if isinstance(merged.get("env"), dict) and isinstance(overrides.get("env"), dict):
        merged["env"].update(overrides.pop("env"))
    merged.update(overrides)
    return merged


def variable_names(template: Mapping[str, Any], *job_variables: Any) -> set[str]:
    """The ``prefect.variables.*`` names a job configuration may refer to (to fetch them
    first): in the template, its variable defaults, and the job variables laid over them."""
    trees = [template.get("job_configuration", {}), template.get("variables", {}), *job_variables]
    return {
        p.name[len(VARIABLE_PREFIX) :]
        for tree in trees
        for p in find_placeholders(tree)
        if p.kind is PlaceholderKind.VARIABLE
    }


def render_job_configuration(
    base_job_template: Mapping[str, Any],
    variables: Mapping[str, Any],
    *,
    prefect_variables: Mapping[str, Any] | None = None,
    blocks: BlockSource | None = None,
    environ: Mapping[str, str] | None = None,
) -> JobConfiguration:
    """``from_template_and_values`` for the process worker, then its pydantic coercion.

    Block references are read from ``blocks`` (refused when there is none); what they hold is
    redacted from every error message raised here.
    """
    config: dict[str, Any] = copy.deepcopy(dict(base_job_template.get("job_configuration") or {}))
    properties = (base_job_template.get("variables") or {}).get("properties") or {}
    values: dict[str, Any] = {
        name: schema["default"]
        for name, schema in properties.items()
        if isinstance(schema, dict) and schema.get("default") is not None
    }
    if values.get("env"):
        if isinstance(config.get("env"), dict):
            config["env"] = config["env"] | values["env"]
        else:
            config["env"] = values["env"]

    expanded: dict[str, Any] = {}
    for key, value in variables.items():
        if "." in key:
            _set_dotted(expanded, key, value)
    for key, value in variables.items():
        if "." not in key:
            if isinstance(expanded.get(key), dict) and isinstance(value, dict):
                expanded[key] = _deep_merge(expanded[key], value)
            else:
                expanded[key] = value
    values.update(expanded)

    if isinstance(config.get("env"), dict) and values.get("env"):
        config["env"] = config["env"] | values["env"]

    rendered = apply_values(config, values, environ=environ)
    if rendered is NotSet or not isinstance(rendered, dict):
        rendered = {}
    secrets: frozenset[str] = frozenset()
    if has_block_references(rendered):
        if blocks is None:
            raise JobConfigError(
                "the job configuration refers to a block and no Prefect API is available "
                "to read it from"
            )
        try:
            rendered, secrets = resolve_blocks(rendered, blocks)
        except BlockError as exc:
            raise JobConfigError(exc.message, hint=exc.hint) from None
    rendered = resolve_variables(rendered, prefect_variables or {})
    try:
        return replace(_coerce(rendered), secrets=secrets)
    except JobConfigError as exc:
        raise JobConfigError(redact(exc.message, secrets), hint=exc.hint) from None


def _set_dotted(target: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.replace("[", ".").replace("]", "").split(".")
    node = target
    for key in keys[:-1]:
        if not isinstance(node.get(key, {}), dict):
            raise JobConfigError(f"job variable {dotted!r} conflicts with a non-mapping value")
        node = node.setdefault(key, {})
    node[keys[-1]] = value


def _deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in over.items():
        if isinstance(result.get(key), dict) and isinstance(value, dict):
            result[key] = _deep_merge(result[key], value)
        else:
            result[key] = value
    return result


def _coerce(rendered: Mapping[str, Any]) -> JobConfiguration:
    """The pydantic step: missing fields take defaults, values are checked and coerced."""
    command = rendered.get("command")
    if command is not None and not isinstance(command, str):
        raise JobConfigError(f"job configuration 'command' must be a string, got {command!r}")
    env_raw = rendered.get("env") or {}
    if not isinstance(env_raw, dict):
        raise JobConfigError(f"job configuration 'env' must be a mapping, got {env_raw!r}")
    env = {str(k): _env_value(v) for k, v in env_raw.items() if v is not None}
    labels_raw = rendered.get("labels") or {}
    if not isinstance(labels_raw, dict):
        raise JobConfigError(f"job configuration 'labels' must be a mapping, got {labels_raw!r}")
    name = rendered.get("name")
    stream = rendered.get("stream_output", True)
    if isinstance(stream, str) and stream.strip().lower() in (
        "true",
        "false",
        "1",
        "0",
        "yes",
        "no",
    ):
        stream = stream.strip().lower() in ("true", "1", "yes")
    if not isinstance(stream, bool):
        raise JobConfigError(f"job configuration 'stream_output' must be a boolean, got {stream!r}")
    working_dir = rendered.get("working_dir")
    if working_dir is not None and not isinstance(working_dir, str):
        raise JobConfigError(f"job configuration 'working_dir' must be a path, got {working_dir!r}")
    return JobConfiguration(
        command=command or None,
        env=env,
        labels={str(k): str(v) for k, v in labels_raw.items()},
        name=str(name) if name else None,
        stream_output=stream,
        working_dir=Path(working_dir).expanduser() if working_dir else None,
    )


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
