"""The code style's size cap: no function is longer than 60 lines (def line to last line)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "prefect_gitops"
MAX_FUNCTION_LINES = 60


def _long_functions(root: Path) -> dict[str, int]:
    """`file::function` -> its length in lines, for every function over the cap under `root`."""
    offenders: dict[str, int] = {}
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                offenders[f"{path.relative_to(root).as_posix()}::{node.name}"] = length
    return offenders


def test_no_function_is_longer_than_60_lines() -> None:
    offenders = _long_functions(SRC)
    assert not offenders, f"functions over {MAX_FUNCTION_LINES} lines: {offenders}"


def test_the_line_count_finds_a_long_function(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "long.py").write_text(f"def long() -> None:\n{body}\n", encoding="utf-8")
    (tmp_path / "short.py").write_text("def short() -> None:\n    pass\n", encoding="utf-8")
    assert _long_functions(tmp_path) == {"long.py::long": MAX_FUNCTION_LINES + 1}
