"""What a validation run is asked to assume: strictness, declared pool types, the environment,
and whether the build/push steps will run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ValidateOptions:
    strict: bool = False
    pool_types: Mapping[str, str] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=dict)
    # Whether what follows runs the build/push steps: `prefect deploy` does, plan and apply
    # only with --run-steps (else a step they cannot import does not stop them).
    runs_steps: bool = True
