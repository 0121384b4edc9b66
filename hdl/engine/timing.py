"""The engine's pipeline, clock by clock: one table of which memory port each phase uses when.

Pure Python. ``lane.py`` builds its pipelines from these offsets, :func:`engine_timing` derives
the idle clocks between phases from them (the drains of :class:`~.schedule.EngineTiming`), and
the tests replay a whole command clock by clock (:func:`port_conflicts`) to show that no port
is used twice in one clock and no value is read before it has been written.

Offsets are clocks after the lane *issues* an operation (its registered copy of the
sequencer's control, one clock after the sequencer).
"""
from __future__ import annotations

from .schedule import RMW_GAP, EngineTiming

__all__ = ["LINK", "NEURON", "LOAD", "DITHER", "bsp_stages", "engine_timing", "CONTROL_DELAY", "MUL_LATENCY",
           "READ_LATENCY", "HOST_PORT", "port_uses", "port_conflicts"]

CONTROL_DELAY = 1   # sequencer -> lane: the lane registers the control it receives
HOST_PORT = 5       # the control port, clocks from an address to the lanes' memory ports
#                     (engine.py): the address registered; decoded and the neuron or link map
#                     read; its word registered; the local address registered; each lane's
#                     copy registered (no adder or broadcast before a memory's address
#                     multiplexer). A write is on the ports then and lands a clock later.
READ_LATENCY = HOST_PORT + 3   # the memory's word, each lane's word registered, the target
#                     lane's registered (even: the output pass takes turns of reads and writes)
MUL_LATENCY = 2     # the lane's multiplier: operands registered, product registered (the
#                     DSP block's own input and output registers)

# link phase, one slot issued at clock 0
LINK = dict(
    table_read=0,     # slot table and C memory addressed by the slot index
    table_data=1,     # the slot table's word registered (no address logic on the block
    #                   RAM's output); the link's C taken
    serve_read=2,     # bank side: E (or, in BSP, S) of the served row addressed
    serve_data=3,     # bank side: its word registered (no subtraction or multiplexer on the
    #                   block RAM's output)
    serve_out=4,      # bank side: D = E - B0 into the bank's crossbar register
    crossbar=5,       # lane side: the crossbar register takes the bank it selects
    multiply=6,       # C and D into the multiplier
    u_read=6,         # U of the row addressed
    u_data=7,         # U read, registered (0 on the row's first link): no adder on the
    #                   block RAM's output
    u_write=8,        # U := U (registered) + C * D
)
# a row's read-modify-write: its next link reads U (u_read) after this write has landed
# (u_write + 1), schedule.RMW_GAP slots later
assert RMW_GAP == LINK["u_write"] + 1 - LINK["u_read"]
# neuron phase: row (neuron j, element e) issued at clock 0, neurons one after another
NEURON = dict(
    e_read=0,         # E of the row addressed (collects the neuron's five values)
    compute=6,        # the neuron's five values complete: E and E_quad into the multiplier
    read=6,           # U and S/R of the row addressed
    read_data=7,      # U and S/R registered (no adder on the block RAMs' outputs)
    sums=8,           # q = round(E E_quad), K1 E_lin - K2 E + U, S + D
    write=11,         # E' (other half) and S/R written
)
DITHER = dict(
    index=1,          # (n << 3) | e of the row (n from the lane's neuron index ROM) ^ step hash
    offset=4,         # r = wang32(...) & (2**(F + k) - 1), after dither.WANG32_STAGES stages
)
LOAD = dict(
    e_write=0,        # E := B0 (half 0); the input of the neuron addressed
    sr_write=0,       # the integral of the direction cleared
    x_data=1,         # the input (an external row's, else 0) registered: no shift or
    #                   multiplexer between the E block RAM's output and U's write port
    u_write=2,        # U := input << F
)


