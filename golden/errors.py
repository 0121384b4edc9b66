"""The error a user's input causes: the ``wuxing`` command prints it as one line.

Defined at the bottom layer so that every package can raise it without importing the command
line shell above it (``wuxing.cli``).
"""
from __future__ import annotations

__all__ = ["UserError"]


class UserError(Exception):
    """An error caused by the user's input: printed as ``error: <message>``, exit code 2."""
