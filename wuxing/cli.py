"""The ``wuxing`` command: the top of the stack.

Each package adds its own subcommands: ``wuxing/<package>/commands.py`` defines
``add_commands(subparsers)``, where every subcommand sets ``func=callable(args) -> int``; the
demo (and other flows that span packages) live here, above all of them. Errors a user can cause
are raised as :class:`~wuxing.golden.errors.UserError` (or the ValueError/OSError subclasses of
``_USER_ERRORS``) and printed as one line, never as a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from wuxing.golden.errors import UserError

__all__ = ["main", "build_parser", "UserError"]

# what the user's input or environment causes: a file or folder that is missing, not
# writable, of the wrong kind, or a full disk (OSError), a value out of range (ValueError)
_USER_ERRORS = (UserError, ValueError, OSError)
_PACKAGES = ("golden", "hdl", "sim", "boards")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="wuxing",
        description="Wuxing neural network toolkit: golden model, training, hardware "
                    "generation, co-simulation and FPGA boards.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for pkg in _PACKAGES:
        importlib.import_module(f"wuxing.{pkg}.commands").add_commands(sub)
    from .demo import add_demo_command
    from .sweep import add_sweep_command
    add_demo_command(sub)
    add_sweep_command(sub)
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
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return 2
    except MemoryError:
        print("error: out of memory (a network or dataset too large for this machine)",
              file=sys.stderr)
        return 2


def _one_line(e: BaseException) -> str:
    """The message of ``e`` on one line (an OSError with its file name)."""
    if isinstance(e, OSError) and e.strerror and not isinstance(e, UserError):
        text = f"{e.strerror}: {e.filename}" if e.filename else e.strerror
    else:
        text = str(e) or type(e).__name__
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())
