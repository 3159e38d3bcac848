"""The ``redline`` command.

Each group of sub-commands lives in a module of :mod:`redline.commands` exposing
``register(subparsers)``; every sub-command sets ``func(args) -> int``. A :class:`RedlineError`
becomes one clear line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from redline import __version__
from redline.errors import RedlineError

#: modules under ``redline.commands`` that contribute sub-commands, in help order
COMMAND_MODULES = (
    "kafka", "engine", "judge", "worker", "stream", "control", "status", "schemas", "datasets", "embedder",
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="redline",
        description="Recursive Expert Delegation text classification on Apache Kafka.",
    )
    parser.add_argument("--version", action="version", version=f"redline {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"redline.commands.{name}")
        except ModuleNotFoundError as exc:  # a command group not built yet in this checkout
            if exc.name == f"redline.commands.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(func(args) or 0)
    except RedlineError as exc:
        print(f"redline: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("redline: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
