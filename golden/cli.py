"""The ``wuxing`` command.

Each package adds its own subcommands: ``<package>/cli.py`` defines
``add_commands(subparsers)``, where every subcommand sets ``func=callable(args) -> int``.
Errors a user can cause are raised as :class:`UserError` (or ValueError/OSError subclasses
listed in ``_USER_ERRORS``) and printed as one line, never as a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["main", "UserError"]


class UserError(Exception):
    """An error caused by the user's input: printed as ``error: <message>``, exit code 2."""


_USER_ERRORS = (UserError, ValueError, FileNotFoundError, PermissionError, IsADirectoryError)
_PACKAGES = ("golden", "hdl", "sim", "boards")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="wuxing",
        description="Wuxing neural network toolkit: golden model, training, hardware "
                    "generation, co-simulation and FPGA boards.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for pkg in _PACKAGES:
        try:
            mod = importlib.import_module(f"{pkg}.commands")
        except ModuleNotFoundError as e:
            if e.name == f"{pkg}.commands":
                continue
            raise
        mod.add_commands(sub)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except _USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    # run as `python -m golden.cli`: use the importable module, so that UserError raised by
    # other packages (imported from golden.cli) is the class caught here
    from golden.cli import main as _main
    sys.exit(_main())
