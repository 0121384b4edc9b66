"""A lock per build folder: processes that build or run the same design (pytest-xdist workers,
sweep jobs, two shells) take turns instead of writing the same files at once.

The lock is a file ``<folder>.lock`` beside the folder (``filelock``: an OS advisory lock, freed
when its process ends, even by a crash). The holder builds, or finds the finished build and
reuses it; a waiting process then sees the finished build.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

from filelock import FileLock

__all__ = ["folder_lock"]


@contextlib.contextmanager
def folder_lock(folder):
    """Hold the lock of ``folder`` (its parent is created; the folder itself is not)."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        yield folder
