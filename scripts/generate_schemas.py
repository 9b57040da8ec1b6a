"""Write the JSON Schemas of the files a repository holds (see prefect_gitops/repo/schemas.py).

usage: python scripts/generate_schemas.py [--check] [--out DIR]

`schemas/work-pool.schema.json` (work-pool files), `schemas/prefect-gitops.schema.json` (the
root config) and `schemas/prefect.yaml.schema.json` (prefect.yaml), each with its stable `$id`
under `prefect_gitops.repo.schemas.SCHEMA_BASE_URL`. `prefect-gitops schema --write DIR` writes the
same files into a user's repository. With `--check`, nothing is written and the exit code says
whether they are stale.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from prefect_gitops.repo.schemas import SCHEMAS, schema_texts

SCHEMAS_DIR = Path(__file__).resolve().parents[1] / "schemas"

__all__ = ["SCHEMAS", "SCHEMAS_DIR", "expected", "main"]


def expected() -> dict[str, str]:
    """File name -> the exact text the schema file must hold."""
    return schema_texts()


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