def bsp_passes(acc_width: int, width: int) -> int:
    """Partial products of |S| x |R| on a signed width x width multiplier: both magnitudes
    (acc_width bits) split into chunks of width - 1 bits."""
    chunks = -(-acc_width // (width - 1))
    return chunks * chunks


def bsp_stages(acc_width: int, width: int, member: int = 0, lanes_per_table: int = 2) -> dict:
    """Clock offsets inside one BSP slot (see bsp.py) for lane ``member`` of a group of
    ``lanes_per_table`` lanes that share one two-port atan ROM: members 2i and 2i+1 read it
    (entry i, then i + 1, one port each) 2i clocks after the first pair, and everything after
    the table moves with them; the slot lasts until the last pair has written its C."""
    n = bsp_passes(acc_width, width)
    delay = 2 * (member // 2)
    last = 2 * ((lanes_per_table - 1) // 2)
    return dict(
        table_read=0,       # slot table, C
        table_data=1,       # the slot table's word registered (as LINK's)
        serve_read=2,       # bank side: S of the source row addressed; lane: C captured
        serve_data=3,       # S registered in the bank (as LINK's); R of the target row
        #                     addressed
        serve_out=4,        # S into the crossbar register; R captured
        crossbar=5,         # S of the source through the crossbar
        magnitudes=6,       # |S|, |R|, sign
        first_pass=7,       # n partial products, one a clock, summed MUL_LATENCY later
        accumulate=7 + n + MUL_LATENCY,            # |P| complete: A' = sat32(A + p)
        squash=8 + n + MUL_LATENCY,                # |A'| + half of round_shift(|A'|, j);
        #                                            A' (or 0) written back
        index=9 + n + MUL_LATENCY,                 # x = that >> j: table index and weight
        table_lo=10 + n + MUL_LATENCY + delay,     # atan table: entry i, then i + 1
        table_hi=11 + n + MUL_LATENCY + delay,
        interpolate=12 + n + MUL_LATENCY + delay,  # (t[i+1] - t[i]) * weight, multiplied
        table_value=12 + n + 2 * MUL_LATENCY + delay,  # y = t[i] + the product, registered
        rounding=13 + n + 2 * MUL_LATENCY + delay,  # y + half of round_shift(y, shift_out)
        delta=14 + n + 2 * MUL_LATENCY + delay,    # |dC| = that >> shift_out (or y <<), capped
        c_write=15 + n + 2 * MUL_LATENCY + delay,  # C := clamp(C + sign * |dC|)
        slot=16 + n + 2 * MUL_LATENCY + last,      # clocks a slot
    )


def engine_timing(acc_width: int, width: int, seed: int = 0,
                  lanes_per_table: int = 2) -> EngineTiming:
    """The clocks between phases, from the offsets above (see :func:`port_conflicts`);
    ``seed``: the reverse run's dither seed clocks (dither.seed_clocks, 0 without dither);
    ``lanes_per_table``: lanes sharing one atan ROM (:func:`bsp_stages`)."""
    bsp = bsp_stages(acc_width, width, 0, lanes_per_table)
    # link -> neuron: the neuron phase's first E read after the link phase's last one
    link_drain = LINK["serve_read"] - NEURON["e_read"]
    # neuron -> link: the link phase reads E after the neuron phase's last E write landed
    neuron_drain = NEURON["write"] - LINK["serve_read"]
    # load -> link: the first served E read after the last E := B0 write
    load_drain = max(0, LOAD["e_write"] - LINK["serve_read"] + 1)
    # start: a host write in the clock of the command's strobe (or the output pass's last
    # write, a clock before ``pass_done``) lands before the lanes' first issue reads it
    # finish: done after the last lane write (and overflow event) has been registered
    return EngineTiming(start=HOST_PORT + 1 - CONTROL_DELAY, load_drain=load_drain,
                        link_drain=link_drain, neuron_drain=neuron_drain,
                        bsp_slot=bsp["slot"], bsp_drain=0, finish=1 + CONTROL_DELAY,
                        seed=seed, read_latency=READ_LATENCY)


def port_uses(phase: str, acc_width: int = 24, width: int = 16) -> list:
    """(port, offset, kind) of one issued operation: kind 'r' reads, 'w' writes a value."""
    if phase == "load":
        return [("e_wr", LOAD["e_write"], "w:e"), ("e_rd", LOAD["e_write"], "r:x"),
                ("sr_wr", LOAD["sr_write"], "w:sr"), ("u_wr", LOAD["u_write"], "w:u")]
    if phase == "link":
        return [("tab_rd", LINK["table_read"], "r:tab"), ("c_rd", LINK["table_read"], "r:c"),
                ("e_rd", LINK["serve_read"], "r:e"), ("mul", LINK["multiply"], "mul"),
                ("u_rd", LINK["u_read"], "r:u"), ("u_wr", LINK["u_write"], "w:u")]
    if phase == "neuron":
        return [("e_rd", NEURON["e_read"], "r:e"), ("mul", NEURON["compute"], "mul"),
                ("u_rd", NEURON["read"], "r:u"), ("sr_rd", NEURON["read"], "r:sr"),
                ("e_wr", NEURON["write"], "w:e"), ("sr_wr", NEURON["write"], "w:sr")]
    raise ValueError(f"unknown phase {phase!r}")


def port_conflicts(nb: int, slots: int, steps: int, timing: EngineTiming) -> list:
    """Replay a forward run clock by clock from the phases' issue clocks and the port uses of
    :func:`port_uses`: returns the conflicts found (a port used twice in one clock; a phase
    reading E, U or S/R while an earlier phase's write of it is still in flight)."""
    rows = 5 * nb
    issues = []    # (clock, phase)
    clock = 0
    for k in range(rows):
        issues.append((clock + k, "load"))
    clock += rows + timing.load_drain
    for _ in range(steps):
        for k in range(slots):
            issues.append((clock + k, "link"))
        clock += slots + timing.link_drain
        for k in range(rows):
            issues.append((clock + k, "neuron"))
        clock += rows + timing.neuron_drain
    used = {}
    conflicts = []
    for c, ph in issues:
        for port, off, _ in port_uses(ph):
            t = c + off
            if (port, t) in used:
                conflicts.append(f"{port} used twice at clock {t} ({used[(port, t)]}, {ph})")
            used[(port, t)] = ph
    # every read of a value (E, U, S/R) by a phase comes after all writes of it by the phases
    # before it have landed (a write at clock t is readable from clock t + 1)
    segments = []
    for c, ph in issues:
        if not segments or segments[-1][0] != ph:
            segments.append((ph, []))
        segments[-1][1].append(c)
    landed = {}
    for ph, clocks in segments:
        for _, off, kind in port_uses(ph):
            if kind.startswith("r:") and kind[2:] in landed:
                first = clocks[0] + off
                if first <= landed[kind[2:]]:
                    conflicts.append(f"{ph} reads {kind[2:]} at clock {first}, before the "
                                     f"write at clock {landed[kind[2:]]} landed")
        for _, off, kind in port_uses(ph):
            if kind.startswith("w:"):
                landed[kind[2:]] = max(landed.get(kind[2:], -1), clocks[-1] + off)
    return conflicts
