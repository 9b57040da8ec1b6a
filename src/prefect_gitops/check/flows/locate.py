"""Locating the file an entrypoint names, as `prefect deploy` does: `path/file.py:function`
relative to the prefect.yaml's folder, or `module.function` / `module:function` as a module of
the repository; never a file outside it. Also the package Python puts the entry module in,
which its relative imports start from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .facts import EntrypointProblem
from .pysource import FileMemo, inside_repo, module_file, repo_relative
from .types import Package


@dataclass(frozen=True)
class Target:
    path: Path
    object_path: str
    is_script: bool  # `path/file.py:function`, which Prefect can load statically


_MODULE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_OBJECT = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)?$")


def locate(
    entrypoint: str, base_dir: Path, root: Path, memo: FileMemo
) -> Target | EntrypointProblem:
    if entrypoint != entrypoint.strip():
        return EntrypointProblem(
            "format",
            f"entrypoint {entrypoint!r} has leading or trailing whitespace; prefect deploy "
            "fails on it (it looks for a file or function whose name holds the spaces)",
        )
    if "\0" in entrypoint:
        return EntrypointProblem("format", f"entrypoint {entrypoint!r} contains a NUL byte")
    if entrypoint.endswith(".py") and ":" not in entrypoint:
        return EntrypointProblem(
            "format", f"entrypoint '{entrypoint}' names a file but no flow: add ':<function>'"
        )
    if ":" in entrypoint:
        left, object_path = entrypoint.rsplit(":", 1)
        is_script = ".py:" in entrypoint
    elif "." in entrypoint:
        left, object_path = entrypoint.rsplit(".", 1)
        is_script = False
    else:
        return EntrypointProblem(
            "format",
            f"entrypoint '{entrypoint}' must be 'path/to/file.py:function' or 'module.function'",
        )
    if not _OBJECT.match(object_path):
        return EntrypointProblem(
            "format", f"entrypoint '{entrypoint}': '{object_path}' is not a function name"
        )
    key = (left, is_script, base_dir, root)
    found = memo.located.get(key)
    if found is None:
        located = _locate_file(entrypoint, left, is_script, base_dir, root, memo)
        if isinstance(located, EntrypointProblem):
            return located
        found = memo.located[key] = located
    return Target(found, object_path, is_script)


def _locate_file(
    entrypoint: str, left: str, is_script: bool, base_dir: Path, root: Path, memo: FileMemo
) -> Path | EntrypointProblem:
    if is_script:
        path = Path(left)
        path = path if path.is_absolute() else base_dir / path
        rel = repo_relative(path, root, memo)
        if not inside_repo(path, root, memo):
            return EntrypointProblem(
                "outside_repo", f"entrypoint file '{left}' is outside the repository", rel
            )
        if not memo.file_exists(path):
            return EntrypointProblem(
                "missing_file",
                f"entrypoint file '{left}' does not exist (looked for {rel})",
                rel,
            )
        return path
    if not _MODULE.match(left):
        return EntrypointProblem(
            "format",
            f"entrypoint '{entrypoint}': '{left}' is neither a .py file nor a module path",
        )
    found = module_file(left, base_dir, memo)
    if found is None:
        return EntrypointProblem(
            "module_not_found",
            f"module '{left}' of entrypoint '{entrypoint}' is not in the repository "
            f"(looked under {repo_relative(base_dir, root, memo) or '.'}); it can only be checked if it is "
            "an installed package",
        )
    if not inside_repo(found, root, memo):
        return EntrypointProblem(
            "outside_repo",
            f"module '{left}' resolves outside the repository",
            repo_relative(found, root, memo),
        )
    return found


def entry_package(target: Target, base_dir: Path) -> Package:
    if target.is_script:  # load_script_as_module makes the script a package of its folder
        return (target.path.stem,), (target.path.parent,)
    relative = target.path.relative_to(base_dir) if target.path.is_relative_to(base_dir) else None
    if relative is None:
        return (), ()
    names = relative.parent.parts
    return names, tuple(base_dir.joinpath(*names[: i + 1]) for i in range(len(names)))
