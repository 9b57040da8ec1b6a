"""Static entrypoint analysis, compared with what prefect 3.9.1 derives by importing the flow."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from prefect.flows import Flow, load_flow_from_entrypoint
from prefect.utilities.callables import parameter_docstrings as prefect_docstrings
from prefect.utilities.callables import parameter_schema

from prefect_gitops.check.flows.analysis import analyze_entrypoint
from prefect_gitops.check.flows.docstrings import parameter_docstrings
from prefect_gitops.check.flows.facts import EntrypointProblem, FlowInfo, default_flow_name
from prefect_gitops.check.flows.pysource import MAX_FLOW_BYTES
from tests.special_files import make_special_file

FLOWS = Path(__file__).parents[2] / "data" / "flows"
PACKAGE = FLOWS / "pkg_project"
# prefect's own flow decorator warns about the `json`/`schema` parameters of basic.py
pytestmark = pytest.mark.filterwarnings("ignore:Field name:UserWarning")


def _import_file(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_flows_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _resolve(module: ModuleType, object_path: str) -> Any:
    obj: Any = module
    for part in object_path.split("."):
        obj = getattr(obj, part)
    return obj


def _analyze(entrypoint: str, base: Path = FLOWS) -> FlowInfo:
    result = analyze_entrypoint(entrypoint, base, FLOWS)
    assert isinstance(result, FlowInfo), result
    return result


def _prefect_view(flow: Flow[Any, Any]) -> tuple[str, str | None, dict[str, Any]]:
    # what `prefect deploy` sends: ParameterSchema dumped with exclude_unset
    return flow.name, flow.description, parameter_schema(flow).model_dump(exclude_unset=True)


BASIC = [
    "plain",
    "builtins_flow",
    "named_flow",
    "aliased_flow",
    "async_flow",
    "with_kwargs",
    "reserved_names",
    "positional_only",
    "Pipelines.method_flow",
]


@pytest.mark.parametrize("function", BASIC)
def test_script_flow_matches_prefect(function: str) -> None:
    flow = _resolve(_import_file(FLOWS / "basic.py"), function)
    name, description, schema = _prefect_view(flow)
    info = _analyze(f"basic.py:{function}")
    assert info.schema_complete, info.unreadable
    assert info.parameter_schema == schema
    assert info.name == name
    assert info.description == description
    assert info.docstring == inspect.getdoc(flow.fn)
    assert info.has_var_keyword == (function == "with_kwargs")


def test_kwargs_flow_matches_prefect() -> None:
    flow = _import_file(FLOWS / "kwargs_flow.py").kw_flow
    info = _analyze("kwargs_flow.py:kw_flow")
    assert (info.name, info.description, info.parameter_schema) == _prefect_view(flow)
    assert info.has_var_keyword
    assert [p.name for p in info.parameters if p.required] == ["required"]


@pytest.mark.parametrize(
    ("entrypoint", "object_path"),
    [
        ("mypkg.pipelines.etl.etl_flow", "mypkg.pipelines.etl:etl_flow"),
        ("mypkg.pipelines.etl:etl_flow", "mypkg.pipelines.etl:etl_flow"),
        ("mypkg.reports.report", "mypkg.reports:report"),
        ("mypkg/pipelines/etl.py:etl_flow", "mypkg.pipelines.etl:etl_flow"),
    ],
)
def test_package_layouts_match_prefect(
    entrypoint: str, object_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(PACKAGE))
    module_name, attr = object_path.split(":")
    try:
        flow = getattr(importlib.import_module(module_name), attr)
        expected = _prefect_view(flow)
    finally:
        for name in [m for m in sys.modules if m == "mypkg" or m.startswith("mypkg.")]:
            del sys.modules[name]
    info = _analyze(entrypoint, PACKAGE)
    assert (info.name, info.description, info.parameter_schema) == expected
    assert info.file.startswith("pkg_project/mypkg/")


def test_missing_dependencies_are_read_as_prefects_static_fallback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # prefect deploy cannot import the module, so it loads it statically: annotations and
    # defaults naming what is not installed are dropped (the default becomes None)
    before = set(sys.modules)
    info = _analyze("missing_deps.py:needs_deps")
    assert not {m for m in set(sys.modules) - before if "not_installed" in m or "missing" in m}
    assert info.name == "needs-deps"
    assert info.static_reason is not None and "numpy_not_installed_here" in info.static_reason
    assert info.schema_complete, info.unreadable
    monkeypatch.chdir(FLOWS)
    flow = load_flow_from_entrypoint("missing_deps.py:needs_deps")
    assert (info.name, info.description, info.parameter_schema) == _prefect_view(flow)
    by_name = {p.name: p for p in info.parameters}
    assert by_name["frame"].schema == {"position": 0, "title": "frame"}
    assert by_name["scale"].schema == {
        "default": None, "position": 3, "title": "scale", "type": "number"
    }  # fmt: skip


FIELD_DEFAULTS = """\
from pydantic import Field
from prefect import flow


