"""`prefect-gitops schema`: the JSON Schemas of a repository's files, for editors and CI."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import click

from ..errors import ReconcilerError
from ..repo.schemas import CONFIG_SCHEMA, POOL_SCHEMA, PREFECT_YAML_SCHEMA, schema_texts
from .group import EXIT_OK, cli

# what the user types -> schema file name
NAMES = {
    "work-pool": POOL_SCHEMA,
    "prefect-gitops": CONFIG_SCHEMA,
    "prefect.yaml": PREFECT_YAML_SCHEMA,
}
# schema file name -> which files of a repository use it
USED_BY = {
    POOL_SCHEMA: "work-pool files",
    CONFIG_SCHEMA: "prefect-gitops.yaml",
    PREFECT_YAML_SCHEMA: "prefect.yaml",
}


@cli.command("schema")
@click.argument("name", required=False, type=click.Choice(sorted(NAMES)))
@click.option(
    "--write",
    "write_dir",
    metavar="DIR",
    type=click.Path(file_okay=False, dir_okay=True, path_type=Path),
    default=None,
    help="Write the schemas (or only NAME) into DIR, created if missing, instead of printing.",
)
def schema_command(name: str | None, write_dir: Path | None) -> int:
    """Print the JSON Schema NAME, or write the schemas into DIR with --write.

    A repository that holds its own copy (e.g. `prefect-gitops schema --write schemas`)
    points each file at it with a first line such as
    `# yaml-language-server: $schema=../schemas/work-pool.schema.json` (the path is relative
    to the file), or maps them in its editor settings; `prefect-gitops export` writes such
    lines. Each schema's `$id` is its stable published URL.

    Exit status: 0 done, 1 DIR could not be written, 2 a usage error, 3 an internal crash.
    """
    texts = schema_texts()
    if write_dir is None:
        if name is None:
            raise click.UsageError("name the schema to print, or write them all with --write DIR")
        click.echo(texts[NAMES[name]], nl=False)
        return EXIT_OK
    chosen = [NAMES[name]] if name is not None else list(texts)
    for file_name in chosen:
        path = write_dir / file_name
        _write(path, texts[file_name])
        click.echo(f"wrote {path} (for {USED_BY[file_name]})")
    return EXIT_OK


def _write(path: Path, text: str) -> None:
    # Written whole or not at all: an editor may be reading the previous copy.
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
        raise ReconcilerError(
            f"cannot write the schema {path}: {exc.strerror or exc}",
            hint="choose another --write folder",
        ) from exc
