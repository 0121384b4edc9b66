"""Readable reports and the files around them: tables for the terminal, JSON files and PNG
plots written atomically (alone or as a set), output paths checked before any work, input
files read only when they are regular files of bounded size."""
from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["table", "atomic_write", "write_json", "plot_curves", "check_output_file",
           "check_output_dir", "write_set", "render_json", "render_plot", "read_regular_file"]


def table(rows, headers) -> str:
    """A plain-text table with right-aligned numbers."""
    cells = [[str(h) for h in headers]] + [[_fmt(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    out = []
    for k, r in enumerate(cells):
        out.append("  ".join(c.rjust(w) if k else c.ljust(w) for c, w in zip(r, widths)))
        if k == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def _fmt(v):
    if isinstance(v, (float, np.floating)):
        return f"{v:.4g}"
    return str(v)


def _default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"cannot write {type(o).__name__} as JSON")


def read_regular_file(path, max_bytes: int, what: str, error=ValueError) -> bytes:
    """The bytes of ``path``, which must be a regular file (a FIFO or a device would block)
    of at most ``max_bytes`` (checked before reading). Otherwise ``error`` (a ValueError
    class) with a message that names ``what`` the file is."""
    name = f"{what} {path}".strip()
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            raise error(f"{name} is a folder, not a file")
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{name} is not a regular file (a pipe or a device?)")
        if st.st_size > max_bytes:
            raise error(f"{name} has {st.st_size} bytes; it may have at most {max_bytes}")
        with open(path, "rb") as f:
            return f.read(max_bytes + 1)[:max_bytes]
    except FileNotFoundError:
        raise error(f"cannot read {name}: it does not exist") from None
    except OSError as e:
        raise error(f"cannot read {name}: {e.strerror}") from None


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _check_parent(path: Path, what: str):
    """ValueError unless the folder of ``path`` exists or can be made: the nearest existing
    ancestor is a writable directory (not a regular file)."""
    anc = _nearest_existing(path.parent if path.parent != Path("") else Path("."))
    if not anc.is_dir():
        raise ValueError(f"{what} {path}: {anc} is a file, not a folder")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {path}: the folder {anc} is not writable")


def check_output_file(path, what: str = "output") -> Path:
    """Check, before any work, that a file can be written at ``path``: not an existing folder
    or special file, its folder makable and writable. Returns the path; ValueError (naming
    ``what``) otherwise."""
    path = Path(path)
    if str(path) in ("", "."):
        raise ValueError(f"{what}: an empty path")
    if path.is_dir():
        raise ValueError(f"{what} {path} is a folder; give a file name")
    if path.exists() and not path.is_file():
        raise ValueError(f"{what} {path} exists and is not a regular file")
    _check_parent(path, what)
    return path


def check_output_dir(path, what: str = "output folder") -> Path:
    """Check, before any work, that ``path`` is or can be made a writable folder."""
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"{what} {path} is a file, not a folder")
        if not os.access(path, os.W_OK | os.X_OK):
            raise ValueError(f"{what} {path} is not writable")
        return path
    _check_parent(path, what)
    return path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_set(files: dict) -> list[Path]:
    """Write several files as one set: every one to a temporary file beside its target
    (fsync), and only when all are written, rename them into place one after another (a
    rename is atomic; the renames of a set follow each other within microseconds). If any
    write fails, no target changes. ``files``: {path: bytes or str}."""
    temps = []
    try:
        for path, data in files.items():
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            raw = data.encode() if isinstance(data, str) else bytes(data)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            temps.append((tmp, path))
            os.chmod(tmp, 0o666 & ~_umask())      # as open() would make it, not mkstemp's 600
            with os.fdopen(fd, "wb") as f:
                f.write(raw)
                f.flush()
                os.fsync(f.fileno())
        for tmp, path in temps:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise
    return [p for _, p in temps]


def atomic_write(path, data) -> Path:
    """Write bytes or text to ``path`` so that readers see the old file or the whole new one
    (temporary file in the same folder, fsync, rename); never a half-written file."""
    return write_set({path: data})[0]


def render_json(data) -> str:
    """``data`` as indented JSON text (NumPy numbers and arrays, paths included)."""
    return json.dumps(data, indent=2, default=_default) + "\n"


def write_json(path, data) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    return atomic_write(path, render_json(data))


def plot_curves(path, curves: dict, *, title: str, xlabel: str = "epoch",
                ylabel: str = "held-out accuracy (%)", chance: float | None = 10.0) -> Path:
    """Line plot of named curves ``{label: (x, y)}`` to a PNG file (written atomically)."""
    return atomic_write(path, render_plot(curves, title=title, xlabel=xlabel, ylabel=ylabel,
                                          chance=chance))


def render_plot(curves: dict, *, title: str, xlabel: str = "epoch",
                ylabel: str = "held-out accuracy (%)", chance: float | None = 10.0) -> bytes:
    """The PNG bytes of :func:`plot_curves`."""
    import io

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    for label, (x, y) in curves.items():
        ax.plot(x, y, marker="o", ms=3, label=label)
    if chance is not None:
        ax.axhline(chance, color="grey", ls=":", lw=1, label="chance")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
