"""Find and read a project's files: YAML -> typed models, each value with its position.

The only module that opens repository files. Everything it finds wrong becomes a
diagnostic; it never raises for bad input.
"""

from __future__ import annotations

import glob
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from . import templates
from .diagnostics import Diagnostics
from .models import DeploymentConfig, PoolFile, PrefectYaml, RootConfig
from .source import JsonPath, SourceMap, Span, YamlLoadError, format_path, load_yaml
from .suggest import did_you_mean

MAX_FILE_BYTES = 5 * 1024 * 1024
CONFIG_NAMES = ("prefect-gitops.yaml", "prefect-gitops.yml")
# `<<<<<<< ours` / `>>>>>>> theirs` lines; a bare `=======` also appears in Markdown text.
_CONFLICT = re.compile(rb"^(?:<{7}|>{7})(?: |\r?$)", re.MULTILINE)
M = TypeVar("M", bound=BaseModel)


@dataclass
class SourceFile:
    """One loaded YAML/JSON file: its data and where each value came from."""

    path: Path
    rel: str
    data: Any
    smap: SourceMap

    def span(self, path: JsonPath, *, key: bool = False) -> Span:
        return self.smap.span(path, key=key)


@dataclass
class DeploymentEntry:
    """One item of a prefect.yaml `deployments:` list."""

    file: SourceFile
    index: int
    raw: Any
    config: DeploymentConfig | None
    base_dir: Path

    @property
    def path(self) -> JsonPath:
        return ("deployments", self.index)

    @property
    def name(self) -> str | None:
        if isinstance(self.raw, dict) and isinstance(self.raw.get("name"), str):
            return self.raw["name"]  # type: ignore[no-any-return]
        return None

    @property
    def label(self) -> str:
        return f"deployment '{self.name}'" if self.name else f"deployments[{self.index}]"

    @property
    def resource(self) -> str:
        return f"deployment/{self.name}" if self.name else f"deployment/[{self.index}]"

    def span(self, *sub: Any, key: bool = False) -> Span:
        return self.file.span((*self.path, *sub), key=key)

    def json_path(self, *sub: Any) -> str:
        return format_path((*self.path, *sub))


@dataclass
class PrefectFile:
    """One prefect.yaml and its deployments."""

    file: SourceFile
    top: PrefectYaml | None
    deployments: list[DeploymentEntry]

    @property
    def base_dir(self) -> Path:
        return self.file.path.parent


@dataclass
class PoolEntry:
    """One work-pool file and its resolved base job template."""

    file: SourceFile
    spec: PoolFile | None
    template: dict[str, Any] | None = None
    # Where the template's values are: the pool file itself (inline) or a template file.
    template_file: SourceFile | None = None
    template_path: JsonPath = ("base_job_template",)
    template_is_default: bool = False

    @property
    def name(self) -> str | None:
        if self.spec is not None:
            return self.spec.name
        raw = self.file.data
        if isinstance(raw, dict) and isinstance(raw.get("name"), str):
            return raw["name"]  # type: ignore[no-any-return]
        return None

    @property
    def label(self) -> str:
        return f"work pool '{self.name}'" if self.name else f"work pool in {self.file.rel}"

    @property
    def resource(self) -> str:
        return f"work_pool/{self.name}" if self.name else f"work_pool/{self.file.rel}"

    def template_span(self, *sub: Any, key: bool = False) -> Span:
        source = self.template_file or self.file
        return source.span((*self.template_path, *sub), key=key)


@dataclass
class Project:
    root: Path
    config: RootConfig
    config_file: SourceFile | None
    prefect_files: list[PrefectFile] = field(default_factory=list)
    pools: list[PoolEntry] = field(default_factory=list)
    files_read: int = 0
    environment: str | None = None  # set by `--env NAME` (environments.py)

    @property
    def deployments(self) -> list[DeploymentEntry]:
        return [d for pf in self.prefect_files for d in pf.deployments]

    def pool(self, name: str) -> PoolEntry | None:
        for entry in self.pools:
            if entry.name == name:
                return entry
        return None


# -- reading files ---------------------------------------------------------------------------


def relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def _line_col(data: bytes, offset: int) -> tuple[int, int]:
    line = data.count(b"\n", 0, offset) + 1
    start = data.rfind(b"\n", 0, offset) + 1
    return line, len(data[start:offset].decode("utf-8", "replace")) + 1


