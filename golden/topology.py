"""Network topology: layers of five-interface neurons joined by one-to-one links.

Rules (MODEL.md, the reconstructed parts are parameters):

* Input layer: neuron k takes input k on element ``in_elem``; its other four interfaces are
  outgoing. Output layer: neuron k's output is read from element ``out_elem``; its other four
  interfaces are incoming.
* Fill rule (default link counts): walking back from the output layer, each layer first gives
  the next layer's incoming demand its outgoing interfaces; the rest of its interfaces are
  incoming. ``links(l -> l+1) = min(demand, outgoing * fan_out)``.
* Explicit per-pair link counts (MODEL2) replace the fill rule; interfaces left over are free.
* Fan-in (the paper's adder): an incoming interface sums up to ``fan_in`` links; an outgoing
  interface drives up to ``fan_out`` links (default: ``fan_out = fan_in``).
* Which interfaces of a layer are incoming/outgoing: spread evenly over the neurons (round
  robin in a random neuron order, random element order per neuron), so no neuron is left
  without an input while another has five; which outgoing interface pairs with which incoming
  one is a random permutation. All randomness comes from ``seed``.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np

from .neuron import N_ELEMENTS

__all__ = ["Topology", "PRESETS", "preset", "ROLE_FREE", "ROLE_IN", "ROLE_OUT",
           "ROLE_EXTERNAL", "ROLE_OUTPUT", "MAX_NEURONS", "MAX_LINKS", "MAX_FAN", "MAX_LAYERS"]

# Size limits, checked before anything is built (a topology beyond them would take minutes
# and gigabytes to build, or could not be addressed by the hardware's 20-bit control-port
# index: 5 integrals per neuron, one coefficient per link).
MAX_NEURONS = 200_000
MAX_LINKS = 1 << 20
MAX_FAN = 16            # links an interface may sum (the paper's adder uses 4 to 8)
MAX_LAYERS = 64
MAX_SEED = (1 << 63) - 1
MAX_SPEC_BYTES = 1 << 20   # a topology file larger than this is refused unread

ROLE_FREE, ROLE_IN, ROLE_OUT, ROLE_EXTERNAL, ROLE_OUTPUT = range(5)

MODEL1_LAYERS = (784, 839, 283, 96, 32, 10)
MODEL1_LINKS = (3136, 1055, 360, 120, 40)

PRESETS = {
    "model1": dict(layers=MODEL1_LAYERS),
    "model2": dict(layers=(784, 1048, 353, 119, 40, 10), link_counts=MODEL1_LINKS),
    # the first hardware network: 4x4 pooled digits, 42 neurons
    "tiny": dict(layers=(16, 16, 10)),
    # the demo network: 8x8 digits, the adder (fan-in 8), 98 neurons, 960 links (every slot:
    # 640 into the hidden layer, 320 into the outputs); the 512-link (64, 16, 10) before it
    # stopped at 83 % (docs/TRAINING.md "The demo network")
    "demo": dict(layers=(64, 24, 10), fan_in=8, fan_out=8),
}


@dataclass(eq=False)
class Topology:
    """A layered Wuxing network.

    Parameters
    ----------
    layers: neurons per layer, input layer first (at least two layers).
    link_counts: links per layer pair, or None for the fill rule.
    in_elem, out_elem: element that takes the external input / gives the output.
    fan_in, fan_out: links an incoming / outgoing interface may carry (the adder).
    seed: seed of every random choice.
    """

    layers: tuple
    link_counts: tuple | None = None
    in_elem: int = 0
    out_elem: int = 0
    fan_in: int = 1
    fan_out: int | None = None
    seed: int = 0
    name: str = "custom"
    # built
    src_neuron: np.ndarray = field(init=False, repr=False)
    src_elem: np.ndarray = field(init=False, repr=False)
    dst_neuron: np.ndarray = field(init=False, repr=False)
    dst_elem: np.ndarray = field(init=False, repr=False)
    pair: np.ndarray = field(init=False, repr=False)
    role: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        def is_int(v):
            return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))

        if not isinstance(self.layers, (list, tuple)):
            raise ValueError(f"layers must be a list of layer sizes, got {self.layers!r}")
        layers = tuple(self.layers)
        if not 2 <= len(layers) <= MAX_LAYERS:
            raise ValueError(f"a topology needs at least two layers (input and output) and at "
                             f"most {MAX_LAYERS}, got {len(layers)}")
        for n in layers:
            if not is_int(n) or n < 1:
                raise ValueError(f"layer sizes must be positive integers, got {list(layers)}")
        if sum(int(n) for n in layers) > MAX_NEURONS:
            raise ValueError(f"the topology has {sum(int(n) for n in layers)} neurons; the "
                             f"limit is {MAX_NEURONS}")
        self.layers = tuple(int(n) for n in layers)
        if not isinstance(self.name, str):
            raise ValueError(f"name must be a string, got {self.name!r}")
        for n in ("in_elem", "out_elem"):
            v = getattr(self, n)
            if not is_int(v) or not 0 <= v < N_ELEMENTS:
                raise ValueError(f"{n} must be an element index 0..4, got {v!r}")
        if not is_int(self.seed) or not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"seed must be an integer in 0..2**63-1, got {self.seed!r}")
        if self.fan_out is None:
            self.fan_out = self.fan_in
        for n in ("fan_in", "fan_out"):
            v = getattr(self, n)
            if not is_int(v) or not 1 <= v <= MAX_FAN:
                raise ValueError(f"{n} must be an integer in 1..{MAX_FAN} (the limit of links "
                                 f"an interface sums), got {v!r}")
        if self.link_counts is not None:
            if not isinstance(self.link_counts, (list, tuple)):
                raise ValueError(f"link_counts must be a list (one count per layer pair) or "
                                 f"null, got {self.link_counts!r}")
            lc = tuple(self.link_counts)
            if len(lc) != len(self.layers) - 1:
                raise ValueError(f"link_counts needs {len(self.layers) - 1} values (one per "
                                 f"layer pair), got {len(lc)}")
            if any(not is_int(c) or c < 0 for c in lc):
                raise ValueError(f"link counts must be non-negative integers, got {list(lc)}")
            self.link_counts = tuple(int(c) for c in lc)
        self._build()

    # ---------------------------------------------------------------------------------
    @property
    def n_neurons(self) -> int:
        return sum(self.layers)

    @property
    def offsets(self) -> np.ndarray:
        """Global index of each layer's first neuron (and the total at the end)."""
        return np.concatenate(([0], np.cumsum(self.layers))).astype(np.int64)

    @property
    def n_links(self) -> int:
        return int(self.src_neuron.size)

    @property
    def input_neurons(self) -> np.ndarray:
        return np.arange(self.layers[0], dtype=np.int64)

    @property
    def output_neurons(self) -> np.ndarray:
        return np.arange(self.offsets[-2], self.offsets[-1], dtype=np.int64)

    @property
    def neuron_layer(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.layers)), self.layers)

    def _slots_available(self, l):
        n = self.layers[l]
        reserved = (l == 0) + (l == len(self.layers) - 1)
        return N_ELEMENTS * n - reserved * n

    def _plan(self):
        """Outgoing and incoming interface counts per layer, and links per pair."""
        L = len(self.layers)
        fi, fo = self.fan_in, self.fan_out
        n_out = [0] * L
        n_in = [0] * L
        links = [0] * (L - 1)
        if self.link_counts is None:
            n_in[L - 1] = self._slots_available(L - 1)
            if L - 1 == 0:
                n_in[0] = 0
            demand = n_in[L - 1] * fi
            for l in range(L - 2, -1, -1):
                avail = self._slots_available(l)
                n_out[l] = min(-(-demand // fo), avail)
                links[l] = min(demand, n_out[l] * fo)
                n_in[l] = 0 if l == 0 else avail - n_out[l]
                demand = n_in[l] * fi
        else:
            links = list(self.link_counts)
            for l in range(L - 1):
                n_out[l] = -(-links[l] // fo)
                n_in[l + 1] = -(-links[l] // fi)
            for l in range(L):
                if n_in[l] + n_out[l] > self._slots_available(l):
                    raise ValueError(
                        f"layer {l} ({self.layers[l]} neurons) cannot carry {n_in[l]} incoming "
                        f"and {n_out[l]} outgoing interfaces: only "
                        f"{self._slots_available(l)} are free")
        return n_out, n_in, links

    def _build(self):
        n_out, n_in, links = self._plan()
        if sum(links) > MAX_LINKS:
            raise ValueError(f"the topology would have {sum(links)} links; the limit is "
                             f"{MAX_LINKS}")
        if sum(links) == 0:
            raise ValueError(f"the topology has no links (layers {list(self.layers)}, link "
                             f"counts {list(links)})")
        rng = np.random.default_rng(self.seed)
        self.link_counts_built = tuple(int(x) for x in links)
        off = self.offsets
        role = np.full((self.n_neurons, N_ELEMENTS), ROLE_FREE, dtype=np.int8)
        role[off[0]:off[1], self.in_elem] = ROLE_EXTERNAL
        role[off[-2]:off[-1], self.out_elem] = ROLE_OUTPUT
        out_slots, in_slots = [], []
        for l, n in enumerate(self.layers):
            order = rng.permutation(n)
            elem_order = np.array([rng.permutation(N_ELEMENTS) for _ in range(n)])
            # round robin: round r gives each neuron (in `order`) its r-th free element
            candidates = []
            for r in range(N_ELEMENTS):
                for k in order:
                    g = off[l] + k
                    e = elem_order[k, r]
                    if role[g, e] == ROLE_FREE:
                        candidates.append((g, e))
            outs = candidates[:n_out[l]]
            ins = candidates[n_out[l]:n_out[l] + n_in[l]]
            for g, e in outs:
                role[g, e] = ROLE_OUT
            for g, e in ins:
                role[g, e] = ROLE_IN
            out_slots.append(np.array(outs, dtype=np.int64).reshape(-1, 2))
            in_slots.append(np.array(ins, dtype=np.int64).reshape(-1, 2))
        src, dst, pair = [], [], []
        for l, count in enumerate(links):
            if count == 0:
                continue
            so = out_slots[l][rng.permutation(len(out_slots[l]))]
            di = in_slots[l + 1][rng.permutation(len(in_slots[l + 1]))]
            s = np.tile(so, (self.fan_out, 1))[:count]
            d = np.tile(di, (self.fan_in, 1))[:count]
            s = s[rng.permutation(count)]
            if self.fan_in > 1 or self.fan_out > 1:
                d = self._without_repeats(s, d, rng)
            src.append(s)
            dst.append(d)
            pair.append(np.full(count, l, dtype=np.int64))
        src = np.concatenate(src) if src else np.zeros((0, 2), np.int64)
        dst = np.concatenate(dst) if dst else np.zeros((0, 2), np.int64)
        self.src_neuron, self.src_elem = src[:, 0].copy(), src[:, 1].copy()
        self.dst_neuron, self.dst_elem = dst[:, 0].copy(), dst[:, 1].copy()
        self.pair = np.concatenate(pair) if pair else np.zeros(0, np.int64)
        # interfaces that no link uses are free
        used = np.zeros_like(role, dtype=bool)
        used[self.src_neuron, self.src_elem] = True
        used[self.dst_neuron, self.dst_elem] = True
        linkable = (role == ROLE_IN) | (role == ROLE_OUT)
        role[linkable & ~used] = ROLE_FREE
        self.role = role

    def _without_repeats(self, s, d, rng, tries: int = 1000):
        """Swap targets until no two links join the same pair of interfaces."""
        d = d.copy()
        width = N_ELEMENTS * self.n_neurons
        for _ in range(tries):
            key = (s[:, 0] * 5 + s[:, 1]) * width + d[:, 0] * 5 + d[:, 1]
            _, first = np.unique(key, return_index=True)
            repeated = np.setdiff1d(np.arange(len(key)), first)
            if repeated.size == 0:
                return d
            for i in repeated:
                j = rng.integers(len(d))
                d[[i, j]] = d[[j, i]]
        raise ValueError("cannot pair the interfaces without joining two of them twice: "
                         "the layers are too small for this fan-in")

    # ---------------------------------------------------------------------------------
    def link_ratio(self) -> dict:
        """Links and link ratio per layer pair and overall (the paper's 'average LR')."""
        rows = []
        total, possible = 0, 0
        for l in range(len(self.layers) - 1):
            c = int(np.sum(self.pair == l))
            p = self.layers[l] * self.layers[l + 1]
            rows.append(dict(pair=f"{l}->{l + 1}", sizes=(self.layers[l], self.layers[l + 1]),
                             links=c, possible=p, link_ratio=c / p))
            total += c
            possible += p
        return dict(pairs=rows, links=total, possible=possible, link_ratio=total / possible)

    def spec(self) -> dict:
        """The parameters that rebuild this topology."""
        return dict(name=self.name, layers=list(self.layers),
                    link_counts=None if self.link_counts is None else list(self.link_counts),
                    in_elem=int(self.in_elem), out_elem=int(self.out_elem),
                    fan_in=int(self.fan_in), fan_out=int(self.fan_out), seed=int(self.seed))

    def arrays(self) -> dict:
        return dict(src_neuron=self.src_neuron, src_elem=self.src_elem,
                    dst_neuron=self.dst_neuron, dst_elem=self.dst_elem, pair=self.pair,
                    role=self.role)

    def unlinked_pairs(self) -> list[int]:
        """Layer pairs without a link: where one is, the output cannot depend on the input."""
        return [l for l, c in enumerate(self.link_counts_built) if c == 0]

    def hardware_digest(self) -> str:
        """SHA-256 over what the hardware is built from: the layers, the input and output
        elements and the link arrays (not the name, the seed or the fan-in that made them)."""
        h = hashlib.sha256(json.dumps(dict(layers=list(self.layers), in_elem=int(self.in_elem),
                                           out_elem=int(self.out_elem))).encode())
        for name in ("src_neuron", "src_elem", "dst_neuron", "dst_elem"):
            h.update(np.ascontiguousarray(getattr(self, name), dtype=np.int64).tobytes())
        return h.hexdigest()

    def digest(self) -> str:
        """SHA-256 over the spec and the link arrays: identifies a topology exactly."""
        h = hashlib.sha256(json.dumps(self.spec(), sort_keys=True).encode())
        for v in self.arrays().values():
            h.update(np.ascontiguousarray(v, dtype=np.int64).tobytes())
        return h.hexdigest()

    @classmethod
    def from_spec(cls, spec: dict) -> "Topology":
        if not isinstance(spec, dict) or "layers" not in spec:
            raise ValueError("a topology spec is a JSON object with at least 'layers'")
        known = {"name", "layers", "link_counts", "in_elem", "out_elem", "fan_in", "fan_out",
                 "seed"}
        unknown = set(spec) - known
        if unknown:
            raise ValueError(f"unknown topology field(s): {', '.join(sorted(unknown))}")
        return cls(**spec)

    @classmethod
    def load(cls, path) -> "Topology":
        from .report import read_regular_file
        raw = read_regular_file(path, MAX_SPEC_BYTES, "topology file")
        try:
            spec = json.loads(raw.decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
            raise ValueError(f"topology file {path} is not valid JSON: {e}") from None
        try:
            return cls.from_spec(spec)
        except ValueError as e:
            raise ValueError(f"topology file {path}: {e}") from None


def preset(name: str, **overrides) -> Topology:
    """A named topology (``model1``, ``model2``, ``tiny``) with optional overrides."""
    if name not in PRESETS:
        raise ValueError(f"unknown topology preset {name!r}; choose from {', '.join(PRESETS)}")
    spec = dict(PRESETS[name], name=name)
    spec.update({k: v for k, v in overrides.items() if v is not None})
    return Topology(**spec)
