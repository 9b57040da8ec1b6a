"""Find and read a project's files: YAML -> typed models, each value with its position.

It finds the files a project declares and reads them through `repofiles` (regular files
inside the repository, size-capped). Everything it finds wrong becomes a diagnostic; it
never raises for bad input.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ReconcilerError
from ..prefect import templates
from .diagnostics import Diagnostics
from .files import FileProblem, expand, inside, read_capped, real, relative
from .modelcheck import short_repr, validate_model
from .models import DeploymentConfig, PoolFile, PrefectYaml, RootConfig
from .project import CONFIG_NAMES, DeploymentEntry, PoolEntry, PrefectFile, Project, SourceFile
from .source import Span, YamlLoadError, format_path, load_yaml

MAX_FILE_BYTES = 5 * 1024 * 1024
# `<<<<<<< ours` / `>>>>>>> theirs` lines; a bare `=======` also appears in Markdown text.
_CONFLICT = re.compile(rb"^(?:<{7}|>{7})(?: |\r?$)", re.MULTILINE)


# -- reading files ---------------------------------------------------------------------------


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


_YAML_CODES = {"duplicate": "Y005", "hostile": "Y006", "unsupported": "Y007"}


def _yaml_error(exc: YamlLoadError, text: str, rel: str, diags: Diagnostics) -> None:
    message = exc.message
    code = _YAML_CODES.get(exc.kind, "Y004")
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
    diags.error(code, message, span, hint=hint)


def read_yaml_file(
    path: Path,
    root: Path,
    diags: Diagnostics,
    *,
    what: str,
    require_mapping: bool = True,
    within: Path | None = None,
    lenient_duplicates: bool = False,
) -> SourceFile | None:
    """Read and parse one YAML (or JSON) file, or add a located diagnostic and return None.
    The file must be inside `within` (default: `root`), symlinks resolved. With
    `lenient_duplicates` (Prefect's own files) a key given twice is a warning and the later
    value is kept, as Prefect's `yaml.safe_load` keeps it; in our own formats it is an error."""
    rel = relative(path, root)
    data = _read_file_bytes(path, within or root, rel, diags, what=what)
    if data is None:
        return None
    text = _decode_text(data, rel, diags, what=what)
    if text is None:
        return None
    try:
        value, smap = load_yaml(text, rel, keep_last_duplicate=lenient_duplicates)
    except YamlLoadError as exc:
        _yaml_error(exc, text, rel, diags)
        return None
    for key_path, (line, column), first in smap.duplicates:
        diags.warning(
            "Y005",
            f"{what} {rel}: duplicate key {format_path(key_path)!r} (first at line {first}); "
            "Prefect's YAML loader silently keeps only this later one",
            Span(rel, line, column),
            hint="remove or rename one of them",
        )
    if require_mapping and not isinstance(value, dict):
        message, hint = _not_a_mapping_hint(text, value)
        diags.error("Y008", f"{what} {rel}: {message}", Span(rel, 1, 1), hint=hint)
        return None
    return SourceFile(path, rel, value, smap)


def _read_file_bytes(
    path: Path, within: Path, rel: str, diags: Diagnostics, *, what: str
) -> bytes | None:
    try:
        return read_capped(path, within, cap=MAX_FILE_BYTES, name=f"{what} {rel}")
    except FileProblem as problem:
        hint = problem.hint
        if problem.kind == "missing" and what == "prefect file":
            hint = (
                "point PATH at a repository with a prefect.yaml, or list the files in "
                "`prefect_files` of prefect-gitops.yaml"
            )
        code = "S010" if problem.kind == "outside" else "Y001"
        diags.error(code, problem.message, Span(rel, 1, 1), hint=hint)
        return None


def _decode_text(data: bytes, rel: str, diags: Diagnostics, *, what: str) -> str | None:
    """The file's text without its BOM, or None (diagnosed) if not UTF-8 or mid-merge."""
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
    return text


def read_json_or_yaml(
    path: Path, root: Path, diags: Diagnostics, *, what: str
) -> SourceFile | None:
    # JSON is YAML 1.2; libyaml reads ordinary JSON documents fine and keeps positions.
    return read_yaml_file(path, root, diags, what=what)


# -- pydantic errors -> diagnostics ----------------------------------------------------------


# -- the project -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Listed:
    """A file a pattern named, and where to point at when it is unusable."""

    path: Path
    where: Span  # the pattern in the config, or (for a default pattern) the file itself


def _list_files(
    key: str,
    patterns: list[str],
    *,
    declared: bool,
    base: Path,
    project: Project,
    diags: Diagnostics,
) -> list[_Listed]:
    """The files `patterns` (the config's `key`) name, each once, even through two patterns
    or a symlink. A pattern the user wrote that names nothing is an error: an empty file set
    would otherwise look like a project that declares nothing, and prune would delete it all."""
    config_file = project.config_file if declared else None
    found: dict[Path, _Listed] = {}
    for index, pattern in enumerate(patterns):
        matches = expand(base, pattern)
        if not matches and config_file is None:
            if glob.has_magic(pattern):
                continue  # a default (`work-pools/*.yaml`): a project may have no pool files
            matches = [base / pattern]  # the default prefect.yaml: reading it says it is missing
        if not matches and config_file is not None:
            diags.error(
                "Y001",
                f"`{key}` pattern '{pattern}' in {config_file.rel} matches no file"
                if glob.has_magic(pattern) or not Path(pattern).name
                else f"there is no {relative(base / pattern, project.root)} "
                f"(listed in `{key}` of {config_file.rel})",
                config_file.span((key, index)),
                hint=f"looked under {relative(base, project.root) or '.'}; fix the pattern or "
                "remove it (a pattern matching nothing never means 'no files')",
            )
        for path in matches:
            where = (
                config_file.span((key, index))
                if config_file is not None
                else Span(relative(path, project.root), 1, 1)
            )
            found.setdefault(real(path), _Listed(path, where))
    return list(found.values())


def _read_listed(
    listed: list[_Listed], what: str, project: Project, diags: Diagnostics
) -> list[SourceFile]:
    out: list[SourceFile] = []
    for item in listed:
        if not inside(item.path, project.root):
            shown = relative(item.path, project.root)
            link = f" (a symlink to {real(item.path)})" if os.path.islink(item.path) else ""
            diags.error(
                "S010",
                f"{what} {shown}{link} is outside the repository {project.root}",
                item.where,
                hint="only files inside the repository are read",
            )
            continue
        folder = str(real(item.path).parent)
        if what == "prefect file" and not _is_unicode(folder):
            diags.error(
                "Y002",
                f"the folder of {what} {relative(item.path, project.root)} is not valid UTF-8 "
                f"({os.fsencode(folder)!r}): Prefect records it in each deployment's pull step "
                "(set_working_directory), and the server only takes text",
                item.where,
                hint="check the repository out under a path that is valid UTF-8",
            )
            continue
        source = read_yaml_file(
            item.path, project.root, diags, what=what, lenient_duplicates=what == "prefect file"
        )
        if source is not None:
            out.append(source)
    return out


def _is_unicode(text: str) -> bool:
    """False for a path holding bytes that are not UTF-8 (lone surrogates once decoded)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _single_file(target: Path) -> bool:
    """Whether PATH names one prefect.yaml rather than a repository folder."""
    if os.path.lexists(target):
        return not target.is_dir()  # a FIFO or a symlink loop, too: reading it says why not
    return target.suffix in (".yaml", ".yml")


def _load_config(
    root: Path, config_path: Path | None, diags: Diagnostics
) -> tuple[RootConfig, SourceFile | None, Path | None, Path]:
    """The root config, its file, its path (None when the repository has none), and the
    folder its globs are relative to: the config's own, or the repository's when the config
    could not be read (its defaults then stand for the repository's)."""
    within = root
    if config_path is None:
        config_path = next(
            (root / name for name in CONFIG_NAMES if os.path.lexists(root / name)), None
        )
        if config_path is None:
            return RootConfig(), None, None, root
    else:
        config_path = config_path if config_path.is_absolute() else Path.cwd() / config_path
        if not inside(config_path, root):
            within = real(config_path).parent  # `--config` elsewhere: the user named that file
    config_file = read_yaml_file(config_path, root, diags, what="config", within=within)
    config = None
    if config_file is not None:
        config = validate_model(
            RootConfig,
            config_file.data,
            config_file,
            (),
            diags,
            label=f"config {config_file.rel}",
            resource=None,
            unknown_is_error=True,
        )
    if config is None:
        return RootConfig(), config_file, config_path, root
    return config, config_file, config_path, config_path.parent


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
    single_file = _single_file(target)
    root = target.parent if single_file else target
    config, config_file, config_path, base = _load_config(root, config_path, diags)
    project = Project(root=root, config=config, config_file=config_file)
    declared = config.model_fields_set
    if single_file:
        prefect_files = [_Listed(target, Span(relative(target, root), 1, 1))]
    else:
        prefect_files = _list_files(
            "prefect_files",
            config.prefect_files,
            declared="prefect_files" in declared,
            base=base,
            project=project,
            diags=diags,
        )
    pool_files = _list_files(
        "work_pools",
        config.work_pools,
        declared="work_pools" in declared,
        base=base,
        project=project,
        diags=diags,
    )
    for source in _read_listed(prefect_files, "prefect file", project, diags):
        project.prefect_files.append(_load_prefect_file(source, diags))
    for source in _read_listed(pool_files, "work-pool file", project, diags):
        project.pools.append(_load_pool(source, root, diags))
    project.files_read = (
        (config_path is not None)
        + len(prefect_files)
        + len(pool_files)
        + sum(1 for p in project.pools if p.template_file)
    )
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
                f"deployments[{index}] must be a mapping, not {short_repr(raw)}",
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
            if len(raw_list) > 1 and raw.get("name") is None:
                _skip_unnamed(source, index, "name" in raw, diags)
                continue
        deployments.append(entry)
    return PrefectFile(source, top, deployments)


def _skip_unnamed(source: SourceFile, index: int, has_key: bool, diags: Diagnostics) -> None:
    """`prefect deploy --all` skips a deployment without a name when the file has others
    (`prefect init`'s template entry, left above the real ones), after its schema check
    (which the model check above mirrors); with one deployment it fails instead (S009)."""
    path: tuple[str | int, ...] = ("deployments", index)
    diags.warning(
        "S017",
        f'deployments[{index}] has no `name`: `prefect deploy --all` skips it ("Discovered '
        'unnamed deployment. Skipping...") and so does prefect-gitops',
        source.span((*path, "name") if has_key else path),
        path=format_path(path),
        hint="name it to deploy it, or delete it",
    )


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
        elif not os.path.lexists(ref):
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


def load_for_environment(
    path: Path, config_path: Path | None, environ: Mapping[str, str], environment: str | None
) -> tuple[Project, Diagnostics]:
    """`load_project`, with an unknown `environment` reported as a located error (R005) on
    the repository as written, so that every output format can carry it."""
    from .loader import load_project

    try:
        return load_project(path, config_path=config_path, environ=environ, environment=environment)
    except ReconcilerError as exc:
        if environment is None:
            raise
        project, diags = load_project(path, config_path=config_path, environ=environ)
        config = project.config_file
        span = (
            config.span(("environments",), key=True)
            if config is not None
            else Span(CONFIG_NAMES[0], 1, 1)
        )
        diags.error("R005", exc.message, span, hint=exc.hint, path="environments")
        return project, diags
