"""Files a reader must refuse without opening them or hanging on them."""

from __future__ import annotations

import os
from pathlib import Path


def make_special_file(path: Path, kind: str, outside: Path | None = None) -> None:
    """Put at `path` (replacing what is there) a FIFO ("fifo"), a symlink to itself ("loop"),
    two symlinks to each other ("loop-of-two"), or a symlink to /dev/zero ("dev-zero") or to
    `outside` ("outside")."""
    path.unlink(missing_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "loop":
        os.symlink(path.name, path)
    elif kind == "loop-of-two":
        other = path.with_name("other" + path.suffix)
        os.symlink(other.name, path)
        os.symlink(path.name, other)
    elif kind == "dev-zero":
        os.symlink("/dev/zero", path)
    elif kind == "outside" and outside is not None:
        os.symlink(outside, path)
    else:
        raise ValueError(f"no special file of kind {kind!r}")
