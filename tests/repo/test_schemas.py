"""The published JSON Schemas of our formats: current, valid, and in agreement with the models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from scripts import generate_schemas

from prefect_gitops.prefect.templates import known_types
from prefect_gitops.repo.schemas import PREFECT_YAML_SCHEMA, SCHEMA_BASE_URL

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO / "schemas"
EXAMPLES = REPO / "examples"
CHECK_JSONSCHEMA = [sys.executable, "-m", "check_jsonschema"]


def _pool_files() -> list[Path]:
    return sorted(
        p
        for p in EXAMPLES.rglob("work-pools/*.yaml")
        if "invalid" not in p.relative_to(EXAMPLES).parts
    )


def _config_files() -> list[Path]:
    return sorted(
        p
        for p in EXAMPLES.rglob("prefect-gitops.yaml")
        if "invalid" not in p.relative_to(EXAMPLES).parts
    )


def _schema(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize("name", sorted(generate_schemas.SCHEMAS))
def test_schema_file_is_current(name: str) -> None:
    assert (SCHEMAS / name).read_text(encoding="utf-8") == generate_schemas.expected()[name], (
        f"schemas/{name} is stale: run `python scripts/generate_schemas.py`"
    )


def test_check_mode_reports_stale_schemas(tmp_path: Path) -> None:
    assert generate_schemas.main(["--check"]) == 0
    assert generate_schemas.main(["--check", "--out", str(tmp_path)]) == 1
    assert generate_schemas.main(["--out", str(tmp_path)]) == 0
    assert generate_schemas.main(["--check", "--out", str(tmp_path)]) == 0


@pytest.mark.parametrize("name", sorted(generate_schemas.SCHEMAS))
def test_schema_is_valid_draft_2020_12_with_stable_identity(name: str) -> None:
    schema = _schema(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    model, title = generate_schemas.SCHEMAS[name]
    assert schema["$id"] == f"{SCHEMA_BASE_URL}{name}" and schema["title"] == title
    assert schema["$id"].startswith("https://")
    # Our own formats are closed; prefect.yaml is Prefect's, whose keys we only warn about.
    assert schema["additionalProperties"] is (name == PREFECT_YAML_SCHEMA)
    assert set(schema["properties"]) == {f.alias or n for n, f in model.model_fields.items()}


def test_examples_exist_for_both_formats() -> None:
    assert len(_pool_files()) >= 3 and len(_config_files()) >= 1


@pytest.mark.parametrize(
    ("schema", "files"),
    [
        ("work-pool.schema.json", _pool_files()),
        ("prefect-gitops.schema.json", _config_files()),
    ],
    ids=["work-pool", "prefect-gitops"],
)
def test_examples_pass_check_jsonschema(schema: str, files: list[Path]) -> None:
    done = subprocess.run(
        [*CHECK_JSONSCHEMA, "--schemafile", str(SCHEMAS / schema), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_check_jsonschema_rejects_a_bad_pool_file(tmp_path: Path) -> None:
    bad = tmp_path / "pool.yaml"
    bad.write_text(
        "name: local\ntype: process\nconcurency_limit: 3\nqueues: [{name: a, priority: 0}]\n"
    )
    done = subprocess.run(
        [*CHECK_JSONSCHEMA, "--schemafile", str(SCHEMAS / "work-pool.schema.json"), str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "concurency_limit" in done.stdout + done.stderr


@pytest.mark.parametrize(
    "path", _pool_files() + _config_files(), ids=lambda p: p.relative_to(EXAMPLES).as_posix()
)
def test_schema_and_model_agree_on_examples(path: Path) -> None:
    schema = _schema(
        "prefect-gitops.schema.json"
        if path.name == "prefect-gitops.yaml"
        else "work-pool.schema.json"
    )
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(data)
    model = generate_schemas.SCHEMAS[
        "prefect-gitops.schema.json"
        if path.name == "prefect-gitops.yaml"
        else "work-pool.schema.json"
    ][0]
    model.model_validate(data)


def _prefect_files() -> list[Path]:
    return sorted(
        p for p in EXAMPLES.rglob("prefect.yaml") if "invalid" not in p.relative_to(EXAMPLES).parts
    )


@pytest.mark.parametrize("path", _prefect_files(), ids=lambda p: p.relative_to(EXAMPLES).as_posix())
def test_example_prefect_yaml_files_pass_our_prefect_yaml_schema(path: Path) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(_schema(PREFECT_YAML_SCHEMA)).validate(data)


PREFECT_ACCEPTS = """\
prefect-version: 3.1.0
name: forms
pull:
  - prefect.deployments.steps.set_working_directory:
      directory: /opt/flows
deployments:
  - name: seconds
    entrypoint: flows.py:etl
    parameters: {}
    tags: one-tag
    concurrency_limit: 2
    schedule:
      interval: 300
    work_pool:
      name: local
      job_variables: {}
  - name: forms
    entrypoint: flows.py:etl
    version: "1.2"
    concurrency_limit: {limit: 1, collision_strategy: CANCEL_NEW}
    schedules:
      - interval: 90.5
        anchor_date: "2025-01-01T00:00:00Z"
        timezone: UTC
      - interval: "PT5M"
      - interval: "0:05:00"
      - cron: "0 9 * * *"
        day_or: false
        active: "{{ $ACTIVE }}"
      - rrule: "FREQ=DAILY"
        parameters: {day: 1}
        slug: daily
    triggers:
      - enabled: true
        match: {prefect.resource.id: x}
        expect: [prefect.flow-run.Completed]
    work_pool:
      name: local
      work_queue_name: default
      job_variables: {env: {A: "1"}}
"""


def test_our_prefect_yaml_schema_accepts_the_forms_prefect_accepts() -> None:
    """SchemaStore's prefect.yaml schema flags `interval: 300`, which `prefect deploy` accepts."""
    validator = jsonschema.Draft202012Validator(_schema(PREFECT_YAML_SCHEMA))
    assert list(validator.iter_errors(yaml.safe_load(PREFECT_ACCEPTS))) == []
    for bad in ("deployments: [{schedules: 5}]", "deployments: {name: x}", "pull: 3"):
        assert not validator.is_valid(yaml.safe_load(bad)), bad


def test_pool_type_offers_the_known_worker_types_and_accepts_custom_ones() -> None:
    schema = _schema("work-pool.schema.json")
    prop = schema["properties"]["type"]
    assert prop["examples"] == known_types() and {"enum": known_types()} in prop["anyOf"]
    assert {"process", "docker", "kubernetes", "ecs"} <= set(known_types())
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid({"name": "p", "type": "my-custom-worker"})
    assert not validator.is_valid({"name": "p", "type": 3})
