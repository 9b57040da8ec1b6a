"""prefect-gitops: declarative GitOps for Prefect 3.

The Python API (`pipeline.public`): `validate`, `plan` and `apply` a repository from a script,
with typed results and nothing printed. They are imported on first use, so that importing the
package (or running `validate`) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .version import __version__

if TYPE_CHECKING:
    from .pipeline.public import InvalidRepository, apply, plan, validate

__all__ = ["InvalidRepository", "__version__", "apply", "plan", "validate"]


def __getattr__(name: str) -> Any:
    if name in ("InvalidRepository", "apply", "plan", "validate"):
        from .pipeline import public

        return getattr(public, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
