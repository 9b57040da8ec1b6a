"""npm packages the tests run under node, pinned by the CI's lock file (`.ci/npm`)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

NPM_LOCK_DIR = Path(__file__).resolve().parent.parent / ".ci" / "npm"


def npm_module(package: str, override: str) -> Path:
    """The folder of `package`: the environment variable `override` when set, else the
    tests' cache folder, where the lock file is installed once with `npm ci`."""
    if os.environ.get(override):
        return Path(os.environ[override])
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    prefix = cache / "prefect-gitops-tests"
    module = prefix / "node_modules" / package
    if not module.is_dir():
        npm = shutil.which("npm")
        # A test that cannot run its tool proves nothing: missing npm fails, never skips.
        assert npm is not None, f"npm is needed to install the npm package {package}"
        prefix.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(NPM_LOCK_DIR / name, prefix / name)
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", str(prefix)],
            check=True,
            timeout=300,
            capture_output=True,
        )
    return module
