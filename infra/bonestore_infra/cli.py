"""The `bonestore` operator command.

Each command group lives in its own module with a ``register(subparsers)``
function, so this file stays a table of contents. argparse keeps start-up cheap.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Modules that add sub-commands: each exposes register(subparsers).
COMMAND_MODULES = (
    "bonestore_infra.serve_cli",
    "bonestore_infra.rules_cli",
    "bonestore_infra.support_cli",
    "bonestore_infra.token_cli",
    "bonestore_infra.openapi_cli",
    "bonestore_infra.check_cli",
    "bonestore_infra.catalog_cli",
    "bonestore_infra.smoke_cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bonestore", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # a command group not written yet
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
