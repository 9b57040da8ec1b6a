"""Default base job templates of the standard worker types, shipped as data.

`schemas/work-pool-types/<type>.json` holds `{"type", "package", "package_version",
"base_job_template"}`, generated from the real worker classes by
`scripts/generate_pool_templates.py`.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any


def schemas_dir() -> Path:
    """The `schemas/` folder: packaged inside a wheel, at the repo root in a checkout."""
    packaged = Path(__file__).parent.parent / "_schemas"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "schemas"


@functools.cache
def _load(pool_type: str) -> dict[str, Any] | None:
    if not pool_type or "/" in pool_type or pool_type.startswith("."):
        return None
    path = schemas_dir() / "work-pool-types" / f"{pool_type}.json"
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def known_types() -> list[str]:
    return list(_known_types())


@functools.cache  # shipped data: it does not change while we run
def _known_types() -> tuple[str, ...]:
    folder = schemas_dir() / "work-pool-types"
    return tuple(sorted(p.stem for p in folder.glob("*.json"))) if folder.is_dir() else ()


def default_template(pool_type: str) -> dict[str, Any] | None:
    """A fresh copy of the type's default base job template, or None for an unknown type."""
    data = _load(pool_type)
    if data is None:
        return None
    template: dict[str, Any] = copy.deepcopy(data["base_job_template"])
    return template


def template_origin(pool_type: str) -> str | None:
    data = _load(pool_type)
    if data is None:
        return None
    return f"{data.get('package')} {data.get('package_version')}"
