"""Reading a repository's files without trusting them.

The paths come from the repository itself (patterns in prefect-gitops.yaml, entrypoints,
template references) and so do the files, so anyone who can open a pull request chooses
them. Every read therefore:

- follows symlinks only to files inside the repository (a link to /dev/zero, to a FIFO or
  to /etc/passwd elsewhere is refused, never opened);
- opens only regular files: a FIFO blocks forever and a device never ends;
- reads at most its cap, whatever `stat` says.

`expand` matches a glob pattern below a folder without reading the folder's own name as a
pattern (a checkout in `build[1]/` is an ordinary folder), and its `**` does not enter
symlinked folders: a link to `.` or to a parent would make the walk endless.
"""

from __future__ import annotations

import errno
import fnmatch
import glob
import os
import stat
from pathlib import Path, PurePosixPath
from typing import Literal

ProblemKind = Literal["missing", "outside", "not_a_file", "too_large", "unreadable"]


class FileProblem(Exception):
    """Why a file was not read: `message` names the file, as the caller called it."""

    def __init__(self, kind: ProblemKind, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.hint = hint


def real(path: Path) -> Path:
    """`path` with its symlinks resolved. Unlike `Path.resolve` on Python 3.11, which raises
    RuntimeError, a symlink loop is no exception: reading the result reports it."""
    return Path(os.path.realpath(path))


def inside(path: Path, root: Path) -> bool:
    """Whether `path`, symlinks resolved, is `root` or below it."""
    try:
        real(path).relative_to(real(root))
    except ValueError:
        return False
    return True


def relative(path: Path, root: Path) -> str:
    """How to show `path` to the user: relative to `root` where it (or its link) is inside."""
    try:
        return real(path).relative_to(real(root)).as_posix()
    except ValueError:
        pass
    # A link leading out of the repository is best named by where it sits in it.
    lexical = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    if lexical != ".." and not lexical.startswith("../"):
        return Path(lexical).as_posix()
    return path.as_posix()


def _mib(size: int) -> str:
    whole, rest = divmod(size, 1048576)
    return f"{whole} MiB" if not rest else f"{size / 1048576:.1f} MiB"


def _check_kind(info: os.stat_result, name: str, cap: int) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise FileProblem("not_a_file", f"{name} is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise FileProblem(
            "not_a_file",
            f"{name} is not a regular file (a FIFO, socket or device), so it is not read",
            hint="commit the file's content instead of a special file",
        )
    if info.st_size > cap:
        raise FileProblem(
            "too_large",
            f"{name} is {_mib(info.st_size)}, over the {_mib(cap)} cap",
            hint="a Prefect configuration or flow file is far smaller; is this the right file?",
        )


def _stat_problem(exc: OSError, name: str) -> FileProblem:
    if exc.errno == errno.ENOENT:
        return FileProblem("missing", f"there is no {name}")
    if exc.errno == errno.ELOOP:
        return FileProblem(
            "unreadable", f"{name} is a symlink loop", hint="point the symlink at a real file"
        )
    return FileProblem("unreadable", f"cannot read {name}: {exc.strerror or exc}")


def read_capped(path: Path, root: Path, *, cap: int, name: str) -> bytes:
    """The bytes of `path`, a regular file inside `root` of at most `cap` bytes, or
    `FileProblem`. `name` says what the file is, e.g. "prefect file deploy/prefect.yaml"."""
    if "\0" in str(path):
        raise FileProblem("missing", f"there is no {name} (its name holds a NUL byte)")
    target = real(path)
    if not inside(target, root):
        raise FileProblem(
            "outside",
            f"{name} resolves to {target}, outside the repository",
            hint="only files inside the repository are read",
        )
    try:
        _check_kind(os.stat(target), name, cap)
        # `stat` first, so a FIFO is never opened; should one replace the file before `open`,
        # O_NONBLOCK keeps the open from blocking and `fstat` catches it.
        flags = os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NONBLOCK", 0)
        flags |= getattr(os, "O_NOFOLLOW", 0)
        with os.fdopen(os.open(target, flags), "rb") as handle:
            _check_kind(os.fstat(handle.fileno()), name, cap)
            data = handle.read(cap + 1)
    except OSError as exc:
        raise _stat_problem(exc, name) from None
    if len(data) > cap:  # it grew after fstat
        raise FileProblem("too_large", f"{name} is over the {_mib(cap)} cap")
    return data


# -- patterns -------------------------------------------------------------------------------


def _hidden(name: str) -> bool:
    return name.startswith(".")


def _entries(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as found:
            return list(found)
    except (OSError, ValueError):  # ValueError: a NUL byte in the pattern
        return []


def _is_dir(entry: os.DirEntry[str], *, follow: bool) -> bool:
    try:
        return entry.is_dir(follow_symlinks=follow)
    except OSError:
        return False


def _matching(folder: Path, part: str, *, folders: bool) -> list[Path]:
    """Entries of `folder` whose name matches `part`: folders, else anything but folders.
    As in `glob`, a wildcard does not match a hidden name unless it starts with a dot; unlike
    `glob`, a part that matches nothing but is itself a name there is taken as written."""
    out: list[Path] = []
    for entry in _entries(folder):
        if _hidden(entry.name) and not _hidden(part):
            continue
        if fnmatch.fnmatchcase(entry.name, part) and _is_dir(entry, follow=True) == folders:
            out.append(folder / entry.name)
    if not out and os.path.lexists(folder / part):
        out.append(folder / part)  # a name like `build[1]` written without escaping
    return out


def _tree(folder: Path, *, files: bool) -> list[Path]:
    """`folder` and every folder below it (with `files`: every file below it instead), as
    `glob`'s `**`: hidden folders are skipped, and so are symlinked ones (see the module)."""
    out: list[Path] = [] if files else [folder]
    todo = [folder]
    while todo:
        current = todo.pop()
        for entry in _entries(current):
            if _hidden(entry.name):
                continue
            path = current / entry.name
            if _is_dir(entry, follow=False):
                todo.append(path)
                if not files:
                    out.append(path)
            elif files and not _is_dir(entry, follow=True):
                out.append(path)
    return out


def expand(base: Path, pattern: str) -> list[Path]:
    """What `pattern` names below `base`, sorted: glob syntax, with `**` for any number of
    folders. A part without wildcards is taken as written, and a pattern without any names
    its one path if anything is there, even a broken link, so that reading it says why."""
    written = PurePosixPath(pattern)
    parts = written.parts[1:] if written.is_absolute() else written.parts
    if not parts or "\0" in pattern:
        return []  # "", "." or a NUL byte: no file has such a name
    current = [Path(written.anchor) if written.is_absolute() else base]
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        found: list[Path] = []
        for folder in current:
            if part == "**":
                found.extend(_tree(folder, files=last))
            elif glob.has_magic(part):
                found.extend(_matching(folder, part, folders=not last))
            else:
                found.append(folder / part)
        current = list(dict.fromkeys(found))
    return sorted((p for p in current if os.path.lexists(p)), key=str)
