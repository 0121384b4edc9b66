"""Generated designs for the benches, written once per parameter set and reused."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from wuxing.golden.config import RunConfig
from wuxing.golden.locking import folder_lock
from wuxing.golden.network import FixedModel, init_coefficients
from wuxing.golden.topology import Topology, preset

from wuxing.hdl.generate import Design, load_manifest, write_design

__all__ = ["ensure_design", "standard_design", "SMALL_TOPOLOGY", "DESIGN_ROOT"]

ROOT = Path(__file__).resolve().parent.parent
DESIGN_ROOT = ROOT / "build" / "sim-designs"
# the quick whole-network bench: 8 neurons, 15 links
SMALL_TOPOLOGY = dict(layers=[3, 3, 2], seed=2, name="small")


def ensure_design(design: Design, root=DESIGN_ROOT) -> Path:
    """Write the design's Verilog and manifest under ``root`` unless already there (the folder
    name hashes the manifest and the generator's source)."""
    man = design.manifest()
    h = hashlib.sha256(json.dumps(man, sort_keys=True).encode())
    for f in sorted((ROOT / "hdl").rglob("*.py")):  # new generator code, new Verilog
        h.update(f.read_bytes())
    key = h.hexdigest()[:12]
    mult = {"serial": "serial", "engine": f"engine{design.lanes}"}.get(
        design.arch, "pipelined" if design.pipeline else design.mult)
    out = Path(root) / f"{design.what}-{mult}-{design.k_mode}-{key}"
    with folder_lock(out):       # two processes asking for one design: one writes it
        try:
            _, have = load_manifest(out)
            if (all(have.get(k) == v for k, v in man.items())
                    and (out / have["verilog"]).exists()):
                return out
        except (ValueError, KeyError):
            pass
        write_design(design, out)
    return out


def standard_design(what: str, topology: str | Topology = "small", steps: int | None = None,
                    mult: str = "parallel", k_mode: str = "const", c_seed: int = 0,
                    pipeline: bool = False, arch: str = "unrolled", lanes: int = 1,
                    fmt=None) -> Design:
    """A design for the benches: ``topology`` is 'small', a preset name, or a Topology."""
    if isinstance(topology, Topology):
        topo = topology
    elif topology == "small":
        topo = Topology(**SMALL_TOPOLOGY)
    else:
        topo = preset(topology)
    cfg = RunConfig() if steps is None else RunConfig(steps=steps)
    d = Design(what=what, topology=topo, cfg=cfg, mult=mult, k_mode=k_mode, pipeline=pipeline,
               source=f"topology {topo.spec()['name']}", arch=arch, lanes=lanes)
    if fmt is not None:
        d.fmt = fmt
    if what == "network":
        d.c_init = [int(c) for c in FixedModel(topo, cfg, fmt=d.fmt).coef_to_int(
            init_coefficients(topo, cfg, seed=c_seed))]
    return d
