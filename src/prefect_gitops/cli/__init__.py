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

from ..errors import ReconcilerError
from ..render.escaping import visible
from .group import EXIT_CRASH, EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, cli

__all__ = ["EXIT_CRASH", "EXIT_OK", "EXIT_PROBLEM", "EXIT_USAGE", "cli", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(argv) if argv is not None else sys.argv[1:]
    try:
        result = cli.main(args=args, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE
    except ReconcilerError as exc:
        click.echo(f"Error: {visible(exc.message)}", err=True)
        if exc.hint:
            click.echo(f"  hint: {visible(exc.hint)}", err=True)
        if _json_requested(args):  # stdout stays one JSON document, even on an error
            from ..render.diagnostics import render_error_json

            click.echo(render_error_json(exc.message, exc.hint))
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


def _json_requested(args: Sequence[str]) -> bool:
    for index, arg in enumerate(args):
        if arg == "--":
            return False
        if arg == "--format=json" or (
            arg == "--format" and args[index + 1 : index + 2] == ["json"]
        ):
            return True
    return False


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
