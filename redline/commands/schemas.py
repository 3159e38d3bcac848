"""``redline schemas export``: write (or check) the JSON Schema file of every topic record."""

from __future__ import annotations

import argparse
from pathlib import Path

from redline.errors import ConfigError


def _export(args: argparse.Namespace) -> int:
    from redline.schemas.export import SCHEMA_DIR, export_schemas

    directory = Path(args.out) if args.out else SCHEMA_DIR
    changed = export_schemas(directory, check=args.check)
    if args.check:
        if changed:
            names = ", ".join(p.name for p in changed)
            raise ConfigError(
                f"schema files out of date in {directory}: {names} (run `redline schemas export`)"
            )
        print(f"schema files in {directory} are up to date")
        return 0
    print(f"wrote {len(changed)} changed schema file(s) to {directory}")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``schemas`` command group."""
    group = subparsers.add_parser("schemas", help="JSON Schema files of the topic records")
    sub = group.add_subparsers(dest="schemas_command", metavar="SUBCOMMAND", required=True)
    export = sub.add_parser("export", help="write redline/schemas/json/*.schema.json from the record types")
    export.add_argument("--out", help="directory to write to (default: the package's schemas/json)")
    export.add_argument("--check", action="store_true", help="only check that the files are up to date")
    export.set_defaults(func=_export)
