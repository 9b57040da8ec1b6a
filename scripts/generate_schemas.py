"""Write the JSON Schemas of our own file formats from the pydantic models.

usage: python scripts/generate_schemas.py [--check]

`schemas/work-pool.schema.json` (work-pool files) and `schemas/prefect-gitops.schema.json`
(the root config). Editors pick them up through a first line such as
`# yaml-language-server: $schema=../schemas/work-pool.schema.json`; check-jsonschema reads
them too. With `--check`, nothing is written and the exit code says whether they are stale.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from prefect_gitops.models import PoolFile, RootConfig

SCHEMAS_DIR = Path(__file__).resolve().parents[1] / "schemas"
DRAFT = "https://json-schema.org/draft/2020-12/schema"

# name of the file -> (model, stable $id, title)
SCHEMAS: dict[str, tuple[type[BaseModel], str, str]] = {
    "work-pool.schema.json": (
        PoolFile,
        "urn:prefect-gitops:schema:work-pool:v1",
        "prefect-gitops work-pool file",
    ),
    "prefect-gitops.schema.json": (
        RootConfig,
        "urn:prefect-gitops:schema:prefect-gitops:v1",
        "prefect-gitops root config (prefect-gitops.yaml)",
    ),
}


def build(model: type[BaseModel], schema_id: str, title: str) -> dict[str, Any]:
    body = model.model_json_schema(mode="validation")
    body.pop("title", None)
    return {"$schema": DRAFT, "$id": schema_id, "title": title, **body}


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def expected() -> dict[str, str]:
    """File name -> the exact text the schema file must hold."""
    return {name: render(build(*spec)) for name, spec in SCHEMAS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a schema is stale")
    parser.add_argument("--out", type=Path, default=SCHEMAS_DIR)
    args = parser.parse_args(argv)
    stale = []
    for name, text in expected().items():
        path = args.out / name
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            continue
        stale.append(name)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if args.check and stale:
        print(f"stale: {', '.join(stale)}; run python scripts/generate_schemas.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
