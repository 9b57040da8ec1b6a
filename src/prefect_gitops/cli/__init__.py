"""The command line: option parsing, the one error boundary, exit codes.

Exit codes: 0 success, 1 a problem in the input or on the server (the message says what),
2 a usage error, 3 an internal crash (always a bug). Set PREFECT_GITOPS_TRACEBACK=1 to
see the traceback of a crash.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence

import click

from .. import __version__
from ..errors import ReconcilerError

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_USAGE = 2
EXIT_CRASH = 3


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="prefect-gitops")
def cli() -> None:
    """Declarative GitOps for Prefect 3: validate, plan and apply prefect.yaml and work pools."""


def _register() -> None:
    # Each command lives in its own module; importing it adds it to `cli`.
    # -- command modules (one import per line) --
    from . import validate  # noqa: F401


def main(argv: Sequence[str] | None = None) -> int:
    _register()
    try:
        result = cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE
    except ReconcilerError as exc:
        click.echo(f"Error: {exc.message}", err=True)
        if exc.hint:
            click.echo(f"  hint: {exc.hint}", err=True)
        return EXIT_PROBLEM
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return 130
    except Exception as exc:  # the one boundary: anything else is our bug
        if os.environ.get("PREFECT_GITOPS_TRACEBACK"):
            traceback.print_exc()
        click.echo(
            f"prefect-gitops crashed: {type(exc).__name__}: {exc}\n"
            "This is a bug in prefect-gitops, not in your files. Re-run with "
            "PREFECT_GITOPS_TRACEBACK=1 to see the traceback, and please report it.",
            err=True,
        )
        return EXIT_CRASH
    if isinstance(result, int):
        return result
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
