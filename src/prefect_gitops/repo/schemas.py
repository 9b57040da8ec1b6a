"""JSON Schemas of the files a repository holds, generated from our own models.

Editors (yaml-language-server, VS Code's YAML extension, JetBrains) and check-jsonschema read
them. Each has a stable `$id` under `SCHEMA_BASE_URL`, where the project publishes them; a
repository that should not depend on that URL keeps its own copy, written by
`prefect-gitops schema --write DIR`, and points its modelines at it.

- `work-pool.schema.json`: a work-pool file (`PoolFile`); `type` offers the worker types whose
  default template we ship (`templates.known_types()`) and accepts any other name, as
  `pool_types:` in the root config may declare more.
- `prefect-gitops.schema.json`: the root config (`RootConfig`).
- `prefect.yaml.schema.json`: Prefect's own `prefect.yaml` as we read it (`PrefectYaml`, each
  deployment a `DeploymentConfig`): every form Prefect accepts is accepted, e.g. `interval: 300`
  (seconds), `interval: "PT5M"` or `"0:05:00"`, where Prefect's published schema flags a number.
"""

from __future__ import annotations

import json
import posixpath
from typing import Any

from pydantic import BaseModel

from ..prefect import templates
from .models import DeploymentConfig, PoolFile, PrefectYaml, RootConfig

# Documented in the README ("Editor schemas"); `$id`s must not change once published.
SCHEMA_BASE_URL = "https://raw.githubusercontent.com/prefect-gitops/prefect-gitops/main/schemas/"
DRAFT = "https://json-schema.org/draft/2020-12/schema"
MODELINE = "# yaml-language-server: $schema="

POOL_SCHEMA = "work-pool.schema.json"
CONFIG_SCHEMA = "prefect-gitops.schema.json"
PREFECT_YAML_SCHEMA = "prefect.yaml.schema.json"


class PrefectYamlFile(PrefectYaml):
    """`prefect.yaml` with its deployments typed (the loader validates each on its own)."""

    deployments: list[DeploymentConfig] | None = None


# file name -> (model, title)
SCHEMAS: dict[str, tuple[type[BaseModel], str]] = {
    POOL_SCHEMA: (PoolFile, "prefect-gitops work-pool file"),
    CONFIG_SCHEMA: (RootConfig, "prefect-gitops root config (prefect-gitops.yaml)"),
    PREFECT_YAML_SCHEMA: (
        PrefectYamlFile,
        "prefect.yaml (Prefect 3 deployments), as prefect-gitops reads it",
    ),
}


def schema_id(name: str) -> str:
    return SCHEMA_BASE_URL + name


def build_schema(name: str) -> dict[str, Any]:
    model, title = SCHEMAS[name]
    body = model.model_json_schema(mode="validation", by_alias=True)
    body.pop("title", None)
    schema = {"$schema": DRAFT, "$id": schema_id(name), "title": title, **body}
    if name == POOL_SCHEMA:
        _offer_pool_types(schema["properties"]["type"])
    if name == PREFECT_YAML_SCHEMA:
        # Prefect (and our loader) take `null` for these and mean "none".
        defs = schema["$defs"]
        _allow_null(defs["DeploymentConfig"]["properties"], "parameters")
        _allow_null(defs["WorkPoolRef"]["properties"], "job_variables")
    return schema


def _allow_null(properties: dict[str, Any], name: str) -> None:
    prop = properties[name]
    kept = {k: prop.pop(k) for k in ("title", "description", "default") if k in prop}
    properties[name] = {"anyOf": [prop, {"type": "null"}], **kept}


def _offer_pool_types(prop: dict[str, Any]) -> None:
    # `enum` inside `anyOf` is what editors complete from; the plain string branch keeps
    # custom types (declared in `pool_types:`) valid.
    known = templates.known_types()
    prop.pop("type", None)
    prop["anyOf"] = [{"enum": known}, {"type": "string"}]
    prop["examples"] = known


def render_schema(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def schema_texts() -> dict[str, str]:
    """File name -> the exact text of the schema file."""
    return {name: render_schema(build_schema(name)) for name in SCHEMAS}


def modeline(name: str, file_path: str, local_dir: str | None = None) -> str:
    """The yaml-language-server modeline for the file at `file_path` (relative to the
    repository, `/`-separated): the copy in `local_dir` (relative to the repository too)
    when there is one, else the published schema."""
    if local_dir is None:
        return MODELINE + schema_id(name)
    target = posixpath.join(local_dir, name)
    return MODELINE + posixpath.relpath(target, posixpath.dirname(file_path) or ".")
