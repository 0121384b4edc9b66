"""The layers import only downward: golden <- hdl <- sim <- boards <- the wuxing shell.

Two checks that can fail: an AST scan of every import statement of every module (also the
ones inside functions, which run only on some paths), and a subprocess that imports every
module of a layer while the layers above it are made unimportable.
"""
import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# layer -> (source folder, the import names it must never reach)
LAYERS = {
    "golden": ("golden", ("wuxing.hdl", "wuxing.sim", "wuxing.boards", "wuxing.cli",
                          "wuxing.demo", "amaranth", "cocotb", "cocotb_tools")),
    "hdl": ("hdl", ("wuxing.sim", "wuxing.boards", "wuxing.cli", "wuxing.demo", "cocotb",
                    "cocotb_tools")),
    "sim": ("sim", ("wuxing.boards", "wuxing.cli", "wuxing.demo")),
    "boards": ("boards", ("wuxing.cli", "wuxing.demo")),
}


def imported_names(source: str, package: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``source``, a module of ``package``
    (relative imports resolved)."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                if node.level > len(parts):
                    out.append((node.lineno, "<relative import above the top package>"))
                    continue
                base = ".".join(parts[:len(parts) - node.level + 1])
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module
            out.append((node.lineno, mod))
            # `from wuxing import cli` names a module too
            out += [(node.lineno, f"{mod}.{a.name}") for a in node.names]
    return out


def violations(source: str, package: str, forbidden) -> list[str]:
    """One entry per import statement that reaches a forbidden module."""
    bad = {}
    for line, name in imported_names(source, package):
        if name.startswith("<relative") or any(name == f or name.startswith(f + ".")
                                               for f in forbidden):
            bad.setdefault(line, f"line {line}: imports {name}")
    return list(bad.values())


def layer_modules(folder: str):
    return sorted((ROOT / folder).glob("*.py"))


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_no_import_climbs_a_layer(layer):
    folder, forbidden = LAYERS[layer]
    found = {}
    files = layer_modules(folder)
    assert files, f"no modules found in {folder}/"
    for path in files:
        bad = violations(path.read_text(), f"wuxing.{layer}", forbidden)
        if bad:
            found[path.name] = bad
    assert not found, f"{layer} imports a layer above it: {found}"


def test_the_scan_sees_climbing_imports():
    """The scanner itself: every form of a forbidden import is found."""
    forbidden = LAYERS["golden"][1]
    src = textwrap.dedent("""
        import numpy as np
        from .topology import Topology
        def late():
            from wuxing.hdl.network import Network
            import wuxing.boards.driver
            from ..boards import driver
            from wuxing import cli
    """)
    bad = violations(src, "wuxing.golden", forbidden)
    assert len(bad) == 4, bad
    assert violations("from .config import RunConfig\nimport numpy\n", "wuxing.golden",
                      forbidden) == []


BLOCKER = textwrap.dedent("""
    import importlib, importlib.abc, pkgutil, sys
    blocked = {blocked!r}

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if any(name == b or name.startswith(b + ".") for b in blocked):
                raise ImportError(f"layering: {{name}} is above the layer under test")
            return None

    sys.meta_path.insert(0, Block())
    import wuxing.{layer} as pkg
    names = [m.name for m in pkgutil.iter_modules(pkg.__path__)]
    # cocotb test modules import cocotb's simulator bindings: they run only inside a simulator
    skip = {{"tb_core", "tb_synapse", "tb_network", "tb_host"}}
    for n in names:
        if n not in skip:
            importlib.import_module(f"wuxing.{layer}.{{n}}")
    print(len(names))
""")


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_each_layer_imports_without_the_layers_above(layer):
    blocked = [f for f in LAYERS[layer][1] if f.startswith("wuxing.")]
    code = BLOCKER.format(blocked=blocked, layer=layer)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=300, env=dict(os.environ, PYTHONWARNINGS="ignore"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert int(r.stdout.split()[-1]) >= 3
