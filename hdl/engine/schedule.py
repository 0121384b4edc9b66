"""The engine's scheduler: a Topology and P lanes compiled into banks, slots and clock counts.

Pure Python (NumPy, no Amaranth): everything the gateware does in a step is decided here and
can be checked without it.

* **Banks.** Every neuron goes to one of P banks (all five rows of a neuron in one bank). The
  assignment balances neurons (``ceil(N / P)`` at most per bank), then the links that enter
  and leave each bank, greedily, heaviest neurons first. Inside a bank the neurons keep their
  global order (input neurons first, output neurons last); neuron ``n`` is the bank's local
  neuron ``j``; its element ``e`` is the bank's local row ``e * nb + j`` (``nb``: the most
  neurons any bank holds, the same stride in every bank).
* **Slots.** The link phase of a step is ``T`` clocks ("slots"). In a slot every bank serves at
  most one read and every lane takes at most one link: the links are the edges of a bipartite
  multigraph bank(src) -> bank(dst), and a slot is a matching. A proper edge colouring with
  the maximum degree of colours exists (Koenig) and is found by alternating paths; the same
  colouring serves the forward run (lane of bank(dst) reads D of the src row from bank(src)),
  the reverse run (lane of bank(src) reads D and C of the dst row from bank(dst)) and BSP
  (lane of bank(dst) reads S of the src row from bank(src)).
* **Hazards.** Several links into one row (fan-in, forward) or out of one row (fan-out,
  reverse) accumulate into one word of the lane's U memory: a read-modify-write that takes
  ``rmw_gap`` clocks (RMW_GAP: read, data registered, add and write). The colours are put in
  an order where no two colours that share a row are closer than ``rmw_gap`` slots; where no
  colour fits at the end, a remaining one is put between two placed ones where it fits, and
  where none fits anywhere, an idle slot is inserted (and counted in ``T``).
* **Clocks.** :meth:`Schedule.cycles` gives the clocks of a run, a BSP update and a training
  sample from ``T``, ``nb`` and the gateware's pipeline depths (:class:`EngineTiming`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wuxing.golden.neuron import N_ELEMENTS
from wuxing.golden.topology import Topology

__all__ = ["Schedule", "EngineTiming", "output_pass_clocks", "RMW_GAP", "compile_schedule", "assign_banks",
           "colour_links"]

RMW_GAP = 3   # the lane's U read-modify-write (read, data registered, add and write; timing.LINK):
#               a row's next link at least 3 slots later


@dataclass(frozen=True)
class EngineTiming:
    """Pipeline depths of the gateware, in clocks (hdl/engine/lane.py implements them; the
    amaranth.sim tests check that a command takes exactly :meth:`Schedule.cycles`).

    start: from the ``start`` strobe to the first issued operation;
    load_drain, link_drain, neuron_drain: clocks after a phase's last issue before the next
    phase may begin (its writes have landed);
    bsp_slot: clocks of one BSP slot (the lane's passes of |S| x |R| on its multiplier, the
    atan table and the update of C); bsp_drain: after the last slot;
    finish: from the end of the last phase to ``done``;
    seed: the reverse run's wait for the dither seed (golden ``reverse_dither``; 0 without);
    read_latency: the control port's, which the output pass of the learning commands uses.
    """

    start: int
    load_drain: int
    link_drain: int
    neuron_drain: int
    bsp_slot: int
    bsp_drain: int
    finish: int
    seed: int = 0
    read_latency: int = 8


def output_pass_clocks(n_outputs: int, read_latency: int) -> int:
    """Clocks of the learning commands' output pass (train.OutputPass), from its start clock
    to ``done``: n_outputs reads and n_outputs writes taking turns (the first write after the
    first read's latency, one clock for the integral's register and two for the error), one
    clock for the last write to land."""
    return 2 * n_outputs + read_latency + 3


def _bits(n: int) -> int:
    """Bits of an unsigned field that holds 0..n (at least 1)."""
    return max(1, int(n).bit_length())


def assign_banks(n_neurons: int, src_neuron, dst_neuron, lanes: int) -> np.ndarray:
    """Bank of every neuron: at most ``ceil(N / P)`` neurons a bank, in- and out-links of
    the banks balanced (greedy: heaviest neuron first, into the bank whose larger load grows
    least)."""
    N, P = n_neurons, lanes
    ins = np.bincount(dst_neuron, minlength=N).astype(np.int64)
    outs = np.bincount(src_neuron, minlength=N).astype(np.int64)
    cap = -(-N // P)
    order = np.lexsort((np.arange(N), -(ins + outs)))
    in_load = np.zeros(P, np.int64)
    out_load = np.zeros(P, np.int64)
    count = np.zeros(P, np.int64)
    bank = np.empty(N, np.int64)
    full = np.iinfo(np.int64).max
    for n in order:
        peak = np.maximum(in_load + ins[n], out_load + outs[n])
        # the larger load first, then the total, then the fewest neurons
        key = (peak * (1 << 20) + (in_load + out_load)) * 4096 + count
        key = np.where(count < cap, key, full)
        b = int(np.argmin(key))
        bank[n] = b
        in_load[b] += ins[n]
        out_load[b] += outs[n]
        count[b] += 1
    return bank


def colour_links(src_bank, dst_bank, lanes: int) -> tuple[np.ndarray, int]:
    """A proper edge colouring of the bipartite multigraph bank(src) -> bank(dst) with the
    maximum degree of colours (Koenig's theorem, by alternating paths). Returns the colour
    of every link and the number of colours."""
    P = lanes
    src_bank = np.asarray(src_bank, np.int64)
    dst_bank = np.asarray(dst_bank, np.int64)
    L = src_bank.size
    delta = int(max(np.bincount(src_bank, minlength=P).max(),
                    np.bincount(dst_bank, minlength=P).max())) if L else 0
    at_src = np.full((P, max(delta, 1)), -1, np.int64)   # at_src[a, c]: link of colour c
    at_dst = np.full((P, max(delta, 1)), -1, np.int64)
    colour = np.full(L, -1, np.int64)
    for e in range(L):
        a, b = int(src_bank[e]), int(dst_bank[e])
        alpha = int(np.flatnonzero(at_src[a] < 0)[0])      # free at a
        if at_dst[b, alpha] >= 0:
            beta = int(np.flatnonzero(at_dst[b] < 0)[0])   # free at b
            # the alpha/beta path from b: b -alpha- a1 -beta- b2 -alpha- ...; it cannot reach
            # a (bipartite parity), and swapping its colours frees alpha at b
            path, v, on_dst, col = [], b, True, alpha
            while True:
                f = at_dst[v, col] if on_dst else at_src[v, col]
                if f < 0:
                    break
                path.append(int(f))
                v = int(src_bank[f]) if on_dst else int(dst_bank[f])
                on_dst = not on_dst
                col = beta if col == alpha else alpha
            for f in path:
                at_src[src_bank[f], colour[f]] = -1
                at_dst[dst_bank[f], colour[f]] = -1
            for f in path:
                colour[f] = beta if colour[f] == alpha else alpha
                at_src[src_bank[f], colour[f]] = f
                at_dst[dst_bank[f], colour[f]] = f
        colour[e] = alpha
        at_src[a, alpha] = e
        at_dst[b, alpha] = e
    return colour, delta


def _order_colours(colour, n_colours: int, recv_fwd, recv_rev, gap: int) -> list:
    """Colours in slot order, ``None`` for an idle slot: two colours whose links accumulate
    into one row (the same target row forward, the same source row in reverse) are at least
    ``gap`` slots apart. Greedy: the colours with the most conflicts first, each slot the first
    one the previous ``gap - 1`` slots allow; when none does, a remaining colour inserted
    between two placed ones where it fits (:func:`_insertion`), else an idle slot."""
    adj = [set() for _ in range(n_colours)]
    for rows in (recv_fwd, recv_rev):
        order = np.argsort(rows, kind="stable")
        r_sorted = rows[order]
        starts = np.flatnonzero(np.r_[True, r_sorted[1:] != r_sorted[:-1]])
        ends = np.r_[starts[1:], r_sorted.size]
        for s, t in zip(starts, ends):
            if t - s > 1:
                cols = [int(c) for c in colour[order[s:t]]]
                for c1 in cols:
                    adj[c1].update(c2 for c2 in cols if c2 != c1)
    if not any(adj) or gap <= 1:
        return list(range(n_colours))
    # candidates in a fixed order, most conflicts first; each slot takes the first candidate
    # that the last gap - 1 slots do not block (a few are blocked at most, so the scan is short)
    cand = sorted(range(n_colours), key=lambda c: (-len(adj[c]), c))
    used = [False] * n_colours
    head, left = 0, n_colours
    slots: list = []
    while left:
        while used[cand[head]]:
            head += 1
        recent = [c for c in slots[-(gap - 1):] if c is not None]
        pick = None
        for i in range(head, n_colours):
            c = cand[i]
            if not used[c] and not any(c in adj[r] for r in recent):
                pick = c
                break
        if pick is None:
            # no colour fits at the end: put one of the remaining colours between two placed
            # ones where none of its neighbours is within gap - 1 slots (an insertion only
            # moves the placed colours apart), else an idle slot
            pick, at = _insertion(slots, cand[head:], used, adj, gap)
            if pick is None:
                slots.append(None)
                continue
            slots.insert(at, pick)
            used[pick] = True
            left -= 1
            continue
        slots.append(pick)
        used[pick] = True
        left -= 1
    return slots


def _insertion(slots: list, candidates, used, adj, gap: int):
    """(colour, position): the first unused colour of ``candidates`` and the first position
    in ``slots`` where it may be inserted (no neighbour within gap - 1 slots on either side),
    or (None, None)."""
    for c in candidates:
        if used[c]:
            continue
        for at in range(len(slots) + 1):
            near = slots[max(0, at - gap + 1):at + gap - 1]
            if not any(r is not None and r in adj[c] for r in near):
                return c, at
    return None, None


@dataclass
class Schedule:
    """The compiled schedule of one topology on ``lanes`` lanes (see the module docstring).

    Per neuron: ``bank``, ``local`` (j). Per bank: ``counts`` (neurons), ``n_inputs_local``
    (its first local neurons that are input neurons), ``out_start_local`` (its first local
    neuron that is an output neuron). Per link: ``slot``, ``lane`` (= bank of its target).
    Per bank and slot (arrays of shape (P, T)): the bank as the source side of a link
    (``src_valid``, ``src_row``: local row, ``src_peer``: the target's bank, ``src_first``:
    the first link out of that row, i.e. the reverse run's first accumulation) and as the
    target side (``dst_valid``, ``dst_row``, ``dst_peer``: the source's bank, ``dst_first``,
    ``dst_link``: the link index, whose C this bank holds at this slot, else -1).
    """

    topology: Topology
    lanes: int
    rmw_gap: int
    bank: np.ndarray
    local: np.ndarray
    counts: np.ndarray
    nb: int
    slots: int
    idle_slots: int
    degree: int
    slot: np.ndarray
    src_valid: np.ndarray
    src_row: np.ndarray
    src_peer: np.ndarray
    src_first: np.ndarray
    dst_valid: np.ndarray
    dst_row: np.ndarray
    dst_peer: np.ndarray
    dst_first: np.ndarray
    dst_link: np.ndarray
    n_inputs_local: np.ndarray
    out_start_local: np.ndarray

    @property
    def lane(self) -> np.ndarray:
        """The lane (= bank) that holds each link's C: the bank of its target neuron."""
        t = self.topology
        return self.bank[t.dst_neuron]

    @property
    def rows_per_bank(self) -> int:
        return N_ELEMENTS * self.nb

    def local_row(self, neuron, elem):
        """Local row of (neuron, element) in its bank: ``elem * nb + local[neuron]``."""
        return np.asarray(elem) * self.nb + self.local[np.asarray(neuron)]

    def link_lower_bound(self) -> int:
        """No schedule has fewer slots than ceil(L / P)."""
        return -(-self.topology.n_links // self.lanes)

    # clocks -----------------------------------------------------------------------------
    def step_cycles(self, timing: EngineTiming) -> int:
        """One Euler step: the link phase (T slots), then the neuron phase (5 nb rows)."""
        return (self.slots + timing.link_drain + N_ELEMENTS * self.nb
                + timing.neuron_drain)

    def run_cycles(self, timing: EngineTiming, steps: int, reverse: bool = False) -> int:
        """A forward (or reverse) run, from the start strobe to ``done`` (inclusive)."""
        return (timing.start + (timing.seed if reverse else 0) + N_ELEMENTS * self.nb
                + timing.load_drain + steps * self.step_cycles(timing) + timing.finish)

    def bsp_cycles(self, timing: EngineTiming) -> int:
        """A BSP update of every link (batch of one), from the start strobe to ``done``."""
        return timing.start + self.slots * timing.bsp_slot + timing.bsp_drain + timing.finish

    def output_pass_cycles(self, timing: EngineTiming) -> int:
        """The output pass of TRAIN_SAMPLE / EVAL_SAMPLE (train.OutputPass): n_outputs reads,
        the read latency, the error, n_outputs writes, done."""
        return output_pass_clocks(int(self.topology.layers[-1]), timing.read_latency)

    def cycles(self, timing: EngineTiming, steps: int) -> dict:
        """Clocks per step, forward run (``run``), reverse run, BSP, training sample with the
        host's error (``sample``: forward + reverse + BSP, three commands), and the learning
        commands: ``eval_sample`` = run + output pass; ``train_sample`` = run + output pass
        + reverse run + BSP - 2 (the reverse run and the BSP update each begin in the
        clock where the part before them ends, not a command strobe later)."""
        run, bsp = self.run_cycles(timing, steps), self.bsp_cycles(timing)
        rev = self.run_cycles(timing, steps, reverse=True)
        opass = self.output_pass_cycles(timing)
        return dict(step=self.step_cycles(timing), run=run, reverse_run=rev, bsp=bsp,
                    sample=run + rev + bsp, output_pass=opass,
                    train_sample=run + opass + rev + bsp - 2, eval_sample=run + opass,
                    link_slots=self.slots, idle_slots=self.idle_slots,
                    neuron_rows=N_ELEMENTS * self.nb)


def compile_schedule(topology: Topology, lanes: int, *, rmw_gap: int = RMW_GAP) -> Schedule:
    """Compile ``topology`` onto ``lanes`` lanes (see the module docstring).

    Raises TypeError for a non-Topology or a non-int ``lanes``, ValueError when ``lanes`` is
    below 1 or larger than the topology can use (every lane needs a neuron), or when a row that
    takes an external input also receives links (the LOAD phase puts the input into U).
    """
    if not isinstance(topology, Topology):
        raise TypeError(f"topology must be a Topology, not {type(topology).__name__}")
    if not isinstance(lanes, (int, np.integer)) or isinstance(lanes, bool):
        raise TypeError(f"lanes must be an int, not {type(lanes).__name__}")
    t, P = topology, int(lanes)
    N, L = t.n_neurons, t.n_links
    if P < 1:
        raise ValueError(f"lanes must be at least 1, got {P}")
    if P > N:
        raise ValueError(f"lanes={P} is more than the topology can use: it has {N} neurons "
                         f"and every lane needs at least one")
    if L == 0:
        raise ValueError("the topology has no links: nothing to schedule")
    src_flat = t.src_elem * N + t.src_neuron
    dst_flat = t.dst_elem * N + t.dst_neuron
    n_in, out_base = t.layers[0], int(t.offsets[-2])
    in_rows = t.in_elem * N + np.arange(n_in)
    out_rows = t.out_elem * N + np.arange(out_base, N)
    if np.isin(in_rows, dst_flat).any() or np.isin(out_rows, src_flat).any():
        raise ValueError("a row that takes an external input also receives links")

    bank = assign_banks(N, t.src_neuron, t.dst_neuron, P)
    counts = np.bincount(bank, minlength=P)
    local = np.empty(N, np.int64)
    for b in range(P):
        members = np.flatnonzero(bank == b)    # ascending: the global order
        local[members] = np.arange(members.size)
    nb = int(counts.max())
    n_inputs_local = np.array([int(np.sum(bank[:n_in] == b)) for b in range(P)])
    out_start_local = np.array([int(np.sum(bank[:out_base] == b)) for b in range(P)])

    sb, db = bank[t.src_neuron], bank[t.dst_neuron]
    colour, degree = colour_links(sb, db, P)
    order = _order_colours(colour, degree, dst_flat, src_flat, rmw_gap)
    T = len(order)
    slot_of_colour = np.empty(degree, np.int64)
    for s, c in enumerate(order):
        if c is not None:
            slot_of_colour[c] = s
    slot = slot_of_colour[colour]

    src_row = local[t.src_neuron] + t.src_elem * nb
    dst_row = local[t.dst_neuron] + t.dst_elem * nb
    shape = (P, T)
    tab = dict(src_valid=np.zeros(shape, bool), src_row=np.zeros(shape, np.int64),
               src_peer=np.zeros(shape, np.int64), src_first=np.zeros(shape, bool),
               dst_valid=np.zeros(shape, bool), dst_row=np.zeros(shape, np.int64),
               dst_peer=np.zeros(shape, np.int64), dst_first=np.zeros(shape, bool),
               dst_link=np.full(shape, -1, np.int64))
    tab["src_valid"][sb, slot] = True
    tab["src_row"][sb, slot] = src_row
    tab["src_peer"][sb, slot] = db
    tab["dst_valid"][db, slot] = True
    tab["dst_row"][db, slot] = dst_row
    tab["dst_peer"][db, slot] = sb
    tab["dst_link"][db, slot] = np.arange(L)
    # the first (earliest slot) link into each target row, out of each source row
    for rows, banks, key in ((dst_flat, db, "dst_first"), (src_flat, sb, "src_first")):
        order_l = np.lexsort((slot, rows))
        first = np.r_[True, rows[order_l][1:] != rows[order_l][:-1]]
        ls = order_l[first]
        tab[key][banks[ls], slot[ls]] = True
    return Schedule(topology=t, lanes=P, rmw_gap=rmw_gap, bank=bank, local=local,
                    counts=counts, nb=nb, slots=T, idle_slots=T - degree, degree=degree,
                    slot=slot, n_inputs_local=n_inputs_local,
                    out_start_local=out_start_local, **tab)
