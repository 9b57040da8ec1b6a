"""`--run-steps`: run a deployment's build and push steps as `prefect deploy` does; and,
without running anything, whether `prefect deploy` can find a step's function here.

Prefect's own step machinery (`prefect.deployments.steps.run_steps`, which imports each step's
function and installs its `requires:` package) is imported only here and only when asked: the
rest of the tool never imports Prefect. Steps run in the prefect.yaml's folder, the directory
`prefect deploy` runs in; their progress goes to stderr so that `--format json` stays one
document.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ..errors import ReconcilerError
from .settings import Settings

StepRunner = Callable[[list[Any], list[Any], Path], Mapping[str, Any]]
"""(build steps, push steps, prefect.yaml folder) -> the step outputs, as `prefect deploy`
collects them. Raises `ReconcilerError` when a step fails."""


def own_steps(deployment: Mapping[str, Any]) -> dict[str, bool]:
    """For `build` and `push`: whether `prefect deploy` runs the deployment's own steps (True)
    or its prefect.yaml's top-level ones (False). The deployment's `build` wins whenever it
    is written, even empty; its `push` only when not empty (Prefect 3.9.1's
    `push_steps or actions["push"]`), so an empty or null `push` runs the file's."""
    return {"build": "build" in deployment, "push": bool(deployment.get("push"))}


def prefect_step_runner(settings: Settings) -> StepRunner:
    """A runner that runs each distinct (steps, folder) once, like one `prefect deploy`,
    against the API of `settings` (the one plan/apply use)."""
    try:
        import prefect.deployments.steps.core  # noqa: F401  (only with --run-steps)
    except ImportError as exc:
        raise ReconcilerError(
            f"--run-steps needs Prefect's step functions: {exc}",
            hint="install the server extra: pip install 'prefect-gitops[server]'",
        ) from None
    done: dict[str, Mapping[str, Any]] = {}

    def run(build: list[Any], push: list[Any], base_dir: Path) -> Mapping[str, Any]:
        key = json.dumps([build, push, str(base_dir)], sort_keys=True, default=str)
        if key not in done:
            with _prefect_settings(settings):
                done[key] = _run(build, push, base_dir)
        return done[key]

    return run


@contextlib.contextmanager
def _prefect_settings(settings: Settings) -> Iterator[None]:
    """Prefect's own settings pointed at our API: steps read blocks and variables (and
    `{{ prefect.* }}` in their inputs) from the server we plan against, not from whatever
    profile Prefect would pick."""
    from prefect.settings import (
        PREFECT_API_AUTH_STRING,
        PREFECT_API_KEY,
        PREFECT_API_SSL_CERT_FILE,
        PREFECT_API_TLS_INSECURE_SKIP_VERIFY,
        PREFECT_API_URL,
        temporary_settings,
    )

    updates: dict[Any, Any] = {
        PREFECT_API_URL: settings.api_url,
        PREFECT_API_KEY: settings.api_key,
        PREFECT_API_AUTH_STRING: settings.auth_string,
        PREFECT_API_SSL_CERT_FILE: settings.ssl_cert_file,
        PREFECT_API_TLS_INSECURE_SKIP_VERIFY: settings.tls_insecure_skip_verify,
    }
    with temporary_settings(updates=updates):
        yield


def _run(build: list[Any], push: list[Any], base_dir: Path) -> dict[str, Any]:
    from prefect.deployments.steps.core import run_steps

    def show(*args: Any, **_: Any) -> None:
        print(*args, file=sys.stderr)

    outputs: dict[str, Any] = {}
    try:
        with _working_directory(base_dir):
            if build:
                outputs.update(asyncio.run(run_steps(build, outputs, print_function=show)))
            if push:
                outputs.update(asyncio.run(run_steps(push, outputs, print_function=show)))
    except Exception as exc:  # a step's own failure, whatever it is: reported, not a crash
        cause = exc.__cause__ or exc
        raise ReconcilerError(
            f"{base_dir}: a build/push step failed: {type(cause).__name__}: {cause}",
            hint="fix the step (e.g. install its package, start Docker), or build elsewhere "
            "and pass the results with --step-output STEP_ID.KEY=VALUE",
        ) from None
    return outputs


@contextlib.contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


class NotAnImportPath(ValueError):
    """A step name `prefect deploy` cannot import at all (Prefect's `import_object` refuses it)."""


def step_package(name: str) -> str | None:
    """The top-level package `prefect deploy` imports a step's function from, read as
    `prefect.utilities.importtools.import_object` reads it; None for `path/script.py:func`."""
    if ".py:" in name:
        return None
    if ":" in name:
        module = name.rsplit(":", 1)[0]
    elif "." in name:
        module = name.rsplit(".", 1)[0]
    else:
        raise NotAnImportPath(f"'{name}' is neither `module.function` nor `module:function`")
    package = module.split(".", 1)[0]
    if not package.isidentifier():
        raise NotAnImportPath(f"'{package}' in '{name}' is not a Python module name")
    return package


def package_found(package: str, base_dir: Path) -> bool:
    """Whether `import package` would find it in this environment, or in the prefect.yaml's
    folder, which Prefect's `load_module` puts first on sys.path. Only found, never imported:
    the specs of top-level names come from the finders alone."""
    if (base_dir / package).is_dir() or any(
        (base_dir / f"{package}{suffix}").is_file() for suffix in importlib.machinery.all_suffixes()
    ):
        return True
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):  # a module in sys.modules without a spec
        return package in sys.modules


def prefect_installed() -> bool:
    """Whether Prefect is installed here, so that `prefect deploy` could run here (a folder
    named `prefect` in the repository does not count)."""
    try:
        return importlib.util.find_spec("prefect") is not None
    except (ImportError, ValueError):
        return "prefect" in sys.modules
