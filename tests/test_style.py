"""The code style's size caps: no function is longer than 60 lines, no click command longer
than 40 (def line to last line, decorators excluded)."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "prefect_gitops"
MAX_FUNCTION_LINES = 60


Function = ast.FunctionDef | ast.AsyncFunctionDef


def _over(root: Path, cap: int, counted: Callable[[Function], bool]) -> dict[str, int]:
    """`file::function` -> its length in lines (def line to last line, decorators excluded),
    for every `counted` function over `cap` lines under `root`."""
    offenders: dict[str, int] = {}
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and counted(node):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > cap:
                    offenders[f"{path.relative_to(root).as_posix()}::{node.name}"] = length
    return offenders


def _long_functions(root: Path) -> dict[str, int]:
    return _over(root, MAX_FUNCTION_LINES, lambda _node: True)


def test_no_function_is_longer_than_60_lines() -> None:
    offenders = _long_functions(SRC)
    assert not offenders, f"functions over {MAX_FUNCTION_LINES} lines: {offenders}"


def test_the_line_count_finds_a_long_function(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "long.py").write_text(f"def long() -> None:\n{body}\n", encoding="utf-8")
    (tmp_path / "short.py").write_text("def short() -> None:\n    pass\n", encoding="utf-8")
    assert _long_functions(tmp_path) == {"long.py::long": MAX_FUNCTION_LINES + 1}


MAX_COMMAND_LINES = 40
CLI = SRC / "cli"


def _is_click_command(node: Function) -> bool:
    """Decorated with `@<group>.command(...)`, `@<group>.group(...)` or `@click.command`."""
    for decorator in node.decorator_list:
        called = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(called, ast.Attribute) and called.attr in ("command", "group"):
            return True
    return False


def _long_commands(root: Path) -> dict[str, int]:
    return _over(root, MAX_COMMAND_LINES, _is_click_command)


def test_no_command_is_longer_than_40_lines() -> None:
    """A command only parses its options, calls a lower stage and renders: that fits in 40."""
    offenders = _long_commands(CLI)
    assert not offenders, f"commands over {MAX_COMMAND_LINES} lines: {offenders}"


def test_the_line_count_finds_a_long_command(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_COMMAND_LINES))
    decorators = '@cli.command("long")\n@click.option("--x")\n'
    (tmp_path / "long.py").write_text(
        f"{decorators}def long() -> None:\n{body}\n", encoding="utf-8"
    )
    (tmp_path / "group.py").write_text(
        f"@runner.group()\ndef grouped() -> None:\n{body}\n", encoding="utf-8"
    )
    (tmp_path / "helper.py").write_text(f"def helper() -> None:\n{body}\n", encoding="utf-8")
    (tmp_path / "short.py").write_text(
        '@cli.command("short")\ndef short() -> None:\n    pass\n', encoding="utf-8"
    )
    assert _long_commands(tmp_path) == {
        "long.py::long": MAX_COMMAND_LINES + 1,
        "group.py::grouped": MAX_COMMAND_LINES + 1,
    }
