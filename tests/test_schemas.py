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

REPO = Path(__file__).resolve().parents[1]
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
    model, schema_id, title = generate_schemas.SCHEMAS[name]
    assert schema["$id"] == schema_id and schema["title"] == title
    assert schema["additionalProperties"] is False
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