_TOML_ASSIGNMENT = re.compile(r"^[ \t]*[\w.\-\"]+[ \t]*=[ \t]*\S", re.MULTILINE)
_TOML_TABLE = re.compile(r"^[ \t]*\[\[?[\w.\-\"]+\]\]?[ \t]*$", re.MULTILINE)
_DOCSTRING = re.compile(r"^[ \t]*[rRuUbB]?(\"\"\"|\'\'\')", re.MULTILINE)


def _looks_like(text: str, near_line: int | None = None) -> str | None:
    """What a file that is not YAML configuration looks like: 'docstring', 'toml' or None.

    With `near_line` (a syntax error's line), only the lines around it and the first line
    with content count, so a script in a block scalar does not mislead us.
    """
    if near_line is not None:
        lines = text.splitlines()
        first = next((ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")), "")
        text = "\n".join([first, *lines[max(near_line - 3, 0) : near_line]])
    if _DOCSTRING.search(text):
        return "docstring"
    if _TOML_ASSIGNMENT.search(text) or _TOML_TABLE.search(text):
        return "toml"
    return None


def _line_of(pattern: re.Pattern[str], text: str) -> int:
    match = pattern.search(text)
    return text.count("\n", 0, match.start()) + 1 if match else 1


def _not_a_mapping_hint(text: str, value: Any) -> tuple[str, str | None]:
    if value is None:
        return "the file is empty", "a prefect.yaml needs at least a `deployments:` list"
    looks = _looks_like(text) if isinstance(value, (str, list)) else None
    if looks == "docstring":
        return (
            "this looks like a Python docstring, not YAML",
            "remove the triple quotes; YAML needs `key: value` lines",
        )
    if looks == "toml":
        return "this looks like TOML, not YAML", "YAML uses `key: value`, not `key = value`"
    kind = type(value).__name__
    if isinstance(value, list):
        kind = "a list"
    elif isinstance(value, str):
        kind = "a plain string"
    return f"the document is {kind}, not a mapping", "the top level must be `key: value` pairs"


def read_yaml_file(
    path: Path, root: Path, diags: Diagnostics, *, what: str, require_mapping: bool = True
) -> SourceFile | None:
    """Read and parse one YAML (or JSON) file, or add a located diagnostic and return None."""
    rel = relative(path, root)
    top = Span(rel, 1, 1)
    resource = None
    try:
        size = path.stat().st_size
        if path.is_dir():
            diags.error("Y001", f"{what} {rel} is a directory, not a file", top)
            return None
        if size > MAX_FILE_BYTES:
            diags.error(
                "Y001",
                f"{what} {rel} is {size / 1048576:.1f} MiB, over the {MAX_FILE_BYTES // 1048576} MiB cap",
                top,
                hint="a Prefect configuration is a few kilobytes; is this the right file?",
            )
            return None
        data = path.read_bytes()
    except FileNotFoundError:
        diags.error(
            "Y001",
            f"there is no {what} {rel}",
            top,
            hint="point PATH at a repository with a prefect.yaml, or list the files in "
            "`prefect_files` of prefect-gitops.yaml",
        )
        return None
    except OSError as exc:
        diags.error("Y001", f"cannot read {what} {rel}: {exc.strerror or exc}", top)
        return None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _line_col(data, exc.start)
        diags.error(
            "Y002",
            f"{what} {rel} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})",
            Span(rel, line, col),
            hint="save the file as UTF-8",
        )
        return None
    conflict = _CONFLICT.search(data)
    if conflict:
        line, _ = _line_col(data, conflict.start())
        diags.error(
            "Y003",
            f"{what} {rel} contains merge-conflict markers",
            Span(rel, line, 1),
            hint="resolve the merge conflict before validating",
        )
        return None
    try:
        value, smap = load_yaml(text, rel)
    except YamlLoadError as exc:
        message = exc.message
        if exc.kind == "duplicate":
            code = "Y005"
        elif exc.kind == "hostile":
            code = "Y006"
        elif exc.kind == "unsupported":
            code = "Y007"
        else:
            code = "Y004"
        hint = exc.hint
        span = Span(rel, exc.line, exc.column)
        looks = _looks_like(text, exc.line) if code == "Y004" else None
        if looks == "docstring":
            message = f"a Python docstring (triple quotes) is pasted into the YAML ({message})"
            hint = "remove it; YAML comments start with `#`"
            span = Span(rel, _line_of(_DOCSTRING, text), 1)
        elif looks == "toml":
            message = f"this looks like TOML, not YAML ({message})"
            hint = "YAML uses `key: value`, not `key = value` and `[section]`"
        elif code == "Y004" and "\t" in text:
            hint = "YAML does not allow tabs for indentation"
        diags.error(code, message, span, hint=hint, resource=resource)
        return None
    if require_mapping and not isinstance(value, dict):
        message, hint = _not_a_mapping_hint(text, value)
        diags.error("Y008", f"{what} {rel}: {message}", Span(rel, 1, 1), hint=hint)
        return None
    return SourceFile(path, rel, value, smap)


def read_json_or_yaml(
    path: Path, root: Path, diags: Diagnostics, *, what: str
) -> SourceFile | None:
    # JSON is YAML 1.2; libyaml reads ordinary JSON documents fine and keeps positions.
    return read_yaml_file(path, root, diags, what=what)


# -- pydantic errors -> diagnostics ----------------------------------------------------------


def _has(container: Any, part: Any) -> bool:
    if isinstance(container, dict):
        return part in container
    return isinstance(container, list) and isinstance(part, int) and 0 <= part < len(container)


def _data_path(data: Any, loc: Iterable[Any]) -> JsonPath:
    """Keep only the parts of a pydantic `loc` that exist in the data (drop union tags)."""
    out: list[Any] = []
    current = data
    for part in loc:
        if _has(current, part):
            out.append(part)
            current = current[part]
    return tuple(out)


def _union_prefix(data: Any, loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """The part of `loc` before its first union-branch tag (a part the data does not have)."""
    current = data
    for i, part in enumerate(loc):
        if not _has(current, part):
            return loc[:i]
        current = current[part]
    return loc


_EXPECTED = {
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "dict_type": "a mapping",
    "list_type": "a list",
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "time_delta_type": "a duration",
    "time_delta_parsing": "a duration",
    "datetime_type": "a date and time",
    "datetime_parsing": "a date and time",
    "datetime_from_date_parsing": "a date and time",
    "date_type": "a date",
    "date_parsing": "a date",
    "none_required": "nothing (null)",
}


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def _type_hint(path: JsonPath, value: Any, expected: list[str]) -> str | None:
    last = next((p for p in reversed(path) if isinstance(p, str)), None)
    if "a string" in expected and isinstance(value, (int, float)) and not isinstance(value, bool):
        return f'quote it to keep it as text: "{value}"'
    if last == "work_pool" and path and path[-1] == "work_pool" and isinstance(value, str):
        return f"write `work_pool: {{name: {value}}}`"
    if last == "schedule" and isinstance(value, str):
        return f'a schedule is a mapping: `schedule: {{cron: "{value}"}}`'
    if last == "schedules" and isinstance(value, str):
        return f'a schedule is a mapping, e.g. `- cron: "{value}"`'
    if last in ("build", "push", "pull") and isinstance(value, str):
        return "steps are mappings, e.g. `- prefect.deployments.steps.git_clone: {repository: ...}`"
    return None


def model_errors(
    exc: ValidationError,
    data: Any,
    source: SourceFile,
    prefix: JsonPath,
    diags: Diagnostics,
    *,
    label: str,
    resource: str | None,
    unknown_is_error: bool,
    known_fields: Iterable[str] = (),
) -> None:
    """Turn a pydantic error into one diagnostic per offending value.

    A value that fails every branch of a union gets one message listing what each branch
    expected; when a branch got further into the value, its (more specific) errors win.
    """
    groups: dict[JsonPath, list[tuple[JsonPath, Mapping[str, Any]]]] = {}
    for err in exc.errors():
        loc = tuple(err["loc"])
        if err["type"] == "extra_forbidden":
            path = _data_path(data, loc)
            key = loc[-1]
            parent_path = path[:-1] if path and path[-1] == key else path
            if unknown_is_error:
                where_text = format_path((*prefix, *parent_path)) or "the top level"
                diags.error(
                    "S001",
                    f"{label}: unknown key '{key}' in {where_text}",
                    source.span((*prefix, *parent_path, key), key=True),
                    path=format_path((*prefix, *parent_path, key)),
                    resource=resource,
                    hint=did_you_mean(str(key), known_fields),
                )
            continue
        if err["type"] == "missing":
            missing = (*_data_path(data, loc[:-1]), loc[-1])
            groups.setdefault(missing, []).append((missing, err))
            continue
        groups.setdefault(_data_path(data, _union_prefix(data, loc)), []).append(
            (_data_path(data, loc), err)
        )
    for group_path, errs in groups.items():
        first = errs[0][1]
        if first["type"] == "missing":
            key, where = group_path[-1], group_path[:-1]
            inside_of = f" in `{format_path((*prefix, *where))}`" if where else ""
            diags.error(
                "S009",
                f"{label}: missing required key '{key}'{inside_of}",
                source.span((*prefix, *where), key=bool(where)),
                path=format_path((*prefix, *group_path)),
                resource=resource,
            )
            continue
        deepest = max(len(p) for p, _ in errs)
        chosen = [(p, e) for p, e in errs if len(p) == deepest]
        path = chosen[0][0]
        value = _value_at(data, path)
        expected: list[str] = []
        others: list[str] = []
        for _, detail in chosen:
            wanted = _EXPECTED.get(detail["type"])
            bucket, text = (expected, wanted) if wanted else (others, _clean_message(detail))
            if text not in bucket:
                bucket.append(text)
        shown = format_path((*prefix, *path)) or "the document"
        if expected and not others:
            message = f"`{shown}` should be {' or '.join(expected)}, not {_kind(value)}"
            if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                message += f" ({_short_repr(value)})"
        else:
            reasons = others + [f"expected {e}" for e in expected]
            message = f"`{shown}` = {_short_repr(value)} is invalid: {'; or '.join(reasons)}"
        banned = any("Prefect server rejects" in str(e.get("msg")) for _, e in chosen)
        diags.error(
            "S013" if banned else "S002",
            f"{label}: {message}",
            source.span((*prefix, *path)),
            path=format_path((*prefix, *path)),
            resource=resource,
            hint=_type_hint((*prefix, *path), value, expected),
        )


def field_names(model: type[BaseModel]) -> set[str]:
    """Every field name of a model and of the models nested in it."""
    names: set[str] = set()
    todo: list[type[BaseModel]] = [model]
    seen: set[type[BaseModel]] = set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for name, info in current.model_fields.items():
            names.add(info.alias or name)
            for arg in _walk_types(info.annotation):
                if isinstance(arg, type) and issubclass(arg, BaseModel):
                    todo.append(arg)
    return names


def _walk_types(annotation: Any) -> list[Any]:
    out = [annotation]
    for arg in getattr(annotation, "__args__", ()) or ():
        out.extend(_walk_types(arg))
    return out


def _clean_message(err: Mapping[str, Any]) -> str:
    msg = str(err["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    return msg[0].lower() + msg[1:] if msg else msg


def _value_at(data: Any, path: JsonPath) -> Any:
    current = data
    for part in path:
        current = current[part]
    return current


def _short_repr(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validate_model(
    model: type[M],
    data: Any,
    source: SourceFile,
    prefix: JsonPath,
    diags: Diagnostics,
    *,
    label: str,
    resource: str | None,
    unknown_is_error: bool,
) -> M | None:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        model_errors(
            exc,
            data,
            source,
            prefix,
            diags,
            label=label,
            resource=resource,
            unknown_is_error=unknown_is_error,
            known_fields=field_names(model),
        )
        return None


# -- the project -----------------------------------------------------------------------------


def _expand(base: Path, patterns: Iterable[str], root: Path) -> list[Path]:
    found: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(str(base / pattern), recursive=True))
        if not matches and not glob.has_magic(pattern):
            matches = [str(base / pattern)]
        for match in matches:
            path = Path(match)
            if path not in found:
                found.append(path)
    return found


def load_project(
    target: Path,
    *,
    config_path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    environment: str | None = None,
) -> tuple[Project, Diagnostics]:
    """Load everything a project declares. Never raises for bad input: see the diagnostics
    (an unknown `environment` is a `ReconcilerError`)."""
    del environ  # reserved: environment overrides
    diags = Diagnostics()
    target = target.absolute()
    single_file: Path | None = None
    if target.is_file() or (not target.exists() and target.suffix in (".yaml", ".yml")):
        single_file = target
        root = target.parent
    else:
        root = target
    if config_path is None:
        for name in CONFIG_NAMES:
            if (root / name).is_file():
                config_path = root / name
                break
    config = RootConfig()
    config_file: SourceFile | None = None
    files_read = 0
    if config_path is not None:
        config_path = config_path if config_path.is_absolute() else Path.cwd() / config_path
        config_file = read_yaml_file(config_path, root, diags, what="config")
        files_read += 1
        if config_file is not None:
            loaded = validate_model(
                RootConfig,
                config_file.data,
                config_file,
                (),
                diags,
                label=f"config {config_file.rel}",
                resource=None,
                unknown_is_error=True,
            )
            config = loaded or config
    base = config_path.parent if config_path is not None else root
    project = Project(root=root, config=config, config_file=config_file)

    prefect_paths = [single_file] if single_file else _expand(base, config.prefect_files, root)
    for path in prefect_paths:
        files_read += 1
        if not inside(path, root):
            diags.error(
                "S010",
                f"prefect file {path} is outside the repository {root}",
                config_file.span(("prefect_files",)) if config_file else Span(str(path), 1, 1),
            )
            continue
        source = read_yaml_file(path, root, diags, what="prefect file")
        if source is not None:
            project.prefect_files.append(_load_prefect_file(source, diags))

    for path in _expand(base, config.work_pools, root):
        if not path.exists():
            continue
        files_read += 1
        source = read_yaml_file(path, root, diags, what="work-pool file")
        if source is not None:
            project.pools.append(_load_pool(source, root, diags))
    project.files_read = files_read + sum(1 for p in project.pools if p.template_file)
    if environment is not None:
        from .environments import apply_environment

        apply_environment(project, environment, diags)
    return project, diags


def _load_prefect_file(source: SourceFile, diags: Diagnostics) -> PrefectFile:
    data = source.data
    top_data = {k: v for k, v in data.items() if k != "deployments"}
    top = validate_model(
        PrefectYaml,
        top_data,
        source,
        (),
        diags,
        label=source.rel,
        resource=None,
        unknown_is_error=False,
    )
    deployments: list[DeploymentEntry] = []
    raw_list = data.get("deployments")
    if raw_list is None:
        raw_list = []
    if not isinstance(raw_list, list):
        diags.error(
            "S002",
            f"{source.rel}: `deployments` must be a list of mappings, not {type(raw_list).__name__}",
            source.span(("deployments",)),
            path="deployments",
        )
        raw_list = []
    for index, raw in enumerate(raw_list):
        entry = DeploymentEntry(source, index, raw, None, source.path.parent)
        if not isinstance(raw, dict):
            diags.error(
                "S002",
                f"deployments[{index}] must be a mapping, not {_short_repr(raw)}",
                source.span(("deployments", index)),
                path=f"deployments[{index}]",
            )
        else:
            entry.config = validate_model(
                DeploymentConfig,
                raw,
                source,
                ("deployments", index),
                diags,
                label=entry.label,
                resource=entry.resource,
                unknown_is_error=False,
            )
        deployments.append(entry)
    return PrefectFile(source, top, deployments)


def _load_pool(source: SourceFile, root: Path, diags: Diagnostics) -> PoolEntry:
    entry = PoolEntry(source, None)
    spec = validate_model(
        PoolFile,
        source.data,
        source,
        (),
        diags,
        label=entry.label,
        resource=entry.resource,
        unknown_is_error=True,
    )
    entry.spec = spec
    if spec is None:
        return entry
    template = spec.base_job_template
    if isinstance(template, dict):
        entry.template = template
    elif isinstance(template, str):
        ref = source.path.parent / template
        where = source.span(("base_job_template",))
        if os.path.isabs(template) or not inside(ref, root):
            diags.error(
                "S010",
                f"{entry.label}: base_job_template path '{template}' points outside the repository",
                where,
                path="base_job_template",
                resource=entry.resource,
            )
        elif not ref.is_file():
            diags.error(
                "S011",
                f"{entry.label}: base_job_template file '{template}' does not exist",
                where,
                path="base_job_template",
                resource=entry.resource,
                hint=f"looked for {relative(ref, root)}",
            )
        else:
            tfile = read_json_or_yaml(ref, root, diags, what="base job template")
            if tfile is not None:
                entry.template = tfile.data
                entry.template_file = tfile
                entry.template_path = ()
    else:
        default = templates.default_template(spec.type)
        if default is not None:
            entry.template = default
            entry.template_is_default = True
    return entry
