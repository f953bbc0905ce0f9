"""``python -m sim {rtl,cycles,sweep}``: simulation, cycle model and design-space sweep."""

from __future__ import annotations

import argparse
import importlib

from common.cli import command_parser, run_cli

# Each subcommand lives in its own module exposing ``register(subparsers)``, which adds
# its parser and sets ``func(args) -> int`` as the default.
SUBCOMMANDS = ("sim.rtl", "sim.cycles_cli", "sim.sweep")


def build_parser() -> argparse.ArgumentParser:
    parser, sub = command_parser("python -m sim", __doc__)
    for name in SUBCOMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(run_cli(main, prog="sim"))