@flow
def f(
    count: int = Field(3, description="how many", json_schema_extra={"unit": "items"}),
    label: str = Field(description="what to call it"),
    tags: list[str] = Field(default_factory=list),
    dry: bool = Field(False),
    note: str = "x",
) -> None:
    \"\"\"Field defaults.

    Args:
        dry: the docstring's word, used as Field has no description
        label: the docstring's word, overridden by Field's own
    \"\"\"
"""


def test_field_defaults_match_prefect(tmp_path: Path) -> None:
    # `prefect deploy` takes a `Field(...)` default's default, description and extras
    (tmp_path / "fields.py").write_text(FIELD_DEFAULTS)
    flow = _import_file(tmp_path / "fields.py").f
    info = analyze_entrypoint("fields.py:f", tmp_path, tmp_path)
    assert isinstance(info, FlowInfo) and info.schema_complete, info
    assert info.parameter_schema == _prefect_view(flow)[2]
    assert info.parameter_schema["properties"]["count"]["default"] == 3
    required = info.parameter_schema["required"]
    assert [p.name for p in info.parameters if p.required] == required == ["label", "tags"]


def test_code_that_fails_at_import_is_still_read(tmp_path: Path) -> None:
    (tmp_path / "boom.py").write_text(
        "raise SystemExit('imported!')\nfrom prefect import flow\n\n"
        "@flow(name='boom')\ndef f(x: int = 1): ...\n"
    )
    info = analyze_entrypoint("boom.py:f", tmp_path, tmp_path)
    assert isinstance(info, FlowInfo) and info.name == "boom" and info.schema_complete


@pytest.mark.parametrize(
    ("entrypoint", "kind"),
    [
        ("nope.py:f", "missing_file"),
        ("../outside.py:f", "outside_repo"),
        ("basic.py:nope", "no_function"),
        ("basic.py:not_a_flow", "not_a_flow"),
        ("basic.py:Pipelines", "not_a_flow"),
        ("basic.py:Pipelines.nope", "no_function"),
        ("basic.py", "format"),
        ("basic.py:1bad", "format"),
        ("noflows", "format"),
        ("not.there.flow", "module_not_found"),
        ("bad-path/x:f", "format"),
        ("basic\0.py:plain", "format"),
        ("ba\0sic.plain", "format"),
    ],
)
def test_entrypoint_problems(entrypoint: str, kind: str) -> None:
    result = analyze_entrypoint(entrypoint, FLOWS, FLOWS)
    assert isinstance(result, EntrypointProblem)
    assert result.kind == kind, result.message


def test_outside_repo_even_when_the_file_exists(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (tmp_path / "outside.py").write_text("from prefect import flow\n@flow\ndef f(): ...\n")
    result = analyze_entrypoint("../outside.py:f", repo, repo)
    assert isinstance(result, EntrypointProblem) and result.kind == "outside_repo"


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("def f(:\n", "syntax_error"),
        ("from prefect import flow\nf = flow(lambda: 1)\n", "not_analysable"),
        ("from other import f\n", "not_analysable"),
        ("import functools\n@functools.cache\ndef f(): ...\n", "not_analysable"),
        ("def f(): ...\n", "not_a_flow"),
        ("from prefect import task\n@task\ndef f(): ...\n", "not_analysable"),
    ],
)
def test_problems_in_the_file(tmp_path: Path, source: str, kind: str) -> None:
    (tmp_path / "x.py").write_text(source)
    result = analyze_entrypoint("x.py:f", tmp_path, tmp_path)
    assert isinstance(result, EntrypointProblem) and result.kind == kind, result


def test_decorator_forms_and_names(tmp_path: Path) -> None:
    (tmp_path / "forms.py").write_text(
        "import prefect as p\nfrom prefect.flows import flow as fl\n"
        "import os\nNAME = 'x'\nFROM_ENV = os.environ.get('N', 'y')\n"
        "@p.flow\ndef a_b(): ...\n"
        "@fl(name='')\ndef c_d(): ...\n"
        "@p.flow(name=NAME, description=NAME)\ndef e(): ...\n"
        "@p.flow(flow_run_name='run-{x}')\ndef g(x: int): ...\n"
        "@p.flow(name=FROM_ENV)\ndef h(): ...\n"
    )
    names = {}
    for func in ("a_b", "c_d", "e", "g", "h"):
        info = analyze_entrypoint(f"forms.py:{func}", tmp_path, tmp_path)
        assert isinstance(info, FlowInfo)
        names[func] = info.name
    # a module constant is what Prefect evaluates too; an environment lookup is not known
    assert names == {"a_b": "a-b", "c_d": "c-d", "e": "x", "g": "g", "h": None}
    g = analyze_entrypoint("forms.py:g", tmp_path, tmp_path)
    assert isinstance(g, FlowInfo) and g.flow_run_name == "run-{x}"


def test_results_are_cached_per_file_and_refreshed_on_change(tmp_path: Path) -> None:
    path = tmp_path / "c.py"
    path.write_text("from prefect import flow\n@flow\ndef f(a: int): ...\n")
    first = analyze_entrypoint("c.py:f", tmp_path, tmp_path)
    path.write_text("from prefect import flow\n@flow\ndef f(a: int, b: str = 'x'): ...\n\n")
    second = analyze_entrypoint("c.py:f", tmp_path, tmp_path)
    assert isinstance(first, FlowInfo) and isinstance(second, FlowInfo)
    assert [p.name for p in second.parameters] == ["a", "b"]


DOCSTRINGS = [
    None,
    "",
    "Summary only.",
    "Summary.\n\nArgs:\n    x: the x\n    y (int): the y\n        continued\n",
    "Summary.\n\nArguments:\n    x: one\n\nReturns:\n    int: two\n",
    "Summary.\nArgs:\n    x: no blank line above, not a section\n",
    "Summary.\n\nArgs:\n\n    x: blank line below the title\n",
    "Summary.\n\nParams:\n    x: first\n\nParameters:\n    y: the last section wins\n",
    "Summary.\n\n```\nArgs:\n    x: inside a code block\n```\n",
    "Summary.\n\nNote:\n    Args: not here\n\nArgs:\n    a: here\n    b:\n    c no colon\n",
    "    Indented docstring.\n\n    Args:\n        x: text\n\n            with a blank line\n    ",
    "Summary.\n\nKeyword Args:\n    x: not a parameters section\n",
]


@pytest.mark.parametrize("doc", DOCSTRINGS)
def test_docstring_parameters_match_prefect(doc: str | None) -> None:
    assert parameter_docstrings(doc) == prefect_docstrings(doc)


# -- hostile files: each is a problem, never a crash or a hang ------------------------------

FLOW = "from typing import List\nfrom prefect import flow\n\n@flow\ndef f({params}): ...\n"


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("extra", "params", "kind"),
    [
        ("x = " + "(" * 10_000 + "1" + ")" * 10_000, "", "syntax_error"),
        ("x = " + "-" * 10_000 + "1", "", "too_complex"),
        ("x = " + "+".join(["1"] * 100_000), "", "too_complex"),
        ("x = a" + ".b" * 10_000, "", "too_complex"),
        ("x = f" + "()" * 10_000, "", "too_complex"),
        ("", "a: " + "List[" * 10_000 + "int" + "]" * 10_000, "syntax_error"),
        ("", "a=" + "+".join(["x"] * 900), "too_complex"),
        ("", "a: int = " + "-" * 900 + "1", "too_complex"),
    ],
    ids=["parens", "unary", "sum", "attributes", "calls", "annotation", "default", "negation"],
)
def test_deep_expressions_are_a_problem_not_a_crash(
    tmp_path: Path, extra: str, params: str, kind: str
) -> None:
    (tmp_path / "x.py").write_text(FLOW.format(params=params) + extra + "\n")
    result = analyze_entrypoint("x.py:f", tmp_path, tmp_path)
    assert isinstance(result, EntrypointProblem), result
    assert (result.kind, result.file) == (kind, "x.py"), result.message


def test_a_deep_annotation_is_unreadable_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "x.py").write_text(FLOW.format(params="a: " + "List[" * 150 + "int" + "]" * 150))
    result = analyze_entrypoint("x.py:f", tmp_path, tmp_path)
    assert isinstance(result, FlowInfo) and not result.schema_complete
    assert "nested too deeply" in result.unreadable[0]


def _special(path: Path, kind: str) -> None:
    if kind == "too-large":
        path.write_text("x = 1\n" * (MAX_FLOW_BYTES // 6 + 1))
    else:
        make_special_file(path, kind)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("kind", "problem", "message"),
    [
        ("fifo", "unreadable_file", "x.py is not a regular file (a FIFO, socket or device)"),
        ("loop", "unreadable_file", "x.py is a symlink loop"),
        ("loop-of-two", "unreadable_file", "x.py is a symlink loop"),
        ("dev-zero", "outside_repo", "outside the repository"),
        ("too-large", "unreadable_file", "x.py is 2.0 MiB, over the 2 MiB cap"),
    ],
)
@pytest.mark.parametrize("entrypoint", ["x.py:f", "x.f"])
def test_special_flow_files_are_refused_without_hanging(
    tmp_path: Path, kind: str, problem: str, message: str, entrypoint: str
) -> None:
    _special(tmp_path / "x.py", kind)
    result = analyze_entrypoint(entrypoint, tmp_path, tmp_path)
    assert isinstance(result, EntrypointProblem), result
    assert result.kind == problem and message in result.message
    assert result.file == "x.py"


# -- loading what Prefect loads ----------------------------------------------------------------


@pytest.mark.parametrize("entrypoint", [" x.py:f", "x.py:f ", "x.py:f\n", "\tx.f", "x.f  "])
def test_whitespace_around_an_entrypoint_is_a_problem(tmp_path: Path, entrypoint: str) -> None:
    # prefect deploy looks for a file (or function) whose name holds the spaces, and fails
    (tmp_path / "x.py").write_text("from prefect import flow\n@flow\ndef f(): ...\n")
    result = analyze_entrypoint(entrypoint, tmp_path, tmp_path)
    assert isinstance(result, EntrypointProblem) and result.kind == "format"
    assert "whitespace" in result.message and repr(entrypoint) in result.message


@pytest.mark.parametrize(
    "cookie", ["# -*- coding: latin-1 -*-", "# vim: set fileencoding=cp1252 :"]
)
def test_a_coding_cookie_is_honoured(tmp_path: Path, cookie: str) -> None:
    source = f'{cookie}\nfrom prefect import flow\n@flow(name="café")\ndef f(v: str = "né"):\n    """Été."""\n'
    (tmp_path / "x.py").write_bytes(source.encode("latin-1"))
    info = analyze_entrypoint("x.py:f", tmp_path, tmp_path)
    assert isinstance(info, FlowInfo), info
    assert (info.name, info.description) == ("café", "Été.")
    assert info.parameter_schema is not None
    assert info.parameter_schema["properties"]["v"]["default"] == "né"


@pytest.mark.parametrize(
    ("data", "line", "says"),
    [
        (b"from prefect import flow\n\n# caf\xe9\n@flow\ndef f(): ...\n", 3, "not valid utf-8"),
        (b"# -*- coding: klingon -*-\nfrom prefect import flow\n", 1, "unknown encoding"),
        (b"# coding: ascii\nx = 1\ny = '\xc3\xa9'\n", 3, "not valid ascii"),
    ],
)
def test_undecodable_files_are_located_problems(
    tmp_path: Path, data: bytes, line: int, says: str
) -> None:
    (tmp_path / "x.py").write_bytes(data)
    result = analyze_entrypoint("x.py:f", tmp_path, tmp_path)
    assert isinstance(result, EntrypointProblem) and result.kind == "unreadable_file"
    assert (result.file, result.line) == ("x.py", line)
    assert result.message.startswith(f"x.py:{line}:") and says in result.message.lower()


@pytest.mark.parametrize(
    "source",
    [
        "try:\n    from prefect import flow\nexcept ImportError:\n    def flow(f):\n        return f\n"
        "@flow\ndef f(n: int = 1): ...\n",
        "try:\n    import prefect\nexcept ImportError:\n    prefect = None\n"
        "@prefect.flow\ndef f(n: int = 1): ...\n",
        "import sys\nif sys.version_info >= (3, 9):\n    from prefect import flow\nelse:\n"
        "    flow = None\n@flow\ndef f(n: int = 1): ...\n",
        "from prefect import flow\nif True:\n    @flow\n    def f(n: int = 1): ...\nelse:\n"
        "    def f(n): ...\n",
        "try:\n    from prefect import flow\n    @flow\n    def f(n: int = 1): ...\n"
        "except Exception:\n    f = None\n",
    ],
    ids=["try-import", "try-module", "if-else-import", "def-in-if", "def-in-try"],
)
def test_guarded_imports_and_conditional_defs_are_followed(tmp_path: Path, source: str) -> None:
    (tmp_path / "x.py").write_text(source)
    info = analyze_entrypoint("x.py:f", tmp_path, tmp_path)
    assert isinstance(info, FlowInfo), info
    assert info.name == "f" and info.static_reason is None
    assert info.parameter_schema == {
        "title": "Parameters", "type": "object",
        "properties": {"n": {"default": 1, "position": 0, "title": "n", "type": "integer"}},
    }  # fmt: skip


def test_imports_that_do_not_run_are_not_followed(tmp_path: Path) -> None:
    (tmp_path / "x.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from prefect import flow\n"
        "@flow\ndef f(): ...\n"
    )
    result = analyze_entrypoint("x.py:f", tmp_path, tmp_path)
    assert isinstance(result, EntrypointProblem) and result.kind == "not_analysable"


def test_a_changed_models_module_is_read_again(tmp_path: Path) -> None:
    (tmp_path / "models.py").write_text(
        "from pydantic import BaseModel\nclass C(BaseModel):\n    a: int\n"
    )
    (tmp_path / "x.py").write_text(
        "from prefect import flow\nfrom models import C\n@flow\ndef f(c: C): ...\n"
    )
    first = analyze_entrypoint("x.py:f", tmp_path, tmp_path)
    (tmp_path / "models.py").write_text(
        "from pydantic import BaseModel\nclass C(BaseModel):\n    a: int\n    b: str = 'x'\n"
    )
    second = analyze_entrypoint("x.py:f", tmp_path, tmp_path)
    assert isinstance(first, FlowInfo) and isinstance(second, FlowInfo)
    assert list(first.definitions["C"]["properties"]) == ["a"]
    assert list(second.definitions["C"]["properties"]) == ["a", "b"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("class C(BaseModel):\n    a: int\n    def __get_pydantic_json_schema__(cls, s, h): ...\n",
         "__get_pydantic_json_schema__"),
        ("class C(BaseModel):\n    a: int = os.environ['A']\n", "not a literal"),
        ("class C(BaseModel):\n    class Config:\n        title = 'x'\n", "not a field"),
        ("@functools.total_ordering\nclass C(BaseModel):\n    a: int\n", "decorator"),
        ("class C(email.message.Message):\n    a: int\n", "`email.message.Message`"),
        ("class C(BaseModel):\n    a: 'C | None' = None\n", "refers to itself"),
    ],
)  # fmt: skip
def test_classes_we_cannot_rebuild_stay_unread(tmp_path: Path, body: str, says: str) -> None:
    (tmp_path / "x.py").write_text(
        "import email.message, functools, os\nfrom pydantic import BaseModel\n"
        f"from prefect import flow\n{body}@flow\ndef f(c: C, n: int = 1): ...\n"
    )
    info = analyze_entrypoint("x.py:f", tmp_path, tmp_path)
    assert isinstance(info, FlowInfo) and info.parameter_schema is None
    assert info.parameters[0].schema is None and info.parameters[1].schema is not None
    assert says in info.unreadable[0], info.unreadable
    # what plan warns about: the one parameter that is opaque, and why
    (opaque,) = info.opaque_parameters
    assert opaque.startswith("parameter 'c': ") and says in opaque


def test_a_readable_signature_has_no_opaque_parameters(tmp_path: Path) -> None:
    (tmp_path / "x.py").write_text("from prefect import flow\n@flow\ndef f(n: int = 1): ...\n")
    info = analyze_entrypoint("x.py:f", tmp_path, tmp_path)
    assert isinstance(info, FlowInfo) and info.parameter_schema is not None
    assert info.opaque_parameters == ()


@pytest.mark.parametrize(
    ("default", "says"),
    [
        ("[*FORMATS]", "unpacks `*` items"),
        ("{**BY_REGION}", "unpacks `**` items"),
        ("[Fmt.CSV, os.sep]", "cannot be read: `os.sep`"),
        ("{Window(1)}", "fails"),
    ],
)
def test_displays_of_unreadable_items_stay_unread(tmp_path: Path, default: str, says: str) -> None:
    (tmp_path / "x.py").write_text(
        "import enum, os\nfrom dataclasses import dataclass\nfrom prefect import flow\n"
        "class Fmt(str, enum.Enum):\n    CSV = 'csv'\n"
        "@dataclass\nclass Window:\n    days: int\n"
        "FORMATS = [Fmt.CSV]\nBY_REGION = {'eu': Fmt.CSV}\n"
        f"@flow\ndef f(x: object = {default}): ...\n"
    )
    info = analyze_entrypoint("x.py:f", tmp_path, tmp_path)
    assert isinstance(info, FlowInfo) and info.parameter_schema is None
    (opaque,) = info.opaque_parameters
    assert opaque.startswith("parameter 'x': the default") and says in opaque, opaque


def test_a_problem_found_at_the_def_names_the_function(tmp_path: Path) -> None:
    # a plan can still name the flow as Prefect's own fallback does
    (tmp_path / "x.py").write_text("import functools\n@functools.cache\ndef my_flow(): ...\n")
    result = analyze_entrypoint("x.py:my_flow", tmp_path, tmp_path)
    assert isinstance(result, EntrypointProblem) and result.kind == "not_analysable"
    assert result.function == "my_flow" and result.line == 3  # the def, below its decorator
    assert default_flow_name(result.function) == "my-flow"
    assert default_flow_name("Pipelines.run_all") == "run-all"


@pytest.mark.parametrize(
    ("source", "entrypoint", "kind"),
    [
        ("import polars_missing\nfrom prefect import flow\n@flow\ndef my_flow(n: int = 1): ...\n",
         "x.my_flow", "import_fails"),
        ("import polars_missing\ntry:\n    from prefect import flow\nexcept ImportError:\n"
         "    raise\n@flow\ndef my_flow(n: int = 1): ...\n", "x.py:my_flow", "import_fails"),
        ("from typing import TypedDict\nfrom prefect import flow\nclass R(TypedDict):\n    a: int\n"
         "@flow\ndef my_flow(r: R, n: int = 1): ...\n", "x.py:my_flow", "schema_fails"),
    ],
)  # fmt: skip
def test_what_prefect_deploy_fails_on_here_is_still_read(
    tmp_path: Path, source: str, entrypoint: str, kind: str
) -> None:
    # the deploy's CI may have what is missing here: the flow is read as an import would
    (tmp_path / "x.py").write_text(source)
    info = analyze_entrypoint(entrypoint, tmp_path, tmp_path)
    assert isinstance(info, FlowInfo) and info.load_problem is not None, info
    assert info.load_problem.kind == kind and info.load_problem.function == "my_flow"
    assert info.load_problem.message.startswith(f"x.py:{info.line}: ")
    assert info.name == "my-flow" and info.static_reason is None
    assert [p.name for p in info.parameters][-1] == "n"


@pytest.mark.parametrize(
    ("test", "expected"),
    [
        ("sys.version_info >= (3, 9)", True),
        ("sys.version_info < (3, 0)", False),
        ("os.environ.get('PG_TEST_UNSET_VARIABLE')", False),
        ("not os.getenv('PG_TEST_UNSET_VARIABLE')", True),
        ("'PG_TEST_UNSET_VARIABLE' in os.environ", False),
        ("os.environ.get('PG_TEST_UNSET_VARIABLE', 'x') == 'x'", True),
        ("True and sys.version_info >= (3, 9)", True),
        ("some_flag", None),
        ("helper() > 1", None),
    ],
)
def test_module_level_if_tests_we_can_evaluate(test: str, expected: bool | None) -> None:
    import ast

    from prefect_gitops.check.flows.pysource import static_truth

    assert static_truth(ast.parse(test, mode="eval").body) is expected


def test_the_branch_an_import_takes_defines_the_flow(tmp_path: Path) -> None:
    """As Prefect imports the module: an unset variable takes the `else` branch."""
    from prefect_gitops.check.flows.analysis import analyze_entrypoint

    (tmp_path / "switch.py").write_text(
        "import os\nfrom prefect import flow\n\n"
        "if os.environ.get('PG_TEST_UNSET_VARIABLE'):\n"
        "    @flow(name='sw')\n    def run(mode: str = 'legacy') -> str:\n        return mode\n"
        "else:\n"
        "    @flow(name='sw')\n    def run(mode: str = 'fast', n: int = 4) -> str:\n"
        "        return mode\n",
        encoding="utf-8",
    )
    info = analyze_entrypoint("switch.py:run", tmp_path, tmp_path)
    assert not isinstance(info, EntrypointProblem) and info.parameter_schema is not None
    assert info.parameter_schema["properties"]["mode"]["default"] == "fast"
    assert "n" in info.parameter_schema["properties"]
