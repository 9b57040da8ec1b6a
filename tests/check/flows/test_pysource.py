from pathlib import Path

import pytest

from prefect_gitops.check.flows.facts import EntrypointProblem
from prefect_gitops.check.flows.pysource import FileMemo, read_module

FLOW = "from prefect import flow\n\n@flow\ndef hello():\n    pass\n"


@pytest.mark.parametrize(
    ("tail", "line"),
    [("\ndef broken(:\n", 7), ("\nx = (1,\n", 7), ("\n\n\nif True:\n", 9)],
)
def test_syntax_error_names_the_file_and_line(tmp_path: Path, tail: str, line: int) -> None:
    (tmp_path / "flows.py").write_text(FLOW + tail)
    problem = read_module(tmp_path / "flows.py", tmp_path, FileMemo())
    assert isinstance(problem, EntrypointProblem)
    assert (problem.kind, problem.line) == ("syntax_error", line)
    assert problem.message.startswith(f"flows.py:{line} has a Python syntax error: ")
