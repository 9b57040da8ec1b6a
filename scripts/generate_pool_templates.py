"""Write `schemas/work-pool-types/<type>.json` from the real worker classes.

Run it with a Python that has prefect and the official integration packages installed
(NOT our dev venv: the integrations are not our dependencies), e.g.:

    python3 -m venv /tmp/tplvenv
    /tmp/tplvenv/bin/pip install prefect==3.9.1 prefect-docker prefect-kubernetes prefect-aws prefect-gcp prefect-azure
    /tmp/tplvenv/bin/python scripts/generate_pool_templates.py

Every worker type that the installed packages register is written, including any beyond
the well-known ones. Each file records the package and versions it came from:
`{"type", "package", "package_version", "prefect_version", "worker_class",
"base_job_template"}`, with sorted keys and an indent of 2.

`--check` writes nothing and exits 1 when a file would change.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
from pathlib import Path
from typing import Any

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "schemas" / "work-pool-types"
EXPECTED_TYPES = (
    "process",
    "docker",
    "kubernetes",
    "ecs",
    "cloud-run",
    "cloud-run-v2",
    "vertex-ai",
    "azure-container-instance",
)


def _distribution_of(module: str) -> tuple[str, str]:
    top = module.split(".", 1)[0]
    names = importlib.metadata.packages_distributions().get(top, [top])
    name = names[0]
    return name, importlib.metadata.version(name)


def collect() -> dict[str, dict[str, Any]]:
    from prefect.workers.base import BaseWorker

    prefect_version = importlib.metadata.version("prefect")
    out: dict[str, dict[str, Any]] = {}
    for worker_type in sorted(BaseWorker.get_all_available_worker_types()):
        cls = BaseWorker.get_worker_class_from_type(worker_type)
        if cls is None:
            continue
        package, version = _distribution_of(cls.__module__)
        out[worker_type] = {
            "type": worker_type,
            "package": package,
            "package_version": version,
            "prefect_version": prefect_version,
            "worker_class": f"{cls.__module__}.{cls.__qualname__}",
            "base_job_template": cls.get_default_base_job_template(),
        }
    return out


def render(entry: dict[str, Any]) -> str:
    return json.dumps(entry, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args(argv)

    entries = collect()
    missing = [t for t in EXPECTED_TYPES if t not in entries]
    if missing:
        print(f"warning: no worker class registered for {', '.join(missing)}", file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    changed = []
    for worker_type, entry in entries.items():
        path = args.out / f"{worker_type}.json"
        text = render(entry)
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        changed.append(path.name)
        if not args.check:
            path.write_text(text, encoding="utf-8")
    for worker_type, entry in entries.items():
        print(f"{worker_type:26} {entry['package']} {entry['package_version']}")
    if args.check and changed:
        print(f"out of date: {', '.join(changed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
