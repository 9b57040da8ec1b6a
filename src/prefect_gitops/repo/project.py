"""The loaded project: its files, each deployment and pool entry with the positions of its
values, and the root config. What every later stage reads; built by `loader`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .diagnostics import Diagnostic, Severity
from .models import DeploymentConfig, PoolFile, PrefectYaml, RootConfig
from .source import JsonPath, SourceMap, Span, format_path

CONFIG_NAMES = ("prefect-gitops.yaml", "prefect-gitops.yml")


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

    def diagnostic(
        self,
        severity: Severity,
        code: str,
        message: str,
        sub: tuple[Any, ...] = (),
        *,
        key: bool = False,
        hint: str | None = None,
    ) -> Diagnostic:
        """A diagnostic about this deployment, located at `sub` inside it (its key with `key`)."""
        return Diagnostic(
            severity,
            code,
            message,
            self.span(*sub, key=key),
            path=self.json_path(*sub),
            resource=self.resource,
            hint=hint,
        )


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
